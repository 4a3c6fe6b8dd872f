#pragma once

#include <atomic>

#include <boost/asio/thread_pool.hpp>

#include "server/config.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/router.hpp"

namespace authd::db {
class AsyncDb;
class ConnectionPool;
class DbExecutor;
}  // namespace authd::db
namespace authd::auth {
class HashPool;
class Accounts;
}  // namespace authd::auth
namespace authd::mail {
class Outbox;
}  // namespace authd::mail
namespace authd::frontdoor {
class FrontDoor;
}  // namespace authd::frontdoor
namespace authd::backup {
class BackupService;
}  // namespace authd::backup
namespace authd::audit {
class Trail;
}  // namespace authd::audit
namespace authd::admin {
class Users;
}  // namespace authd::admin

namespace authd::server {

// Everything a request handler may use, built once by serve() and passed down explicitly.
struct App {
  const Config& config;
  db::ConnectionPool& pool;
  db::DbExecutor& worker_db;  // DB threads with libpqxx: everything but the request path's SQL
  db::AsyncDb& loop_db;       // the event loops' own connections, for requests' statements
  auth::HashPool& hashes;
  auth::Accounts& accounts;
  backup::BackupService& backups;
  db::DbExecutor& backup_db;  // one thread and one connection: backups never take the pool's
  boost::asio::thread_pool& file_readers;  // blocking reads of backup files for downloads
  frontdoor::FrontDoor& front_door;
  mail::Outbox* outbox;  // null without AUTHD_SMTP_URL
  Metrics& metrics;
  const Logger& log;
  ::authd::audit::Trail& audit;
  ::authd::admin::Users& admin_users;
  Router router;
  std::atomic<bool> draining{false};
  std::atomic<bool> backup_running{false};  // a second request meanwhile gets 409
};

Gauges collect_gauges(App& app);

}  // namespace authd::server
