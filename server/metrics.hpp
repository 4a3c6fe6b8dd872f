#pragma once

#include "audit/audit.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace authd::server {

// Point-in-time values gathered from the pools and services when /metrics is scraped.
struct Gauges {
  std::size_t hash_running = 0;
  std::size_t hash_waiting = 0;
  std::size_t db_size = 0;
  std::size_t db_in_use = 0;
  std::size_t db_idle = 0;
  std::size_t db_waiting = 0;
  std::uint64_t db_waited_total = 0;
  std::size_t loop_db_size = 0, loop_db_open = 0, loop_db_in_use = 0, loop_db_waiting = 0;
  std::uint64_t loop_db_retried = 0;
  std::uint64_t hash_paired = 0;
  std::uint64_t logins_ok = 0;
  std::uint64_t logins_bad_credentials = 0;
  std::uint64_t logins_limited = 0;
  std::uint64_t logins_overloaded = 0;
  std::uint64_t sessions_created = 0;
  std::uint64_t backups_made = 0;
  std::uint64_t backups_failed = 0;
  std::uint64_t session_cache_hits = 0, session_cache_misses = 0, session_cache_invalidations = 0;
  std::size_t session_cache_entries = 0;
  std::array<std::uint64_t, 4> authz_verdicts{};  // frontdoor::kVerdictNames
  std::uint64_t mail_waiting = 0, mail_sent = 0, mail_failed = 0;
  std::array<std::uint64_t, audit::kTypes> audit_events{};
  std::uint64_t audit_dropped = 0;
  std::size_t audit_waiting = 0;
};

// Request counters and latency histograms per route, lock-free on the request path.
class Metrics {
 public:
  // Route names indexed by route id; requests that match no route use the last slot.
  explicit Metrics(std::vector<std::string_view> route_names);

  void observe(std::size_t route, int status, std::chrono::nanoseconds duration);
  std::string render(const Gauges& gauges) const;

  static constexpr std::array<double, 16> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                      1,      2.5,     5,      10};

 private:
  struct RouteStats {
    std::array<std::atomic<std::uint64_t>, 500> by_status{};  // index: status - 100
    std::array<std::atomic<std::uint64_t>, kBuckets.size()> buckets{};
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> sum_ns{0};
  };
  std::vector<std::string_view> names_;
  std::unique_ptr<RouteStats[]> stats_;
};

}  // namespace authd::server
