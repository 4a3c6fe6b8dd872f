#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <pqxx/connection>

#include "mail/smtp.hpp"

// The sender: on a thread of its own, it claims waiting mails from the outbox table with
// FOR UPDATE SKIP LOCKED (so instances sharing the database never take the same one), delivers
// each over SMTP while its row stays locked, and records the outcome in the same transaction:
// sent (the text is dropped, the metadata kept), or tried again after 1, 2, 4 … seconds (at most
// 10 minutes apart) until a day after it was queued, then failed for good. A mail whose delivery
// was cut by a crash before its commit is sent again: at least once, and once when nothing crashes.
namespace authd::mail {

struct OutboxStats {
  std::uint64_t waiting = 0;  // queued, not yet delivered nor failed (as last counted)
  std::uint64_t sent = 0;     // by this instance since it started
  std::uint64_t failed = 0;   // failed for good, by this instance
};

class Outbox {
 public:
  Outbox(std::string database_url, SmtpSettings smtp);
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  void start();
  // Finishes the mail being sent, then stops.
  void stop();
  // A mail was queued: look now rather than at the next poll.
  void wake();
  OutboxStats stats() const;

 private:
  void run();
  // One round on connection (opened when null): true when it found mail (another round follows
  // at once).
  bool round(std::unique_ptr<pqxx::connection>& connection);

  const std::string database_url_;
  const SmtpSettings smtp_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::atomic<std::uint64_t> waiting_{0}, sent_{0}, failed_{0};
};

}  // namespace authd::mail
