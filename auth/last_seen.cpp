#include "auth/last_seen.hpp"

#include <chrono>
#include <exception>
#include <memory>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <pqxx/nontransaction>

#include "db/executor.hpp"
#include "db/statements.hpp"

namespace authd::auth {
namespace {

std::string marks_json(const std::unordered_map<std::string, std::int64_t>& marks) {
  boost::json::array out;
  out.reserve(marks.size());
  for (const auto& [hash, at] : marks) out.push_back(boost::json::object{{"h", hash}, {"at", at}});
  return boost::json::serialize(out);
}

}  // namespace

void LastSeen::seen(const CachedSession& session) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::int64_t minute = now / 60;
  std::int64_t known = session.seen_minute.load(std::memory_order_relaxed);
  if (known >= minute) return;
  // One check of many in the same minute wins the mark; the rest return here.
  if (!session.seen_minute.compare_exchange_strong(known, minute, std::memory_order_relaxed)) {
    return;
  }
  std::lock_guard lock(mutex_);
  if (marked_.size() >= kMaxMarked) return;  // the database away for long: marks are a hint
  marked_[session.session.token_hash_hex] = now;
}

std::size_t LastSeen::marked() const {
  std::lock_guard lock(mutex_);
  return marked_.size();
}

std::unordered_map<std::string, std::int64_t> LastSeen::take() {
  std::lock_guard lock(mutex_);
  return std::exchange(marked_, {});
}

void LastSeen::put_back(std::unordered_map<std::string, std::int64_t> marks) {
  std::lock_guard lock(mutex_);
  for (auto& [hash, at] : marks) {
    auto& slot = marked_[hash];
    slot = std::max(slot, at);
  }
}

net::awaitable<void> LastSeen::flush(db::DbExecutor& db) {
  auto marks = take();
  if (marks.empty()) co_return;
  auto json = std::make_shared<const std::string>(marks_json(marks));
  auto write = [json](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared(std::string(db::sql::kSessionsSeen.name), *json);
  };
  std::exception_ptr failure;
  try {
    co_await db.run(std::move(write));
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    put_back(std::move(marks));
    std::rethrow_exception(failure);
  }
}

void LastSeen::flush_blocking(pqxx::connection& connection) {
  auto marks = take();
  if (marks.empty()) return;
  pqxx::nontransaction tx(connection);
  tx.exec_prepared(std::string(db::sql::kSessionsSeen.name), marks_json(marks));
}

}  // namespace authd::auth
