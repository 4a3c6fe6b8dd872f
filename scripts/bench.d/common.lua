-- Loaded by every scenario. At the end of a run, one line for scripts/bench to read:
-- BENCH rps=<req/s> p50_ms=<ms> p99_ms=<ms> non2xx=<count> socket_errors=<count>
-- wrk counts statuses of 400 and up as errors; authd sends no 1xx or 3xx, so that is every non-2xx.
bench = {
  password = os.getenv("BENCH_PASSWORD") or "benchPassw0rd",
  user = os.getenv("BENCH_USER") or "benchuser",
  run = os.getenv("BENCH_RUN") or "run",
}

function bench.json_headers(extra)
  local h = { ["Content-Type"] = "application/json" }
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
