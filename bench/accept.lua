-- wrk script: every connection walks the same list of PENDING job UUIDs and POSTs
-- /accept for each, so connections contend for the same job as runners that all take
-- availableJobs[0] do. Counts wins (200) and losses (400/409), and among the losses those
-- without the code `runner_job_not_in_pending_state` (which peertube-runner logs as an
-- ERROR instead of a routine debug line); anything else is an error.
-- PER_JOB (default 8) consecutive requests go to each job.
-- Usage: RUNNER_TOKEN=ptrt-… JOBS_FILE=uuids.txt [PER_JOB=8] wrk -s accept.lua URL
local uuids = {}
for line in io.lines(os.getenv("JOBS_FILE")) do table.insert(uuids, line) end
local body = '{"runnerToken":"' .. os.getenv("RUNNER_TOKEN") .. '"}'
local per_job = tonumber(os.getenv("PER_JOB") or "8")
local i = 0
won, lost, uncoded, other = 0, 0, 0, 0

function request()
  i = i + 1
  local uuid = uuids[math.floor(i / per_job) % #uuids + 1]
  return wrk.format("POST", "/api/v1/runners/jobs/" .. uuid .. "/accept",
    {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 200 then won = won + 1
  elseif status == 400 or status == 409 then
    lost = lost + 1
    if not string.find(body, "runner_job_not_in_pending_state", 1, true) then
      uncoded = uncoded + 1
    end
  else other = other + 1 end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local w, l, u, o = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    w = w + t:get("won"); l = l + t:get("lost"); u = u + t:get("uncoded"); o = o + t:get("other")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("accepts won: %d (%.0f/s), lost races: %d (without the code: %d), other: %d\n",
    w, w / secs, l, u, o))
end
