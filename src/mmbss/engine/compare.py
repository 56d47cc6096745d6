"""``mmbss compare``: methods x seeds on one dataset -> table of mean ± std and paired differences.

Every run is an ordinary run directory under ``<out>/runs/<label>/seed<k>/``. Seeds are paired:
seed k of every method uses the same split, initial weights and warm-up order, so per-seed
differences against the baseline isolate the method.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import math
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from ..core._validation import check_int, check_name
from ..core.errors import InvalidValueError, MmbssError
from .build import check_configs
from .config import (
    CompareConfig,
    Config,
    ConfigError,
    apply_overrides,
    changes_since,
    config_to_dict,
)
from .rundir import RunExistsError, child_dir, clear_output_dir, is_stamped, write_text_atomic
from .trainer import train

__all__ = ["compare", "method_entries", "format_table"]

log = logging.getLogger(__name__)


def method_entries(cfg: Config) -> list[tuple[str, Config]]:
    """(label, config) for every entry of ``compare.methods`` (a name, or a mapping with ``name``,
    optional ``label`` and ``method.*`` overrides)."""
    entries, labels = [], set()
    if not cfg.compare.methods:
        raise ConfigError("compare.methods is empty; list at least one method (e.g. [uniaux, bss-cl]).")
    for i, item in enumerate(cfg.compare.methods):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise ConfigError(f"compare.methods entries must be a method name or a mapping with "
                              f"'name'; got {item!r}.")
        item = dict(item)
        label = check_name("compare.methods", "label", item.pop("label", item["name"]))
        if label in labels:
            raise ConfigError(f"compare.methods has two entries labelled {label!r}; give one a "
                              f"'label'.")
        labels.add(label)
        c = copy.deepcopy(cfg)
        try:
            apply_overrides(c, [f"method.{k}={json.dumps(v)}" for k, v in item.items()])
        except ConfigError as e:
            raise ConfigError(f"compare.methods[{i}] ({label}): {e}") from None
        entries.append((label, c))
    return entries


def compare(cfg: Config, out_dir: str | Path, *, overwrite: bool = False, resume: bool = False,
            quiet: bool = False, jobs: int = 1, nproc_per_node: int = 1) -> dict:
    """Run every (method, seed), write ``results.csv``, ``table.md``, ``table.csv`` and plots.

    Args:
        cfg: base config; ``cfg.compare`` lists methods, seeds and the baseline.
        out_dir: comparison directory.
        overwrite: replace an existing comparison; resume: reuse finished runs, resume the others.
        jobs: runs in parallel (processes; each gets ``cpu_count // jobs`` torch threads).
        nproc_per_node: train each run with DDP on this many processes (each run is started as
            ``torchrun --standalone --nproc_per_node=K -m mmbss train ...``; 1: in this process).
    Returns:
        dict with ``rows`` (one per run) and ``table`` (the Markdown text).
    """
    if resume and overwrite:
        raise InvalidValueError("--resume and --overwrite contradict each other: --resume continues the "
                         f"comparison in '{out_dir}', --overwrite deletes it. Pass only one.")
    out = Path(out_dir)
    entries = method_entries(cfg)
    seeds = _check_seeds(cfg.compare.seeds)
    labels = [label for label, _ in entries]
    baseline = cfg.compare.baseline if cfg.compare.baseline is not None else labels[0]
    if baseline not in labels:
        raise ConfigError(f"compare.baseline {baseline!r} is not one of the methods {labels}.")
    built: dict = {}  # fail fast, before any run starts; each distinct data/model setup built once
    for i, (label, c) in enumerate(entries):
        try:
            check_configs([c], built)
        except (ValueError, TypeError) as e:
            raise type(e)(f"compare.methods[{i}] ({label}): {e}") from None
    check_int("compare", "jobs", jobs, low=1)
    check_int("compare", "nproc_per_node", nproc_per_node, low=1)
    if resume and out.is_dir() and any(out.iterdir()):
        if not (out / ".mmbss-comparison").is_file():
            raise RunExistsError(f"cannot resume: '{out}' was not made by mmbss as a comparison.")
    else:
        clear_output_dir(out, kind="comparison", overwrite=overwrite)
    jobs_list = []
    for label, c in entries:
        for seed in seeds:
            rc = copy.deepcopy(c)
            rc.train.seed = seed
            rc.compare = CompareConfig()  # a run's config holds the run alone (resumable as such)
            run_dir = child_dir(out, "runs", label, f"seed{seed}")
            jobs_list.append((label, seed, config_to_dict(rc), str(run_dir), resume, quiet,
                              max(1, (os.cpu_count() or 1) // max(1, jobs * nproc_per_node)),
                              nproc_per_node))
    jobs_list = [(*j, f"[{i + 1}/{len(jobs_list)}]") for i, j in enumerate(jobs_list)]
    if jobs > 1:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"),
                                 initializer=_init_worker, initargs=(logging.getLogger().level,)) as pool:
            summaries = list(pool.map(_one_run, jobs_list))
    else:
        summaries = [_one_run(j) for j in jobs_list]
    rows = [_row(label, seed, s) for (label, seed, *_), s in zip(jobs_list, summaries, strict=True)]
    base = {r["seed"]: r["test_acc"] for r in rows if r["method"] == baseline}
    for r in rows:  # results.csv: each run's paired difference to the baseline (in points)
        r["delta_acc_vs_baseline"] = 100 * (r["test_acc"] - base[r["seed"]]) if r["seed"] in base else None
    table_md, table_rows = format_table(rows, labels, baseline, cfg.train.select_metric)
    _write_csv(out / "results.csv", rows)
    _write_csv(out / "table.csv", table_rows)
    (out / "table.md").write_text(table_md)
    try:
        from .plots import plot_comparison
        plot_comparison(out)
    except ImportError:  # plotting is optional
        log.warning("matplotlib is not installed; no plots written")
    return {"rows": rows, "table": table_md, "dir": str(out)}


def _check_seeds(seeds) -> list[int]:
    if not seeds or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seeds):
        raise ConfigError(f"compare.seeds must be a non-empty list of ints >= 0; got {seeds!r}.")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"compare.seeds lists a seed twice: {seeds!r}; each seed is one run.")
    return list(seeds)


def _init_worker(level: int) -> None:
    logging.basicConfig(level=level, format="%(message)s")


def _one_run(job) -> dict:
    """Train (or reuse) one run; logs one line per run, not per epoch."""
    import time

    import torch

    from .config import config_from_dict

    label, seed, cfg_dict, run_dir, resume, quiet, threads, nproc, tag = job
    torch.set_num_threads(threads)
    cfg = config_from_dict(cfg_dict)
    summary_file = Path(run_dir) / "summary.json"
    if resume and summary_file.is_file() and not changes_since(run_dir, cfg):
        log.info("%s %s seed %d: reusing the finished run in %s", tag, label, seed, run_dir)
        return json.loads(summary_file.read_text())
    if nproc > 1:
        return _torchrun_run(cfg_dict, Path(run_dir), resume and is_stamped(Path(run_dir), "run"),
                             nproc, threads, f"{tag} {label} seed {seed}")
    epoch_log = logging.getLogger("mmbss.engine.trainer")
    level, t0 = epoch_log.level, time.perf_counter()
    epoch_log.setLevel(logging.WARNING)  # one line per run instead of one per epoch
    try:  # a run started before (stamped) continues; one never started starts now
        s = train(cfg, run_dir, resume=resume and is_stamped(Path(run_dir), "run"), quiet=quiet)
    finally:
        epoch_log.setLevel(level)
    log.info("%s %s seed %d: test acc %.2f %% at best-val epoch %d (%.0f s)", tag, label, seed,
             100 * s["test"]["acc"], s["best_epoch"], time.perf_counter() - t0)
    return s


class RunFailed(MmbssError, RuntimeError):
    """A run of a comparison, started under torchrun, failed (its first error line included)."""


def _torchrun_run(cfg_dict: dict, run_dir: Path, resume: bool, nproc: int, threads: int,
                  what: str) -> dict:
    """One run of a comparison trained by ``torchrun --standalone --nproc_per_node=nproc -m mmbss
    train`` (its config goes through a file next to the run directory)."""
    import subprocess
    import sys
    import time

    import yaml

    cfg_file = run_dir.parent / f".{run_dir.name}.yaml"
    cfg_file.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(cfg_file, yaml.safe_dump(cfg_dict, sort_keys=False))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", "-m", "mmbss", "train", "--config", str(cfg_file),
           "--out", str(run_dir), "--quiet", *(["--resume"] if resume else [])]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("mmbss: error:")]
        raise RunFailed(f"{what}: torchrun exited with {proc.returncode}: "
                           f"{errors[0] if errors else proc.stderr.strip()[-2000:]}")
    cfg_file.unlink(missing_ok=True)
    s = json.loads((run_dir / "summary.json").read_text())
    log.info("%s: test acc %.2f %% at best-val epoch %d (%.0f s, %d processes)", what,
             100 * s["test"]["acc"], s["best_epoch"], time.perf_counter() - t0, nproc)
    return s


def _row(label: str, seed: int, s: dict) -> dict:
    t = s["test"]
    row = {"method": label, "seed": seed, "best_epoch": s["best_epoch"], "test_acc": t["acc"],
           "test_macro_f1": t["macro_f1"], "test_map": t["map"], "test_gap": t["unimodal_gap"],
           "test_agreement": t["agreement"], "val_acc": s["best_val"]["acc"]}
    row.update({f"test_acc_{m}": a for m, a in t["modality_acc"].items()})
    row.update({f"time_{k}": v for k, v in s["time"].items()})
    return row


def _mean_std(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd


def format_table(rows: list[dict], labels: list[str], baseline: str,
                 select_metric: str = "acc") -> tuple[str, list[dict]]:
    """Markdown table (test metrics at the best-validation epoch, in %, mean ± std over seeds, and
    the paired per-seed accuracy difference against ``baseline`` with its 95 % interval and a
    verdict, :func:`mmbss.engine.stats.paired_summary`) plus the same as CSV rows."""
    from .stats import paired_summary

    mods = sorted(k[len("test_acc_"):] for k in rows[0] if k.startswith("test_acc_"))
    base = {r["seed"]: r["test_acc"] for r in rows if r["method"] == baseline}
    head = ["method", "seeds", "test acc", "macro-F1", "mAP", *[f"acc {m} head" for m in mods],
            "gap", f"Δacc vs {baseline} (paired): mean [95 % CI]", "wins/ties/losses", "verdict",
            "train s", "scoring s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    table_rows = []
    for label in labels:
        rs = [r for r in rows if r["method"] == label]
        fmt = {}
        for key in ["test_acc", "test_macro_f1", "test_map", *[f"test_acc_{m}" for m in mods], "test_gap"]:
            m, sd = _mean_std([100 * r[key] for r in rs])
            fmt[key] = f"{m:.2f} ± {sd:.2f}"
        diffs = [100 * (r["test_acc"] - base[r["seed"]]) for r in rs if r["seed"] in base]
        stats = {}
        if label == baseline or not diffs:
            delta, wtl, verdict = "—", "—", "—"
        else:
            stats = paired_summary(diffs)
            interval = ("no interval" if stats["low"] is None else
                        f"[{_signed(stats['low'])}, {_signed(stats['high'])}]"
                        + (" (bootstrap)" if stats["method"] == "bootstrap" else ""))
            delta = f"{_signed(stats['mean'])} {interval}"
            wtl = f"{stats['wins']}/{stats['ties']}/{stats['losses']}"
            verdict = stats["verdict"]
        t_train = _mean_std([r["time_train"] for r in rs])[0]
        t_score = _mean_std([r["time_scoring"] for r in rs])[0]
        cells = [label, str(len(rs)), *fmt.values(), delta, wtl, verdict, f"{t_train:.1f}",
                 f"{t_score:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
        table_rows.append({**dict(zip(head, cells, strict=True)),
                           "delta_mean": stats.get("mean"), "delta_sd": stats.get("sd"),
                           "ci_low": stats.get("low"), "ci_high": stats.get("high"),
                           "ci_method": stats.get("method"), "paired_seeds": stats.get("n")})
    note = (f"\nTest metrics in % at the epoch of best validation {select_metric} (never the best "
            "test epoch); mean ± sample std over seeds. Δacc: per-seed difference to the baseline run "
            "with the same seed, its mean and 95 % interval (Student t; a seeded bootstrap from 10 "
            "seeds); the verdict says whether the interval excludes 0. Times: seconds per run.\n")
    return "\n".join(lines) + "\n" + note, table_rows


def _signed(x: float) -> str:
    return f"{round(x, 2) + 0.0:+.2f}"  # + 0.0: no "-0.00"


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
