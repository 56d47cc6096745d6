"""The figure of docs/method.md, drawn from a real run: ``docs/img/bss.png``.

It trains bss-lb (exact scoring, the reference form) on mfeat-corrupt (30 % of the training
samples with their pix view swapped for another class's; ``configs/mfeat-corrupt.yaml``) for
``--epochs`` epochs and draws, from that run's exported scores and mmbss's own pacing and
scheduler code:

1. the imbalance score d of clean and corrupted samples at the first and the last scoring;
2. the curriculum (BSS-CL): the share of the ranking used per epoch (root pacing, lambda0 0.1);
3. the learning-based scheduler (BSS-LB): each sample's weight against its d, and where it lands
   in that epoch's permutation.

    .venv/bin/python scripts/method_figure.py [--epochs 8] [--out docs/img/bss.png]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mmbss import LearningBasedScheduler, pacing  # noqa: E402
from mmbss.engine import load_config, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _scores(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return (np.array([float(r["d"]) for r in rows]),
            np.array([r["corrupted"] == "1" for r in rows]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "bss.png"))
    args = ap.parse_args(argv)
    cfg = load_config(ROOT / "configs" / "mfeat-corrupt.yaml",
                      ["method.name=bss-lb", f"train.epochs={args.epochs}"])
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        train(cfg, run, quiet=True)
        files = sorted((run / "scores").glob("epoch_*.csv"))
        first, last = _scores(files[0]), _scores(files[-1])
    fig, ax = plt.subplots(3, 1, figsize=(8, 12))
    bins = np.linspace(0, 2, 41)
    for (d, bad), style, when in ((first, ":", files[0].stem), (last, "-", files[-1].stem)):
        ax[0].hist(d[~bad], bins, histtype="step", ls=style, color="tab:blue", density=True,
                   label=f"clean, {when}")
        ax[0].hist(d[bad], bins, histtype="step", ls=style, color="tab:red", density=True,
                   label=f"corrupted view, {when}")
    ax[0].set(xlabel="imbalance score d = (1 - N(S)) + N(L)", ylabel="density",
              title="1. score: corrupted samples are imbalanced")
    ax[0].legend(fontsize=8)
    epochs = np.arange(60)
    for name in ("root", "linear", "geometric"):
        lam = pacing.get(name, lambda0=0.1, t_grow=40)
        ax[1].plot(epochs, [lam(int(e)) for e in epochs], label=name)
    ax[1].set(xlabel="epoch (after warm-up)", ylabel="share of the ranking used",
              title="2. BSS-CL: balanced first, then the rest", ylim=(0, 1.05))
    ax[1].legend(title="pacing", fontsize=8)
    d, bad = last
    sched = LearningBasedScheduler(num_samples=len(d), seed=0)
    sched.update(torch.from_numpy(d))
    position = torch.empty(len(d))
    position[sched.indices(0)] = torch.arange(len(d), dtype=torch.float32) / len(d)
    ax[2].scatter(d[~bad], position[~bad], s=4, alpha=0.4, color="tab:blue", label="clean")
    ax[2].scatter(d[bad], position[bad], s=4, alpha=0.4, color="tab:red", label="corrupted view")
    twin = ax[2].twinx()
    order = np.argsort(d)
    twin.plot(d[order], sched.weights().numpy()[order], color="black", lw=1.5)
    twin.set_ylabel("sampling weight 2 + eps - d")
    ax[2].set(xlabel="imbalance score d", ylabel="position in the epoch (0 = first)",
              title="3. BSS-LB: weighted order, re-drawn each epoch")
    ax[2].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"BSS on mfeat-corrupt (bss-lb, {args.epochs} epochs, seed 0)")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
