"""examples/lazy_dataset.py: a user's lazy on-disk dataset through `mmbss compare` with workers."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import yaml

from mmbss.cli.main import main
from mmbss.engine.config import config_to_dict

from .conftest import tiny_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lazy_dataset.py"


def test_a_lazy_one_file_per_sample_dataset_trains_through_compare_with_two_workers(tmp_path,
                                                                                     capsys):
    ns = runpy.run_path(str(EXAMPLE))
    root = ns["write_files"](tmp_path / "data", "synthetic", num_samples=200, num_classes=3,
                             dims=8)
    assert len(list((root / "train").glob("*.npz"))) == 120
    cfg = tiny_config("uniaux", epochs=2)
    cfg.data.name = f"{EXAMPLE}:lazy_dataset"
    cfg.data.options = {"root": str(root)}
    cfg.train.num_workers = 2
    cfg.compare.methods, cfg.compare.seeds = ["uniaux", "bss-lb"], [0]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config_to_dict(cfg)))
    out = tmp_path / "cmp"
    assert main(["compare", "--config", str(tmp_path / "c.yaml"), "--out", str(out), "--quiet"]) == 0
    assert "| bss-lb | 1 |" in (out / "table.md").read_text()
    records = [json.loads(x) for x in
               (out / "runs" / "bss-lb" / "seed0" / "metrics.jsonl").read_text().splitlines()]
    assert [r["train"]["samples"] for r in records] == [120, 120] and records[1]["scored"]
    assert (out / "runs" / "bss-lb" / "seed0" / "scores" / "epoch_001.csv").exists()
    # its splits are its folders: a test_fraction is refused, not ignored
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r"),
                 "--set", "data.test_fraction=0.3"]) == 2
    assert "data.test_fraction: dataset '" in capsys.readouterr().err


def test_a_file_factory_dataset_works_in_spawned_workers(tmp_path):
    """DataLoader workers started by spawn (the default on macOS/Windows) find the dataset class
    of a 'path/file.py:function' factory."""
    import torch
    from torch.utils.data import DataLoader

    from mmbss.data import collate_samples, create_dataset

    ns = runpy.run_path(str(EXAMPLE))
    root = ns["write_files"](tmp_path / "data", "synthetic", num_samples=60, num_classes=3, dims=4)
    bundle = create_dataset(f"{EXAMPLE}:lazy_dataset", root=str(root))
    loader = DataLoader(bundle.train, batch_size=8, num_workers=1, collate_fn=collate_samples,
                        multiprocessing_context="spawn")
    index = torch.cat([b["index"] for b in loader])
    assert sorted(index.tolist()) == list(range(len(bundle.train)))
