-- wrk: partner JSON API bookings (POST /v1/partner/payments), HMAC-SHA256 signed. wrk's LuaJIT has
-- no HMAC, so bench.py signs the requests beforehand — unique txn ids, timestamps of the moment the
-- files are made (well inside the ±300 s window for one measurement) — into one file per wrk thread,
-- lines "timestamp<TAB>signature<TAB>body". Requests are formatted once in init(), so the client
-- spends nothing per request on them. A thread that runs out starts over: those repeats are
-- duplicates (answered 200, not 201) and count as errors, so bench.py sizes the files for the run.
-- Env: PARTNER_LOGIN, PARTNER_REQS (path prefix; thread N reads PREFIX.N).
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
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
expect_status(201)
