"""The figures of a methods × seeds comparison and :func:`plot_comparison` (the files read:
see :mod:`mmbss.engine.plots`).

``comparison_curves.png`` (val/test accuracy, mean ± std over seeds), ``comparison_bars.png``
(test accuracy at the best-val epoch), ``comparison_modality.png`` (each modality's head) and
``comparison_pacing.png`` (fraction of the training set, first seed per method).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from .common import (
    Record,
    Run,
    _best_epoch,
    _dress,
    _figure,
    _get,
    _modalities,
    _out_dir,
    _plot_pacing,
    _plot_panels,
    _read_json,
    _read_metrics,
    _save,
    log,
)

__all__ = ["plot_comparison"]


def _load_comparison(cmp_dir: Path) -> dict[str, list[Run]]:
    """``{method: [(seed folder, records, summary), ...]}``, methods in results.csv order."""
    runs_dir = cmp_dir / "runs"
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"comparison directory '{cmp_dir}' has no runs/ folder "
                                f"('{runs_dir}' not found); run 'mmbss compare' first")
    seed_dirs = [p for p in runs_dir.glob("*/seed*") if p.is_dir()]
    listed = _listed_runs(cmp_dir / "results.csv")
    if listed is not None:  # a resumed comparison may leave runs it no longer reports
        seed_dirs = [p for p in seed_dirs if (p.parent.name, p.name) in listed]
    runs: dict[str, list[Run]] = {}
    for seed_dir in sorted(seed_dirs, key=lambda p: (p.parent.name, len(p.name), p.name)):
        if not (seed_dir / "metrics.jsonl").is_file():
            log.warning("skipping '%s': no metrics.jsonl (unfinished run?)", seed_dir)
            continue
        runs.setdefault(seed_dir.parent.name, []).append(
            (seed_dir.name, _read_metrics(seed_dir), _read_json(seed_dir / "summary.json")))
    if not runs:
        raise FileNotFoundError(f"'{runs_dir}' holds no <method>/seed<k>/metrics.jsonl; run "
                                "'mmbss compare' first")
    order: dict[str, int] = {}
    if (cmp_dir / "results.csv").is_file():
        with (cmp_dir / "results.csv").open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                order.setdefault(row.get("method") or "", len(order))
    return {m: runs[m] for m in sorted(runs, key=lambda m: (order.get(m, len(order)), m))}


def _listed_runs(results: Path) -> set[tuple[str, str]] | None:
    """``{(method, "seed<k>")}`` named in results.csv, or None without that file."""
    if not results.is_file():
        return None
    with results.open(newline="", encoding="utf-8") as fh:
        return {(row.get("method") or "", f"seed{row.get('seed')}") for row in csv.DictReader(fh)}


def _best_test_acc(records: list[Record], summary: Record) -> float:
    """Test accuracy at the best-val epoch: ``summary.test.acc``, else read from the records."""
    acc = _get(summary, "test", "acc")
    if math.isnan(acc):
        best = _best_epoch(records, {})
        acc = next((_get(r, "test", "acc") for r in records if r["epoch"] == best), math.nan)
    return acc


def _plot_bars(runs: dict[str, list[Run]], title: str, path: Path) -> Path:
    """Bar = mean, error bar = sample std, dots = seeds of the test accuracy at best val."""
    fig, (ax,) = _figure(1, width=max(4.8, 1.1 * len(runs) + 2.0))
    lows, highs, means = [], [], []
    for i, seeds in enumerate(runs.values()):
        vals = np.array([_best_test_acc(recs, summary) for _, recs, summary in seeds])
        vals = vals[~np.isnan(vals)]
        if vals.size == 0:
            continue
        mean, std = vals.mean(), (vals.std(ddof=1) if vals.size > 1 else 0.0)
        ax.bar(i, mean, yerr=std, capsize=5, width=0.6, color=f"C{i % 10}", alpha=0.7)
        offsets = (np.arange(vals.size) - (vals.size - 1) / 2) * min(0.08, 0.4 / vals.size)
        ax.scatter(i + offsets, vals, color="k", s=14, zorder=3)
        means.append((i, mean))
        lows.append(min(vals.min(), mean - std))
        highs.append(max(vals.max(), mean + std))
    ax.set_xticks(range(len(runs)), list(runs), rotation=20 if len(runs) > 4 else 0)
    if lows:  # zoom on the differences; the axis shows where it starts
        bottom = max(0.0, math.floor((min(lows) - 0.05) * 20) / 20)
        ax.set_ylim(bottom, max(highs) + 0.08 * (max(highs) - bottom) + 1e-3)
        for i, mean in means:
            ax.annotate(f"{mean:.3f}", (i, bottom), xytext=(0, 4), textcoords="offset points",
                        ha="center", fontsize="small")
    _dress(ax, "method", "test accuracy at best-val epoch")
    ax.set_title("bar: mean, error bar: std, dots: seeds", fontsize="medium")
    return _save(fig, path, title)


def plot_comparison(cmp_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Draw the plots of a comparison directory written by ``mmbss compare``.

    Args:
        cmp_dir: a directory with ``runs/<method>/seed<k>/`` run directories (formats in the
            module docstring) and optionally ``results.csv``, whose row order orders the methods
            (methods not in it follow, sorted).
        out_dir: where to write the PNGs; default ``cmp_dir/plots`` (created if missing).

    Returns:
        Paths of the PNGs written, in this order: ``comparison_curves.png`` (val/test accuracy,
        mean ± std over seeds), ``comparison_bars.png`` (test accuracy at the best-val epoch),
        ``comparison_modality.png`` (if ``val.modality_acc`` is logged) and
        ``comparison_pacing.png`` (if ``subset_fraction`` is logged; first seed per method).

    Raises:
        FileNotFoundError: ``cmp_dir/runs`` does not exist or holds no run with metrics.
        ValueError: a run's ``metrics.jsonl`` is empty or malformed.
    """
    cmp_dir = Path(cmp_dir)
    runs = _load_comparison(cmp_dir)
    out = _out_dir(out_dir, cmp_dir)
    dataset = next((s["dataset"] for seeds in runs.values() for *_, s in seeds if "dataset" in s),
                   cmp_dir.name)
    title = f"{dataset} · {len(runs)} methods × {max(map(len, runs.values()))} seeds"
    curves = [(f"{split} accuracy, mean ± std over seeds", f"{split} accuracy",
               [(f"{m} (n={len(seeds)})", seeds, (split, "acc")) for m, seeds in runs.items()])
              for split in ("val", "test")]
    written = [_plot_panels(curves, title, out / "comparison_curves.png"),
               _plot_bars(runs, title, out / "comparison_bars.png")]
    if mods := _modalities([r for seeds in runs.values() for _, recs, _ in seeds for r in recs]):
        heads = [(f"modality '{mod}'", "val accuracy of its head",
                  [(m, seeds, ("val", "modality_acc", mod)) for m, seeds in runs.items()])
                 for mod in mods]
        written.append(_plot_panels(heads, f"{title} — per-modality heads (mean over seeds)",
                                    out / "comparison_modality.png", ncols=3, width=4.6,
                                    height=3.5, sharey=True))
    first = [(f"{m} ({seeds[0][0]})", seeds[0][1]) for m, seeds in runs.items()]
    written.append(_plot_pacing(first, title, out / "comparison_pacing.png"))
    return [p for p in written if p is not None]
