#include "auth/hash_pool.hpp"

#include <sys/resource.h>
#include <unistd.h>

namespace authd::auth {

HashPool::HashPool(std::size_t threads, std::size_t max_queue, int nice)
    : capacity_((threads == 0 ? 1 : threads) + max_queue), nice_(nice) {
  if (threads == 0) threads = 1;
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

HashPool::~HashPool() {
  stop();
}

void HashPool::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

std::size_t HashPool::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

std::size_t HashPool::waiting() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void HashPool::enqueue(std::unique_ptr<detail::HashJob> job) {
  {
    std::lock_guard lock(mutex_);
    // Queued jobs that an idle thread is about to take do not count against max_queue.
    if (!stopping_ && queue_.size() + running_ < capacity_) {
      queue_.push_back(std::move(job));
      wake_.notify_one();
      return;
    }
  }
  job->complete(std::make_exception_ptr(Overloaded("too many password hashes waiting")));
}

void HashPool::work() {
  // Only this thread's priority: the event-loop threads keep theirs. Failure just means the
  // system does not allow it; hashing still works.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice_);
  for (;;) {
    std::unique_ptr<detail::HashJob> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    job->execute();
    {
      // Before the result goes out, so a caller that submits again at once finds the place free.
      std::lock_guard lock(mutex_);
      --running_;
    }
    job->complete(nullptr);
  }
}

}  // namespace authd::auth
