"""The integration path under valgrind memcheck: each service, plain build (not ASan), a few
requests of every kind, then SIGTERM; any memcheck error or definite leak fails the test."""
import json
import os
import shutil

import requests

from conftest import HTTP_PORT, REPO, STATE, post_json, unique

VALGRIND = shutil.which("valgrind")
PLAIN_BIN = os.path.join(REPO, "build", "bin")


MEMCHECK = ["valgrind", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite", "--suppressions=" + os.path.join(REPO, "tests", "valgrind.supp"),
            "--quiet"]


def test_valgrind_is_installed():
    assert VALGRIND, "valgrind missing: scripts/deps.sh installs it"


def test_ingest_under_memcheck(services, api_key):
    port = HTTP_PORT + 2
    ing = services.start("ingest", wrapper=MEMCHECK, bin_dir=PLAIN_BIN, http_port=port, admin_port=19292,
                         env={"ESCUCHA_WHATSAPP_AGENCY": "demo", "ESCUCHA_WHATSAPP_APP_SECRET": "s"})
    u = unique()
    assert post_json("/v1/feedback", {"text": "Memcheck " + u + " correo a@b.cl", "nps": 4}, api_key, port=port).status_code == 202
    assert post_json("/v1/feedback", {"text": "Memcheck " + u + " correo a@b.cl", "nps": 4}, api_key, port=port).status_code == 200
    assert post_json("/v1/feedback", "{bad", api_key, port=port).status_code == 400
    lines = "\n".join(json.dumps({"text": "vg batch %s %d" % (u, i)}) for i in range(20)) + "\n{oops"
    assert post_json("/v1/feedback:batch", lines, api_key, port=port, ctype="application/x-ndjson").status_code == 202
    r = requests.post("http://127.0.0.1:%d/open311/v2/requests.json" % port,
                      data={"service_code": "x", "description": "vg " + u},
                      headers={"Authorization": "Bearer " + api_key}, timeout=60)
    assert r.status_code == 201
    assert requests.post("http://127.0.0.1:%d/v1/channels/email" % port, data=b"Subject: vg %s\r\n\r\nbody" % u.encode(),
                         headers={"Authorization": "Bearer " + api_key, "Content-Type": "message/rfc822"},
                         timeout=60).status_code == 202
    assert requests.get("http://127.0.0.1:19292/metrics", timeout=60).status_code == 200
    rc = ing.stop(timeout=120)
    assert rc == 0, "memcheck reported errors (exit %s):\n%s" % (rc, ing.log()[-6000:])
