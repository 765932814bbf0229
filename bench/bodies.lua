-- wrk script: POSTs the JSON bodies of LICET_BENCH_BODIES (one a line) round-robin to
-- LICET_BENCH_PATH: many machines, each sending its own request.
local bodies = {}
for line in io.lines(os.getenv("LICET_BENCH_BODIES")) do bodies[#bodies + 1] = line end
local path = os.getenv("LICET_BENCH_PATH")
local n = 0
function request()
  n = n + 1
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, bodies[(n % #bodies) + 1])
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write(path .. " answered " .. status .. ": " .. body .. "\n")
  end
end
