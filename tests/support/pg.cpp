#include "tests/support/pg.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <random>
#include <stdexcept>
#include <vector>

#include <pqxx/connection>
#include <pqxx/nontransaction>

#include "db/migrations.hpp"

namespace authd::test {
namespace {

std::mutex created_mutex;
std::vector<std::string> created;

void drop_created() {
  std::lock_guard lock(created_mutex);
  if (created.empty()) return;
  try {
    pqxx::connection admin(server_database_url());
    for (const auto& name : created) {
      pqxx::nontransaction tx(admin);
      tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
    }
  } catch (const std::exception&) {
    // The throwaway server is removed by scripts/test anyway.
  }
}

}  // namespace

std::string server_database_url() {
  const char* url = std::getenv("AUTHD_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    throw std::runtime_error("AUTHD_TEST_DATABASE_URL is not set: run the tests with scripts/test");
  }
  return url;
}

std::string with_database(const std::string& url, const std::string& database) {
  // URLs only (postgresql://...): the path after the authority is the database name.
  const std::size_t scheme = url.find("://");
  if (scheme == std::string::npos) throw std::runtime_error("test database URL must be a URL");
  const std::size_t slash = url.find('/', scheme + 3);
  const std::size_t query = url.find('?', scheme + 3);
  std::string out = url.substr(0, slash == std::string::npos ? query : slash);
  out += "/" + database;
  if (query != std::string::npos) out += url.substr(query);
  return out;
}

std::string fresh_database_url(bool migrated) {
  static std::atomic<int> counter{0};
  std::random_device random;
  const std::string name = "authd_t_" + std::to_string(getpid()) + "_" + std::to_string(counter++) +
                           "_" + std::to_string(random() % 100000);
  {
    pqxx::connection admin(server_database_url());
    pqxx::nontransaction tx(admin);
    // Identifiers cannot be parameters; the name is made here and quoted.
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
  }
  // Registered after libpqxx's own statics exist, so it runs before they are destroyed.
  static const bool registered = [] { return std::atexit(drop_created) == 0; }();
  (void)registered;
  {
    std::lock_guard lock(created_mutex);
    created.push_back(name);
  }
  const std::string url = with_database(server_database_url(), name);
  if (migrated) {
    pqxx::connection connection(url);
    db::migrate(connection);
  }
  return url;
}

}  // namespace authd::test
