"""The ``mmbss`` command: argument parsing and config loading, nothing else (DESIGN: cli layer).

Every user mistake ends in one ``mmbss: error: ...`` line and exit status 2 (1 for a diverged run);
set ``MMBSS_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mmbss`` and its sub-commands."""
    from ..data import list_datasets
    from ..data.paper import list_preparers
    from ..methods import list_methods

    p = argparse.ArgumentParser(prog="mmbss", description="Balance-aware Sequence Sampling for "
                                "multi-modal learning: train, compare, score, report.")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cfg_help = (f"methods: {', '.join(list_methods())}; datasets: {', '.join(list_datasets())}. "
                "Example: --set method.name=bss-cl --set train.epochs=10")

    t = sub.add_parser("train", help="train one method with one seed", description=cfg_help)
    _config_args(t)
    t.add_argument("--out", default=None, help="run directory (default: runs/<method>-seed<seed>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    t.add_argument("--overwrite", action="store_true", help="replace a run already in --out")

    c = sub.add_parser("compare", help="methods x seeds -> table and plots", description=cfg_help)
    _config_args(c)
    c.add_argument("--methods", nargs="+", help="override compare.methods (names)")
    c.add_argument("--seeds", nargs="+", type=int, help="override compare.seeds")
    c.add_argument("--baseline", help="override compare.baseline")
    c.add_argument("--out", default="runs/compare", help="comparison directory")
    c.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    c.add_argument("--nproc-per-node", type=int, default=1, metavar="K",
                   help="train each run with DDP on K processes (torchrun --standalone)")
    c.add_argument("--resume", action="store_true", help="reuse finished runs, resume the rest")
    c.add_argument("--overwrite", action="store_true", help="replace a comparison already in --out")

    s = sub.add_parser("score", help="export per-sample balance scores of a trained run")
    s.add_argument("run", help="run directory written by 'mmbss train'")
    s.add_argument("--checkpoint", default="best", help="'best', 'last' or a path to a .pt file")
    s.add_argument("--out", default=None, help="CSV file (default: <run>/scores/<checkpoint>.csv)")
    s.add_argument("--overwrite", action="store_true", help="replace the CSV file if it exists")

    r = sub.add_parser("report", help="plots of a run or of a comparison")
    r.add_argument("dir", help="run directory or comparison directory")
    r.add_argument("--out", default=None, help="folder for the PNGs (default: <dir>/plots)")
    r.add_argument("--html", default=None, metavar="OUT.html",
                   help="write one self-contained HTML page (figures embedded) instead of PNGs")

    pr = sub.add_parser("prepare", help="turn a downloaded paper dataset into the cache its "
                        "loader reads", description="datasets: " + ", ".join(list_preparers())
                        + ". Example: mmbss prepare cremad --src ~/data/CREMA-D --out "
                        "~/cache/cremad --workers 8 (see docs/DATASETS.md)")
    pr.add_argument("dataset", help="the dataset's name, e.g. cremad")
    pr.add_argument("--src", required=True, help="the dataset folder as downloaded and unpacked")
    pr.add_argument("--out", required=True, help="the cache folder (an unfinished one continues)")
    pr.add_argument("--workers", type=int, default=0, help="decoding processes (default 0)")
    pr.add_argument("--split-dir", default=None, help="folder with the split files, if they are "
                    "not in --src")
    pr.add_argument("--max-skipped", default="1%", help="fail when more listed items than this "
                    "are missing or broken: a count or a percentage (default 1%%)")
    pr.add_argument("--param", dest="params", action="append", default=[], metavar="KEY=VALUE",
                    help="replace a preprocessing parameter, e.g. seconds=3 (repeatable)")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")

    sub.add_parser("list", help="registered methods, datasets, encoders, fusions, pacings")
    return p


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="YAML config (see configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. train.epochs=5 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mmbss`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
                        format="%(message)s")
    from ..core.errors import InvalidValueError, MmbssError
    from ..engine import TrainingDiverged
    from ..engine.distributed import torchrun_world

    quiet_rank = int(os.environ.get("RANK", "0")) != 0  # under torchrun only rank 0 speaks
    if quiet_rank:
        logging.getLogger().setLevel(logging.ERROR)
    try:
        if torchrun_world() > 1 and args.command != "train":
            raise InvalidValueError(f"'mmbss {args.command}' runs on one process, but torchrun started "
                             f"{torchrun_world()}; only 'mmbss train' uses DDP. Run it without "
                             f"torchrun" + (" (its runs can each use K processes: mmbss compare "
                                            "--nproc-per-node K)." if args.command == "compare"
                                            else "."))
        return _COMMANDS[args.command](args)
    except TrainingDiverged as e:
        if not quiet_rank:
            print(f"mmbss: error: {e}", file=sys.stderr)
        return 1
    except (MmbssError, KeyError, OSError) as e:  # KeyError: a state's keys; OSError: paths
        if os.environ.get("MMBSS_DEBUG"):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        if not quiet_rank:
            print(f"mmbss: error: {msg}", file=sys.stderr)
        return 2


