#include "server/serve.hpp"

#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>

#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "admin/users.hpp"
#include "audit/audit.hpp"
#include "auth/accounts.hpp"
#include "auth/hash_pool.hpp"
#include "backup/backups.hpp"
#include "db/async_db.hpp"
#include "db/executor.hpp"
#include "db/migrations.hpp"
#include "db/notifications.hpp"
#include "frontdoor/front_door.hpp"
#include "mail/outbox.hpp"
#include "mfa/sealed.hpp"
#include "server/listener.hpp"
#include "server/routes.hpp"

namespace authd::server {

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<net::ssl::context> make_tls_context(const Config& config) {
  auto context = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  context->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                       net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  context->use_certificate_chain_file(*config.tls_cert);
  context->use_private_key_file(*config.tls_key, net::ssl::context::pem);
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    throw std::runtime_error("the key does not match the certificate");
  }
  return context;
}

// Start-up waits a little for PostgreSQL (a compose stack starts both at once).
void migrate_with_retry(db::ConnectionPool& pool, const Logger& log) {
  const auto give_up = std::chrono::steady_clock::now() + 15s;
  for (;;) {
    try {
      auto lease = pool.acquire();
      const int applied = db::migrate(lease.connection());
      log.event("info", "schema up to date (" + std::to_string(applied) + " migrations applied)");
      return;
    } catch (const db::DatabaseUnavailable&) {
      if (std::chrono::steady_clock::now() > give_up) throw;
      std::this_thread::sleep_for(500ms);
    }
  }
}

void bootstrap_admin(const Config& config, db::ConnectionPool& pool, const Logger& log) {
  if (!config.bootstrap_admin_email) return;
  const std::string& email = *config.bootstrap_admin_email;
  // The username is the e-mail's local part, kept to the username alphabet.
  std::string username;
  for (char c : email.substr(0, email.find('@'))) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    if (ok && username.size() < 32) username += c;
  }
  while (username.size() < 3) username += '_';
  auto outcome =
      auth::Accounts::create_user(pool, {username, email, *config.bootstrap_admin_password}, true,
                                  config.pbkdf2_iterations, "bootstrap");
  if (std::holds_alternative<auth::User>(outcome)) {
    log.event("info", "bootstrap admin created");
  } else {
    const auto& error = std::get<auth::Error>(outcome);
    if (error.kind == auth::ErrorKind::conflict) {
      log.event("info", "bootstrap admin already exists; left unchanged");
    } else {
      throw std::runtime_error("AUTHD_BOOTSTRAP_ADMIN_*: " + error.detail);
    }
  }
}

// The keys of AUTHD_SECRET_KEY (sealing) and AUTHD_SECRET_KEY_OLD (opening only); null without.
std::shared_ptr<const mfa::Keyring> make_keyring(const Config& config) {
  if (!config.secret_key) return nullptr;
  std::vector<mfa::SecretKey> old;
  for (const auto& key : config.old_secret_keys) old.push_back(*parse_secret_key(key));
  return std::make_shared<const mfa::Keyring>(*parse_secret_key(*config.secret_key),
                                              std::move(old));
}

net::awaitable<void> purge_loop(App& app) {
  net::steady_timer timer(co_await net::this_coro::executor);
  while (!app.draining) {
    try {
      co_await app.accounts.purge_expired();
      co_await app.audit.purge(app.config.audit_retention, app.draining);
    } catch (const std::exception&) {
      // The database may be down; the next round tries again.
    }
    timer.expires_after(60s);
    auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) co_return;
  }
}

// Sessions' last-seen marks, written every 30 seconds (to the minute is all they promise).
net::awaitable<void> last_seen_loop(App& app) {
  net::steady_timer timer(co_await net::this_coro::executor);
  while (!app.draining) {
    timer.expires_after(30s);
    auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) co_return;
    try {
      co_await app.accounts.last_seen().flush(app.worker_db);
    } catch (const std::exception&) {
      // Kept for the next round.
    }
  }
}

}  // namespace

