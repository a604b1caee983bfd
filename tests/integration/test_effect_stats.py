"""The effectiveness check's statistics (lib/effect.c) against
values computed independently here: scipy's beta quantiles (Clopper-Pearson)
and binomial CDF for the exact conditional rate-ratio test, and the
Mantel-Haenszel rate ratio with the Greenland-Robins variance written out in
numpy. No servers needed: `escucha-prioritize effect-stats` prints the C
results."""
import json
import math
import os
import random
import subprocess

import numpy as np
from scipy import stats

from conftest import BIN


def c_stats(strata):
    arg = ["%d:%d:%d:%d" % s for s in strata]
    p = subprocess.run([os.path.join(BIN, "escucha-prioritize"), "effect-stats"] + arg, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def reference(xa, na, xb, nb):
    m = xa + xb
    if m == 0:
        return None
    lo = stats.beta.ppf(0.025, xa, m - xa + 1) if xa > 0 else 0.0
    hi = stats.beta.ppf(0.975, xa + 1, m - xa) if xa < m else 1.0
    to_rr = lambda p: math.inf if p >= 1 else p / (1 - p) * nb / na  # noqa: E731
    return {"low": to_rr(lo), "high": to_rr(hi), "p_drop": stats.binom.cdf(xa, m, na / (na + nb)),
            "rr": (xa / na) / (xb / nb) if xb else math.inf}


def close(a, b, rel=1e-7):
    if b is None or not math.isfinite(b):
        return a is None
    return a is not None and abs(a - b) <= rel * max(1.0, abs(b))


def test_exact_rate_ratio_matches_scipy():
    rng = random.Random(20261201)
    strata = [(5, 1000, 30, 1000), (40, 1200, 45, 1100), (3, 100, 4, 100), (0, 500, 12, 480), (12, 480, 0, 500),
              (1, 50000, 1, 40000), (900, 10000, 1000, 10000)]
    strata += [(rng.randint(0, 200), rng.randint(200, 20000), rng.randint(0, 200), rng.randint(200, 20000))
               for _ in range(40)]
    got = c_stats(strata)["strata"]
    for s, g in zip(strata, got):
        ref = reference(*s)
        for k in ("rr", "low", "high", "p_drop"):
            assert close(g[k], ref[k], 1e-6), (s, k, g[k], ref[k])
        m = s[0] + s[2]
        want = "inconclusive" if m < 10 else ("effective" if ref["high"] < 1 else "not_effective")
        assert g["verdict"] == want, (s, g)


def test_pooled_mantel_haenszel_matches_numpy():
    strata = [(5, 1000, 30, 1000), (40, 1200, 45, 1100), (3, 100, 4, 100), (20, 5000, 35, 5200)]
    got = c_stats(strata)["pooled"]
    a = np.array(strata, dtype=float)
    xa, na, xb, nb = a.T
    t = na + nb
    num, den = (xa * nb / t).sum(), (xb * na / t).sum()
    var = ((xa + xb) * na * nb / t ** 2).sum() / (num * den)
    rr = num / den
    z = stats.norm.ppf(0.975)
    assert close(got["rr"], rr) and close(got["low"], rr * math.exp(-z * math.sqrt(var)), 1e-6)
    assert close(got["high"], rr * math.exp(z * math.sqrt(var)), 1e-6)
    assert c_stats([(0, 10, 0, 10)])["pooled"] is None
