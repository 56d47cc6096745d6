"""``mmbss prepare`` and the paper-dataset loaders on the test fixtures: cache size, prepare
throughput and loader throughput (items/s with 0 and 2 DataLoader workers).

For each dataset the fixture of its test (``tests/paper/test_<name>.py``: real media files in
the raw layout, without the broken items, at the test's tiny parameters) is prepared with 0 and
with 2 worker processes, and its training split read back through a DataLoader (batch 4,
random transforms included) for ``--epochs`` passes with 0 and with 2 workers. It also prints
the cache size per 1,000 items at the *reference* parameters, computed from the field shapes.
A test module may define ``dataset_options(tmp_dir) -> dict`` for loader options (e.g. a
tokenizer folder it writes).

    .venv/bin/python benchmarks/bench_prepare.py [--only cremad nvgesture] [--epochs 3]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmbss.data import collate_samples, create_dataset  # noqa: E402
from mmbss.data.paper import PREPARERS, prepare  # noqa: E402

DATASETS = {"cremad": "test_cremad", "kinetics-sounds": "test_kinetics_sounds",
            "vggsound": "test_vggsound", "twitter2015": "test_twitter2015",
            "sarcasm": "test_sarcasm", "nvgesture": "test_nvgesture"}


def _params(argv: list[str]) -> dict:
    return dict(a.split("=", 1) for a in argv if a != "--param")


def _reference_bytes(name: str) -> int:
    fields = PREPARERS.get(name).fields(dict(PREPARERS.get(name).defaults))
    return sum(int(np.prod(f.shape)) * np.dtype(f.dtype).itemsize for f in fields.values())


def _loader_rate(dataset, workers: int, epochs: int) -> float:
    loader = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=workers,
                        collate_fn=collate_samples, persistent_workers=workers > 0)
    next(iter(loader))  # start the workers outside the timing
    start, n = time.perf_counter(), 0
    for _ in range(epochs):
        for batch in loader:
            n += len(batch["label"])
    return n / (time.perf_counter() - start)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args(argv)
    print("| dataset | items | cache bytes/item (fixture) | cache MB per 1,000 items (reference "
          "params) | prepare items/s (0 / 2 workers) | loader items/s (0 / 2 workers) |")
    print("|---|---|---|---|---|---|")
    for name in args.only:
        module = importlib.import_module(f"tests.paper.{DATASETS[name]}")
        make = getattr(module, f"make_{DATASETS[name][5:]}")
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            options = getattr(module, "dataset_options", lambda _: {})(tmp)
            kw = {"broken": False} if "broken" in inspect.signature(make).parameters else {}
            raw = make(tmp / "raw", **kw)
            raw = raw[0] if isinstance(raw, tuple) else raw
            rates, manifest = [], None
            for workers in (0, 2):
                start = time.perf_counter()
                manifest = prepare(name, raw, tmp / f"cache{workers}", workers=workers,
                                   params=_params(module.PARAMS), progress=False,
                                   max_skipped="100%")
                rates.append(manifest["prepared"] / (time.perf_counter() - start))
            cache = tmp / "cache2"
            size = sum(p.stat().st_size for p in cache.rglob("*.npy"))
            bundle = create_dataset(name, root=str(cache), **options)
            loads = [_loader_rate(bundle.train, w, args.epochs) for w in (0, 2)]
            print(f"| {name} | {manifest['prepared']} | {size / manifest['prepared']:,.0f} | "
                  f"{_reference_bytes(name) * 1000 / 1e6:,.0f} | {rates[0]:.1f} / {rates[1]:.1f} "
                  f"| {loads[0]:.0f} / {loads[1]:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
