#!/usr/bin/python3
"""Builds Escucha's labelled CSVs (train.csv, test.csv) from the NHS patient
feedback corpus (English, topics + sentiment) and the COAH/COAR Spanish hotel
and restaurant reviews (sentiment only); all CC BY-NC-SA 4.0, see
docs/classification.md.

Usage: scripts/prepare-data.py [OUT_DIR]   (default build/data)
Source: $ESCUCHA_SHARED_DATA/{nhs-patient-feedback,coah-hotel-reviews-es,
coar-restaurant-reviews-es}/feedback.csv, where ESCUCHA_SHARED_DATA defaults to
the repository's own data/ (copies with their licences).

Deterministic: no randomness; rows are ordered by a hash of their id and
every 5th row of each stratum goes to the test split (80/20 stratified by
subcategory for NHS, by source and sentiment for the Spanish reviews)."""
import csv, hashlib, os, sys
from collections import Counter

# NHS framework subcategory -> default-taxonomy subcategory id. None = no
# topic label (the row still trains the sentiment head).
MAP = {
    "Positive experience & gratitude": "praise/general_thanks",
    "Negative experience & dissatisfaction": "service_quality/general_dissatisfaction",
    "Organisation & efficiency": "service_quality/organisation_efficiency",
    "Funding & use of financial resources": "service_quality/resources_funding",
    "Feeling safe": "safety/feeling_safe",
    "Labelling not possible": None,
    "Equality, Diversity & Inclusion": "accessibility/equality_inclusion",
    "Safeguarding concerns?": "safety/safeguarding",
    "Learning organisation": "service_quality/learning_improvement",
    "Staff manner & personal attributes": "staff_attention/attitude_courtesy",
    "Competence & training": "staff_attention/competence",
    "Number & deployment of staff": "staff_attention/staffing_levels",
    "Staff responsiveness": "staff_attention/responsiveness",
    "Staff continuity": "staff_attention/continuity",
    "Contacting services": "digital_channels/contact_channels",
    "Appointment arrangements": "procedures/appointment_booking",
    "Appointment method": "digital_channels/remote_appointments",
    "Timeliness of care": "waiting_times/response_time",
    "Existence of services": "accessibility/service_availability",
    "Choice of services": "accessibility/service_availability",
    "Out of hours support (community services)": "accessibility/service_availability",
    "Psychological therapy arrangements": "health_services/mental_health",
    "Unspecified communication": "information/kept_informed",
    "Staff listening, understanding & involving patients": "staff_attention/listening_empathy",
    "Information directly from staff during care": "information/information_from_staff",
    "Information provision & guidance": "information/guidance_advice",
    "Being kept informed, clarity & consistency of information": "information/kept_informed",
    "Interaction with family/ carers": "information/family_carers",
    "Diagnosis & triage": "health_services/diagnosis_triage",
    "Impact of treatment/ care": "health_services/treatment_outcome",
    "Care plans": "health_services/care_planning",
    "Admission": "procedures/admission_discharge",
    "Patient records": "procedures/records_errors",
    "Pain management": "health_services/treatment_outcome",
    "Supplying & understanding medication": "health_services/medication",
    "Mental Health Act": "health_services/mental_health",
    "Patient appearance & grooming": "health_services/care_planning",
    "Referals & continuity of care": "procedures/referrals_handoffs",
    "Discharge": "procedures/admission_discharge",
    "Activities & access to fresh air": "facilities/activities",
    "Electronic entertainment": "facilities/activities",
    "Cleanliness, tidiness & infection control": "facilities/cleanliness",
    "Sensory experience": "facilities/environment_comfort",
    "Environment & Facilities": "facilities/environment_comfort",
    "Provision of medical equipment": "facilities/equipment",
    "Food & drink provision & facilities": "facilities/food_drink",
    "Service location": "transport/location_distance",
    "Transport to/ from services": "transport/patient_transport",
    "Parking": "transport/parking",
}
# Generic labels only win when a comment has nothing more specific.
GENERIC = {"praise/general_thanks", "service_quality/general_dissatisfaction"}
MIN_SUPPORT = 15  # fewer examples than this cannot be learnt or evaluated


def data_dir():
    env = os.environ.get("ESCUCHA_SHARED_DATA")
    if env:
        return env
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(root, "data")


def mapped(row):
    out = []
    for lab in filter(None, row["subcategories"].split("|")):
        if lab not in MAP:
            sys.exit(f"prepare-data: unmapped NHS label {lab!r}")
        if MAP[lab]:
            out.append(MAP[lab])
    return out


def pick(targets, freq):
    """One topic per comment: the rarest specific target (ties by name), so
    small themes keep their examples; generic praise/dissatisfaction last."""
    specific = [t for t in targets if t not in GENERIC] or targets
    return min(specific, key=lambda t: (freq[t], t)) if specific else ""


SPANISH = ("coah-hotel-reviews-es", "coar-restaurant-reviews-es")


def read(name):
    with open(os.path.join(data_dir(), name, "feedback.csv"), newline="", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["text"].strip()]


def spanish():
    """Spanish reviews: sentiment only (the reviewer's stars), no topic."""
    strata = {}
    for name in SPANISH:
        for r in read(name):
            if not r["sentiment"]:
                continue
            x = {"id": r["id"], "text": " ".join(r["text"].split()), "subcategory": "", "category": "",
                 "sentiment": r["sentiment"], "language": "es"}
            strata.setdefault((name, r["sentiment"]), []).append(x)
    return strata


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "build/data"
    rows = read("nhs-patient-feedback")
    freq = Counter(t for r in rows for t in set(mapped(r)))
    recs = []
    for r in rows:
        sub = pick(mapped(r), freq)
        recs.append({"id": r["id"], "text": " ".join(r["text"].split()), "subcategory": sub,
                     "sentiment": r["sentiment"], "language": "en"})
    support = Counter(x["subcategory"] for x in recs)
    for x in recs:
        if x["subcategory"] and support[x["subcategory"]] < MIN_SUPPORT:
            x["subcategory"] = ""
        x["category"] = x["subcategory"].split("/")[0] if x["subcategory"] else ""
    strata = {}
    for x in recs:
        strata.setdefault(("nhs", x["subcategory"]), []).append(x)
    strata.update(spanish())
    train, test = [], []
    for key in sorted(strata):
        items = sorted(strata[key], key=lambda x: hashlib.sha1(x["id"].encode()).hexdigest())
        for i, x in enumerate(items):
            (test if i % 5 == 2 else train).append(x)
    os.makedirs(out_dir, exist_ok=True)
    cols = ["id", "text", "category", "subcategory", "sentiment", "journey_stage", "language"]
    for name, part in (("train.csv", train), ("test.csv", test)):
        part.sort(key=lambda x: x["id"])
        with open(os.path.join(out_dir, name), "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
            w.writeheader()
            for x in part:
                w.writerow({**x, "journey_stage": ""})
    es = sum(1 for x in train + test if x["language"] == "es")
    print(f"prepare-data: {len(train)} train, {len(test)} test rows ({es} Spanish), "
          f"{len([k for k in strata if k[0] == 'nhs' and k[1]])} subcategories -> {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
