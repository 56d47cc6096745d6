"""The accuracy study of issue 12 (deliverables 2 and 3) on the embedded data, >= 10 seeds.

Four benchmarks: mfeat pix+fou (``configs/mfeat-demo.yaml``), mfeat-corrupt with the strong view
(pix) corrupted and with the weak view (fou) corrupted (``configs/mfeat-corrupt.yaml``, 30 % of
the training samples' view swapped with another class's), and the synthetic imbalance
(``configs/synthetic.yaml``). Each config runs as given except ``train.epochs`` (20 for all, so
that the study fits a CPU afternoon; the curricula still reach the whole set at epoch 3 + 15)
and ``train.eval_test: best`` (the same reported numbers, less evaluation).

- every benchmark: joint, uniaux, random-pacing, anti, bss-cl (3 warm-up epochs, the demo's
  curriculum) and its two variants (warm-up epochs as pacing time; self-taught scoring),
  bss-lb exact and online;
- mfeat-corrupt (strong view): the paper's Table 3 criterion ablation for bss-lb (neither / loss
  only / prediction similarity only / both, then the gradient norm in the loss's place; feature
  similarity needs encoders of one feature size, which these models do not have) and its Fig. 3 sweep of the smoothing beta (the paper's rule: weights
  softmax(balance), with replacement, ``ema = 1 - beta``).

Every number is the test metric at the epoch of best validation accuracy; nothing is tuned and
nothing is chosen on the test split. Runs go to ``runs/study/<benchmark>/`` (resumable: rerun the
command and finished runs are reused) and the tables to ``docs/STUDY.md``, with the measurer's
ROC-AUC against mfeat-corrupt's ground truth (which samples were corrupted) per epoch.

    .venv/bin/python benchmarks/study.py [--jobs 2] [--seeds 0 1 ... 9] [--only corrupt-strong]
"""

from __future__ import annotations

import argparse
import csv
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mmbss.engine.compare import compare  # noqa: E402
from mmbss.engine.config import load_config  # noqa: E402
from mmbss.engine.plots.run import _roc_auc  # noqa: E402

CL = {"warmup_epochs": 3, "rescore_every": 10, "t_grow": 15}
CURRICULA = [
    {"name": "bss-cl", "label": "bss-cl-w3", **CL},
    {"name": "bss-cl", "label": "bss-cl-w3-paced", **CL, "warmup": "paced"},
    {"name": "bss-cl", "label": "bss-cl-self-taught", **CL, "self_taught": True},
]
MAIN = ["joint", "uniaux", {"name": "random-pacing", **CL}, {"name": "anti", **CL}, *CURRICULA,
        "bss-lb", {"name": "bss-lb", "label": "bss-lb-online", "scoring": "online"}]
ABLATION = [  # bss-lb with the criteria switched (Table 3; "neither" is uniaux, the baseline row)
    {"name": "bss-lb", "label": "crit-loss-only", "correlation": None, "information": "loss"},
    {"name": "bss-lb", "label": "crit-prediction-only", "correlation": "prediction", "information": None},
    {"name": "bss-lb", "label": "crit-prediction+gradient", "correlation": "prediction",
     "information": "gradient"},
]
BETA = [{"name": "bss-lb", "label": f"beta-{b:.1f}", "temperature": 1.0, "replacement": True,
         "ema": round(1 - b, 1)} for b in (0.2, 0.4, 0.6, 0.8, 1.0)]
