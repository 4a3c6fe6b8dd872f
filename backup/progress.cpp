#include "backup/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace authd::backup {

ProgressFn terminal_progress(std::string_view verb) {
  if (isatty(STDERR_FILENO) == 0) return [](const Progress&) {};
  return [verb = std::string(verb)](const Progress& p) {
    const double rate = p.seconds > 0 ? static_cast<double>(p.rows) / p.seconds : 0;
    std::fprintf(stderr, "\r%s: %lld rows, %.1f MB, %.0f rows/s   ", verb.c_str(),
                 static_cast<long long>(p.rows), static_cast<double>(p.bytes) / 1e6, rate);
    if (p.done) std::fputc('\n', stderr);
    std::fflush(stderr);
  };
}

}  // namespace authd::backup
