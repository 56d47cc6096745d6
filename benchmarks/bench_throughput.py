"""Scoring-pass throughput against training throughput (samples/s) over a batch-size sweep.

On the compute-heavier CNN of ``bench_overhead.py`` (cnn2d on synthetic 1x128x128 + 3x64x64
inputs), measured side by side in this one process, interleaved repeats, medians:

- ``train``: training steps (forward, loss, backward, SGD step) at the batch size;
- ``forward``: a plain eval-mode forward pass under ``torch.no_grad`` (no criteria);
- ``scoring``: mmbss's exact scoring pass (``exact_criteria``: the eval forward that keeps the
  outputs, then the paper's criteria), the pass bss-lb makes over the training set each epoch.

The ratio ``scoring / train`` says how much cheaper a scoring pass is per sample than training;
an epoch of exact bss-lb costs about ``1 + train/scoring`` epochs of uniaux's training.

    .venv/bin/python benchmarks/bench_throughput.py [--samples 512] [--batch-sizes 32 128 512]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_overhead import cnn  # noqa: E402

from mmbss.engine import build  # noqa: E402
from mmbss.engine.evaluation import exact_criteria  # noqa: E402
from mmbss.engine.loaders import eval_loader  # noqa: E402
from mmbss.methods.bss import make_scorer  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 512])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    cfg, bundle = cnn(1, args.samples)
    cfg.method.name = "bss-lb"

    with mock.patch.object(build, "build_data", lambda c: bundle):
        run = build.build_run(cfg)
    model, data, device = run.model, bundle.train, run.device
    scorer = make_scorer(cfg)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    print(f"{torch.get_num_threads()} threads; {len(data)} samples; medians of {args.repeats} "
          f"interleaved repeats")
    print("| batch | train samples/s | forward samples/s | scoring samples/s | scoring / train |"
          " forward / train |")
    print("|---|---|---|---|---|---|")
    for b in args.batch_sizes:
        loader = eval_loader(data, b, num_workers=0, device=device, seed=0)
        rates = {"train": [], "forward": [], "scoring": []}
        for rep in range(args.repeats):
            kinds = list(rates) if rep % 2 == 0 else list(reversed(rates))
            for kind in kinds:
                t0 = time.perf_counter()
                if kind == "scoring":
                    exact_criteria(model, loader, scorer, device, num_samples=len(data))
                else:
                    model.train(kind == "train")
                    for batch in loader:
                        x, y = batch["modalities"], batch["label"]
                        if kind == "train":  # the method's own forward and loss (uniaux's)
                            loss = run.method.loss(model, run.method.forward(model, x, y), y).mean()
                            optimizer.zero_grad(set_to_none=True)
                            loss.backward()
                            optimizer.step()
                        else:
                            with torch.no_grad():
                                model(x)
                rates[kind].append(len(data) / (time.perf_counter() - t0))
        med = {k: statistics.median(v) for k, v in rates.items()}
        print(f"| {b} | {med['train']:.0f} | {med['forward']:.0f} | {med['scoring']:.0f} | "
              f"x{med['scoring'] / med['train']:.2f} | x{med['forward'] / med['train']:.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
