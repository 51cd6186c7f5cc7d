-- wrk: account lookup of a random contract among the bench's. Env: ACC_FIRST, ACC_COUNT,
-- RATE_DELAY_MS (optional, see common.lua).
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
function init(args)
  first = tonumber(os.getenv("ACC_FIRST"))
  count = tonumber(os.getenv("ACC_COUNT"))
  math.randomseed(os.time() + tid * 104729)
end
function request()
  return wrk.format("GET", "/v1/accounts/lookup?contract=" .. (first + math.random(0, count - 1)))
end
expect_status(200)
