#!/usr/bin/env python3
"""bench/api input: N classified feedback rows as COPY text on stdout, spread over the
last DAYS days up to now (so the api's "latest window" defaults see them).
  gen.py N DAYS AGENCY OTHER_AGENCY > rows.copy
Distributions: 90 % AGENCY / 10 % OTHER_AGENCY; language es 62 %, en 33 %, qu/pt/fr 5 %;
channels web > email > whatsapp > call > sms > survey > social > open311 > chat > in_person;
categories Zipf-like over the default taxonomy; diurnal arrival curve; NPS on 35 %, CSAT on
30 % of items; sentiment tied to the category. English texts are the bundled NHS sample
(data/sample); Spanish ones are built from phrases (no Spanish corpus is bundled)."""
import json
import math
import os
import random
import sys
import time

n, days, agency, other = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
rng = random.Random(15)
here = os.path.dirname(os.path.abspath(__file__))
EN = []
with open(os.path.join(here, "../../data/sample/feedback.ndjson")) as f:
    for line in f:
        t = json.loads(line)["text"].strip()
        if 10 <= len(t) <= 600:
            EN.append(t)
ES_A = ["Llevo tres semanas esperando", "Nadie contesta el teléfono", "La atención en la sucursal",
        "El trámite de mi licencia médica", "La página web", "El funcionario de la ventanilla",
        "La cita con el especialista", "El cobro de la cuenta", "La aplicación del celular",
        "El horario de atención", "La fila para el certificado", "El reembolso que pedí",
        "La información que me dieron", "El traslado en ambulancia", "El baño del consultorio"]
ES_B = ["fue muy lenta", "no funciona desde el lunes", "fue excelente, muchas gracias",
        "me cobraron dos veces", "nadie me explicó qué documentos llevar", "es un desastre",
        "mejoró bastante este mes", "me dejó esperando más de dos horas", "estaba sucio",
        "fue amable y resolvió todo", "se cae cada vez que intento pagar", "no respeta la hora"]
ES_C = ["y tuve que volver al día siguiente.", "¿hasta cuándo?", "en la comuna de Maipú.",
        "con mi madre de 80 años.", "", "y nadie responde los correos.", "gracias al personal.",
        "por tercera vez este año.", "sin ninguna explicación."]
OTHER_LANG = [("qu", "Allinllachu, hospitalpi unay suyakurqani"), ("pt", "Esperei muito tempo na fila"),
              ("fr", "J'ai attendu deux heures au guichet")]
CATS = ["waiting_times", "procedures", "staff_attention", "digital_channels", "information",
        "payments_fees", "health_services", "facilities", "accessibility", "transport",
        "service_quality", "praise", "safety", "integrity", "other"]
CAT_W = [1.0 / (i + 1) ** 0.9 for i in range(len(CATS))]
NEG = {"waiting_times": 0.75, "procedures": 0.6, "payments_fees": 0.65, "praise": 0.02,
       "safety": 0.8, "integrity": 0.85}
CHANNELS = ["WEB", "EMAIL", "WHATSAPP", "CALL", "SMS", "SURVEY", "SOCIAL", "OPEN311", "CHAT", "IN_PERSON"]
CH_W = [30, 18, 15, 10, 7, 8, 5, 3, 3, 1]
STAGES = ["AWARENESS", "ACCESS", "WAITING", "SERVICE_DELIVERY", "FOLLOW_UP", None]


def esc(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


now = int(time.time() * 1000)
start = now - days * 86400000
# diurnal: more traffic 9-20 h (UTC-3-ish agency), accepted by rejection sampling
out = sys.stdout
buf = []
for i in range(n):
    while True:
        at = start + rng.randrange(days * 86400000)
        h = (at // 3600000 - 3) % 24
        if rng.random() < 0.25 + 0.75 * math.exp(-((h - 14) / 5.0) ** 2):
            break
    ag = agency if rng.random() < 0.9 else other
    r = rng.random()
    if r < 0.62:
        lang = "es"
        text = " ".join(x for x in (rng.choice(ES_A), rng.choice(ES_B), rng.choice(ES_C)) if x)
    elif r < 0.95:
        lang, text = "en", rng.choice(EN)
    else:
        lang, text = rng.choice(OTHER_LANG)
    cat = rng.choices(CATS, CAT_W)[0]
    sub = "other/unclassified" if cat == "other" else "%s/sub%d" % (cat, rng.randrange(4))
    conf = rng.random() * 0.35 if cat == "other" else (
        0.35 + rng.random() * 0.15 if rng.random() < 0.1 else 0.5 + rng.random() * 0.5)
    neg = NEG.get(cat, 0.45)
    s = rng.random()
    sent = "NEGATIVE" if s < neg else ("POSITIVE" if s < neg + (1 - neg) * 0.6 else "NEUTRAL")
    nps = str(rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 9, 8])) if rng.random() < 0.35 else "\\N"
    csat = str(rng.randint(1, 5)) if rng.random() < 0.3 else "\\N"
    ch = rng.choices(CHANNELS, CH_W)[0]
    stage = rng.choice(STAGES)
    fid = "%s%08d" % ("01BENCH", i)
    buf.append("\t".join([
        fid, ag, "svc%d" % rng.randrange(8), ch, "\\N", esc(text), lang, iso(at - 400), iso(at),
        nps, csat, cat, sub, "%.4f" % conf, sent, "%.4f" % rng.random(), stage or "\\N",
        "t" if rng.random() < 0.02 else "f", "bench-model", "\\N", "\\N", iso(at + 300)]) + "\n")
    if len(buf) >= 20000:
        out.write("".join(buf))
        buf = []
out.write("".join(buf))
