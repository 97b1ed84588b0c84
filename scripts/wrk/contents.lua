-- GET /contents with the token from the TOKEN environment variable (load.sh gets it from
-- POST /auth): verifies one token per request.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
local token = os.getenv("TOKEN")
assert(token and token ~= "", "set TOKEN to a token from POST /auth")
wrk.headers["Authorization"] = "Bearer " .. token
