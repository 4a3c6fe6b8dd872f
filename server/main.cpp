// authd's command line: serve (the default), migrate, user and backup commands.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "auth/accounts.hpp"
#include "backup/backups.hpp"
#include "backup/import.hpp"
#include "backup/progress.hpp"
#include "backup/restore.hpp"
#include "db/migrations.hpp"
#include "db/pool.hpp"
#include "server/config.hpp"
#include "server/serve.hpp"

namespace {

using authd::server::Config;

constexpr int kUsage = 2;

void print_settings() {
  std::printf("\nSettings (environment variable, or the flag after the command; the flag wins):\n");
  for (const auto& s : authd::server::settings()) {
    std::string flag = "--";
    for (char c : s.env.substr(6)) flag += c == '_' ? '-' : static_cast<char>(std::tolower(c));
    std::printf("  %-32.*s %-34s %.*s (default: %.*s)\n", static_cast<int>(s.env.size()),
                s.env.data(), flag.c_str(), static_cast<int>(s.help.size()), s.help.data(),
                static_cast<int>(s.default_text.size()), s.default_text.data());
  }
}

void print_help(std::string_view command) {
  if (command == "user") {
    std::printf(
        "usage: authd user create --username U --email E [--admin]   (password read from stdin)\n"
        "       authd user grant-admin EMAIL\n"
        "       authd user import FILE [--format csv|jsonl]   load users from another system;\n"
        "           any bad row: nothing is loaded. CSV header: username, email, password_hash\n"
        "           or password, optionally role, created_at, email_verified (others ignored).\n"
        "           Hashes: authd's, werkzeug pbkdf2/scrypt, Django pbkdf2, bcrypt, Argon2\n");
  } else if (command == "backup") {
    std::printf(
        "usage: authd backup create          write a backup CSV, print its metadata as JSON\n"
        "       authd backup restore FILE    load a backup CSV; any clash: nothing is loaded\n");
  } else if (command == "serve") {
    std::printf("usage: authd serve [flags]   migrate if needed, serve until SIGINT/SIGTERM\n");
  } else if (command == "migrate") {
    std::printf("usage: authd migrate [flags]   apply pending schema migrations and exit\n");
  } else {
    std::printf(
        "usage: authd [COMMAND] [flags]\n\n"
        "Commands:\n"
        "  serve                                   migrate, then serve HTTP (the default)\n"
        "  migrate                                 apply pending schema migrations and exit\n"
        "  user create --username U --email E [--admin]   create a user (password from stdin)\n"
        "  user grant-admin EMAIL                  make an existing user an admin\n"
        "  user import FILE [--format csv|jsonl]   load users from another system, all or nothing\n"
        "  backup create                           write a backup CSV, print its metadata\n"
        "  backup restore FILE                     load a backup CSV into the database\n"
        "  --help, COMMAND --help, --version       usage\n");
  }
  print_settings();
}

// Each connection takes a descriptor: the soft limit (often 1024) would cap connections long
// before AUTHD_MAX_CONNECTIONS, while the hard one is what the administrator allows.
void raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    std::fprintf(stderr, "authd: cannot raise the descriptor limit; keeping the soft one\n");
  }
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "authd: %s (see authd --help)\n", message.c_str());
  return kUsage;
}

std::string read_password_from_stdin() {
  std::string line;
  std::getline(std::cin, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

int import_command(const Config& config, const std::vector<std::string>& args) {
  std::string file;
  auto format = authd::backup::ImportFormat::csv;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--format" && i + 1 < args.size()) {
      const std::string& name = args[++i];
      if (name != "csv" && name != "jsonl")
        return usage_error("user import: --format is csv or jsonl");
      format =
          name == "csv" ? authd::backup::ImportFormat::csv : authd::backup::ImportFormat::jsonl;
    } else if (file.empty() && !args[i].starts_with("--")) {
      file = args[i];
    } else {
      return usage_error("user import: unexpected argument " + args[i]);
    }
  }
  if (file.empty()) return usage_error("user import needs a FILE");
  // An operator's command that may load millions of rows in one transaction: no statement
  // deadline (the connection's keepalives still notice a vanished server).
  authd::db::PoolOptions options{config.database_url, 1};
  options.statement_timeout = std::chrono::milliseconds(0);
  authd::db::ConnectionPool pool(options);
  auto lease = pool.acquire();
  const auto result = authd::backup::import_users(
      lease.connection(), file, format, authd::backup::terminal_progress("import"),
      authd::audit::Event{authd::audit::Type::users_imported, std::nullopt, "cli", {}, {}});
  std::printf("{\"imported_rows\":%lld,\"seconds\":%.3f}\n", static_cast<long long>(result.rows),
              result.seconds);
  return 0;
}

