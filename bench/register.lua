-- wrk script: POST a registration with an address of its own per request to the path given;
-- every answer must be 201 with a confirmed registration. Each is a person of their own (no
-- possible_duplicate warning): an address and an organisation of its own.
--   wrk -t N -c N -s register.lua URL -- RUN_ID PATH
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")

local headers = { ["Content-Type"] = "application/json" }

function init(args)
  prefix, path, n = args[1] .. "-" .. id, args[2], 0
end

function request()
  n = n + 1
  local body = '{"given_name":"Clara","family_name":"Bench","email":"' .. prefix .. "-" .. n ..
    '@bench.example.org","organisation":"Bench delegation ' .. prefix .. "-" .. n ..
    '","city":"Guangzhou","country":"CN",' ..
    '"category":"delegate","language":"en","consent":true}'
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  local got = "http_" .. status
  if status == 201 then
    got = body:match('"status":%s*"([%w_]+)"') or got
  end
  check(got, "confirmed", body)
end
