#include "auth/hash_pool.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

namespace authd::auth {

HashPool::HashPool(std::size_t threads, std::size_t max_queue, int nice)
    : capacity_((threads == 0 ? 1 : threads) + max_queue), nice_(nice) {
  if (threads == 0) threads = 1;
  slots_.reserve(threads);
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    slots_.push_back(std::make_unique<Slot>(activity_, stopping_));
    threads_.emplace_back([this, slot = slots_.back().get()] { work(*slot); });
  }
  dispatcher_ = std::thread([this] { dispatch_loop(); });
}

HashPool::~HashPool() {
  stop();
}

void HashPool::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  events_.release();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

std::size_t HashPool::waiting() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void HashPool::enqueue(std::unique_ptr<detail::HashJob> job) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_ && accepted_ < capacity_) {
      ++accepted_;
      queue_.push_back(std::move(job));
      events_.release();
      return;
    }
  }
  job->complete(std::make_exception_ptr(Overloaded("too many password hashes waiting")));
}

bool HashPool::ActivityPacer::give_way() const {
  if (stopping_.load(std::memory_order_relaxed)) return false;
  const std::uint64_t now = activity_.load(std::memory_order_relaxed);
  if (now == seen_) return true;
  seen_ = now;
  std::this_thread::sleep_for(kGiveWay);
  return true;
}

void HashPool::work(Slot& slot) {
  // Only this thread's priority: the event-loop threads keep theirs. (SCHED_IDLE measured worse
  // than nice 19 for session checks during a login flood.) Failure just means the system does
  // not allow it; hashing still works.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice_);
  (void)::pthread_setname_np(::pthread_self(), "authd-hash");
  for (;;) {
    slot.start.acquire();
    detail::HashJob* job = slot.job.load(std::memory_order_acquire);
    if (job == nullptr) return;  // the dispatcher is stopping
    detail::HashJob* partner = slot.partner;
    const bool job_gone = skip_abandoned(*job);
    const bool partner_gone = partner != nullptr && skip_abandoned(*partner);
    if (partner != nullptr && !job_gone && !partner_gone) {
      started_.fetch_add(2, std::memory_order_relaxed);
      try {
        pbkdf2_hmac_sha256_pair(*job->pairable(), *partner->pairable(), &slot.pacer);
      } catch (...) {
        job->fail(std::current_exception());
        partner->fail(std::current_exception());
      }
    } else {
      // What is left of a pair whose other half was abandoned runs alone.
      for (detail::HashJob* one : {job, partner}) {
        if (one == nullptr || (one == job ? job_gone : partner_gone)) continue;
        started_.fetch_add(1, std::memory_order_relaxed);
        one->execute(slot.pacer);
      }
    }
    slot.done.store(true, std::memory_order_release);
    events_.release();
  }
}

bool HashPool::skip_abandoned(detail::HashJob& job) {
  if (!job.abandoned()) return false;
  job.abandon();
  abandoned_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void HashPool::dispatch_loop() {
  (void)::pthread_setname_np(::pthread_self(), "authd-hashq");
  for (;;) {
    events_.acquire();
    // Deliver what finished: the places free up before the results go out, so a caller that
    // submits again at once finds room.
    std::vector<std::unique_ptr<detail::HashJob>> finished;
    for (auto& slot : slots_) {
      if (slot->done.load(std::memory_order_acquire)) {
        slot->done.store(false, std::memory_order_relaxed);
        slot->job.store(nullptr, std::memory_order_relaxed);
        finished.push_back(std::move(slot->owned));
        --busy_;
        if (slot->owned_partner) {
          finished.push_back(std::move(slot->owned_partner));
          slot->partner = nullptr;
          --busy_;
        }
      }
    }
    bool stop_now = false;
    std::vector<std::unique_ptr<detail::HashJob>> refused;
    {
      std::lock_guard lock(mutex_);
      accepted_ -= finished.size();
      // Stopping: jobs not started yet are refused rather than run, so shutdown waits at most
      // for the hashes already running.
      while (stopping_ && !queue_.empty()) {
        refused.push_back(std::move(queue_.front()));
        queue_.pop_front();
        --accepted_;
      }
      for (auto& slot : slots_) {
        if (slot->owned || queue_.empty()) continue;
        slot->owned = std::move(queue_.front());
        queue_.pop_front();
        ++busy_;
        // Two derivations waiting: one thread runs both, interleaved.
        if (pair_derivations_ && slot->owned->pairable() != nullptr && !queue_.empty() &&
            queue_.front()->pairable() != nullptr) {
          slot->owned_partner = std::move(queue_.front());
          queue_.pop_front();
          slot->partner = slot->owned_partner.get();
          ++busy_;
          paired_.fetch_add(2, std::memory_order_relaxed);
        }
        slot->job.store(slot->owned.get(), std::memory_order_release);
        slot->start.release();
      }
      stop_now = stopping_ && accepted_ == 0;
    }
    for (auto& job : finished) job->complete(nullptr);
    for (auto& job : refused) {
      job->complete(std::make_exception_ptr(Overloaded("authd is stopping")));
    }
    if (stop_now) break;
  }
  for (auto& slot : slots_) {
    slot->job.store(nullptr, std::memory_order_release);
    slot->start.release();
  }
}

}  // namespace authd::auth
