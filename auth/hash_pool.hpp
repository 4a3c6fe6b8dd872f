#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
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

#include <openssl/crypto.h>

#include "auth/pacer.hpp"
#include "auth/pbkdf2.hpp"

namespace authd::auth {

namespace net = boost::asio;

// The hashing queue is full (or the pool is stopping): callers answer 503 with Retry-After.
class Overloaded : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The client that asked for a hash went away before it started: the hash was not computed. The
// server sends no answer (there is nobody to read it); logs and metrics count it like nginx's
// 499.
class ClientGone : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Tells, on a hash thread, whether the job's client is gone; empty: never.
using AbandonPredicate = std::function<bool()>;

namespace detail {

// A job is fn(const Pacer&), which may hand the pacer to PBKDF2, or a plain fn().
template <class F>
struct JobResult {
  using type = std::invoke_result_t<F&>;
};
template <class F>
requires std::is_invocable_v<F&, const Pacer&>
struct JobResult<F> {
  using type = std::invoke_result_t<F&, const Pacer&>;
};
template <class F>
using job_result_t = typename JobResult<F>::type;

template <class F>
decltype(auto) invoke_job(F& fn, const Pacer& pacer) {
  if constexpr (std::is_invocable_v<F&, const Pacer&>) {
    return fn(pacer);
  } else {
    return fn();
  }
}

struct HashJob {
  virtual ~HashJob() = default;
  // On a hash thread.
  virtual void execute(const Pacer& pacer) = 0;
  // A one-block PBKDF2 derivation that may run paired with another (see
  // pbkdf2_hmac_sha256_pair); null for other jobs.
  virtual const Pbkdf2Task* pairable() const { return nullptr; }
  // The pair it ran in failed.
  virtual void fail(std::exception_ptr) {}
  // Asked on the hash thread right before the job starts: true skips it (see abandon()).
  virtual bool abandoned() const { return false; }
  // Completes the job with ClientGone instead of running it.
  virtual void abandon() {}
  // Hands the result (or, with an error, only that error) to the awaiting coroutine.
  virtual void complete(std::exception_ptr rejected) = 0;
};

// What every job shares: its result or error, handed to the awaiting coroutine on that
// coroutine's executor (kept alive until then by a work guard).
template <class Value, class Handler>
class CompletingJob : public HashJob {
 public:
  explicit CompletingJob(Handler handler)
      : handler_(std::move(handler)),
        work_(net::make_work_guard(net::get_associated_executor(handler_))) {}

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

 protected:
  std::exception_ptr error_;
  std::optional<Value> value_;

 private:
  Handler handler_;
  net::executor_work_guard<net::associated_executor_t<Handler>> work_;
};

// A PBKDF2 key for the awaiting coroutine: a job the pool can pair with another.
template <class Handler>
class DeriveJob final : public CompletingJob<std::vector<unsigned char>, Handler> {
  using Base = CompletingJob<std::vector<unsigned char>, Handler>;

 public:
  DeriveJob(std::string password, std::vector<unsigned char> salt, std::uint32_t iterations,
            std::size_t key_length, AbandonPredicate gone, Handler handler)
      : Base(std::move(handler)),
        gone_(std::move(gone)),
        password_(std::move(password)),
        salt_(std::move(salt)),
        key_(key_length),
        task_{password_, salt_, iterations, key_} {}
  ~DeriveJob() override {
    OPENSSL_cleanse(password_.data(), password_.size());
    if (!key_.empty()) OPENSSL_cleanse(key_.data(), key_.size());
  }

  void execute(const Pacer& pacer) override {
    try {
      pbkdf2_hmac_sha256(task_.password, task_.salt, task_.iterations, task_.out, &pacer);
    } catch (...) {
      this->error_ = std::current_exception();
    }
  }
  const Pbkdf2Task* pairable() const override {
    return key_.size() == kPairableKeyBytes && task_.iterations > 0 ? &task_ : nullptr;
  }
  void fail(std::exception_ptr error) override { this->error_ = std::move(error); }
  bool abandoned() const override {
    if (!gone_) return false;
    try {
      return gone_();
    } catch (...) {
      return false;  // unsure: hash, as if the client were there
    }
  }
  void abandon() override {
    this->error_ = std::make_exception_ptr(ClientGone("the client left before its hash started"));
  }

