-- Shared by bench's wrk scripts: one connection a thread (setup numbers them), every answer
-- checked (check), and done() printing one JSON line of figures for bench/load.py.
local threads, count = {}, 0

function setup(thread)
  thread:set("id", count)
  table.insert(threads, thread)
  count = count + 1
end

right, wrong, first_wrong, outcomes = 0, 0, "", {}

function check(got, expected, body)
  outcomes[got] = (outcomes[got] or 0) + 1
  if got == expected then
    right = right + 1
  else
    wrong = wrong + 1
    if first_wrong == "" then
      first_wrong = "expected " .. tostring(expected) .. ", got " .. got .. ": " .. body:sub(1, 300)
    end
  end
end

local function quoted(s)
  return '"' .. s:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub('%c', ' ') .. '"'
end

function done(summary, latency, requests)
  local right_all, wrong_all, first, merged = 0, 0, "", {}
  for _, thread in ipairs(threads) do
    right_all = right_all + thread:get("right")
    wrong_all = wrong_all + thread:get("wrong")
    local fw = thread:get("first_wrong")
    if first == "" and fw ~= "" then first = fw end
    for k, v in pairs(thread:get("outcomes")) do merged[k] = (merged[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(merged) do parts[#parts + 1] = quoted(k) .. ":" .. v end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"right":%d,"wrong":%d,"first_wrong":%s,' ..
    '"outcomes":{%s},"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, right_all, wrong_all, quoted(first),
    table.concat(parts, ","), e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean))
end
