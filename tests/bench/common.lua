-- wrk: what every bench script shares. Each loads it first, from its own directory:
--   dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
-- It keeps a registry of the threads (each one's number is the global `tid`, set before init()),
-- counts errors per thread (fail(), or expect_status(n) for a script that only checks the status),
-- paces each connection when RATE_DELAY_MS is set (for latency at a given rate), and done() prints
-- the errors and the p50/p99 latency for bench.py.
local threads = {}
local made = 0      -- not "tid": a chunk local of that name would hide the global set in setup()
function setup(thread)
  thread:set("tid", made)
  made = made + 1
  table.insert(threads, thread)
end

function fail()
  errors = (errors or 0) + 1
end

function expect_status(want)
  response = function(status, headers, body)
    if status ~= want then fail() end
  end
end

local pace = tonumber(os.getenv("RATE_DELAY_MS") or "0")
if pace > 0 then
  function delay() return pace end
end

function done(summary, latency, requests)
  local e = 0
  for _, t in ipairs(threads) do e = e + (t:get("errors") or 0) end
  io.write(string.format("BENCH_APP_ERRORS %d\n", e))
  io.write(string.format("BENCH_LATENCY_P50_US %d\nBENCH_LATENCY_P99_US %d\n", latency:percentile(50),
                         latency:percentile(99)))
end