int serve(const Config& config) {
  // libpq's own connect timeout: a dead host must not hold a DB thread for long.
  ::setenv("PGCONNECT_TIMEOUT", "2", 0);
  const Logger log(config.log_json);

  std::unique_ptr<net::ssl::context> tls;
  if (config.tls_cert) {
    try {
      tls = make_tls_context(config);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "authd: AUTHD_TLS_CERT/AUTHD_TLS_KEY cannot be used: %s\n", e.what());
      return 2;
    }
  }

  // AUTHD_DB_POOL_SIZE connections serve requests' statements from the event loops, split among
  // them; the DB threads, for everything else, have half as many (at least two).
  const std::size_t io_threads = std::max(1u, config.io_threads);
  const std::size_t per_loop =
      std::max<std::size_t>(1, (config.db_pool_size + io_threads - 1) / io_threads);
  const std::size_t db_threads = std::max<std::size_t>(2, config.db_pool_size / 2);
  // AUTHD_DB_TIMEOUT bounds every statement: server-side on the DB threads' connections,
  // client-side (cancelled at the deadline) on the event loops'.
  const std::chrono::milliseconds db_timeout = config.db_timeout;
  db::ConnectionPool pool({config.database_url, db_threads, 2000ms, db_timeout});
  db::ConnectionPool backup_pool({config.database_url, 1, 100ms, db_timeout, 500ms});
  try {
    migrate_with_retry(pool, log);
    bootstrap_admin(config, pool, log);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "authd: cannot start: %s\n", e.what());
    return 1;
  }

  db::DbExecutor db(pool, db_threads, db_threads * 512);
  // Mail leaves from the outbox on a thread of its own; requests only write rows.
  std::unique_ptr<mail::Outbox> outbox;
  std::optional<auth::MailOptions> mail_options;
  if (config.smtp_url) {
    outbox = std::make_unique<mail::Outbox>(config.database_url,
                                            mail::SmtpSettings{*config.smtp_url, config.mail_from});
    mail_options = auth::MailOptions{
        config.mail_from,
        config.public_url.value_or(config.portal_url.value_or("http://localhost:8080")),
        config.require_verified_email, [&outbox] { outbox->wake(); }};
  }
  audit::Trail trail(db);
  db::AsyncDb requests_db({config.database_url, per_loop, 2000ms, db_timeout, 500ms, db_timeout});
  db::DbExecutor backup_db(backup_pool, 1, 1);
  // The lowest priority: a flood of logins must not slow session checks on the event loop.
  constexpr int kHashNice = 19;
  auth::HashPool hashes(config.hash_threads, config.hash_queue, kHashNice);
  auth::Accounts accounts(
      db, requests_db, hashes,
      {config.pbkdf2_iterations,
       config.session_ttl,
       {config.login_limit_account.count, config.login_limit_account.window},
       {config.login_limit_address.count, config.login_limit_address.window},
       config.durable_sessions,
       config.signup_limit_address
           ? std::optional<auth::RateLimit>(auth::RateLimit{config.signup_limit_address->count,
                                                            config.signup_limit_address->window})
           : std::nullopt,
       config.session_cache,
       config.session_cache_ttl,
       make_keyring(config),
       config.totp_issuer,
       mail_options,
       &trail});
  admin::Users admin_users(db, accounts.session_cache(), trail);
  backup::BackupService backups(config.database_url, config.backup_dir,
                                {config.backup_keep, config.backup_timeout, {}});
  std::unique_ptr<frontdoor::FrontDoor> front_door;
  try {
    front_door = std::make_unique<frontdoor::FrontDoor>(config.access_rules, config.portal_url,
                                                        config.cookie_domain);
  } catch (const frontdoor::RulesError& e) {
    std::fprintf(stderr, "authd: AUTHD_ACCESS_RULES cannot be used: %s\n", e.what());
    return 2;
  }
  Metrics metrics(route_names());
  // Downloads read backup files here, off the event loops.
  net::thread_pool file_readers(1);
  net::post(file_readers, [] { (void)::pthread_setname_np(::pthread_self(), "authd-files"); });
  App app{config,       pool,        db,           requests_db,
          hashes,       accounts,    backups,      backup_db,
          file_readers, *front_door, outbox.get(), metrics,
          log,          trail,       admin_users,  make_router(config.legacy_routes)};

  // One io_context per I/O thread: a connection lives on one of them, so its work never moves
  // between threads and no strand or shared scheduler lock is needed.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<net::io_context*> workers;
  for (unsigned i = 0; i < std::max(1u, config.io_threads); ++i) {
    contexts.push_back(std::make_unique<net::io_context>(1));
    workers.push_back(contexts.back().get());
  }
  net::io_context& io = *contexts.front();
  // The session cache serves only while this listens for the changes other instances make.
  db::NotificationListener invalidations(
      requests_db, std::string(db::sql::kSessionsChannel),
      {[&accounts](std::string_view payload) {
         auth::apply_invalidation(accounts.session_cache(), payload);
       },
       [&accounts, &log](bool listening) {
         accounts.session_cache().set_listening(listening);
         if (!listening) log.event("warn", "session cache off: not listening for invalidations");
       }});
  if (accounts.session_cache().enabled()) invalidations.start(io.get_executor());
  if (outbox) outbox->start();
  Listener listener(app, workers, tls.get());
  try {
    listener.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "authd: cannot listen on %s:%u: %s\n", config.listen_host.c_str(),
                 config.listen_port, e.what());
    return 1;
  }
  log.event("info", std::string("listening on ") + config.listen_host + ":" +
                        std::to_string(listener.port()) + (tls ? " (https)" : " (http)"));

  // Signals have a thread of their own, so a second one is heard also while the event loops
  // wait for their last requests or the pools stop.
  net::io_context signal_io(1);
  net::signal_set signals(signal_io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    log.event("info", "draining: finishing requests in flight");
    signals.async_wait([](boost::system::error_code second_ec, int) {
      if (second_ec) return;
      std::fprintf(stderr, "authd: second signal during the drain: exiting at once\n");
      std::_Exit(1);
    });
    listener.drain(9s, [&](std::size_t left) {
      if (left > 0) log.event("warn", std::to_string(left) + " connections cut at the deadline");
      for (auto& context : contexts) context->stop();
    });
  });
  // SIGHUP: the access rules again; a file that cannot be used keeps the rules in force.
  net::signal_set hangups(signal_io, SIGHUP);
  std::function<void()> on_hangup = [&] {
    hangups.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      try {
        front_door->reload();
        log.event("info", "access rules reloaded");
      } catch (const frontdoor::RulesError& e) {
        log.event("error",
                  std::string("access rules not reloaded, the old ones stay: ") + e.what());
      }
      on_hangup();
    });
  };
  on_hangup();
  std::thread signal_thread([&signal_io] {
    (void)::pthread_setname_np(::pthread_self(), "authd-signals");
    signal_io.run();
  });
  auto purge = purge_loop(app);
  net::co_spawn(io, std::move(purge), [](std::exception_ptr) {});
  auto seen = last_seen_loop(app);
  net::co_spawn(io, std::move(seen), [](std::exception_ptr) {});
  auto audit_writer = trail.run(app.draining);
  net::co_spawn(io, std::move(audit_writer), [](std::exception_ptr) {});

  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < contexts.size(); ++i) {
    threads.emplace_back([context = contexts[i].get()] {
      (void)::pthread_setname_np(::pthread_self(), "authd-io");
      context->run();
    });
  }
  io.run();
  for (auto& thread : threads) thread.join();
  invalidations.stop();
  if (outbox) outbox->stop();
  // A read still running posts its result to a stopped io_context, which keeps it unrun.
  file_readers.join();
  requests_db.stop();
  hashes.stop();
  // What the event loops left unwritten: the last audit events and last-seen marks.
  try {
    auto lease = pool.acquire();
    trail.flush_blocking(lease.connection());
    accounts.last_seen().flush_blocking(lease.connection());
  } catch (const std::exception& e) {
    log.event("warn", std::string("audit events not written at exit: ") + e.what());
  }
  db.stop();
  backup_db.stop();
  signal_io.stop();
  signal_thread.join();
  log.event("info", "stopped");
  return 0;
}

}  // namespace authd::server
