-- wrk script: an update check (GET) with the credentials the bench passes in the environment:
-- a lease as a Bearer, or a license key and fingerprint.
wrk.method = "GET"
wrk.path = os.getenv("LICET_BENCH_PATH")
local lease = os.getenv("LICET_BENCH_LEASE")
if lease and lease ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. lease
else
  wrk.headers["Licet-License-Key"] = os.getenv("LICET_BENCH_KEY")
  wrk.headers["Licet-Fingerprint"] = os.getenv("LICET_BENCH_FPR")
end
