-- GET / (our health check, and the baseline's only answer).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
