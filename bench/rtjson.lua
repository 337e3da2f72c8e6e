-- wrk script for bench/run: POST /kamailio/rtjson with bodies from a pool file.
--   wrk -t2 -c64 -d10s --latency -s bench/rtjson.lua http://127.0.0.1:PORT -- POOL TOKEN [MS]
-- POOL has one JSON body per line. MS (optional): each connection waits MS milliseconds
-- before each request, for a steady rate (connections x 1000 / MS per second) instead of
-- as fast as possible; wrk's latencies do not include the wait. Every request is formatted once, at start; each thread
-- walks the pool from its own starting point. done() prints one line "BENCH_JSON {...}"
-- that bench/run parses (latencies in microseconds; "status" counts non-2xx/3xx answers).
-- A body may hold "~" marks (bench/lcr_scale.py's pools: the called number's last digits):
-- each request replaces each mark with a random digit, so a number comes back only as
-- often as its 2 to 7 random digits allow, however long the run (what a server remembers
-- of a number is not what is measured).

local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local requests = {}
local marked = {}
local index = 1
local digits = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" }

local function digit()
  return digits[math.random(10)]
end

function init(args)
  local path = args[1]
  local headers = { ["Content-Type"] = "application/json" }
  if args[2] and #args[2] > 0 then
    headers["X-C4-Token"] = args[2]
  end
  for line in io.lines(path) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("POST", "/kamailio/rtjson", headers, line)
      marked[#requests] = string.find(line, "~", 1, true) ~= nil
    end
  end
  if #requests == 0 then
    error("empty pool " .. path)
  end
  math.randomseed((id or 1) * 7919 + os.time())
  -- spread the threads over the pool
  index = ((id or 1) - 1) * math.floor(#requests / 7) % #requests + 1
  local pause = tonumber(args[3] or "")
  if pause and pause > 0 then
    delay = function() return pause end  -- wrk looks for `delay` after init()
  end
end

function request()
  local r = requests[index]
  local fresh = marked[index]
  index = index + 1
  if index > #requests then
    index = 1
  end
  if fresh then
    r = string.gsub(r, "~", digit)
  end
  return r
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,' ..
    '"max":%d,"mean":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
