-- wrk: the statement of a random account among ACC_FIRST .. ACC_FIRST+ACC_COUNT-1 for a random whole
-- month of the year that starts on FIRST_DAY (YYYY-MM-DD). Env: ACC_FIRST, ACC_COUNT, FIRST_DAY, AUTH,
-- RATE_DELAY_MS (optional, see common.lua).
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
function init(args)
  first = tonumber(os.getenv("ACC_FIRST"))
  count = tonumber(os.getenv("ACC_COUNT"))
  auth = os.getenv("AUTH")
  local y, m = os.getenv("FIRST_DAY"):match("^(%d+)-(%d+)")
  y0, m0 = tonumber(y), tonumber(m)
  math.randomseed(os.time() + tid * 104729)
end
local days = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
function request()
  -- a whole month after the first one (which starts mid-month), within the year
  local k = m0 + math.random(1, 11)
  local y, m = y0 + math.floor((k - 1) / 12), (k - 1) % 12 + 1
  local last = days[m]
  if m == 2 and (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) then last = 29 end
  local path = string.format("/v1/internal/accounts/%d/statement?from=%04d-%02d-01&to=%04d-%02d-%02d",
                             first + math.random(0, count - 1), y, m, y, m, last)
  return wrk.format("GET", path, {["Authorization"] = auth})
end
expect_status(200)
