#include "auth/limits.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <boost/asio/execution_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include "auth/validation.hpp"
#include "db/statements.hpp"

namespace authd::auth {
namespace {

// Bounds what a client's unparsable address text can put into a key.
constexpr std::size_t kMaxRawAddress = 64;

// A statement's text parameters. (Built by a plain function: a braced list inside a co_await
// expression trips GCC 12's coroutine code.)
std::vector<std::string> params3(std::string a, std::string b, std::string c) {
  std::vector<std::string> out;
  out.reserve(3);
  out.push_back(std::move(a));
  out.push_back(std::move(b));
  out.push_back(std::move(c));
  return out;
}

std::string integer_array(const std::vector<std::int64_t>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

// A key's window as the counting statements return it: key, attempts, window start (µs), seconds
// left; whether it is over is for the caller, who knows the key's limit.
// A statement that counted share.size attempts at once returns the count after the last of them;
// this request's is as many fewer as came after it.
template <class Share>
LimitCount counted_from(const db::Rows& rows, int row, const Share& share) {
  LimitCount c;
  c.key = rows.string(row, 0);
  c.attempts = rows.integer(row, 1) - static_cast<std::int64_t>(share.size - 1 - share.position);
  c.window_start_us = rows.integer(row, 2);
  c.retry_after = std::max<std::int64_t>(rows.integer(row, 3), 1);
  return c;
}

bool is_clean_text(std::string_view text) {
  if (!utf8_length(text)) return false;
  return std::none_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7F;
  });
}

}  // namespace

bool Tally::over() const {
  return std::any_of(counts.begin(), counts.end(), [](const LimitCount& c) { return c.over; });
}

std::int64_t Tally::retry_after() const {
  std::int64_t longest = 0;
  for (const auto& c : counts) {
    if (c.over) longest = std::max(longest, c.retry_after);
  }
  return longest;
}

net::awaitable<Tally> Limiter::count(std::vector<LimitKey> keys) {
  // Sorted and unique: one row per key per statement, and rows locked in one order by every
  // concurrent count, so two of them never deadlock.
  std::sort(keys.begin(), keys.end(),
            [](const LimitKey& a, const LimitKey& b) { return a.key < b.key; });
  keys.erase(std::unique(keys.begin(), keys.end(),
                         [](const LimitKey& a, const LimitKey& b) { return a.key == b.key; }),
             keys.end());
  Tally tally;
  if (keys.empty()) co_return tally;
  std::vector<std::string> names;
  std::vector<std::int64_t> windows;
  for (const auto& k : keys) {
    names.push_back(k.key);
    windows.push_back(std::max<std::int64_t>(k.limit.window.count(), 1));
  }
  std::string names_text = text_array(names);
  std::string windows_text = integer_array(windows);
  auto run = [&](std::size_t attempts) -> net::awaitable<db::Rows> {
    co_return co_await db_.exec(db::sql::kLimitCount,
                                params3(names_text, windows_text, std::to_string(attempts)));
  };
  std::string together = names_text + '\n' + windows_text;
  Coalescers* loop = co_await coalescers();
  const auto share = co_await loop->count.join(std::move(together), run);
  const db::Rows& rows = *share.result;
  if (rows.size() != static_cast<int>(keys.size())) {
    throw std::runtime_error("the limiter counted a different number of keys");
  }
  for (int row = 0; row < rows.size(); ++row) {
    LimitCount c = counted_from(rows, row, share);
    const auto limit =
        std::find_if(keys.begin(), keys.end(), [&](const LimitKey& k) { return k.key == c.key; });
    if (limit == keys.end()) throw std::runtime_error("the limiter returned an unknown key");
    c.over = c.attempts > static_cast<std::int64_t>(limit->limit.count);
    tally.counts.push_back(std::move(c));
  }
  co_return tally;
}

