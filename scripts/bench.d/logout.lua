-- Login then logout: each login's token goes to a per-thread queue, the next request logs it out.
-- Counts both kinds of request, so req/s and latencies mix a login (hashing) and a logout.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local tokens = {}
local login_body = string.format('{"username":"%s","password":"%s"}', bench.user, bench.password)

function request()
  local token = table.remove(tokens)
  if token then
    return wrk.format("POST", "/api/v1/logout", { ["Authorization"] = "Bearer " .. token }, "")
  end
  return wrk.format("POST", "/api/v1/login", bench.json_headers(), login_body)
end

function response(status, headers, body)
  if status == 200 then
    local token = body:match('"token"%s*:%s*"([^"]+)"')
    if token then table.insert(tokens, token) end
  end
end
