"""How well the balance measurer finds the corrupted samples of mfeat-corrupt, epoch by epoch.

Trains bss-lb (which re-scores every epoch with an exact eval-mode pass and exports the scores with
the ground-truth 'corrupted' column), then prints the ROC-AUC of d against that column per epoch.
Usage: python scripts/measurer_auc.py [--epochs 10] [--seeds 0 1 2] [--out runs/measurer-auc]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from mmbss.engine import load_config, train
from mmbss.engine.plots import _roc_auc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="runs/measurer-auc")
    args = ap.parse_args()
    table: dict[int, list[float]] = {}
    for seed in args.seeds:
        cfg = load_config("configs/mfeat-corrupt.yaml", [f"train.epochs={args.epochs}",
                                                          f"train.seed={seed}", "method.name=bss-lb"])
        run = Path(args.out) / f"seed{seed}"
        train(cfg, run, overwrite=True, quiet=True)
        for f in sorted((run / "scores").glob("epoch_*.csv")):
            rows = list(csv.DictReader(f.open()))
            auc = _roc_auc([float(r["d"]) for r in rows], [int(r["corrupted"]) for r in rows])
            table.setdefault(int(f.stem.split("_")[1]), []).append(auc)
    print("epoch | ROC-AUC of d vs corrupted (per seed) | mean")
    for epoch, aucs in sorted(table.items()):
        print(f"{epoch:5d} | {' '.join(f'{a:.3f}' for a in aucs)} | {sum(aucs) / len(aucs):.3f}")


if __name__ == "__main__":
    main()
