-- wrk: partner JSON API bookings (POST /v1/partner/payments), HMAC-SHA256 signed. wrk's LuaJIT has
-- no HMAC, so bench.py signs the requests beforehand — unique txn ids, timestamps of the moment the
-- files are made (well inside the ±300 s window for one measurement) — into one file per wrk thread,
-- lines "timestamp<TAB>signature<TAB>body". Requests are formatted once in init(), so the client
-- spends nothing per request on them. A thread that runs out starts over: those repeats are
-- duplicates (answered 200, not 201) and count as errors, so bench.py sizes the files for the run.
-- Env: PARTNER_LOGIN, PARTNER_REQS (path prefix; thread N reads PREFIX.N).
local threads = {}
local made = 0      -- not "tid": a chunk local of that name would hide the global set below in init()
function setup(thread)
  thread:set("tid", made)
  made = made + 1
  table.insert(threads, thread)
end
function init(args)
  local login = os.getenv("PARTNER_LOGIN")
  reqs = {}
  for line in io.lines(os.getenv("PARTNER_REQS") .. "." .. tid) do
    local ts, sig, body = line:match("^(%d+)\t(%x+)\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", "/v1/partner/payments", {["Content-Type"] = "application/json",
      ["X-Partner-Login"] = login, ["X-Timestamp"] = ts, ["X-Signature"] = sig}, body)
  end
  n = 0
end
function request()
  n = n + 1
  if n > #reqs then n = 1 end
  return reqs[n]
end
function response(status, headers, body)
  if status ~= 201 then errors = (errors or 0) + 1 end
end
function done(summary, latency, requests)
  local e = 0
  for _, t in ipairs(threads) do e = e + (t:get("errors") or 0) end
  io.write(string.format("BENCH_APP_ERRORS %d\n", e))
end
