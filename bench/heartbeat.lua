-- wrk script: heartbeats round-robin over every held seat (one "key fingerprint" a line).
local seats = {}
for line in io.lines(os.getenv("LICET_BENCH_SEATS")) do
  local key, fpr = line:match("^(%S+) (%S+)$")
  seats[#seats + 1] = string.format('{"key":"%s","fingerprint":"%s"}', key, fpr)
end
local n = 0
function request()
  n = n + 1
  return wrk.format("POST", "/v1/licenses/heartbeat", { ["Content-Type"] = "application/json" },
                    seats[(n % #seats) + 1])
end
