"""Paired differences between two methods over seeds, with a 95 % confidence interval and a
plain-words verdict (``mmbss compare``).

* n >= 10 seeds: a seeded percentile bootstrap of the mean (10 000 resamples);
* 2 <= n < 10: Student's t, ``mean ± t_{0.975, n-1} · sd / sqrt(n)``;
* one seed: no interval (said so, never NaN).

The verdict is "better" when the interval lies above 0, "worse" when it lies below, else "no
detectable difference". The Student-t quantile is computed here (no SciPy): the t CDF through the
regularised incomplete beta function (Lentz's continued fraction), inverted by bisection.

Examples:
    >>> round(t_quantile(0.975, 4), 3)
    2.776
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["t_quantile", "paired_summary"]


def _betacf(a: float, b: float, x: float) -> float:
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _t_cdf(t: float, df: float) -> float:
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t distribution with ``df`` degrees of freedom."""
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2


def paired_summary(diffs: list[float], *, level: float = 0.95, bootstrap_from: int = 10,
                   resamples: int = 10_000, seed: int = 0) -> dict:
    """Mean paired difference, its ``level`` interval, wins/ties/losses and the verdict.

    Returns ``{"n", "mean", "sd", "low", "high", "method" ("t" | "bootstrap" | None), "wins",
    "ties", "losses", "verdict"}``; ``low``/``high`` are None with one seed.
    """
    d = np.asarray(diffs, dtype=np.float64)
    n = len(d)
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    out = {"n": n, "mean": mean, "sd": sd, "wins": int((d > 0).sum()), "ties": int((d == 0).sum()),
           "losses": int((d < 0).sum())}
    if n < 2:
        return {**out, "low": None, "high": None, "method": None,
                "verdict": "no interval (1 seed; use 2 or more)"}
    alpha = (1 - level) / 2
    if n >= bootstrap_from:
        rng = np.random.default_rng(seed)
        means = d[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
        low, high, method = float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)), "bootstrap"
    else:
        half = t_quantile(1 - alpha, n - 1) * sd / math.sqrt(n)
        low, high, method = mean - half, mean + half, "t"
    verdict = "better" if low > 0 else "worse" if high < 0 else "no detectable difference"
    return {**out, "low": low, "high": high, "method": method, "verdict": verdict}