  // The key was derived into key_ (alone or paired): it becomes the result.
  void complete(std::exception_ptr rejected) override {
    if (!rejected && !this->error_) this->value_.emplace(std::move(key_));
    key_.clear();
    Base::complete(rejected);
  }

 private:
  static constexpr std::size_t kPairableKeyBytes = 32;
  AbandonPredicate gone_;
  std::string password_;
  std::vector<unsigned char> salt_;
  std::vector<unsigned char> key_;
  const Pbkdf2Task task_;
};

template <class Fn, class Handler>
class HashJobImpl final
    : public CompletingJob<
          std::conditional_t<std::is_void_v<job_result_t<Fn>>, std::monostate, job_result_t<Fn>>,
          Handler> {
  using R = job_result_t<Fn>;

 public:
  HashJobImpl(Fn fn, Handler handler)
      : HashJobImpl::CompletingJob(std::move(handler)), fn_(std::move(fn)) {}

  void execute(const Pacer& pacer) override {
    try {
      if constexpr (std::is_void_v<R>) {
        invoke_job(fn_, pacer);
        this->value_.emplace();
      } else {
        this->value_.emplace(invoke_job(fn_, pacer));
      }
    } catch (...) {
      this->error_ = std::current_exception();
    }
  }

 private:
  Fn fn_;
};

}  // namespace detail

// Worker threads for PBKDF2, at a lower OS priority than the event loop so a flood of logins
// slows logins down rather than every other request. A lower priority alone is not enough: a
// CPU-bound thread, however nice, delays the wake-ups of the event loop, the DB threads and
// PostgreSQL by up to a scheduler slice each. So jobs that take a Pacer give way: every
// Pacer::kEvery iterations, if requests arrived since the last look (note_activity), the hash
// thread sleeps kGiveWay. With no other traffic, hashing runs at full speed. The number of
// jobs waiting for a thread is bounded: past it, run() throws Overloaded at once.
class HashPool {
 public:
  // max_queue counts jobs waiting beyond the ones the threads are running: with 0, only as many
  // jobs as there are threads are accepted at a time. nice is the threads' niceness.
  HashPool(std::size_t threads, std::size_t max_queue, int nice = 10);
  ~HashPool();
  HashPool(const HashPool&) = delete;
  HashPool& operator=(const HashPool&) = delete;

  // Refuses the queued jobs with Overloaded, ends running paced jobs at their next pacing
  // point (unpaced ones run to their end), then joins the threads; later run() calls throw
  // Overloaded too. Called at shutdown, when no request waits for a hash any more.
  void stop();

  static constexpr std::chrono::microseconds kGiveWay{500};

  // co_await run(fn): fn(pacer) or fn() runs on a hash thread; its result or exception comes
  // back on the awaiting coroutine's executor. Throws Overloaded without running fn when the
  // queue is full.
  template <class F>
  net::awaitable<detail::job_result_t<F>> run(F fn);

  // co_await derive(...): PBKDF2-HMAC-SHA256 of the password, key_length bytes. Two
  // derivations waiting at once run paired on one thread where that is faster
  // (pbkdf2_hmac_sha256_pair). Throws Overloaded like run(). gone is asked on the hash thread
  // right before the derivation starts: when it says true, nothing is derived and derive throws
  // ClientGone.
  net::awaitable<std::vector<unsigned char>> derive(std::string password,
                                                    std::vector<unsigned char> salt,
                                                    std::uint32_t iterations,
                                                    std::size_t key_length,
                                                    AbandonPredicate gone = {});

  // A request arrived: running hashes give way at their next pacing point.
  void note_activity() { activity_.fetch_add(1, std::memory_order_relaxed); }

