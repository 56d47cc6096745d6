"""Epoch time of the mmbss trainer (method uniaux) vs a bare hand-written PyTorch loop.

Both sides get the same model, optimiser, data, batch size and sampler from
``mmbss.engine.build.build_run(cfg)``. The bare loop is the minimal step: ``set_epoch``, then
per batch forward, ``CE(fused) + sum_m CE(unimodal_m)``, ``zero_grad``, ``backward``, ``step``;
no evaluation. The trainer side is a whole ``mmbss.engine.train(cfg, ...)`` run; its training
part per epoch is the ``"train"`` entry of ``timings.jsonl`` (evaluation, checkpoints and logging
excluded), which gives the main ratio. Its full epoch (training + val/test evaluation + checkpoints
+ logging, from one epoch's start to the next) vs the bare epoch is a second, informative ratio.

The two sides run interleaved (their order alternates between repeats), each repeat from a freshly
built run; every row reports the median seconds per epoch over all epochs of all repeats and their
ratio, plus two noise gauges: the range of the per-repeat ratios and the ratio of the fastest
epochs (contention on a shared machine only ever adds time, so the minima are the least disturbed
estimate). One untimed bare epoch per workload warms up first. Nothing is asserted: it only prints.

Workloads:
    mfeat  configs/mfeat-demo.yaml (pix 1x16x15 -> cnn2d, fou 76 -> mlp, concat, batch 32, SGD)
           with method uniaux and no score export.
    cnn    two synthetic 1x128x128 image modalities, 5 classes, 128/32/32 train/val/test samples
           (in memory, given to the trainer by replacing mmbss.engine.build.build_data), encoder
           cnn2d with channels (16, 32) (the encoder's default (32, 64) is about twice as slow:
           --cnn-channels 32 64), concat, batch 32, SGD.

Usage: python benchmarks/bench_trainer.py [--workload {mfeat,cnn,all}] [--epochs 3] [--repeats 3]
           [--threads N] [--cnn-samples 128 32 32] [--cnn-channels 16 32]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F

from mmbss.data import DataBundle, MultiModalTensorDataset
from mmbss.engine import build, trainer
from mmbss.engine import config as config_mod
from mmbss.engine.rundir import read_jsonl

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mfeat-demo.yaml"
CNN_CLASSES = 5


def mfeat_config(epochs: int) -> config_mod.Config:
    return config_mod.load_config(CONFIG, [f"train.epochs={epochs}", "method.name=uniaux",
                                           "train.export_scores=false"])


def cnn_config(epochs: int, channels: list[int]) -> config_mod.Config:
    cfg = config_mod.Config()
    cfg.data.name = "bench-cnn"  # never read: build_data is replaced
    cfg.model.encoder, cfg.model.fusion = "cnn2d", "concat"
    cfg.model.encoder_kw = {"channels": list(channels)}
    cfg.optim.name = "sgd"
    cfg.train.epochs, cfg.train.batch_size, cfg.train.export_scores = epochs, 32, False
    cfg.method.name = "uniaux"
    return cfg


def cnn_bundle(sizes: list[int]) -> DataBundle:
    """Two 1x128x128 modalities of random images (label-dependent mean), train/val/test sizes."""
    g = torch.Generator().manual_seed(0)
    splits = []
    for n in sizes:
        labels = torch.arange(n) % CNN_CLASSES
        shift = labels.float().view(n, 1, 1, 1) / CNN_CLASSES
        splits.append(MultiModalTensorDataset(
            {m: torch.randn(n, 1, 128, 128, generator=g) + shift for m in ("img_a", "img_b")},
            labels, num_classes=CNN_CLASSES))
    return DataBundle(train=splits[0], val=splits[1], test=splits[2], num_classes=CNN_CLASSES,
                      modality_shapes=splits[0].modality_shapes, info={"name": "bench-cnn"})


def bare(cfg: config_mod.Config, epochs: int) -> dict:
    """The hand-written loop on build_run's model/optimiser/loader/sampler; seconds per epoch."""
    run = build.build_run(copy.deepcopy(cfg))
    model, opt, loader, sampler = run.model, run.optimizer, run.loaders["train"], run.sampler
    times = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        model.train()
        t0 = time.perf_counter()
        for batch in loader:
            x, y = batch["modalities"], batch["label"]
            out = model(x)
            loss = F.cross_entropy(out.fused, y) + sum(F.cross_entropy(z, y)
                                                       for z in out.unimodal.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
        run.lr_schedule.step()
    return {"train": times, "full": times, "steps": len(loader)}


def mmbss_run(cfg: config_mod.Config, epochs: int, root: Path) -> dict:
    """One ``train()`` run: its per-epoch "train" seconds (timings.jsonl) and full-epoch seconds
    (from one epoch's start, marked by its ``mix_seed(seed, epoch, "train")`` call, to the next,
    the last one ending where the summary is written)."""
    marks: list[float] = []
    mix_seed, summary = trainer.mix_seed, trainer._summary

    def marking_mix_seed(seed, *keys):
        if keys and keys[-1] == "train":
            marks.append(time.perf_counter())
        return mix_seed(seed, *keys)

    def marking_summary(*args, **kwargs):
        marks.append(time.perf_counter())
        return summary(*args, **kwargs)

    out = Path(tempfile.mkdtemp(dir=root))
    cfg = copy.deepcopy(cfg)
    cfg.train.epochs = epochs
    with mock.patch.object(trainer, "mix_seed", marking_mix_seed), \
            mock.patch.object(trainer, "_summary", marking_summary):
        trainer.train(cfg, out / "run", quiet=True)
    timings = read_jsonl(out / "run" / "timings.jsonl")
    full = [b - a for a, b in zip(marks, marks[1:], strict=False)]
    if len(timings) != epochs or len(full) != epochs:
        raise RuntimeError(f"expected {epochs} epochs; got {len(timings)} timings and "
                           f"{len(full)} epoch marks")
    return {"train": [r["train"] for r in timings], "full": full, "steps": None}


def measure(name: str, cfg: config_mod.Config, epochs: int, repeats: int, root: Path) -> dict:
    bare(cfg, 1)  # warm-up (allocator, oneDNN primitives), untimed
    runs: dict[str, list[dict]] = {"bare": [], "mmbss": []}
    for r in range(repeats):
        order = ("bare", "mmbss") if r % 2 == 0 else ("mmbss", "bare")
        for side in order:
            res = bare(cfg, epochs) if side == "bare" else mmbss_run(cfg, epochs, root)
            runs[side].append(res)
        print(f"  {name} repeat {r + 1}/{repeats}: bare "
              f"{statistics.median(runs['bare'][-1]['train']):.3f} s/epoch, mmbss train "
              f"{statistics.median(runs['mmbss'][-1]['train']):.3f} s/epoch", flush=True)

    def med(side: str, key: str, stat=statistics.median) -> float:
        return stat([t for res in runs[side] for t in res[key]])

    per_repeat = [statistics.median(m["train"]) / statistics.median(b["train"])
                  for b, m in zip(runs["bare"], runs["mmbss"], strict=True)]
    return {"workload": name, "steps": runs["bare"][0]["steps"], "bare": med("bare", "train"),
            "train": med("mmbss", "train"), "full": med("mmbss", "full"),
            "lo": min(per_repeat), "hi": max(per_repeat),
            "min_ratio": med("mmbss", "train", min) / med("bare", "train", min)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=("mfeat", "cnn", "all"), default="all")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per side (default 3)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(),
                    help="torch.set_num_threads for both sides (default: torch's default)")
    ap.add_argument("--cnn-samples", type=int, nargs=3, default=[128, 32, 32],
                    metavar=("TRAIN", "VAL", "TEST"), help="cnn split sizes (default 128 32 32)")
    ap.add_argument("--cnn-channels", type=int, nargs="+", default=[16, 32],
                    help="cnn2d block channels (default 16 32; the encoder's own default: 32 64)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.epochs} "
          f"epoch(s) x {args.repeats} repeat(s) per side, interleaved", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_trainer_") as tmp:
        root = Path(tmp)
        if args.workload in ("mfeat", "all"):
            rows.append(measure("mfeat", mfeat_config(args.epochs), args.epochs, args.repeats,
                                root))
        if args.workload in ("cnn", "all"):
            bundle = cnn_bundle(args.cnn_samples)
            with mock.patch.object(build, "build_data", lambda cfg: bundle):
                rows.append(measure("cnn", cnn_config(args.epochs, args.cnn_channels),
                                    args.epochs, args.repeats, root))
    print()
    print(f"{'workload':>8} | {'steps':>6} | {'bare':>8} | {'mmbss train':>11} | {'ratio':>6} "
          f"| {'per-repeat':>11} | {'ratio of':>8} | {'mmbss full':>10} | {'full ratio':>10}")
    print(f"{'':>8} | {'/epoch':>6} | {'s/epoch':>8} | {'s/epoch':>11} | {'':>6} "
          f"| {'ratio range':>11} | {'minima':>8} | {'s/epoch':>10} | {'':>10}")
    for r in rows:
        print(f"{r['workload']:>8} | {r['steps']:>6} | {r['bare']:>8.3f} | {r['train']:>11.3f} | "
              f"{r['train'] / r['bare']:>5.3f}x | {r['lo']:>5.2f}-{r['hi']:<5.2f} | "
              f"{r['min_ratio']:>7.3f}x | {r['full']:>10.3f} | {r['full'] / r['bare']:>9.3f}x")
    print("ratio = median mmbss train / median bare (training part only); full ratio = median "
          "mmbss whole epoch\n(train + val/test eval + checkpoints + logging) / median bare")


if __name__ == "__main__":
    main()
