"""Helpers shared by the run and the comparison plots of :mod:`mmbss.engine.plots`.

Reading ``metrics.jsonl`` and ``summary.json``, metric series out of the epoch records, the
best-val epoch, the output folder, and drawing: the Agg :class:`~matplotlib.figure.Figure`, axis
labels/grid/legend, saving a PNG (dpi 120), mean ± std panels over runs and the pacing step plot.
File formats and the no-pyplot rule: see the docstring of :mod:`mmbss.engine.plots`.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import InvalidValueError

__all__: list[str] = []  # internal helpers of mmbss.engine.plots; nothing public

log = logging.getLogger(__package__)  # "mmbss.engine.plots", the logger of the unsplit module

_DPI = 120

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
                raise InvalidValueError(f"'{path}' line {lineno} is not valid JSON ({err.msg}); expected "
                                        "one JSON object per epoch") from None
            epoch = rec.get("epoch", len(by_epoch)) if isinstance(rec, dict) else None
            if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
                raise InvalidValueError(f"'{path}' line {lineno} must be a JSON object with an int "
                                        f"'epoch' >= 0; got {line.strip()[:80]!r}")
            by_epoch[epoch] = rec
    if not by_epoch:
        raise InvalidValueError(f"'{path}' is empty; expected one JSON line per epoch (the run wrote no "
                                "epoch yet: let 'mmbss train' finish at least one)")
    return [by_epoch[e] for e in sorted(by_epoch)]


def _read_json(path: Path) -> Record:
    """The JSON object in ``path``, or ``{}`` when the file does not exist."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InvalidValueError(f"'{path}' is not valid JSON ({err.msg})") from None
    return data if isinstance(data, dict) else {}


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


def _out_dir(out_dir: str | Path | None, default: Path) -> Path:
    from ..rundir import make_dir

    return make_dir(Path(out_dir) if out_dir is not None else default / "plots")