  std::size_t running() const { return busy_.load(); }
  // Derivations that ran two to a thread.
  std::uint64_t paired() const { return paired_.load(std::memory_order_relaxed); }
  // Jobs a hash thread started (derivations and run() jobs), and derivations skipped because
  // their client had gone.
  std::uint64_t started() const { return started_.load(std::memory_order_relaxed); }
  std::uint64_t abandoned() const { return abandoned_.load(std::memory_order_relaxed); }
  std::size_t waiting() const;

 private:
  // One hash thread's mailbox. Only the dispatcher and that thread touch it, through atomics and
  // semaphores: a low-priority hash thread never holds a lock that an event-loop thread needs,
  // so a preempted hash thread cannot stall the event loop (no priority inversion).
  class ActivityPacer final : public Pacer {
   public:
    ActivityPacer(const std::atomic<std::uint64_t>& activity, const std::atomic<bool>& stopping)
        : activity_(activity), stopping_(stopping) {}
    // False once the pool is stopping: nobody waits for that hash any more.
    bool give_way() const override;

   private:
    const std::atomic<std::uint64_t>& activity_;
    const std::atomic<bool>& stopping_;
    mutable std::uint64_t seen_ = 0;
  };

  struct Slot {
    Slot(const std::atomic<std::uint64_t>& activity, const std::atomic<bool>& stopping)
        : pacer(activity, stopping) {}
    ActivityPacer pacer;  // used by this slot's thread only
    std::binary_semaphore start{0};
    std::atomic<detail::HashJob*> job{nullptr};
    detail::HashJob* partner = nullptr;  // set with job, before start is released
    std::atomic<bool> done{false};
    std::unique_ptr<detail::HashJob> owned;  // the dispatcher's side
    std::unique_ptr<detail::HashJob> owned_partner;
  };

  // Queues the job, or rejects it with Overloaded when the queue is full or the pool stopped.
  void enqueue(std::unique_ptr<detail::HashJob> job);
  void work(Slot& slot);
  // On a hash thread: true (and the job completed with ClientGone) when its client is gone.
  bool skip_abandoned(detail::HashJob& job);
  // Normal priority: hands queued jobs to idle hash threads and delivers finished results.
  void dispatch_loop();

  const std::size_t capacity_;  // threads + max_queue: jobs accepted and not yet finished
  const int nice_;
  const bool pair_derivations_ = pbkdf2_pairs_run_faster();
  mutable std::mutex mutex_;  // the queue; shared by event-loop threads and the dispatcher only
  std::deque<std::unique_ptr<detail::HashJob>> queue_;
  std::size_t accepted_ = 0;  // queued or running: bounded by capacity_
  // Written under mutex_; read without it by the pacers, so running jobs can end early.
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> busy_{0};
  std::atomic<std::uint64_t> paired_{0};
  std::atomic<std::uint64_t> started_{0};
  std::atomic<std::uint64_t> abandoned_{0};
  std::atomic<std::uint64_t> activity_{0};
  std::counting_semaphore<> events_{0};  // a job queued, a job finished, or stop
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> threads_;
  std::thread dispatcher_;
};

template <class F>
net::awaitable<detail::job_result_t<F>> HashPool::run(F fn) {
  using R = detail::job_result_t<F>;
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

inline net::awaitable<std::vector<unsigned char>> HashPool::derive(std::string password,
                                                                   std::vector<unsigned char> salt,
                                                                   std::uint32_t iterations,
                                                                   std::size_t key_length,
                                                                   AbandonPredicate gone) {
  using Signature = void(std::exception_ptr, std::optional<std::vector<unsigned char>>);
  auto initiation = [this, iterations, key_length](auto handler, std::string password,
                                                   std::vector<unsigned char> salt,
                                                   AbandonPredicate gone) {
    using Job = detail::DeriveJob<decltype(handler)>;
    enqueue(std::make_unique<Job>(std::move(password), std::move(salt), iterations, key_length,
                                  std::move(gone), std::move(handler)));
  };
  auto key = co_await net::async_initiate<decltype(net::use_awaitable), Signature>(
      std::move(initiation), net::use_awaitable, std::move(password), std::move(salt),
      std::move(gone));
  co_return std::move(*key);
}

}  // namespace authd::auth
