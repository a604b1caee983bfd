"""Fresh feedback rows shaped like bench/api's freshness load (agency 'demo', now, Spanish and
English texts), as COPY text for batchcost.py and fillcost.py: one maker, so both measure the
same rows."""
import io
import os
import random
import time

TEXTS = ["La fila del registro civil fue muy lenta, esperé %d minutos y nadie explicaba nada.",
         "The appointment was moved three times without notice (ref %d); nobody answers the phone.",
         "Excelente atención en la sucursal del centro, caso %d resuelto en el día."]
CATS = ["waiting_times", "procedures", "staff_attention", "digital_channels", "other"]
COLS = ("id, agency, service, channel, external_id, text, language, created_at, received_at, nps, csat,"
        " category, subcategory, confidence, sentiment, sentiment_score, journey_stage, urgent, model_version,"
        " content_hash, redactions, classified_at")


class Maker:
    """batch(n): a file-like COPY input of n new rows; ids PREFIX + pid + a counter (unique)."""

    def __init__(self, prefix):
        self.prefix, self.seq, self.rng = prefix, 0, random.Random(18)

    def batch(self, n):
        now, rng, out = time.time(), self.rng, io.StringIO()
        for _ in range(n):
            self.seq += 1
            k = self.seq
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + "Z"
            cat = rng.choice(CATS)
            out.write("\t".join([
                "%s%06d%010d" % (self.prefix, os.getpid() % 1000000, k), "demo", "fresh", "WEB", "\\N",
                TEXTS[k % 3] % k, "en" if k % 3 == 1 else "es", ts, ts, "\\N", str(1 + k % 5), cat, cat + "/other",
                "%.3f" % rng.random(), rng.choice(["NEGATIVE", "NEUTRAL", "POSITIVE"]), "0.5", "\\N", "f", "m",
                "\\N", "\\N", ts]) + "\n")
        out.seek(0)
        return out
