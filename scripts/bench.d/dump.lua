-- POST /api/v1/admin/backups as the admin (BENCH_ADMIN_TOKEN); run with few connections.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/api/v1/admin/backups"
wrk.body = ""  -- sends Content-Length: 0
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_ADMIN_TOKEN") or "")
