"""Full-text vectors made by escucha-prioritize (services/prioritize/vector.c) instead of
PostgreSQL's parser: every one equals the server's feedback_search_vector of the same text, the
search fill uses them, one fill in 64 (and the first) compares them with the database's, and a
difference makes the database make every vector from then on."""
import csv
import json
import subprocess

from conftest import BIN, REPO, pb, scalar, sql, unique, wait_until  # noqa: F401
from test_prioritize_flow import T0, classified, fresh_group, send, start_prioritize

# Texts whose tokens only the server's parser makes: hosts, file names, hyphenated words, signed
# numbers, decimals, versions, URLs, e-mails, two dots, other scripts, marks next to numbers.
LEFT = ["punto.final", "hola.. chao", "socio-económico", "3-4 días", "2.5 km", "1.2.3", "ver http://x.cl",
        "ana@example.org", "1º piso", "en 20–30", "Ωmega", "a/b", "x_y", "<b>negrita</b>", " ".join(["x"] * 256)]
PROBES = ["El gato, y el perro. ¿Dónde está ÁRBOL Él? «hola» “cita” don’t l'agua 3,5 12 fin. 3er piso",
          "Solicitud 123: llevo 20€ y 10:30 h, 15% fin 7. ok", "abc1ñ 1a ÁRBOL ß ÿ ñandú", "- guion suelto - ",
          "tres... el x.... y", "The cats sat, on the mats! Running runners easily 2024", "", "el de la",
          " ".join(["x"] * 255), "a:b 12:30:45 x:1 100% 50 % 3€ € 5"]
ORIGINAL = """CREATE OR REPLACE FUNCTION feedback_search_vector(language text, body text) RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT to_tsvector(CASE WHEN language = 'es' THEN 'spanish'::regconfig ELSE 'english'::regconfig END,
                      coalesce(body, '')) $$"""


def vectors(items):
    """(language, text) pairs -> the service's vector literal of each, or '-' (left to the server)."""
    inp = "".join(json.dumps({"language": lang, "text": text}) + "\n" for lang, text in items)
    out = subprocess.run([BIN + "/escucha-prioritize", "search-vector"], input=inp, capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[-1] == "" and len(out) == len(items) + 1
    return out[:-1]


def server_equal(made):
    """How many of the (language, text, vector) triples equal the server's vector of the text."""
    return scalar("SELECT count(*) FILTER (WHERE x.v::tsvector = feedback_search_vector(x.l, x.t))"
                  " FROM jsonb_to_recordset(%s::jsonb) AS x(l text, t text, v text)",
                  (json.dumps([{"l": lang, "t": t, "v": v} for lang, t, v in made]),))


def test_every_vector_made_here_equals_the_servers(tmp_path):
    subprocess.run(["/usr/bin/python3", "scripts/prepare-data.py", str(tmp_path)], cwd=REPO, check=True,
                   capture_output=True)
    rows = []
    for name in ("train.csv", "test.csv"):
        with open(tmp_path / name, newline="", encoding="utf-8") as f:
            rows += [(r["language"], r["text"]) for r in csv.DictReader(f)]
    rows += [(lang, t) for t in PROBES for lang in ("es", "en", None)]
    out = vectors(rows)
    made = [(lang, t, v) for (lang, t), v in zip(rows, out) if v != "-"]
    assert server_equal(made) == len(made)
    # the service's path is the common one on the bundled texts (NHS comments, Spanish reviews)
    for lang, least in (("en", 0.85), ("es", 0.6)):
        mine = [v for (rl, _), v in zip(rows, out) if rl == lang]
        share = sum(v != "-" for v in mine) / len(mine)
        assert share >= least, "%s: %.2f of the texts made here" % (lang, share)
    assert all(v != "-" for v in vectors([(lang, t) for t in PROBES for lang in ("es", "en")]))
    assert vectors([("es", t) for t in LEFT]) == ["-"] * len(LEFT)


def test_fill_uses_verifies_and_stops_on_a_difference(services):
    agency = unique("vec")
    seq = iter(range(1000))
    texts = ["Llevo tres semanas esperando respuesta sobre mi trámite %d" % i for i in range(8)]
    texts += ["El formulario socio-económico no carga", "Ver http://tramites.example.cl/x"]  # the server's

    def batch():
        ids = ["%s-%03d" % (agency, next(seq)) for _ in texts]
        send([classified(i, agency, "procedures", T0 + 1000, pb.NEGATIVE, text=t) for i, t in zip(ids, texts)],
             agency)
        wait_until(lambda: scalar("SELECT count(*) FROM feedback_search WHERE id = ANY(%s)", (ids,)) == len(ids),
                   60, interval=0.05, what="the batch's vectors filled")
        return ids

    def equal_to_server(ids):
        return scalar("SELECT count(*) FROM feedback_search s JOIN feedback f USING (id)"
                      " WHERE f.id = ANY(%s) AND s.search = feedback_search_vector(f.language, f.text)", (ids,))

    group = fresh_group()
    pz = start_prioritize(services, group)
    first = batch()  # the first fill with the service's vectors compares them instead of using them
    wait_until(lambda: pz.metric("escucha_prioritize_search_vectors_verified_total") >= 8, 10, what="compared")
    assert pz.metric("escucha_prioritize_search_vectors_differ_total") == 0
    second = batch()
    wait_until(lambda: pz.metric("escucha_prioritize_search_vectors_made_here_total") >= 8, 10, what="used")
    assert equal_to_server(first) == len(first) and equal_to_server(second) == len(second)
    # stored vectors are what search finds: a stemmed form of a word only the service's vectors hold
    assert scalar("SELECT count(*) FROM feedback_search WHERE id = ANY(%s)"
                  " AND search @@ plainto_tsquery('spanish', 'esperaba')", (second,)) == 8
    pz.stop()
    # A server whose vectors differ from the service's (here: no stemming): the first fill compares,
    # finds the difference, and from then on every vector is the database's.
    sql(ORIGINAL.replace("'spanish'::regconfig ELSE 'english'::regconfig", "'simple'::regconfig ELSE 'simple'"
                         "::regconfig"))
    try:
        pz = start_prioritize(services, group)
        third = batch()
        wait_until(lambda: pz.metric("escucha_prioritize_search_vectors_differ_total") >= 8, 10, what="differ")
        assert "search_vectors_differ" in pz.log()
        fourth = batch()
        assert pz.metric("escucha_prioritize_search_vectors_made_here_total") == 0
        assert equal_to_server(third) == len(third) and equal_to_server(fourth) == len(fourth)
    finally:
        sql(ORIGINAL)