def _train(args) -> int:
    from ..engine import load_config, train

    cfg = load_config(args.config, args.overrides)
    if args.config is None:
        print(f"mmbss: note: no --config given, so the built-in defaults are used"
              f"{' with your --set values' if args.overrides else ''}: {_describe(cfg)} "
              f"(see configs/ for ready configs)", file=sys.stderr)
    out = args.out or f"runs/{cfg.method.name}-seed{cfg.train.seed}"
    s = train(cfg, out, resume=args.resume, overwrite=args.overwrite, quiet=args.quiet)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # rank 0 reports (and plots)
    from ..engine.plots import plot_run

    plot_run(out)
    t = s["test"]
    print(f"{cfg.method.name} seed {cfg.train.seed}: best val epoch {s['best_epoch']}, test acc "
          f"{100 * t['acc']:.2f} %, macro-F1 {100 * t['macro_f1']:.2f} %, per-modality "
          + ", ".join(f"{m} {100 * a:.2f} %" for m, a in t["modality_acc"].items()))
    print(f"run directory: {out} (plots in {out}/plots)")
    return 0


def _describe(cfg) -> str:
    """One line naming the settings a run would use."""
    return (f"method {cfg.method.name} on data {cfg.data.name}, model {cfg.model.encoder}/"
            f"{cfg.model.fusion}, {cfg.train.epochs} epochs, batch {cfg.train.batch_size}, "
            f"{cfg.optim.name} lr {cfg.optim.lr}, seed {cfg.train.seed}")


def _compare(args) -> int:
    from ..engine import load_config
    from ..engine.compare import compare

    cfg = load_config(args.config, args.overrides)
    if args.methods:
        cfg.compare.methods = list(args.methods)
    if args.seeds:
        cfg.compare.seeds = list(args.seeds)
    if args.baseline is not None:
        cfg.compare.baseline = args.baseline
    result = compare(cfg, args.out, overwrite=args.overwrite, resume=args.resume,
                     quiet=args.quiet, jobs=args.jobs, nproc_per_node=args.nproc_per_node)
    print(result["table"])
    print(f"results: {Path(args.out) / 'results.csv'}, table: {Path(args.out) / 'table.md'}, "
          f"plots: {Path(args.out) / 'plots'}")
    return 0


def _score(args) -> int:
    from ..engine.scores import score_run

    path = score_run(args.run, checkpoint=args.checkpoint, out=args.out, overwrite=args.overwrite)
    print(f"scores written to {path}")
    return 0


def _report(args) -> int:
    from ..engine.plots import plot_comparison, plot_run

    d = Path(args.dir)
    if args.html:
        from ..engine.html import write_html

        print(write_html(d, args.html))
        return 0
    paths = plot_comparison(d, args.out) if (d / "runs").is_dir() else plot_run(d, args.out)
    for p in paths:
        print(p)
    return 0


def _prepare(args) -> int:
    from ..core.errors import InvalidValueError
    from ..data.paper import prepare

    params = {}
    for text in args.params:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise InvalidValueError(f"mmbss prepare: '--param' must be KEY=VALUE, e.g. seconds=3; "
                                    f"got {text!r}.")
        params[key.strip()] = value
    prepare(args.dataset, args.src, args.out, workers=args.workers, split_dir=args.split_dir,
            max_skipped=args.max_skipped, params=params, progress=not args.quiet)
    return 0


def _list(args) -> int:
    from ..core.pacing import list_pacings
    from ..data import list_datasets
    from ..methods import list_gradient_policies, list_methods
    from ..methods.presets import PRESETS, list_presets
    from ..models import list_encoders, list_fusions

    methods = [m for m in list_methods() if m not in PRESETS]  # the presets are listed below
    for name, items in [("methods", methods),
                        ("gradient policies", list_gradient_policies() or ["none yet"]),
                        ("datasets", list_datasets()),
                        ("encoders", list_encoders()), ("fusions", list_fusions()),
                        ("pacings", list_pacings())]:
        print(f"{name}: {', '.join(items)}")
    print("presets (method names that fix these method.* values; set none of them to another "
          "value):")
    for name, text in list_presets().items():
        print(f"  {name} = {text}")
    return 0


def _version() -> str:
    from .. import __version__

    return f"mmbss {__version__}"


_COMMANDS = {"train": _train, "compare": _compare, "score": _score, "report": _report,
             "prepare": _prepare, "list": _list}

if __name__ == "__main__":
    sys.exit(main())
