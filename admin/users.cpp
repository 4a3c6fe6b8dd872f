#include "admin/users.hpp"

#include <utility>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "auth/account_rows.hpp"
#include "db/statements.hpp"

namespace authd::admin {
namespace {

namespace sql = db::sql;

std::string name(const sql::Statement& statement) {
  return std::string(statement.name);
}

AdminUser admin_user_from(const pqxx::row& row) {
  AdminUser out{auth::detail::user_from(row, 0), row[7].as<bool>()};
  out.user.disabled = row[6].as<bool>();
  return out;
}

std::optional<AdminUser> read_user(pqxx::transaction_base& tx, std::int64_t id) {
  const pqxx::result rows = tx.exec_prepared(name(sql::kAdminUser), id);
  if (rows.empty()) return std::nullopt;
  return admin_user_from(rows[0]);
}

}  // namespace

std::string prefix_pattern(std::string_view query) {
  std::string out;
  out.reserve(query.size() + 1);
  for (char c : query) {
    if (c == '\\' || c == '%' || c == '_') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('%');
  return out;
}

net::awaitable<UserPage> Users::search(std::string query, std::int64_t after, int limit) {
  const std::string pattern = query.empty() ? std::string() : prefix_pattern(query);
  auto find = [pattern, after, limit](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    // Unprepared: planned for this pattern (see kAdminSearchUsers).
    const pqxx::result rows =
        tx.exec_params(std::string(sql::kAdminSearchUsers.text), pattern, after, limit + 1);
    UserPage page;
    for (const auto& row : rows) {
      if (static_cast<int>(page.users.size()) == limit) {
        page.next = page.users.back().user.id;
        break;
      }
      page.users.push_back(admin_user_from(row));
    }
    return page;
  };
  co_return co_await db_.run(std::move(find));
}

net::awaitable<std::optional<AdminUser>> Users::get(std::int64_t id) {
  auto find = [id](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return read_user(tx, id);
  };
  co_return co_await db_.run(std::move(find));
}

net::awaitable<std::optional<AdminUser>> Users::update(std::int64_t id, Change change,
                                                       audit::Event event) {
  auto apply = [id, change, event = std::move(event)](pqxx::connection& c) {
    pqxx::work tx(c);
    const pqxx::result updated =
        tx.exec_prepared(name(sql::kAdminUpdateUser), id, change.role, change.disabled);
    if (updated.empty()) return std::optional<AdminUser>();
    if (change.disabled.value_or(false)) tx.exec_prepared(name(sql::kDeleteUserSessions), id);
    audit::insert(tx, {event});
    auto user = read_user(tx, id);
    tx.commit();
    return user;
  };
  auto user = co_await db_.run(std::move(apply));
  if (user) {
    sessions_.drop_user(id);
    trail_.written(audit::Type::admin_user_updated);
  }
  co_return user;
}

net::awaitable<bool> Users::remove(std::int64_t id, audit::Event event) {
  auto apply = [id, event = std::move(event)](pqxx::connection& c) {
    pqxx::work tx(c);
    if (tx.exec_prepared(name(sql::kAdminDeleteUser), id).empty()) return false;
    audit::insert(tx, {event});
    tx.commit();
    return true;
  };
  const bool removed = co_await db_.run(std::move(apply));
  if (removed) {
    sessions_.drop_user(id);
    trail_.written(audit::Type::admin_user_deleted);
  }
  co_return removed;
}

net::awaitable<bool> Users::logout_all(std::int64_t id, audit::Event event) {
  auto apply = [id, event = std::move(event)](pqxx::connection& c) {
    pqxx::work tx(c);
    if (tx.exec_prepared(name(sql::kUserById), id).empty()) return false;
    tx.exec_prepared(name(sql::kDeleteUserSessions), id);
    audit::insert(tx, {event});
    tx.commit();
    return true;
  };
  const bool known = co_await db_.run(std::move(apply));
  if (known) {
    sessions_.drop_user(id);
    trail_.written(audit::Type::admin_logout_all);
  }
  co_return known;
}

net::awaitable<AuditPage> Users::audit(std::optional<std::int64_t> user,
                                       std::optional<audit::Type> type,
                                       std::optional<std::int64_t> before, int limit) {
  std::optional<std::string> type_text;
  if (type) type_text = std::string(audit::type_name(*type));
  auto find = [user, type_text, before, limit](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result rows =
        tx.exec_params(std::string(sql::kAuditQuery.text), user, type_text, before, limit + 1);
    AuditPage page;
    std::int64_t last = 0;
    for (const auto& row : rows) {
      if (static_cast<int>(page.events.size()) == limit) {
        page.next = last;
        break;
      }
      last = row[0].as<std::int64_t>();
      boost::json::object event{{"id", last},
                                {"at", row[1].as<std::string>()},
                                {"type", row[2].as<std::string>()},
                                {"actor", row[4].as<std::string>()},
                                {"ip", row[5].as<std::string>()},
                                {"user_agent", row[6].as<std::string>()},
                                {"request_id", row[7].as<std::string>()}};
      if (row[3].is_null()) {
        event["user_id"] = nullptr;
      } else {
        event["user_id"] = row[3].as<std::int64_t>();
      }
      event["detail"] = boost::json::parse(row[8].as<std::string>());
      page.events.push_back(std::move(event));
    }
    return page;
  };
  co_return co_await db_.run(std::move(find));
}

}  // namespace authd::admin
