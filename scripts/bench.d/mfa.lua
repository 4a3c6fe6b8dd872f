-- POST /api/v1/login/mfa with wrong codes: each request does a second step's whole work (the token
-- locked and checked, the attempt counted, the secret opened, three codes computed). Each token
-- takes 5 wrong codes, so the tokens (one per line of BENCH_MFA_TOKENS) are used 5 times each.
dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")
local tokens = {}
for line in io.lines(os.getenv("BENCH_MFA_TOKENS")) do tokens[#tokens + 1] = line end
local next_token = 0
local uses = 0

function setup(thread)
  thread:set("offset", next_token)
  next_token = next_token + 1
end

local index, step = 0, 1
function init()
  index = offset or 0
  step = 2  -- the two wrk threads take alternate tokens
end

function request()
  uses = uses + 1
  if uses > 5 then
    uses = 1
    index = index + step
  end
  local token = tokens[(index % #tokens) + 1]
  return wrk.format("POST", "/api/v1/login/mfa", bench.json_headers(),
    '{"mfa_token":"' .. token .. '","code":"000000"}')
end
