#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace authd::auth {

namespace net = boost::asio;

// Identical writes to one hot row, carried out together. The first request for a key runs its
// statement at once; the requests for the same key that arrive while it runs wait for it and are
// then carried out by one statement for all of them (run(n) does the work of n requests, say
// "count n attempts"). Under no contention nothing waits; under a flood of logins for one
// account from one address, a handful of statements do what a statement per login did, and each
// request still learns its own place in the count.
//
// One event loop's: every request joins from a coroutine on the same single-threaded io_context
// (Limiter keeps one per loop), so no locks.
template <class Result>
class Coalescer {
 public:
  struct Share {
    std::shared_ptr<const Result> result;
    std::size_t position = 0;  // this request's place among those the statement did, from 0
    std::size_t size = 1;      // how many requests the statement did
  };

  // Run: std::size_t -> net::awaitable<Result>. Throws what run threw, to every request of the
  // batch.
  template <class Run>
  net::awaitable<Share> join(std::string key, Run run) {
    auto executor = co_await net::this_coro::executor;
    Slot& slot = slots_[key];
    std::shared_ptr<Batch> batch;
    std::shared_ptr<Batch> before;
    if (!slot.current) {
      batch = std::make_shared<Batch>(executor);
      slot.current = batch;
    } else {
      if (!slot.pending) slot.pending = std::make_shared<Batch>(executor);
      batch = slot.pending;
      before = slot.current;
    }
    const std::size_t position = batch->size++;
    if (position == 0) {
      // This batch's leader: once the batch before it is done, this one is current and closed
      // (later requests form the next), so its size is final.
      if (before) co_await wait(*before);
      try {
        Result result = co_await run(batch->size);
        batch->result = std::make_shared<const Result>(std::move(result));
      } catch (...) {
        batch->error = std::current_exception();
      }
      batch->done = true;
      batch->signal.cancel();
      Slot& mine = slots_[key];
      mine.current = std::move(mine.pending);
      if (!mine.current) slots_.erase(key);
    } else {
      co_await wait(*batch);
    }
    if (batch->error) std::rethrow_exception(batch->error);
    co_return Share{batch->result, position, batch->size};
  }

 private:
  struct Batch {
    explicit Batch(const net::any_io_executor& executor) : signal(executor) {
      signal.expires_at(std::chrono::steady_clock::time_point::max());
    }
    net::steady_timer signal;  // cancelled once done: wakes everyone waiting
    std::size_t size = 0;
    bool done = false;
    std::shared_ptr<const Result> result;
    std::exception_ptr error;
  };
  struct Slot {
    std::shared_ptr<Batch> current;  // its statement runs (or its leader is about to send it)
    std::shared_ptr<Batch> pending;  // requests gathering for the next statement
  };

  static net::awaitable<void> wait(Batch& batch) {
    while (!batch.done) {
      boost::system::error_code ignored;
      co_await batch.signal.async_wait(net::redirect_error(net::use_awaitable, ignored));
    }
  }

  std::unordered_map<std::string, Slot> slots_;
};

}  // namespace authd::auth
