#!/usr/bin/python3
"""Converts the labelled NHS Friends-and-Family-Test feedback (data/nhs-patient-feedback, CC BY-NC-SA 4.0,
The Strategy Unit's pxtextmining v6 framework data) into the demo's sample feedback:
data/sample/feedback.ndjson, one Escucha feedback JSON object per line.

Mapping: text as is; created_at from date (DD/MM/YYYY, a few rows MM/DD/YYYY; noon UTC);
service from the service name; csat = 6 - fft_score for fft 1..5 (FFT 1 = very good, CSAT 5 =
very satisfied), none for 6/7 (don't know/other); external_id from the row id; channel survey.
No NPS exists in this data and none is made up. The labels stay out: the demo must classify."""
import csv
import json
import os
import sys

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = os.environ.get("ESCUCHA_SHARED_DATA", os.path.join(repo, "data"))
src = os.path.join(src, "nhs-patient-feedback", "feedback.csv")
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "data", "sample", "feedback.ndjson")

n = 0
with open(src, newline="", encoding="utf-8") as f, open(out, "w", encoding="utf-8") as o:
    for row in csv.DictReader(f):
        text = (row["text"] or "").strip()
        if not text:
            continue
        d, m, y = row["date"].split("/")
        if int(m) > 12:  # a few rows are month-first (MM/DD/YYYY)
            d, m = m, d
        item = {"agency": "demo", "text": text, "channel": "survey",
                "created_at": "%04d-%02d-%02dT12:00:00Z" % (int(y), int(m), int(d)),  # RFC 3339 pads
                "service": " ".join(row["service"].split()) or "unknown",
                "external_id": row["id"],
                "attributes": {"trust": row["trust"], "question": row["question"],
                               "source": "NHS FFT via pxtextmining (CC BY-NC-SA 4.0)"}}
        if row["fft_score"] in ("1", "2", "3", "4", "5"):
            item["csat"] = 6 - int(row["fft_score"])
        o.write(json.dumps(item, ensure_ascii=False) + "\n")
        n += 1
print("wrote %d items to %s" % (n, out))
