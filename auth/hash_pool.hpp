#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace authd::auth {

namespace net = boost::asio;

// The hashing queue is full (or the pool is stopping): callers answer 503 with Retry-After.
class Overloaded : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Worker threads for PBKDF2, at a lower OS priority than the event loop so a flood of logins
// slows logins down rather than every other request. The number of jobs waiting for a thread
// is bounded: past it, run() throws Overloaded at once instead of queueing without limit.
namespace detail {

struct HashJob {
  virtual ~HashJob() = default;
  // On a hash thread.
  virtual void execute() = 0;
  // Hands the result (or, with an error, only that error) to the awaiting coroutine.
  virtual void complete(std::exception_ptr rejected) = 0;
};

template <class Fn, class Handler>
class HashJobImpl final : public HashJob {
  using R = std::invoke_result_t<Fn&>;
  using Value = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

 public:
  HashJobImpl(Fn fn, Handler handler)
      : fn_(std::move(fn)),
        handler_(std::move(handler)),
        work_(net::make_work_guard(net::get_associated_executor(handler_))) {}

  void execute() override {
    try {
      if constexpr (std::is_void_v<R>) {
        fn_();
        value_.emplace();
      } else {
        value_.emplace(fn_());
      }
    } catch (...) {
      error_ = std::current_exception();
    }
  }

  void complete(std::exception_ptr rejected) override {
    auto deliver = [h = std::move(handler_), error = rejected ? rejected : error_,
                    v = std::move(value_)]() mutable { std::move(h)(error, std::move(v)); };
    // A rejection happens inside the initiation itself: post, so the handler never runs
    // re-entrantly while the coroutine is still suspending.
    if (rejected) {
      net::post(work_.get_executor(), std::move(deliver));
    } else {
      net::dispatch(work_.get_executor(), std::move(deliver));
    }
    work_.reset();
  }

 private:
  Fn fn_;
  Handler handler_;
  net::executor_work_guard<net::associated_executor_t<Handler>> work_;
  std::exception_ptr error_;
  std::optional<Value> value_;
};

}  // namespace detail

// Worker threads for PBKDF2, at a lower OS priority than the event loop so a flood of logins
// slows logins down rather than every other request. The number of jobs waiting for a thread
// is bounded: past it, run() throws Overloaded at once instead of queueing without limit.
class HashPool {
 public:
  // max_queue counts jobs waiting beyond the ones the threads are running: with 0, only as many
  // jobs as there are threads are accepted at a time. nice is the threads' niceness.
  HashPool(std::size_t threads, std::size_t max_queue, int nice = 10);
  ~HashPool();
  HashPool(const HashPool&) = delete;
  HashPool& operator=(const HashPool&) = delete;

  // Finishes the accepted jobs, then joins the threads; later run() calls throw Overloaded.
  void stop();

  // co_await run(fn): fn() runs on a hash thread; its result or exception comes back on the
  // awaiting coroutine's executor. Throws Overloaded without running fn when the queue is full.
  template <class F>
  net::awaitable<std::invoke_result_t<F&>> run(F fn);

  std::size_t running() const { return busy_.load(); }
  std::size_t waiting() const;

 private:
  // One hash thread's mailbox. Only the dispatcher and that thread touch it, through atomics and
  // semaphores: a low-priority hash thread never holds a lock that an event-loop thread needs,
  // so a preempted hash thread cannot stall the event loop (no priority inversion).
  struct Slot {
    std::binary_semaphore start{0};
    std::atomic<detail::HashJob*> job{nullptr};
    std::atomic<bool> done{false};
    std::unique_ptr<detail::HashJob> owned;  // the dispatcher's side
  };

  // Queues the job, or rejects it with Overloaded when the queue is full or the pool stopped.
  void enqueue(std::unique_ptr<detail::HashJob> job);
  void work(Slot& slot);
  // Normal priority: hands queued jobs to idle hash threads and delivers finished results.
  void dispatch_loop();

  const std::size_t capacity_;  // threads + max_queue: jobs accepted and not yet finished
  const int nice_;
  mutable std::mutex mutex_;  // the queue; shared by event-loop threads and the dispatcher only
  std::deque<std::unique_ptr<detail::HashJob>> queue_;
  std::size_t accepted_ = 0;  // queued or running: bounded by capacity_
  bool stopping_ = false;
  std::atomic<std::size_t> busy_{0};
  std::counting_semaphore<> events_{0};  // a job queued, a job finished, or stop
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> threads_;
  std::thread dispatcher_;
};

template <class F>
net::awaitable<std::invoke_result_t<F&>> HashPool::run(F fn) {
  using R = std::invoke_result_t<F&>;
  using Value = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
  using Signature = void(std::exception_ptr, std::optional<Value>);

  auto initiation = [this](auto handler, F fn) {
    using Job = detail::HashJobImpl<F, decltype(handler)>;
    enqueue(std::make_unique<Job>(std::move(fn), std::move(handler)));
  };
  auto result = co_await net::async_initiate<decltype(net::use_awaitable), Signature>(
      std::move(initiation), net::use_awaitable, std::move(fn));
  if constexpr (!std::is_void_v<R>) co_return std::move(*result);
}

}  // namespace authd::auth
