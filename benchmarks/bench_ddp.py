"""DDP throughput: samples/s of ``mmbss train`` on 1 and 2 torchrun processes (gloo on the CPU,
or nccl with ``--device cuda``), and the share of wall time spent gathering scores and metrics.

Runs interleaved repeats of each world size on the same config (bss-lb: an exact scoring pass
and the evaluation every epoch, both gathered) and prints medians and the ratio, measured side by
side in this one run.

    .venv/bin/python benchmarks/bench_ddp.py [--repeats 3] [--epochs 3] [--config configs/mfeat-demo.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(config: str, out: str, epochs: int, device: str, report: str) -> None:
    """Under torchrun: one run; rank 0 writes its timing."""
    import torch

    from mmbss.core.distributed import gather_seconds
    from mmbss.engine import load_config, train

    cfg = load_config(config, [f"train.epochs={epochs}", f"train.device={device}",
                               "method.name=bss-lb", "train.export_scores=false"])
    t0 = time.perf_counter()
    train(cfg, out, overwrite=True, quiet=True)
    wall = time.perf_counter() - t0
    if int(os.environ.get("RANK", "0")) == 0:
        lines = [json.loads(x) for x in (Path(out) / "metrics.jsonl").read_text().splitlines()]
        Path(report).write_text(json.dumps({
            "wall": wall, "samples": sum(r["train"]["samples"] for r in lines),
            "gather": gather_seconds(), "threads": torch.get_num_threads()}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "mfeat-demo.yaml"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--worker", nargs=2, metavar=("OUT", "REPORT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.config, args.worker[0], args.epochs, args.device, args.worker[1])
        return 0
    cores = os.cpu_count() or 1
    results: dict[int, list[dict]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for world in (1, 2):  # interleaved, so drifts in machine load hit both
                report = Path(tmp) / f"r{rep}-{world}.json"
                env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // world))}
                subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                f"--nproc_per_node={world}", __file__, "--config", args.config,
                                "--epochs", str(args.epochs), "--device", args.device,
                                "--worker", str(Path(tmp) / f"run{world}"), str(report)],
                               check=True, env=env, capture_output=True)
                results[world].append(json.loads(report.read_text()))
    print(f"config {Path(args.config).name}, bss-lb, {args.epochs} epochs, device {args.device}, "
          f"{cores} cores, {args.repeats} interleaved repeats (medians)")
    print("| processes | threads each | samples/s | wall s | gather s | gather share |")
    print("|---|---|---|---|---|---|")
    rate = {}
    for world, runs in results.items():
        rate[world] = statistics.median(r["samples"] / r["wall"] for r in runs)
        wall = statistics.median(r["wall"] for r in runs)
        gather = statistics.median(r["gather"] for r in runs)
        print(f"| {world} | {runs[0]['threads']} | {rate[world]:.0f} | {wall:.1f} | {gather:.2f} | "
              f"{gather / wall:.1%} |")
    print(f"2 processes / 1 process, samples/s: x{rate[2] / rate[1]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
