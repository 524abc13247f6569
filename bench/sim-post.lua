-- wrk script: small non-streaming chat completions against elastic-sim.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"sim","messages":[{"role":"user","content":"Say hello."}],"max_tokens":8}'
