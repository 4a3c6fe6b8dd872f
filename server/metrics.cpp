#include "server/metrics.hpp"

#include <cstdio>

namespace authd::server {
namespace {

void append(std::string& out, const char* format, auto... values) {
  char line[256];
  const int n = std::snprintf(line, sizeof(line), format, values...);
  if (n > 0) out.append(line, static_cast<std::size_t>(std::min<int>(n, sizeof(line) - 1)));
}

void gauge(std::string& out, const char* name, const char* help, const char* type, double value) {
  append(out, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, value);
}

}  // namespace

Metrics::Metrics(std::vector<std::string_view> route_names)
    : names_(std::move(route_names)), stats_(new RouteStats[names_.size() + 1]) {
  names_.push_back("unmatched");
}

void Metrics::observe(std::size_t route, int status, std::chrono::nanoseconds duration) {
  if (route >= names_.size()) route = names_.size() - 1;
  RouteStats& s = stats_[route];
  if (status >= 100 && status < 600) {
    s.by_status[static_cast<std::size_t>(status - 100)].fetch_add(1, std::memory_order_relaxed);
  }
  const double seconds = std::chrono::duration<double>(duration).count();
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      s.buckets[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  s.count.fetch_add(1, std::memory_order_relaxed);
  s.sum_ns.fetch_add(static_cast<std::uint64_t>(duration.count()), std::memory_order_relaxed);
}

std::string Metrics::render(const Gauges& g) const {
  std::string out;
  out.reserve(16384);
  out += "# HELP authd_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE authd_http_requests_total counter\n";
  for (std::size_t r = 0; r < names_.size(); ++r) {
    for (std::size_t i = 0; i < 500; ++i) {
      const auto n = stats_[r].by_status[i].load(std::memory_order_relaxed);
      if (n == 0) continue;
      append(out, "authd_http_requests_total{route=\"%.*s\",status=\"%zu\"} %llu\n",
             static_cast<int>(names_[r].size()), names_[r].data(), i + 100,
             static_cast<unsigned long long>(n));
    }
  }
  out +=
      "# HELP authd_http_request_duration_seconds Time from the request's first byte to its answer "
      "being ready to send.\n";
  out += "# TYPE authd_http_request_duration_seconds histogram\n";
  for (std::size_t r = 0; r < names_.size(); ++r) {
    const RouteStats& s = stats_[r];
    const auto count = s.count.load(std::memory_order_relaxed);
    if (count == 0) continue;
    const int len = static_cast<int>(names_[r].size());
    const char* name = names_[r].data();
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += s.buckets[i].load(std::memory_order_relaxed);
      append(out, "authd_http_request_duration_seconds_bucket{route=\"%.*s\",le=\"%g\"} %llu\n",
             len, name, kBuckets[i], static_cast<unsigned long long>(cumulative));
    }
    append(out, "authd_http_request_duration_seconds_bucket{route=\"%.*s\",le=\"+Inf\"} %llu\n",
           len, name, static_cast<unsigned long long>(count));
    append(out, "authd_http_request_duration_seconds_sum{route=\"%.*s\"} %.9f\n", len, name,
           static_cast<double>(s.sum_ns.load(std::memory_order_relaxed)) / 1e9);
    append(out, "authd_http_request_duration_seconds_count{route=\"%.*s\"} %llu\n", len, name,
           static_cast<unsigned long long>(count));
  }
  gauge(out, "authd_pbkdf2_jobs_running", "Password hashing jobs running now.", "gauge",
        static_cast<double>(g.hash_running));
  gauge(out, "authd_pbkdf2_jobs_waiting", "Password hashing jobs queued now.", "gauge",
        static_cast<double>(g.hash_waiting));
  gauge(out, "authd_pbkdf2_paired_total",
        "PBKDF2 derivations that ran two to a thread, interleaved.", "counter",
        static_cast<double>(g.hash_paired));
  gauge(out, "authd_db_pool_connections", "Size of the PostgreSQL connection pool.", "gauge",
        static_cast<double>(g.db_size));
  gauge(out, "authd_db_pool_in_use", "Pool connections leased now.", "gauge",
        static_cast<double>(g.db_in_use));
  gauge(out, "authd_db_pool_idle", "Open pool connections not leased now.", "gauge",
        static_cast<double>(g.db_idle));
  gauge(out, "authd_db_pool_waiting", "Callers waiting for a pool connection now.", "gauge",
        static_cast<double>(g.db_waiting));
  gauge(out, "authd_db_pool_waits_total", "Acquisitions that had to wait for a connection.",
        "counter", static_cast<double>(g.db_waited_total));
  gauge(out, "authd_db_loop_connections",
        "PostgreSQL connections the event loops may open for requests' statements.", "gauge",
        static_cast<double>(g.loop_db_size));
  gauge(out, "authd_db_loop_open", "Event-loop PostgreSQL connections open or opening now.",
        "gauge", static_cast<double>(g.loop_db_open));
  gauge(out, "authd_db_loop_in_use", "Event-loop PostgreSQL connections running a statement now.",
        "gauge", static_cast<double>(g.loop_db_in_use));
  gauge(out, "authd_db_loop_waiting", "Statements waiting for an event-loop connection now.",
        "gauge", static_cast<double>(g.loop_db_waiting));
  gauge(out, "authd_db_loop_retries_total",
        "Statements tried again on a fresh connection after theirs broke.", "counter",
        static_cast<double>(g.loop_db_retried));
  out += "# HELP authd_logins_total Login attempts by outcome.\n";
  out += "# TYPE authd_logins_total counter\n";
  append(out, "authd_logins_total{outcome=\"ok\"} %llu\n",
         static_cast<unsigned long long>(g.logins_ok));
  append(out, "authd_logins_total{outcome=\"bad_credentials\"} %llu\n",
         static_cast<unsigned long long>(g.logins_bad_credentials));
  append(out, "authd_logins_total{outcome=\"limited\"} %llu\n",
         static_cast<unsigned long long>(g.logins_limited));
  append(out, "authd_logins_total{outcome=\"overloaded\"} %llu\n",
         static_cast<unsigned long long>(g.logins_overloaded));
  gauge(out, "authd_sessions_created_total", "Sessions created by logins.", "counter",
        static_cast<double>(g.sessions_created));
  out += "# HELP authd_backups_total Backups attempted, by result.\n";
  out += "# TYPE authd_backups_total counter\n";
  append(out, "authd_backups_total{result=\"ok\"} %llu\n",
         static_cast<unsigned long long>(g.backups_made));
  append(out, "authd_backups_total{result=\"failed\"} %llu\n",
         static_cast<unsigned long long>(g.backups_failed));
  gauge(out, "authd_session_cache_hits_total", "Session checks answered from the session cache.",
        "counter", static_cast<double>(g.session_cache_hits));
  gauge(out, "authd_session_cache_misses_total",
        "Session checks the session cache could not answer.", "counter",
        static_cast<double>(g.session_cache_misses));
  gauge(out, "authd_session_cache_invalidations_total",
        "Invalidations applied to the session cache (a session, a user's, or all).", "counter",
        static_cast<double>(g.session_cache_invalidations));
  gauge(out, "authd_session_cache_entries", "Sessions in the session cache now.", "gauge",
        static_cast<double>(g.session_cache_entries));
  out += "# HELP authd_authz_verdicts_total The front door's verdicts.\n";
  out += "# TYPE authd_authz_verdicts_total counter\n";
  static constexpr std::array<const char*, 4> kVerdicts{"allowed", "unauthorized", "redirected",
                                                        "forbidden"};
  for (std::size_t i = 0; i < kVerdicts.size(); ++i) {
    append(out, "authd_authz_verdicts_total{verdict=\"%s\"} %llu\n", kVerdicts[i],
           static_cast<unsigned long long>(g.authz_verdicts[i]));
  }
  gauge(out, "authd_mail_outbox", "Mails waiting in the outbox (as the sender last counted).",
        "gauge", static_cast<double>(g.mail_waiting));
  gauge(out, "authd_mail_sent_total", "Mails delivered by this instance.", "counter",
        static_cast<double>(g.mail_sent));
  gauge(out, "authd_mail_failed_total", "Mails this instance gave up on after a day.", "counter",
        static_cast<double>(g.mail_failed));
  out += "# HELP authd_audit_events_total Audit events recorded by this instance, by type.\n";
  out += "# TYPE authd_audit_events_total counter\n";
  for (std::size_t i = 0; i < audit::kTypes; ++i) {
    const std::string name(audit::type_name(static_cast<audit::Type>(i)));
    append(out, "authd_audit_events_total{type=\"%s\"} %llu\n", name.c_str(),
           static_cast<unsigned long long>(g.audit_events[i]));
  }
  gauge(out, "authd_audit_waiting", "Audit events waiting for the batched writer.", "gauge",
        static_cast<double>(g.audit_waiting));
  gauge(out, "authd_audit_dropped_total",
        "Audit events dropped because too many waited (PostgreSQL away for long).", "counter",
        static_cast<double>(g.audit_dropped));
  return out;
}

}  // namespace authd::server
