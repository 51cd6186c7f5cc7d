-- wrk: OSMP `pay` with a unique txn_id per request (20 digits: time, thread, counter) to a random
-- account among the bench's contracts. Env: AUTH (Basic header value), ACC_FIRST, ACC_COUNT, RATE_DELAY_MS.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
function init(args)
  counter = 0
  auth = os.getenv("AUTH")
  first = tonumber(os.getenv("ACC_FIRST"))
  count = tonumber(os.getenv("ACC_COUNT"))
  stamp = os.time() % 10000000000
  math.randomseed(stamp + tid * 7919)
end
function request()
  counter = counter + 1
  local txn = string.format("%010d%02d%08d", stamp, tid, counter)
  local acc = first + math.random(0, count - 1)
  return wrk.format("GET", "/v1/osmp?command=pay&txn_id=" .. txn .. "&txn_date=20261126120000&account=" .. acc ..
    "&sum=100.00", {["Authorization"] = auth})
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, "<result>0</result>", 1, true) then
    fail()
  end
end