net::awaitable<Limiter::LoginCount> Limiter::count_login(const db::sql::Statement& statement,
                                                         std::string identifier, RateLimit account,
                                                         LimitKey address) {
  std::vector<std::string> parameters;
  parameters.reserve(6);
  std::string lowered = ascii_lower(identifier);
  parameters.push_back(std::move(identifier));
  // The SQL makes it 'login:name:<it>' when nobody has the identifier.
  parameters.push_back(std::move(lowered));
  parameters.push_back(address.key);
  parameters.push_back(std::to_string(std::max<std::int64_t>(account.window.count(), 1)));
  parameters.push_back(std::to_string(std::max<std::int64_t>(address.limit.window.count(), 1)));
  std::string together(statement.name);
  for (const auto& p : parameters) {
    if (p.find('\0') != std::string::npos) {
      throw std::invalid_argument("a login count parameter must not contain NUL");
    }
    together += '\0';
    together += p;
  }
  auto run = [&](std::size_t attempts) -> net::awaitable<db::Rows> {
    std::vector<std::string> with_attempts = parameters;
    with_attempts.push_back(std::to_string(attempts));
    co_return co_await db_.exec(statement, std::move(with_attempts));
  };
  LoginCount out;
  Coalescers* loop = co_await coalescers();
  const auto share = co_await loop->login.join(std::move(together), run);
  out.rows = share.result;
  if (out.rows->size() != 2) throw std::runtime_error("the login count gave no two rows");
  for (int row = 0; row < 2; ++row) {
    LimitCount c = counted_from(*out.rows, row, share);
    const auto& limit = c.key == address.key ? address.limit : account;
    c.over = c.attempts > static_cast<std::int64_t>(limit.count);
    out.tally.counts.push_back(std::move(c));
  }
  co_return out;
}

net::awaitable<void> Limiter::settle(const Tally& tally, std::vector<std::string> cleared) {
  std::vector<std::string> refunded;
  std::vector<std::int64_t> starts;
  for (const auto& c : tally.counts) {
    if (std::find(cleared.begin(), cleared.end(), c.key) != cleared.end()) continue;
    refunded.push_back(c.key);
    starts.push_back(c.window_start_us);
  }
  if (cleared.empty() && refunded.empty()) co_return;
  std::vector<std::string> parameters =
      params3(text_array(cleared), text_array(refunded), integer_array(starts));
  std::string together = parameters[0] + '\n' + parameters[1] + '\n' + parameters[2];
  auto run = [&](std::size_t attempts) -> net::awaitable<bool> {
    std::vector<std::string> with_attempts = parameters;
    with_attempts.push_back(std::to_string(attempts));
    co_await db_.exec(db::sql::kLimitSettle, std::move(with_attempts));
    co_return true;
  };
  Coalescers* loop = co_await coalescers();
  co_await loop->settle.join(std::move(together), run);
}

namespace {

// Each event loop's coalescers, one set per Limiter, owned by the io_context: they go when it
// goes, with the coroutines waiting in them.
class LoopCoalescers : public net::execution_context::service {
 public:
  static inline net::execution_context::id id;
  explicit LoopCoalescers(net::execution_context& context) : service(context) {}

  Limiter::Coalescers& of(const Limiter* limiter) {
    auto& mine = sets_[limiter];
    if (!mine) mine = std::make_unique<Limiter::Coalescers>();
    return *mine;
  }

 private:
  void shutdown() override {}
  std::unordered_map<const Limiter*, std::unique_ptr<Limiter::Coalescers>> sets_;
};

}  // namespace

net::awaitable<Limiter::Coalescers*> Limiter::coalescers() {
  const auto executor = co_await net::this_coro::executor;
  net::execution_context& context = net::query(executor, net::execution::context);
  co_return &net::use_service<LoopCoalescers>(context).of(this);
}

std::string account_key(std::optional<std::int64_t> user_id, std::string_view identifier) {
  if (user_id) return "user:" + std::to_string(*user_id);
  return "name:" + ascii_lower(identifier);
}

std::string address_key(std::string_view client_address) {
  // Checked first: the parser reads a C string, so "1.2.3.4\0x" would pass as 1.2.3.4.
  if (client_address.size() > kMaxRawAddress || !is_clean_text(client_address)) return "raw:?";
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(client_address), ec);
  if (!ec) {
    if (address.is_v4()) return "ip:" + address.to_string();
    const auto v6 = address.to_v6();
    if (v6.is_v4_mapped()) {
      return "ip:" + boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
    }
    // From the bytes: a scope id (fe80::1%eth0) does not make another client.
    const boost::asio::ip::address_v6 bare(v6.to_bytes());
    return "ip:" + boost::asio::ip::network_v6(bare, 64).canonical().to_string();
  }
  return "raw:" + std::string(client_address);
}

std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i].find('\0') != std::string::npos) {
      throw std::invalid_argument("a limit key must not contain NUL");
    }
    if (i > 0) out += ',';
    out += '"';
    for (const char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace authd::auth
