#include "tests/support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/http_client.hpp"
#include "tests/support/temp_dir.hpp"

namespace authd::test {

unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a probe socket");
  }
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

Process::Process(const std::string& program, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env, const std::string& stdin_text,
                 const ProcessLimits& limits) {
  char path[] = "/tmp/authd-test-output-XXXXXX";
  const int out = ::mkstemp(path);
  if (out < 0) throw std::runtime_error("mkstemp failed");
  output_path_ = path;
  int input[2];
  if (::pipe(input) != 0) throw std::runtime_error("pipe failed");

  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    // The child sees only the AUTHD_* settings the test gives it.
    if (name.starts_with("AUTHD_") || env.count(name) > 0) continue;
    env_strings.push_back(entry);
  }
  for (const auto& [name, value] : env) env_strings.push_back(name + "=" + value);

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // A test that dies (an ASan abort, a crash) takes its servers with it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(input[0], STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    ::close(input[0]);
    ::close(input[1]);
    ::close(out);
    if (limits.open_files) {
      const rlimit files{*limits.open_files, *limits.open_files};
      if (::setrlimit(RLIMIT_NOFILE, &files) != 0) ::_exit(126);
    }
    std::vector<char*> argv{const_cast<char*>(program.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    ::execve(program.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(input[0]);
  ::close(out);
  if (!stdin_text.empty()) {
    [[maybe_unused]] const auto written = ::write(input[1], stdin_text.data(), stdin_text.size());
  }
  ::close(input[1]);
}

Process::~Process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
  }
  // AUTHD_TEST_KEEP_OUTPUT=1 leaves the child's output file behind, for debugging a failure.
  const char* keep = std::getenv("AUTHD_TEST_KEEP_OUTPUT");
  if (!output_path_.empty() && (keep == nullptr || std::string_view(keep) != "1")) {
    ::unlink(output_path_.c_str());
  }
}

void Process::signal(int number) {
  if (!reaped_) ::kill(pid_, number);
}

bool Process::running() {
  if (reaped_) return false;
  const pid_t r = ::waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

int Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) return -1000;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return -WTERMSIG(status_);
  return -1;
}

std::string Process::output() const {
  std::ifstream in(output_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

RunResult run(const std::string& program, const std::vector<std::string>& args,
              const std::map<std::string, std::string>& env, const std::string& stdin_text) {
  Process process(program, args, env, stdin_text);
  const int code = process.wait(std::chrono::seconds(120));
  return {code, process.output()};
}

std::map<std::string, std::string> base_env(const std::string& database_url) {
  return {{"AUTHD_DATABASE_URL", database_url},
          {"AUTHD_PBKDF2_ITERATIONS", "1000"},
          {"AUTHD_IO_THREADS", "2"},
          {"AUTHD_HASH_THREADS", "2"},
          {"AUTHD_DB_POOL_SIZE", "4"}};
}

AuthdServer::AuthdServer(const std::string& database_url, std::map<std::string, std::string> env,
                         const ProcessLimits& limits)
    : port_(free_port()) {
  auto full = base_env(database_url);
  for (auto& [name, value] : env) full[name] = value;
  if (full.count("AUTHD_LISTEN") == 0) full["AUTHD_LISTEN"] = "127.0.0.1:" + std::to_string(port_);
  if (full.count("AUTHD_BACKUP_DIR") == 0) {
    backup_dir_ = std::make_unique<TempDir>("authd-test-backups-");
    full["AUTHD_BACKUP_DIR"] = backup_dir_->path();
  }
  const bool tls = full.count("AUTHD_TLS_CERT") > 0;
  process_ =
      std::make_unique<Process>(AUTHD_BINARY, std::vector<std::string>{"serve"}, full, "", limits);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->running()) {
      throw std::runtime_error("authd exited at start-up: " + process_->output());
    }
    if (tls) {
      // Plain HTTP cannot ask a TLS port; wait for the listening line instead.
      if (process_->output().find("listening on") != std::string::npos) return;
    } else {
      try {
        if (http(port_, "GET", "/readyz").status == 200) return;
      } catch (const std::exception&) {
        // Not listening yet.
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("authd did not become ready: " + process_->output());
}

int AuthdServer::stop() {
  if (stopped_) return 0;
  stopped_ = true;
  process_->signal(SIGTERM);
  return process_->wait(std::chrono::seconds(15));
}

AuthdServer::~AuthdServer() {
  if (!stopped_) stop();
}

}  // namespace authd::test
