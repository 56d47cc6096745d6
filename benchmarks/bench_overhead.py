"""What BSS costs per epoch: the epoch wall time (training + scoring + evaluation, from
``timings.jsonl``) of bss-cl, bss-lb (exact scoring) and bss-lb (online scoring) divided by
uniaux's, measured side by side in this one run (interleaved repeats, medians).

Workloads:
    mfeat  configs/mfeat-demo.yaml (cnn2d on pix 1x16x15 + mlp on fou).
    cnn    a compute-heavier CNN on synthetic 1x128x128 + 3x64x64 inputs (cnn2d both, 5 classes).

bss-cl trains on its curriculum subset, so its epochs are shorter than uniaux's early on; the
ratio reports that as measured. Targets (issue 12): online <= 1.05, exact <= 1.40.

    .venv/bin/python benchmarks/bench_overhead.py [--workload mfeat cnn] [--epochs 3] [--repeats 2]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
from pathlib import Path
from unittest import mock

import torch

from mmbss.data import DataBundle, MultiModalTensorDataset
from mmbss.engine import build, train
from mmbss.engine.config import Config, load_config
from mmbss.engine.rundir import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
METHODS = {"uniaux": {}, "bss-cl": {"name": "bss-cl"}, "bss-lb exact": {"name": "bss-lb"},
           "bss-lb online": {"name": "bss-lb", "scoring": "online"}}


def mfeat(epochs: int) -> tuple[Config, DataBundle | None]:
    return load_config(ROOT / "configs" / "mfeat-demo.yaml",
                       [f"train.epochs={epochs}", "train.export_scores=false"]), None


def cnn(epochs: int, n: int = 1024) -> tuple[Config, DataBundle]:
    g, classes, splits = torch.Generator().manual_seed(0), 5, []
    for size in (n, n // 4, n // 4):
        labels = torch.arange(size) % classes
        shift = labels.float().view(size, 1, 1, 1) / classes
        splits.append(MultiModalTensorDataset(
            {"gray": torch.randn(size, 1, 128, 128, generator=g) + shift,
             "rgb": torch.randn(size, 3, 64, 64, generator=g) + shift}, labels, num_classes=classes))
    bundle = DataBundle(train=splits[0], val=splits[1], test=splits[2], num_classes=classes,
                        modality_shapes=splits[0].modality_shapes, info={"name": "bench-cnn"})
    cfg = Config()
    cfg.data.name = "bench-cnn"  # never read: build_data is replaced
    cfg.model.encoder = "cnn2d"
    cfg.train.epochs, cfg.train.batch_size, cfg.train.export_scores = epochs, 32, False
    return cfg, bundle


def epoch_seconds(cfg: Config, bundle, root: Path) -> list[float]:
    out = Path(tempfile.mkdtemp(dir=root))
    if bundle is None:
        train(cfg, out / "run", quiet=True)
    else:
        with mock.patch.object(build, "build_data", lambda c: bundle):
            train(cfg, out / "run", quiet=True)
    return [r["train"] + r["scoring"] + r["eval"] for r in read_jsonl(out / "run" / "timings.jsonl")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", nargs="+", choices=["mfeat", "cnn"], default=["mfeat", "cnn"])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cnn-samples", type=int, default=1024, help="training samples of cnn")
    args = ap.parse_args(argv)
    print(f"{torch.get_num_threads()} threads; medians of per-epoch seconds over "
          f"{args.epochs} epochs x {args.repeats} interleaved repeats")
    print("| workload | method | s / epoch | ratio to uniaux |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.workload:
            base, bundle = mfeat(args.epochs) if name == "mfeat" else cnn(args.epochs, args.cnn_samples)
            times: dict[str, list[float]] = {m: [] for m in METHODS}
            for rep in range(args.repeats):
                order = list(METHODS) if rep % 2 == 0 else list(reversed(METHODS))
                for label in order:
                    cfg = copy.deepcopy(base)
                    cfg.method.name = METHODS[label].get("name", "uniaux")
                    cfg.method.scoring = METHODS[label].get("scoring", "exact")
                    times[label] += epoch_seconds(cfg, bundle, Path(tmp))
            ref = statistics.median(times["uniaux"])
            for label, ts in times.items():
                med = statistics.median(ts)
                print(f"| {name} | {label} | {med:.2f} | x{med / ref:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
