-- Shared by the load harness's wrk scripts: at the end of a run, print one machine-readable
-- line that scripts/load.sh parses. Latencies are in microseconds. wrk counts a response as
-- a status error when its status is >= 400 (none of our endpoints answers 1xx or 3xx), so
-- `non2xx` is the number of non-2xx responses; `sockerr` sums connect/read/write/timeout errors.
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d non2xx=%d sockerr=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.max,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
