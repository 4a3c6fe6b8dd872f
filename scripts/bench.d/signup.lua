-- POST /api/v1/signup, a new user per request: run id + wrk thread id + per-thread counter.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
end

local counter = 0
function request()
  counter = counter + 1
  local name = string.format("s%st%dn%d", bench.run, tid, counter)
  local body = string.format('{"username":"%s","email":"%s@bench.example","password":"%s"}',
    name, name, bench.password)
  return wrk.format("POST", "/api/v1/signup", bench.json_headers(), body)
end
