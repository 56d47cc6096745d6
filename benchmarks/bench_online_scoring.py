"""Online scoring vs the exact scoring pass (SPEC §5), side by side in one run.

BSS-LB re-scores every epoch. "exact" pays an eval-mode forward pass over the whole training set
for that; "online" reuses the logits of the training steps. This runs both (and uniaux as the
reference without scoring) on mfeat-corrupt over the same seeds and prints accuracy, scoring time
and whole-run time, with the online/exact ratios.

Usage: python benchmarks/bench_online_scoring.py [--seeds 0 1 2] [--epochs 30] [--out runs/bench-online]
"""

from __future__ import annotations

import argparse
import logging
import statistics

from mmbss.engine import load_config
from mmbss.engine.compare import compare


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--config", default="configs/mfeat-corrupt.yaml")
    ap.add_argument("--out", default="runs/bench-online")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # one line per run
    cfg = load_config(args.config, [f"train.epochs={args.epochs}"])
    cfg.compare.methods = ["uniaux", {"name": "bss-lb", "label": "exact", "scoring": "exact"},
                           {"name": "bss-lb", "label": "online", "scoring": "online"}]
    cfg.compare.seeds, cfg.compare.baseline = args.seeds, "uniaux"
    rows = compare(cfg, args.out, overwrite=True, quiet=True)["rows"]

    def stat(label: str, key: str) -> list[float]:
        return [r[key] for r in rows if r["method"] == label]

    print(f"{'scoring':>8} | {'test acc %':>14} | {'scoring s/run':>13} | {'run s (train+scoring+eval)':>27}")
    summary = {}
    for label in ("uniaux", "exact", "online"):
        acc = [100 * a for a in stat(label, "test_acc")]
        score_s = statistics.mean(stat(label, "time_scoring"))
        total = statistics.mean(a + b + c for a, b, c in zip(stat(label, "time_train"), stat(
            label, "time_scoring"), stat(label, "time_eval"), strict=True))
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        summary[label] = (statistics.mean(acc), score_s, total)
        print(f"{label:>8} | {statistics.mean(acc):6.2f} ± {sd:5.2f} | {score_s:13.2f} | {total:27.2f}")
    (ea, es, et), (oa, os_, ot) = summary["exact"], summary["online"]
    print(f"online vs exact: accuracy {oa - ea:+.2f} points, scoring time x{os_ / es:.2f}, "
          f"run time x{ot / et:.2f} ({len(args.seeds)} seeds, {args.epochs} epochs)")


if __name__ == "__main__":
    main()