CORRUPT = {"views": ["pix", "fou"], "corrupt_fraction": 0.3, "corrupt_mode": "swap"}
BENCHMARKS = {  # name: (config, data.options or None, methods)
    "mfeat": ("configs/mfeat-demo.yaml", None, MAIN),
    "corrupt-strong": ("configs/mfeat-corrupt.yaml", {**CORRUPT, "corrupt_view": "pix"},
                       MAIN + ABLATION + BETA),
    "corrupt-weak": ("configs/mfeat-corrupt.yaml", {**CORRUPT, "corrupt_view": "fou"}, MAIN),
    "synthetic": ("configs/synthetic.yaml", None, MAIN),
}
EPOCHS = 20


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=list(BENCHMARKS))
    ap.add_argument("--methods", nargs="+", metavar="LABEL",
                    help="run only these methods (labels) of each benchmark; the others keep "
                         "what earlier invocations finished")
    ap.add_argument("--out", default=str(ROOT / "runs" / "study"))
    ap.add_argument("--doc", default=str(ROOT / "docs" / "STUDY.md"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    ran = {}  # name -> (methods, compare result) of this invocation
    for name in args.only:
        methods = [m for m in BENCHMARKS[name][2]  # the baseline always (reused once finished)
                   if args.methods is None or _label(m) in [*args.methods, "uniaux"]]
        if methods:
            t0 = time.perf_counter()
            result = _compare(name, methods, args)
            ran[name] = (methods, result)
            print(f"\n## {name} ({time.perf_counter() - t0:.0f} s)\n\n{result['table']}", flush=True)
    sections = []  # the document: every benchmark's methods whose seeds have all finished
    for name, (config, options, methods) in BENCHMARKS.items():
        runs = Path(args.out) / name / "runs"
        done = [m for m in methods if all((runs / _label(m) / f"seed{s}" / "summary.json").is_file()
                                          for s in args.seeds)]
        missing = [_label(m) for m in methods if m not in done]
        if any(_label(m) == "uniaux" for m in done):
            same = name in ran and ran[name][0] == done  # else the finished runs, reused
            table = (ran[name][1] if same else _compare(name, done, args))["table"]
            sections.append((name, config, options, table, _auc_table(Path(args.out) / name,
                                                                       args.seeds), missing))
    Path(args.doc).write_text(_document(sections, args))
    print(f"wrote {args.doc}")
    return 0


def _label(method) -> str:
    return method if isinstance(method, str) else method.get("label", method["name"])


def _compare(name: str, methods: list, args) -> dict:
    config, options, _ = BENCHMARKS[name]
    cfg = load_config(ROOT / config)
    if options is not None:
        cfg.data.options = dict(options)
    cfg.train.epochs, cfg.train.eval_test = EPOCHS, "best"
    cfg.compare.methods, cfg.compare.seeds, cfg.compare.baseline = methods, args.seeds, "uniaux"
    out = Path(args.out) / name
    made = out.parent / f"{name}.commit"  # the commit the runs were made at (kept on reuse)
    if not out.is_dir():
        made.parent.mkdir(parents=True, exist_ok=True)
        made.write_text(_commit())
    return compare(cfg, out, resume=out.is_dir(), quiet=True, jobs=args.jobs)


AUC_EPOCHS = (0, 1, 2, 3, 5, 10, 13, 15, 19)


def _auc_table(out: Path, seeds: list[int]) -> str | None:
    """Mean (min-max over seeds) ROC-AUC of the imbalance score d for 'this sample's view was
    corrupted', at the epochs of :data:`AUC_EPOCHS` where a method scored ("—" where it did not),
    for the methods whose exported scores carry the ground truth."""
    rows = []
    for method_dir in sorted((out / "runs").iterdir()):
        per_epoch: dict[int, list[float]] = {}
        for seed in seeds:
            for epoch in AUC_EPOCHS:
                f = method_dir / f"seed{seed}" / "scores" / f"epoch_{epoch:03d}.csv"
                if not f.is_file():
                    continue
                with f.open() as fh:
                    recs = list(csv.DictReader(fh))
                if recs and "corrupted" in recs[0]:
                    per_epoch.setdefault(epoch, []).append(_roc_auc(
                        [float(r["d"]) for r in recs], [int(r["corrupted"]) for r in recs]))
        if per_epoch:
            rows.append("| " + " | ".join([method_dir.name, *(
                f"{statistics.mean(per_epoch[e]):.3f} ({min(per_epoch[e]):.2f}–{max(per_epoch[e]):.2f})"
                if e in per_epoch else "—" for e in AUC_EPOCHS)]) + " |")
    if not rows:
        return None
    head = "| method | " + " | ".join(f"epoch {e}" for e in AUC_EPOCHS) + " |"
    return "\n".join([head, "|---|" + "---|" * len(AUC_EPOCHS), *rows, ""])


def _headline(sections, out: Path) -> str:
    """One table across the benchmarks: each method's paired difference to uniaux and verdict."""
    cells: dict[str, dict[str, str]] = {}
    for name, *_ in sections:
        with (out / name / "table.csv").open() as fh:
            for row in csv.DictReader(fh):
                if row["method"] != "uniaux":
                    short = {"better": "better", "worse": "worse"}.get(row["verdict"], "n.d.")
                    cells.setdefault(row["method"], {})[name] = (
                        f"{row['Δacc vs uniaux (paired): mean [95 % CI]'].split(' (')[0]} {short}")
    names = [name for name, *_ in sections]
    lines = ["| method | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += ["| " + " | ".join([m, *(c.get(n, "—") for n in names)]) + " |" for m, c in cells.items()]
    return "\n".join(lines)


def _commit() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or "unknown"


def _document(sections, args) -> str:
    commits = {(Path(args.out) / f"{n}.commit").read_text().strip()
               for n, *_ in sections if (Path(args.out) / f"{n}.commit").is_file()}
    lines = ["# Accuracy study on the embedded data", "",
             "Generated by `.venv/bin/python benchmarks/study.py` (runs made at commit "
             f"{', '.join(sorted(commits)) or 'unknown'}; seeds {' '.join(map(str, args.seeds))}; "
             "2 CPU cores, 2 runs in parallel). Each table: test metrics at the epoch of best "
             "validation accuracy, mean ± std over seeds, and the paired per-seed difference "
             "against uniaux with its 95 % interval (bootstrap with >= 10 seeds, Student t "
             "below) and the verdict it implies. Every config as in `configs/` except "
             f"`train.epochs: {EPOCHS}` and `train.eval_test: best`; nothing was tuned.", "",
             "Methods: `bss-cl-w3` is the demo's curriculum (3 uniform warm-up epochs, root "
             "pacing from 10 % over 15 epochs, re-scored every 10); `bss-cl-w3-paced` counts "
             "the warm-up epochs as pacing time (`method.warmup: paced`: random subsets of the "
             "paced size, so the subset never shrinks); `bss-cl-self-taught` trains a 3-epoch "
             "uniaux teacher, scores with it, then trains a fresh model with the curriculum "
             "from epoch 0 (`method.self_taught: true`; it costs 3 more epochs, counted in its "
             "`scoring s`). `random-pacing` and `anti` use the same pacing. `crit-*` switch "
             "bss-lb's criteria (Table 3's \"neither\" is the uniform order, i.e. uniaux; "
             "feature similarity needs encoders of one feature size, and these give 64 and 256, "
             "so it is not in the ablation); `beta-*` are the paper's rule (softmax weights, with "
             "replacement) with smoothing beta (`ema = 1 - beta`).", "",
             "## Summary: Δacc vs uniaux in points, mean [95 % CI] and verdict (n.d. = no "
             "detectable difference)", "", _headline(sections, Path(args.out)), ""]
    for name, config, options, table, auc, missing in sections:
        shown = "" if options is None else f", `data.options: {options}`"
        lines += [f"## {name} (`{config}`{shown})", "", table.strip(), ""]
        if missing:
            lines += [f"Not run yet (the command above runs them): {', '.join(missing)}.", ""]
        if auc:
            lines += ["Measurer ROC-AUC for 'this sample's view was corrupted' (higher d = "
                      "less balanced; 0.5 = chance), mean (min–max) over seeds, at the epochs "
                      "where a method scored:", "", auc]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
