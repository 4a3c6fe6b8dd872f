#include "audit/audit.hpp"
#include <chrono>

#include <pqxx/nontransaction>

#include "auth/hash_pool.hpp"
#include "backup/backups.hpp"
#include "db/async_db.hpp"
#include "db/executor.hpp"
#include "db/statements.hpp"
#include "frontdoor/front_door.hpp"
#include "mail/outbox.hpp"
#include "server/routes/common.hpp"
#include "server/routes/route.hpp"

// What operators and load balancers ask: alive, ready, metrics.
namespace authd::server::ops {

net::awaitable<Response> healthz(Call&) {
  co_return text_response(200, "ok");
}

net::awaitable<Response> readyz(Call& call) {
  try {
    auto ping = [](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      tx.exec_prepared(std::string(db::sql::kPing.name));
    };
    co_await call.app.worker_db.run(std::move(ping), std::chrono::milliseconds(900));
  } catch (const std::exception&) {
    throw db::DatabaseUnavailable("PostgreSQL does not answer");
  }
  co_return json_of(200, {{"status", "ready"}});
}

net::awaitable<Response> metrics(Call& call) {
  Response response = text_response(200, call.app.metrics.render(collect_gauges(call.app)));
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  co_return response;
}

}  // namespace authd::server::ops

namespace authd::server {

Gauges collect_gauges(App& app) {
  Gauges g;
  g.hash_running = app.hashes.running();
  g.hash_waiting = app.hashes.waiting();
  g.hash_paired = app.hashes.paired();
  const auto pool = app.pool.stats();
  g.db_size = pool.size;
  g.db_in_use = pool.in_use;
  g.db_idle = pool.idle;
  g.db_waiting = pool.waiting + app.worker_db.queued();
  g.db_waited_total = pool.waited_total;
  const auto loops = app.loop_db.stats();
  g.loop_db_size = loops.size;
  g.loop_db_open = loops.open;
  g.loop_db_in_use = loops.in_use;
  g.loop_db_waiting = loops.waiting;
  g.loop_db_retried = app.loop_db.retried();
  const auto& counters = app.accounts.counters();
  g.logins_ok = counters.ok.load();
  g.logins_bad_credentials = counters.bad_credentials.load();
  g.logins_limited = counters.limited.load();
  g.logins_overloaded = counters.overloaded.load();
  g.sessions_created = counters.sessions_created.load();
  g.backups_made = app.backups.made();
  g.backups_failed = app.backups.failed();
  const auto cache = app.accounts.session_cache().stats();
  g.session_cache_hits = cache.hits;
  g.session_cache_misses = cache.misses;
  g.session_cache_invalidations = cache.invalidations;
  g.session_cache_entries = cache.entries;
  for (std::size_t i = 0; i < g.authz_verdicts.size(); ++i) {
    g.authz_verdicts[i] = app.front_door.verdicts(static_cast<frontdoor::Verdict>(i));
  }
  g.audit_events = app.audit.counts().snapshot();
  g.audit_dropped = app.audit.dropped();
  g.audit_waiting = app.audit.waiting();
  if (app.outbox) {
    const auto mail = app.outbox->stats();
    g.mail_waiting = mail.waiting;
    g.mail_sent = mail.sent;
    g.mail_failed = mail.failed;
  }
  return g;
}

}  // namespace authd::server
