-- wrk script: validations spread over a pool of activated licenses (apps refreshing leases).
local keys = {}
for line in io.lines(os.getenv("LICET_BENCH_VALIDATE_KEYS")) do keys[#keys + 1] = line end
local n = 0
function request()
  n = n + 1
  local body = string.format('{"key":"%s","fingerprint":"v1:validator"}', keys[(n % #keys) + 1])
  return wrk.format("POST", "/v1/licenses/validate", { ["Content-Type"] = "application/json" }, body)
end
