#include "db/executor.hpp"

#include <pthread.h>

namespace authd::db {

DbExecutor::DbExecutor(ConnectionPool& pool, std::size_t threads, std::size_t max_queue)
    : pool_(pool), max_queue_(max_queue) {
  if (threads == 0) threads = 1;
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

DbExecutor::~DbExecutor() {
  stop();
}

void DbExecutor::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

std::size_t DbExecutor::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void DbExecutor::submit(std::unique_ptr<Job> job) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_ && queue_.size() < max_queue_) {
      queue_.push_back(std::move(job));
      wake_.notify_one();
      return;
    }
  }
  job->reject(std::make_exception_ptr(PoolExhausted("too many database calls waiting")));
}

void DbExecutor::work() {
  (void)::pthread_setname_np(::pthread_self(), "authd-db");
  for (;;) {
    std::unique_ptr<Job> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job->run();
  }
}

}  // namespace authd::db
