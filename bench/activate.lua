-- wrk script: activations, each from a new machine, spread over a pool of licenses.
local keys = {}
for line in io.lines(os.getenv("LICET_BENCH_KEYS")) do keys[#keys + 1] = line end
local run = os.getenv("LICET_BENCH_RUN") or "r"
local thread_id = 0

function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end

local n = 0
function request()
  n = n + 1
  local key = keys[(n % #keys) + 1]
  local body = string.format('{"key":"%s","fingerprint":"v1:%s-%d-%d"}', key, run, tid, n)
  return wrk.format("POST", "/v1/licenses/activate", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("activate answered " .. status .. ": " .. body .. "\n")
  end
end
