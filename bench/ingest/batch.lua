-- NDJSON batches of ESCUCHA_BENCH_BATCH (default 1000) ~300-byte items, all unique.
local n = 0
local key = os.getenv("ESCUCHA_BENCH_KEY") or ""
local size = tonumber(os.getenv("ESCUCHA_BENCH_BATCH") or "1000")
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local tid = math.random(1, 1e9)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-ndjson"
wrk.headers["Authorization"] = "Bearer " .. key
local fmt = '{"text":"Lote %d-%d item %d: llevo tres semanas esperando respuesta sobre mi trámite de licencia ' ..
  'médica en la sucursal del centro y nadie contesta el teléfono ni los correos, la atención fue lenta",' ..
  '"channel":"web","service":"licencias","csat":2}'
request = function()
  n = n + 1
  local lines = {}
  for i = 1, size do lines[i] = string.format(fmt, tid, n, i) end
  return wrk.format(nil, "/v1/feedback:batch", nil, table.concat(lines, "\n"))
end
