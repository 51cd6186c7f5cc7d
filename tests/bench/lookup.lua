-- wrk: account lookup of a random contract among the bench's. Env: ACC_FIRST, ACC_COUNT,
-- RATE_DELAY_MS (optional: pace each connection, for latency at a given rate).
local threads = {}
local made = 0      -- not "tid": a chunk local of that name would hide the global set below in init()
function setup(thread)
  thread:set("tid", made)
  made = made + 1
  table.insert(threads, thread)
end
function init(args)
  first = tonumber(os.getenv("ACC_FIRST"))
  count = tonumber(os.getenv("ACC_COUNT"))
  pace = tonumber(os.getenv("RATE_DELAY_MS") or "0")
  math.randomseed(os.time() + tid * 104729)
end
function delay()
  if pace > 0 then return pace end
  return 0
end
function request()
  return wrk.format("GET", "/v1/accounts/lookup?contract=" .. (first + math.random(0, count - 1)))
end
function response(status, headers, body)
  if status ~= 200 then errors = (errors or 0) + 1 end
end
function done(summary, latency, requests)
  local e = 0
  for _, t in ipairs(threads) do e = e + (t:get("errors") or 0) end
  io.write(string.format("BENCH_APP_ERRORS %d\n", e))
  io.write(string.format("BENCH_LATENCY_P50_US %d\nBENCH_LATENCY_P99_US %d\n", latency:percentile(50), latency:percentile(99)))
end
