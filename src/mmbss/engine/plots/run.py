"""The figures of one training run and :func:`plot_run` (the files read: see
:mod:`mmbss.engine.plots`).

``learning_curves.png`` (loss and accuracy per split), ``modality_accuracy.png`` (fused vs each
modality's head, balance diagnostics), ``score_histograms.png`` (balance score ``d`` per scored
epoch, clean vs corrupted with the ROC-AUC), ``pacing.png`` (fraction of the training set) and
``method_statistics.png`` (a gradient policy's per-modality statistics per epoch, e.g. OGM-GE's
mean coefficients, MMPareto's conflict share).
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import InvalidValueError
from .common import (
    Record,
    _best_epoch,
    _dress,
    _figure,
    _modalities,
    _out_dir,
    _plot_pacing,
    _plot_panels,
    _read_json,
    _read_metrics,
    _save,
)

__all__ = ["plot_run"]

_MAX_HIST_EPOCHS = 6
_SCORE_FILE = re.compile(r"epoch_(\d+)\.csv$")
_SPLITS = ("train", "val", "test")


def _read_scores(scores_dir: Path) -> list[tuple[int, dict[str, np.ndarray]]]:
    """``(epoch, {"d": [N], "corrupted": [N] if logged})`` per scores CSV, sorted by epoch."""
    found = ((_SCORE_FILE.search(p.name), p) for p in scores_dir.glob("epoch_*.csv"))
    out = []
    for epoch, path in sorted((int(m.group(1)), p) for m, p in found if m):
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            names = reader.fieldnames or []
        if "d" not in names or not rows:
            raise InvalidValueError(f"scores file '{path}' has no 'd' column or no rows; expected header "
                             "index,label,<criteria...>,d,seen[,corrupted] and one row per sample")
        try:
            cols = {k: np.array([float(r[k]) for r in rows]) for k in ("d", "corrupted")
                    if k in names}
        except (TypeError, ValueError) as err:
            raise InvalidValueError(f"scores file '{path}' has a non-numeric value ({err})") from None
        out.append((epoch, cols))
    return out


def _title(summary: Record, fallback: str) -> str:
    parts = [f"seed {summary[k]}" if k == "seed" else str(summary[k])
             for k in ("method", "dataset", "seed") if summary.get(k) is not None]
    return " · ".join(parts) or fallback


def _roc_auc(scores: Any, labels: Any) -> float:
    """ROC-AUC of ``scores`` [N] against 0/1 ``labels`` [N] by the rank formula, ties averaged.

    Equals P(score of a positive > score of a negative) + 0.5 P(equal); NaN if a class is empty.
    """
    s, y = np.asarray(scores, dtype=float).ravel(), np.asarray(labels).ravel()
    if s.shape != y.shape or not np.isin(y, (0, 1)).all():
        raise InvalidValueError(f"_roc_auc: expected equal-length scores and 0/1 labels; got shapes "
                                f"{s.shape} and {y.shape} with label values {np.unique(y)[:5]}")
    pos = y.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    ranks = ((last - counts + 1 + last) / 2.0)[inverse]  # 1-based, average over ties
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _spread(n: int, k: int) -> list[int]:
    """Up to ``k`` indices spread evenly over ``range(n)``, first and last included."""
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, min(n, k))})


def _plot_score_histograms(scores: list[tuple[int, dict[str, np.ndarray]]], title: str,
                           path: Path) -> Path:
    chosen = [scores[i] for i in _spread(len(scores), _MAX_HIST_EPOCHS)]
    ncols = min(3, len(chosen))
    fig, axes = _figure(ncols, math.ceil(len(chosen) / ncols), width=max(4.4, 6.4 / ncols),
                        height=3.4)
    all_d = np.concatenate([cols["d"] for _, cols in chosen])
    n_bins = int(np.clip(np.sqrt(all_d.size / len(chosen)), 10, 40))
    bins = np.linspace(min(0.0, all_d.min()), max(2.0, all_d.max()), n_bins + 1)
    for ax, (epoch, cols) in zip(axes, chosen, strict=False):
        d, name = cols["d"], f"epoch {epoch}"
        bad = cols["corrupted"] > 0.5 if "corrupted" in cols else np.zeros(d.size, dtype=bool)
        for mask, color, group in ((~bad, "C0", "clean" if bad.any() else "all"),
                                   (bad, "C3", "corrupted")):
            if mask.any():
                ax.hist(d[mask], bins, density=True, histtype="stepfilled", alpha=0.45,
                        color=color, ec=color, label=f"{group} (n={int(mask.sum())})")
        if "corrupted" in cols:
            auc = _roc_auc(d, bad.astype(int))
            name += " · AUC(d vs corrupted) = " + ("n/a" if math.isnan(auc) else f"{auc:.3f}")
        ax.set_title(name, fontsize="medium")
        ax.set_ylim(top=1.3 * ax.get_ylim()[1])  # headroom for the legend
        _dress(ax, "balance score d", "density", legend=False)
        ax.legend(fontsize="small", loc="upper center", ncols=2)
    for ax in axes[len(chosen):]:
        ax.set_visible(False)
    return _save(fig, path, f"{title} — balance scores d")


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Draw the plots of one run directory (file formats in the module docstring).

    Args:
        run_dir: a directory written by ``mmbss train``; needs ``metrics.jsonl`` and uses
            ``summary.json`` (titles, best epoch) and ``scores/`` when present.
        out_dir: where to write the PNGs; default ``run_dir/plots`` (created if missing).

    Returns:
        Paths of the PNGs written, in this order: ``learning_curves.png``,
        ``modality_accuracy.png`` (if ``val.modality_acc`` is logged), ``score_histograms.png``
        (if ``scores/epoch_*.csv`` exist), ``pacing.png`` (if ``subset_fraction`` is logged),
        ``method_statistics.png`` (if a gradient policy logs per-modality statistics).

    Raises:
        FileNotFoundError: ``run_dir/metrics.jsonl`` does not exist.
        ValueError: ``metrics.jsonl`` is empty or malformed, or a scores CSV lacks ``d``.
    """
    run_dir = Path(run_dir)
    records = _read_metrics(run_dir)
    summary = _read_json(run_dir / "summary.json")
    out, title = _out_dir(out_dir, run_dir), _title(summary, run_dir.name)
    scores = _read_scores(run_dir / "scores")  # read (and checked) before anything is drawn
    best, run = _best_epoch(records, summary), [("", records, summary)]
    splits = [(f"{split} {m}", run, (split, m)) for m in ("loss", "acc") for split in _SPLITS]
    written = [_plot_panels([("loss", "loss", splits[:3]),
                             ("accuracy (fused prediction)", "accuracy", splits[3:])],
                            title, out / "learning_curves.png", best=best)]
    if mods := _modalities(records):
        heads = [(m, run, ("val", "modality_acc", m)) for m in mods]
        diag = [(k.replace("_", " "), run, ("val", k)) for k in ("unimodal_gap", "agreement")]
        written.append(_plot_panels([("val accuracy: fused vs each modality's head",
                                      "val accuracy", [("fused", run, ("val", "acc")), *heads]),
                                     ("val balance diagnostics", "value", diag)],
                                    title, out / "modality_accuracy.png", best=best))
    if scores:
        written.append(_plot_score_histograms(scores, title, out / "score_histograms.png"))
    written.append(_plot_pacing([("subset fraction", records)], title, out / "pacing.png"))
    if panels := _method_panels(records, run):
        written.append(_plot_panels(panels, f"{title} — method statistics",
                                    out / "method_statistics.png", best=best, ncols=3))
    return [p for p in written if p is not None]


def _method_panels(records: list[Record], run) -> list:
    """One panel per per-modality statistic of a gradient policy (``method.<policy>.<stat>`` is
    ``{modality: value}``), one line per modality, in order of first appearance."""
    stats: dict[tuple[str, str], dict[str, None]] = {}
    for rec in records:
        for policy, values in (rec.get("method") or {}).items():
            for stat, value in (values.items() if isinstance(values, dict) else ()):
                if isinstance(value, dict):
                    stats.setdefault((policy, stat), {}).update(dict.fromkeys(value))
    return [(f"{policy}: {stat.replace('_', ' ')}", stat.replace("_", " "),
             [(m, run, ("method", policy, stat, m)) for m in mods])
            for (policy, stat), mods in stats.items()]
