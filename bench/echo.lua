-- wrk script: the framework ceiling, a JSON body of the same size as a validate request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("LICET_BENCH_BODY")
