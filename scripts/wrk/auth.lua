-- POST /auth with a JSON body: mints one token per request.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
wrk.method = "POST"
wrk.body = '{"email":"load@example.com","password":"load-test"}'
wrk.headers["Content-Type"] = "application/json"