int user_command(const Config& config, const std::vector<std::string>& args) {
  if (args.empty()) return usage_error("user needs create, grant-admin or import");
  if (args[0] == "import") return import_command(config, args);
  authd::db::ConnectionPool pool({config.database_url, 1});
  if (args[0] == "create") {
    std::string username, email;
    bool admin = false;
    for (std::size_t i = 1; i < args.size(); ++i) {
      if (args[i] == "--admin") {
        admin = true;
      } else if ((args[i] == "--username" || args[i] == "--email") && i + 1 < args.size()) {
        (args[i] == "--username" ? username : email) = args[i + 1];
        ++i;
      } else {
        return usage_error("user create: unexpected argument " + args[i]);
      }
    }
    if (username.empty() || email.empty()) {
      return usage_error("user create needs --username and --email");
    }
    if (isatty(STDIN_FILENO)) std::fprintf(stderr, "Password: ");
    const std::string password = read_password_from_stdin();
    auto outcome = authd::auth::Accounts::create_user(pool, {username, email, password}, admin,
                                                      config.pbkdf2_iterations, "cli");
    if (const auto* error = std::get_if<authd::auth::Error>(&outcome)) {
      std::fprintf(stderr, "authd: %s: %s\n", error->code.c_str(), error->detail.c_str());
      return 1;
    }
    const auto& user = std::get<authd::auth::User>(outcome);
    std::printf("{\"id\":%lld,\"username\":\"%s\",\"role\":\"%s\"}\n",
                static_cast<long long>(user.id), user.username.c_str(), user.role.c_str());
    return 0;
  }
  if (args[0] == "grant-admin" && args.size() == 2) {
    if (!authd::auth::Accounts::grant_admin(pool, args[1])) {
      std::fprintf(stderr, "authd: no user has that email\n");
      return 1;
    }
    std::printf("{\"granted\":true}\n");
    return 0;
  }
  return usage_error("user: unknown arguments");
}

int backup_command(const Config& config, const std::vector<std::string>& args) {
  if (args.empty()) return usage_error("backup needs create or restore");
  authd::db::ConnectionPool pool({config.database_url, 1});
  auto lease = pool.acquire();
  if (args[0] == "create" && args.size() == 1) {
    authd::backup::BackupService service(config.database_url, config.backup_dir,
                                         {config.backup_keep, config.backup_timeout, {}});
    const auto info = service.create(
        lease.connection(), authd::backup::terminal_progress("dump"),
        authd::audit::Event{authd::audit::Type::backup_created, std::nullopt, "cli", {}, {}});
    std::printf("%s\n", authd::backup::to_json(info).c_str());
    return 0;
  }
  if (args[0] == "restore" && args.size() == 2) {
    const auto result = authd::backup::restore(
        lease.connection(), args[1], authd::backup::terminal_progress("restore"),
        authd::audit::Event{authd::audit::Type::backup_restored, std::nullopt, "cli", {}, {}});
    std::printf("{\"restored_rows\":%lld,\"seconds\":%.3f}\n", static_cast<long long>(result.rows),
                result.seconds);
    return 0;
  }
  return usage_error("backup: unknown arguments");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string command = "serve";
  if (!args.empty() && !args[0].starts_with("-")) {
    command = args[0];
    args.erase(args.begin());
  }
  if (command != "serve" && command != "migrate" && command != "user" && command != "backup") {
    return usage_error("unknown command " + command);
  }
  for (const auto& arg : args) {
    if (arg == "--help" || arg == "-h") {
      print_help(args.size() == 1 && argc == 2 ? "" : command);
      return 0;
    }
    if (arg == "--version") {
      std::printf("authd %s\n", AUTHD_VERSION);
      return 0;
    }
  }

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  auto parsed = authd::server::parse_config(authd::server::authd_environment(), args, cores);
  if (const auto* error = std::get_if<authd::server::ConfigError>(&parsed)) {
    std::fprintf(stderr, "authd: %s\n", error->message.c_str());
    return kUsage;
  }
  auto& [config, rest] = std::get<authd::server::ParsedConfig>(parsed);
  if (config.database_url.empty()) {
    std::fprintf(stderr, "authd: AUTHD_DATABASE_URL (--database-url) is required\n");
    return kUsage;
  }
  ::setenv("PGCONNECT_TIMEOUT", "2", 0);

  try {
    if (command == "serve") {
      if (!rest.empty()) return usage_error("serve: unexpected argument " + rest[0]);
      raise_descriptor_limit();
      return authd::server::serve(config);
    }
    if (command == "migrate") {
      authd::db::ConnectionPool pool({config.database_url, 1});
      auto lease = pool.acquire();
      const int applied = authd::db::migrate(lease.connection());
      std::printf("{\"applied\":%d}\n", applied);
      return 0;
    }
    if (command == "user") return user_command(config, rest);
    return backup_command(config, rest);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "authd: %s\n", e.what());
    return 1;
  }
}
