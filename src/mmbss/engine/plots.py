"""PNG plots of one training run and of a methods × seeds comparison (dpi 120).

Files read (written by the trainer; see DESIGN.md, "Run directory"):

* ``run/metrics.jsonl`` - one JSON object per epoch::

      {"epoch": 0, "lr": 0.01, "subset_fraction": 0.186, "scored": true,
       "train": {"loss": 1.9, "acc": 0.41, "samples": 223, "steps": 7},
       "val": {"loss": 1.2, "acc": 0.6, "macro_f1": 0.58, "map": 0.7,
               "modality_acc": {"pix": 0.55, "fou": 0.31}, "unimodal_gap": 0.24,
               "agreement": 0.4},
       "test": {...same keys as val...}, "time": {"train": 0.8, "scoring": 0.1, "eval": 0.2}}

  A repeated epoch (a resumed run) keeps its last line; a missing key is drawn as a gap.
* ``run/scores/epoch_003.csv`` (optional) - one row per training sample, header
  ``index,label,<criteria...>,d,seen[,corrupted]``; ``d`` in [0, 2], ``seen``/``corrupted`` 0/1.
* ``run/summary.json`` (optional) - ``{"method", "seed", "dataset", "best_epoch", "test", ...}``.
* ``cmp/runs/<method>/seed<k>/`` - one run directory per method and seed; ``cmp/results.csv``
  (optional, one row per run with a ``method`` column) fixes the order of the methods.

Figures are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, never through
``pyplot``: no global state changes (the backend of an interactive session, pyplot's list of open
figures), nothing needs closing, and matplotlib is imported only when a plot is made.

Example:
    >>> paths = plot_run("runs/mfeat-bss-cl")  # doctest: +SKIP
    >>> [p.name for p in paths]  # doctest: +SKIP
    ['learning_curves.png', 'modality_accuracy.png', 'score_histograms.png', 'pacing.png']
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_run", "plot_comparison"]

log = logging.getLogger(__name__)

_DPI = 120
_MAX_HIST_EPOCHS = 6
_SCORE_FILE = re.compile(r"epoch_(\d+)\.csv$")
_SPLITS = ("train", "val", "test")

Record = dict[str, Any]
Run = tuple[str, list[Record], Record]  # (seed folder name, metrics records, summary)
Line = tuple[str, list[Run], tuple[str, ...]]  # (label, runs averaged over, metric keys)
Panel = tuple[str, str, list[Line]]  # (axis title, y label, lines)


# ------------------------------------------------------------------------------------ reading
def _read_metrics(run_dir: Path) -> list[Record]:
    """Epoch records of ``run_dir/metrics.jsonl``, sorted by epoch, last line per epoch kept."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"run directory '{run_dir}' has no metrics.jsonl ('{path}' not "
                                "found); run 'mmbss train' first")
    by_epoch: dict[int, Record] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"'{path}' line {lineno} is not valid JSON ({err.msg}); expected "
                                 "one JSON object per epoch") from None
            epoch = rec.get("epoch", len(by_epoch)) if isinstance(rec, dict) else None
            if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
                raise ValueError(f"'{path}' line {lineno} must be a JSON object with an int "
                                 f"'epoch' >= 0; got {line.strip()[:80]!r}")
            by_epoch[epoch] = rec
    if not by_epoch:
        raise ValueError(f"'{path}' is empty; expected one JSON line per epoch (the run wrote no "
                         "epoch yet: let 'mmbss train' finish at least one)")
    return [by_epoch[e] for e in sorted(by_epoch)]


def _read_json(path: Path) -> Record:
    """The JSON object in ``path``, or ``{}`` when the file does not exist."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"'{path}' is not valid JSON ({err.msg})") from None
    return data if isinstance(data, dict) else {}


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
            raise ValueError(f"scores file '{path}' has no 'd' column or no rows; expected header "
                             "index,label,<criteria...>,d,seen[,corrupted] and one row per sample")
        try:
            cols = {k: np.array([float(r[k]) for r in rows]) for k in ("d", "corrupted")
                    if k in names}
        except (TypeError, ValueError) as err:
            raise ValueError(f"scores file '{path}' has a non-numeric value ({err})") from None
        out.append((epoch, cols))
    return out


def _dig(rec: Any, *keys: str) -> Any:
    """``rec[k0][k1]...``, or None where a key is missing."""
    for key in keys:
        rec = rec.get(key) if isinstance(rec, dict) else None
    return rec


def _get(rec: Any, *keys: str) -> float:
    """``rec[k0][k1]...`` as a float; NaN where a key is missing or the value is not a number."""
    value = _dig(rec, *keys)
    return float(value) if isinstance(value, (int, float)) else math.nan


def _series(records: list[Record], *keys: str) -> np.ndarray:
    return np.array([_get(r, *keys) for r in records])


def _epochs(records: list[Record]) -> np.ndarray:
    return np.array([r["epoch"] for r in records])


def _modalities(records: list[Record]) -> list[str]:
    """Modality names of ``val.modality_acc`` in order of first appearance."""
    accs = (_dig(rec, "val", "modality_acc") for rec in records)
    return list(dict.fromkeys(m for acc in accs if isinstance(acc, dict) for m in acc))


def _best_epoch(records: list[Record], summary: Record) -> int | None:
    """``summary["best_epoch"]``, else the first epoch of highest val accuracy (None if no val)."""
    best = summary.get("best_epoch")
    if isinstance(best, int) and not isinstance(best, bool):
        return best
    acc = _series(records, "val", "acc")
    return None if np.isnan(acc).all() else int(records[int(np.nanargmax(acc))]["epoch"])


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
        raise ValueError(f"_roc_auc: expected equal-length scores and 0/1 labels; got shapes "
                         f"{s.shape} and {y.shape} with label values {np.unique(y)[:5]}")
    pos = y.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    ranks = ((last - counts + 1 + last) / 2.0)[inverse]  # 1-based, average over ties
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


# ---------------------------------------------------------------------------------- drawing
def _figure(ncols: int, nrows: int = 1, *, width: float = 5.2, height: float = 3.8, **kw):
    """A Figure on the Agg canvas and its axes as a flat array (``kw`` go to ``subplots``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows + 0.4))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw).ravel()


