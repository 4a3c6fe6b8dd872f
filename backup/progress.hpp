#pragma once

#include <string_view>

#include "backup/backups.hpp"

namespace authd::backup {

// Rows, megabytes and rate on stderr, rewritten in place, when stderr is a terminal; otherwise
// a callback that prints nothing.
ProgressFn terminal_progress(std::string_view verb);

}  // namespace authd::backup
