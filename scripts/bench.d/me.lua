-- GET /api/v1/me with one session token (BENCH_TOKEN, from a login by scripts/bench).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.path = "/api/v1/me"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
