#include <charconv>

#include <pqxx/connection>

#include "backup/backups.hpp"
#include "db/executor.hpp"
#include "server/routes/common.hpp"
#include "server/routes/route.hpp"

// The admin's backups: write one, list them, download one.
namespace authd::server::backups {

namespace {

Refused busy() {
  return Refused{{auth::ErrorKind::conflict, "backup_in_progress",
                  "Another backup is being written; try again.", 1}};
}

Refused not_found() {
  return Refused{{auth::ErrorKind::not_found, "backup_not_found", "There is no such backup."}};
}

Response download(Call& call, const backup::BackupInfo& info) {
  Response response;
  response.content_type = "text/csv; charset=utf-8";
  response.file = FileBody{call.app.backups.path_of(info), info.file};
  return response;
}

}  // namespace

net::awaitable<Response> create(Call& call) {
  App& app = call.app;
  if (app.backup_running.exchange(true)) throw busy();
  // Cleared however the backup ends.
  struct Clear {
    App& app;
    ~Clear() { app.backup_running = false; }
  } clear{app};
  audit::Event event = event_of(call, audit::Type::backup_created, std::nullopt);
  auto write = [&app, event = std::move(event)](pqxx::connection& c) {
    return app.backups.create(c, {}, event);
  };
  std::optional<backup::BackupInfo> info;
  try {
    info = co_await app.backup_db.run(std::move(write));
  } catch (const backup::BackupInProgress&) {
    // Another instance holds the backup lock.
  }
  if (!info) throw busy();
  app.audit.written(audit::Type::backup_created);
  co_return json_response(201, backup::to_json(*info));
}

net::awaitable<Response> list(Call& call) {
  auto query = [](pqxx::connection& c) { return backup::BackupService::list(c); };
  const auto all = co_await call.app.worker_db.run(std::move(query));
  std::string body = "{\"backups\":[";
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i > 0) body += ',';
    body += backup::to_json(all[i]);
  }
  body += "]}";
  co_return json_response(200, std::move(body));
}

net::awaitable<Response> latest(Call& call) {
  auto query = [](pqxx::connection& c) { return backup::BackupService::latest(c); };
  const auto info = co_await call.app.worker_db.run(std::move(query));
  if (!info) {
    throw Refused{{auth::ErrorKind::not_found, "backup_not_found", "There is no backup yet."}};
  }
  co_return download(call, *info);
}

net::awaitable<Response> by_id(Call& call) {
  const std::string& text = call.params.at(0);
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size() || id <= 0) throw not_found();
  auto query = [id](pqxx::connection& c) { return backup::BackupService::find(c, id); };
  const auto info = co_await call.app.worker_db.run(std::move(query));
  if (!info) throw not_found();
  co_return download(call, *info);
}

}  // namespace authd::server::backups
