-- The verification handshake (GET /webhook?hub.*): no D1 work, the baseline
-- for the POST/GET ratio. Prints one machine-readable RESULT line at the end.
local threads = {}
function setup(thread) threads[#threads + 1] = thread end

non2xx = 0
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non2xx") end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d rps=%.1f mean_ms=%.2f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d timeouts=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency.mean / 1000,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, bad, e.connect + e.read + e.write, e.timeout))
end
