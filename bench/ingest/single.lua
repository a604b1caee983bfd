-- One ~300-byte Spanish feedback per request, unique text so dedup accepts it.
local n = 0
local key = os.getenv("ESCUCHA_BENCH_KEY") or ""
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local tid = math.random(1, 1e9)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
request = function()
  n = n + 1
  local body = string.format('{"text":"Solicitud %d-%d: llevo tres semanas esperando respuesta sobre mi trámite de ' ..
    'licencia médica en la sucursal del centro y nadie contesta el teléfono ni los correos, la atención fue ' ..
    'muy lenta y poco clara","channel":"web","service":"licencias","nps":3}', tid, n)
  return wrk.format(nil, "/v1/feedback", nil, body)
end
