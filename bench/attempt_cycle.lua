-- Quiz submissions as a learner makes them: each wrk thread drives one connection as one
-- bench user, who opens an attempt on the benchmark module (201, or 200 when an open one is
-- resumed), submits it with empty answers (graded and recorded, without completion), and
-- opens the next. A person has at most one open attempt, so attempts cannot be opened ahead.
-- Environment: COOKIES (one line per user: CSRF token, tab, Cookie header); run with as many
-- threads as connections (one Lua state per connection).
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  local n = 0
  for line in io.lines(os.getenv("COOKIES")) do
    n = n + 1
    if n == tid then token, cookie = line:match("^(%S+)\t(.+)$") end
  end
  if not cookie then error("no cookie line for thread " .. tid) end
  attempt = nil
  submitted = 0
  failed = 0
end

function request()
  local headers = { ["Cookie"] = cookie, ["X-CSRF-Token"] = token }
  if attempt then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/v1/attempts/" .. attempt .. "/submission", headers,
      '{"answers":{}}')
  end
  return wrk.format("POST", "/api/v1/modules/bench-quiz/attempts", headers, "")
end

function response(status, headers, body)
  if attempt then
    if status == 200 and body:find('"result"', 1, true) then
      submitted = submitted + 1
    else
      failed = failed + 1
    end
    attempt = nil
  else
    local id = body:match('"attempt_id":"([^"]+)"')
    if (status == 201 or status == 200) and id then attempt = id else failed = failed + 1 end
  end
end

function done(summary, latency, requests)
  local s, f = 0, 0
  for _, t in ipairs(threads) do
    s = s + (t:get("submitted") or 0)
    f = f + (t:get("failed") or 0)
  end
  io.write("submitted ", s, "\n")
  io.write("failed ", f, "\n")
end
