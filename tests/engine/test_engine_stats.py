"""Paired differences with 95 % intervals (issue 12, deliverable 1): the Student-t quantiles of
the published tables, the interval, the seeded bootstrap and the verdict."""

import math

import numpy as np
import pytest

from mmbss.engine.stats import paired_summary, t_quantile


@pytest.mark.parametrize("df,q", [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (29, 2.045),
                                  (120, 1.980)])
def test_t_quantiles_match_the_published_table(df, q):
    assert t_quantile(0.975, df) == pytest.approx(q, abs=1e-3)


def test_t_quantile_tends_to_the_normal_one():
    assert t_quantile(0.975, 10**6) == pytest.approx(1.95996, abs=1e-4)
    assert t_quantile(0.5, 7) == pytest.approx(0.0, abs=1e-9)


def test_student_interval_of_five_seeds():
    d = [1.0, 2.0, 3.0, 4.0, 5.0]
    s = paired_summary(d)
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)  # t_{0.975,4} * sd / sqrt(n)
    assert s["method"] == "t" and s["n"] == 5 and s["mean"] == 3.0
    assert s["low"] == pytest.approx(3.0 - half, abs=1e-4) and s["high"] == pytest.approx(3.0 + half, abs=1e-4)
    assert (s["wins"], s["ties"], s["losses"]) == (5, 0, 0) and s["verdict"] == "better"


def test_bootstrap_from_ten_seeds_is_seeded_and_brackets_the_mean():
    rng = np.random.default_rng(0)
    d = list(rng.normal(-1.0, 1.0, 12))
    a, b = paired_summary(d), paired_summary(d)
    assert a == b and a["method"] == "bootstrap" and a["low"] < a["mean"] < a["high"]
    t = paired_summary(d, bootstrap_from=100)  # the t interval of the same data is close
    assert abs((a["high"] - a["low"]) - (t["high"] - t["low"])) < 0.5


def test_verdicts():
    assert paired_summary([-2.0, -3.0, -2.5])["verdict"] == "worse"
    assert paired_summary([-1.0, 2.0, 0.5])["verdict"] == "no detectable difference"
    assert paired_summary([0.0, 0.0, 0.0])["verdict"] == "no detectable difference"
    one = paired_summary([1.5])
    assert one["low"] is None and one["high"] is None
    assert one["verdict"] == "no interval (1 seed; use 2 or more)"
