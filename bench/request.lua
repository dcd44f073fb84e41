-- wrk script: POST /api/v1/runners/jobs/request as peertube-runner does (JSON body
-- with the runner token). Usage: RUNNER_TOKEN=ptrt-… wrk -s request.lua URL
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.body = '{"runnerToken":"' .. os.getenv("RUNNER_TOKEN") .. '","version":"0.1.0"}'

bad = 0
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + (t:get("bad") or 0) end
  io.write(string.format("non-200 answers: %d\n", total))
end
