-- Submits each prepared attempt exactly once, as its owner (answers left empty: the
-- attempt is graded and recorded, without completion).
-- Environment: ATTEMPTS (lines "<user index> <attempt id>"), COOKIES (one cookie per line).
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(os.getenv("WRK_THREADS"))
  cookies = {}
  for line in io.lines(os.getenv("COOKIES")) do table.insert(cookies, line) end
  jobs = {}
  local n = 0
  for line in io.lines(os.getenv("ATTEMPTS")) do
    if n % nthreads == tid - 1 then
      local user, id = line:match("^(%d+) (%S+)$")
      if id then table.insert(jobs, { tonumber(user) + 1, id }) end
    end
    n = n + 1
  end
  pos = 0
  reused = 0
end

function request()
  pos = pos + 1
  if pos > #jobs then reused = reused + 1 end
  local job = jobs[((pos - 1) % #jobs) + 1]
  return wrk.format("POST", "/api/v1/attempts/" .. job[2] .. "/submission",
    { ["Content-Type"] = "application/json", ["Cookie"] = cookies[job[1]] },
    '{"answers":{}}')
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + (t:get("reused") or 0) end
  io.write("reused ", total, "\n")
end
