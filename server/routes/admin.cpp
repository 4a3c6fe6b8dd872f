#include <charconv>

#include "admin/users.hpp"
#include "server/routes/common.hpp"
#include "server/routes/route.hpp"

// The administrators' routes: users (search, read, change, remove, log out everywhere) and the
// audit trail.
namespace authd::server::admin {

namespace {

Refused invalid(std::string code, std::string detail) {
  return Refused{{auth::ErrorKind::invalid, std::move(code), std::move(detail)}};
}

Refused no_such_user() {
  return Refused{{auth::ErrorKind::not_found, "not_found", "There is no such user."}};
}

std::optional<std::int64_t> positive_integer(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

std::int64_t user_id_param(const Call& call) {
  const auto id = positive_integer(call.params.at(0));
  if (!id) throw no_such_user();
  return *id;
}

// An optional positive integer query parameter (a cursor, a user id): 400 code otherwise.
std::optional<std::int64_t> integer_param(const Call& call, std::string_view name,
                                          std::string_view code) {
  const auto text = query_param(call.request, name);
  if (!text || text->empty()) return std::nullopt;
  const auto value = positive_integer(*text);
  if (!value)
    throw invalid(std::string(code), "'" + std::string(name) + "' must be a positive integer.");
  return value;
}

int limit_param(const Call& call) {
  const auto text = query_param(call.request, "limit");
  if (!text || text->empty()) return 50;
  const auto value = positive_integer(*text);
  if (!value || *value > 500) throw invalid("invalid_limit", "'limit' must be from 1 to 500.");
  return static_cast<int>(*value);
}

boost::json::value cursor(const std::optional<std::int64_t>& next) {
  if (!next) return nullptr;
  return boost::json::string(std::to_string(*next));
}

boost::json::object admin_user_json(const authd::admin::AdminUser& found) {
  boost::json::object out = user_json(found.user);
  out["two_factor"] = found.two_factor;
  return out;
}

// An admin acting through a session may not lock themselves out: disable, demote or delete
// their own account (another admin, or the token, can).
void refuse_own_account(const Call& call, std::int64_t id) {
  if (call.session && call.session->session.user.id == id) {
    throw Refused{{auth::ErrorKind::conflict, "own_account",
                   "An administrator cannot disable, demote or delete their own account."}};
  }
}

}  // namespace

net::awaitable<Response> search_users(Call& call) {
  std::string query = query_param(call.request, "query").value_or("");
  if (query.size() > 254) throw invalid("invalid_query", "'query' is at most 254 bytes.");
  const std::int64_t after = integer_param(call, "after", "invalid_cursor").value_or(0);
  const int limit = limit_param(call);
  const auto page = co_await call.app.admin_users.search(std::move(query), after, limit);
  boost::json::array users;
  for (const auto& found : page.users) users.push_back(admin_user_json(found));
  co_return json_of(200, {{"users", std::move(users)}, {"next", cursor(page.next)}});
}

net::awaitable<Response> get_user(Call& call) {
  const auto found = co_await call.app.admin_users.get(user_id_param(call));
  if (!found) throw no_such_user();
  co_return json_of(200, {{"user", admin_user_json(*found)}});
}

net::awaitable<Response> update_user(Call& call) {
  const std::int64_t id = user_id_param(call);
  const auto body = json_body(call.request);
  authd::admin::Change change;
  boost::json::object detail;
  for (const auto& [key, value] : body) {
    if (key == "role") {
      if (!value.is_string() || (value.as_string() != "user" && value.as_string() != "admin")) {
        throw invalid("invalid_role", "'role' is \"user\" or \"admin\".");
      }
      change.role = std::string(value.as_string());
      detail["role"] = value;
    } else if (key == "disabled") {
      if (!value.is_bool()) throw invalid("wrong_type", "'disabled' must be true or false.");
      change.disabled = value.as_bool();
      detail["disabled"] = value;
    } else {
      throw invalid("unknown_field", "Only 'role' and 'disabled' can be changed.");
    }
  }
  if (!change.role && !change.disabled) {
    throw invalid("missing_field", "Give 'role', 'disabled' or both.");
  }
  if (change.role == "user" || change.disabled == true) refuse_own_account(call, id);
  audit::Event event = event_of(call, audit::Type::admin_user_updated, id, std::move(detail));
  const auto updated = co_await call.app.admin_users.update(id, change, std::move(event));
  if (!updated) throw no_such_user();
  co_return json_of(200, {{"user", admin_user_json(*updated)}});
}

net::awaitable<Response> delete_user(Call& call) {
  const std::int64_t id = user_id_param(call);
  refuse_own_account(call, id);
  audit::Event event = event_of(call, audit::Type::admin_user_deleted, id);
  const bool removed = co_await call.app.admin_users.remove(id, std::move(event));
  if (!removed) throw no_such_user();
  co_return no_content();
}

net::awaitable<Response> logout_user(Call& call) {
  const std::int64_t id = user_id_param(call);
  audit::Event event = event_of(call, audit::Type::admin_logout_all, id);
  const bool known = co_await call.app.admin_users.logout_all(id, std::move(event));
  if (!known) throw no_such_user();
  co_return no_content();
}

net::awaitable<Response> audit(Call& call) {
  const auto user = integer_param(call, "user", "invalid_user");
  std::optional<audit::Type> type;
  if (const auto name = query_param(call.request, "type"); name && !name->empty()) {
    type = audit::type_from_name(*name);
    if (!type) throw invalid("invalid_type", "'type' is not an audit event type.");
  }
  const auto after = integer_param(call, "after", "invalid_cursor");
  const int limit = limit_param(call);
  auto page = co_await call.app.admin_users.audit(user, type, after, limit);
  co_return json_of(200, {{"events", std::move(page.events)}, {"next", cursor(page.next)}});
}

}  // namespace authd::server::admin
