#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace authd::test {

// A TCP port on 127.0.0.1 that nothing listens on right now.
unsigned short free_port();

// Limits the child starts with.
struct ProcessLimits {
  std::optional<unsigned long> open_files;  // RLIMIT_NOFILE, soft and hard
};

// A child process with its stdout and stderr captured in a temporary file.
class Process {
 public:
  Process(const std::string& program, const std::vector<std::string>& args,
          const std::map<std::string, std::string>& env, const std::string& stdin_text = "",
          const ProcessLimits& limits = {});
  ~Process();  // SIGKILL if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int number);
  // The exit code, or -signal; -1000 on timeout (the process is left running).
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  bool running();
  std::string output() const;

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  std::string output_path_;
};

// Runs a program to completion; returns the exit code and its combined output.
struct RunResult {
  int code;
  std::string output;
};
RunResult run(const std::string& program, const std::vector<std::string>& args,
              const std::map<std::string, std::string>& env = {},
              const std::string& stdin_text = "");

// build/authd serving on a free 127.0.0.1 port against the given database, waiting until
// /readyz answers 200. Extra settings go in env (AUTHD_* names).
class AuthdServer {
 public:
  AuthdServer(const std::string& database_url, std::map<std::string, std::string> env = {},
              const ProcessLimits& limits = {});
  ~AuthdServer();  // SIGTERM, then SIGKILL after 15 s
  unsigned short port() const { return port_; }
  Process& process() { return *process_; }
  // SIGTERM and the exit code.
  int stop();

 private:
  unsigned short port_;
  std::unique_ptr<TempDir> backup_dir_;  // when the caller gave none; outlives the process
  std::unique_ptr<Process> process_;
  bool stopped_ = false;
};

// The environment authd needs for a database: AUTHD_DATABASE_URL plus cheap hashing.
std::map<std::string, std::string> base_env(const std::string& database_url);

}  // namespace authd::test