def _dress(ax, xlabel: str, ylabel: str, best: int | None = None, legend: bool = True) -> None:
    """Best-epoch line, axis labels, grid and legend (if anything is labelled)."""
    if best is not None:
        ax.axvline(best, color="0.35", ls="--", lw=1, label=f"best val (epoch {best})")
    if xlabel == "epoch":
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def _save(fig, path: Path, title: str) -> Path:
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    fig.clear()
    log.debug("wrote %s", path)
    return path


def _stack(runs: list[Run], *keys: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epochs [E], mean [E] and sample std [E] over runs of one metric (NaN: no run has it)."""
    mat = np.full((len(runs), 1 + max(r["epoch"] for _, recs, _ in runs for r in recs)), np.nan)
    for i, (_, recs, _) in enumerate(runs):
        mat[i, _epochs(recs)] = _series(recs, *keys)
    ok = ~np.isnan(mat)
    cnt = ok.sum(0)
    mean = np.where(cnt > 0, np.where(ok, mat, 0.0).sum(0) / np.maximum(cnt, 1), np.nan)
    var = (np.where(ok, mat - mean, 0.0) ** 2).sum(0) / np.maximum(cnt - 1, 1)
    return np.arange(mat.shape[1]), mean, np.sqrt(var)


def _plot_panels(panels: list[Panel], title: str, path: Path, *, best: int | None = None,
                 ncols: int = 2, **kw) -> Path:
    """One axis per panel; each line is the mean over its runs, with a ± std band if > 1 run.

    Line ``i`` of every panel gets colour ``C<i>``, so a method keeps its colour across panels.
    """
    ncols = min(ncols, len(panels))
    fig, axes = _figure(ncols, math.ceil(len(panels) / ncols), **kw)
    for k, (ax, (name, ylabel, lines)) in enumerate(zip(axes, panels, strict=False)):
        for i, (label, runs, keys) in enumerate(lines):
            x, mean, std = _stack(runs, *keys)
            if np.isnan(mean).all():
                continue
            ax.plot(x, mean, color=f"C{i % 10}", marker="o" if len(x) <= 30 else None, ms=3,
                    label=label)
            if len(runs) > 1:
                ax.fill_between(x, mean - std, mean + std, color=f"C{i % 10}", alpha=0.18, lw=0)
        ax.set_title(name, fontsize="medium")
        _dress(ax, "epoch", ylabel, best, legend=k == 0 or len(panels) <= 2)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return _save(fig, path, title)


def _plot_pacing(lines: list[tuple[str, list[Record]]], title: str, path: Path) -> Path | None:
    """Step plot of ``subset_fraction`` per epoch, one line per ``(label, records)``."""
    fig, (ax,) = _figure(1, width=6.4)
    for i, (label, recs) in enumerate(lines):
        frac, ep = _series(recs, "subset_fraction"), _epochs(recs)
        if np.isnan(frac).all():
            continue
        lw = 1.4 + 2.6 * (len(lines) - 1 - i) / max(1, len(lines) - 1)  # equal curves stay visible
        ax.step(np.append(ep, ep[-1] + 1), np.append(frac, frac[-1]), where="post", lw=lw,
                color=f"C{i % 10}", ls=("-", "--", "-.", ":")[i % 4], label=label)
        scored = _series(recs, "scored") > 0.5
        ax.plot(ep[scored], frac[scored], "v", color=f"C{i % 10}", mec="k", mew=0.5, ms=5)
    if not ax.get_legend_handles_labels()[0]:
        log.info("no subset_fraction in the metrics; %s not written", path.name)
        return None
    if len(ax.get_lines()) > len(ax.get_legend_handles_labels()[0]):
        ax.plot([], [], "v", color="0.6", mec="k", mew=0.5, label="scores recomputed")
    ax.set_ylim(0, 1.05)
    _dress(ax, "epoch", "fraction of training set used")
    return _save(fig, path, f"{title} — pacing")


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


def _out_dir(out_dir: str | Path | None, default: Path) -> Path:
    from .rundir import make_dir

    return make_dir(Path(out_dir) if out_dir is not None else default / "plots")


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Draw the plots of one run directory (file formats in the module docstring).

    Args:
        run_dir: a directory written by ``mmbss train``; needs ``metrics.jsonl`` and uses
            ``summary.json`` (titles, best epoch) and ``scores/`` when present.
        out_dir: where to write the PNGs; default ``run_dir/plots`` (created if missing).

    Returns:
        Paths of the PNGs written, in this order: ``learning_curves.png``,
        ``modality_accuracy.png`` (if ``val.modality_acc`` is logged), ``score_histograms.png``
        (if ``scores/epoch_*.csv`` exist), ``pacing.png`` (if ``subset_fraction`` is logged).

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
    return [p for p in written if p is not None]


# ---------------------------------------------------------------------------------- comparison
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
