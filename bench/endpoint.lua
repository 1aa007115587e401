-- wrk script for row 5: POST /v1/jobs/{id}/process on ids picked at random from a file (one
-- id a line). The same script drives rtjobs and the nginx reference, so requests are identical.
--   wrk -c 1000 -t 2 -d 20s --latency -s bench/endpoint.lua URL -- IDS_FILE TOKEN
-- done() prints one JSON line (latencies in microseconds) after wrk's own report.
local ids = {}
local headers = {}

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  headers["Authorization"] = "Bearer " .. args[2]
  headers["Content-Length"] = "0"
  math.randomseed(os.time() + #tostring({}))
end

function request()
  local id = ids[math.random(#ids)]
  return wrk.format("POST", "/v1/jobs/" .. id .. "/process", headers, nil)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "rps": %.1f, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "errors_connect": %d, "errors_read": %d, ' ..
    '"errors_write": %d, "errors_timeout": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
