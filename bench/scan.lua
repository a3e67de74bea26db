-- wrk script: each thread has one connection and replays its plan file (bench/plans.py), a
-- POST /api/v1/scans per step, and checks every answer's `result` against the step's
-- expectation. done() prints one JSON line the harness reads.
--   wrk -t N -c N -s scan.lua URL -- PLAN_DIR
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")

function init(args)
  local path = args[1] .. "/plan-" .. id .. ".txt"
  local headers, steps = nil, {}
  for line in io.lines(path) do
    if headers == nil then
      headers = { ["Authorization"] = "Bearer " .. line, ["Content-Type"] = "application/json" }
    else
      local token, direction, expected = line:match("^(%S+) (%S+) (%S+)$")
      local body = '{"token":"' .. token .. '","direction":"' .. direction .. '"}'
      steps[#steps + 1] = { wrk.format("POST", "/api/v1/scans", headers, body), expected }
    end
  end
  plan, nxt, pending = steps, 1, nil
end

-- wrk may ask for a request it then does not send (seen on its first thread): a step
-- not yet answered is asked for again, never skipped, so the plan's expectations hold.
function request()
  if pending == nil then
    pending = plan[nxt]
    nxt = nxt % #plan + 1
  end
  return pending[1]
end

function response(status, headers, body)
  local got = body:match('"result":%s*"([%w_]+)"')
  if status ~= 200 or got == nil then
    got = "http_" .. status
  end
  local expected = pending and pending[2]
  pending = nil
  check(got, expected, body)
end
