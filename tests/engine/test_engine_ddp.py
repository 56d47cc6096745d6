"""``mmbss train`` under real torchrun (gloo, CPU): elastic determinism over 1, 2 and 4
processes, scores gathered equal to one process, 1-vs-2-process metrics, and a rank killed
mid-epoch then resumed (issue 8)."""

import csv
import json
import re
import time
from pathlib import Path

import pytest
import yaml

from mmbss.engine.config import config_to_dict

from ..conftest import tiny_config
from ..distributed.launch import torchrun

WORKER = "tests/distributed/train_worker.py"


def _config(tmp_path, name="bss-cl", **train):
    cfg = tiny_config(name, epochs=3)
    cfg.data.options = {"num_samples": 200, "num_classes": 3, "dims": 8}
    cfg.method.warmup_epochs = 1
    for k, v in train.items():
        setattr(cfg.train, k, v)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(cfg)))
    return path


def _train(tmp_path, nproc, config, out, *extra, env=None, check=True):
    logs = tmp_path / f"logs-{out}-{nproc}"
    logs.mkdir(exist_ok=True)
    proc = torchrun(nproc, WORKER, str(logs), "train", "--config", str(config), "--quiet",
                    "--out", str(tmp_path / out), *extra, env=env, check=check)
    steps = [json.loads((logs / f"batches-rank{r}.json").read_text()) for r in range(nproc)] \
        if proc.returncode == 0 else None
    return proc, steps


def _metrics(path):
    return [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same bss-cl run on 1, 2 and 4 processes."""
    tmp = tmp_path_factory.mktemp("ddp")
    config = _config(tmp)
    return tmp, {k: _train(tmp, k, config, f"k{k}")[1] for k in (1, 2, 4)}


def _epochs(steps, metrics):
    out, i = [], 0
    for r in metrics:
        out.append(steps[i:i + r["train"]["steps"]])
        i += r["train"]["steps"]
    return out


def test_every_global_step_holds_the_same_samples_at_any_world_size(runs):
    tmp, steps = runs
    one = _epochs(steps[1][0], _metrics(tmp / "k1"))
    assert sum(map(len, one)) == len(steps[1][0])
    folded = 0
    for k in (2, 4):
        ranks = [_epochs(r, _metrics(tmp / f"k{k}")) for r in steps[k]]
        for e, batches in enumerate(one):
            assert {len(r[e]) for r in ranks} == {len(ranks[0][e])}  # every rank takes every step
            merged = [sorted(sum((r[e][s] for r in ranks), [])) for s in range(len(ranks[0][e]))]
            for s in range(len(merged)):
                parts = [r[e][s] for r in ranks]
                assert all(parts) and len(set(sum(parts, []))) == len(sum(parts, []))  # disjoint
            if len(merged) == len(batches):
                assert merged == [sorted(b) for b in batches], (k, e)
            else:  # the documented exception: a last batch smaller than the world joins the one before
                assert k > 2 and len(batches[-1]) < k and len(merged) == len(batches) - 1
                assert merged[:-1] == [sorted(b) for b in batches[:-2]]
                assert merged[-1] == sorted(batches[-2] + batches[-1])
                folded += 1
    assert folded <= 1


def test_only_rank_zero_writes_and_the_run_is_complete(runs):
    tmp, _ = runs
    for k in (1, 2, 4):
        d = tmp / f"k{k}"
        assert len(_metrics(d)) == 3 and (d / "summary.json").is_file()
        assert (d / "checkpoints" / "best.pt").is_file() and (d / "plots").is_dir()


def test_exact_scores_gathered_over_ranks_equal_one_process(runs):
    tmp, _ = runs

    def scores(k):  # epoch 1: the first scoring, after the same warm-up epoch... of each run
        with open(tmp / f"k{k}" / "scores" / "epoch_001.csv") as f:
            return {int(r["index"]): float(r["d"]) for r in csv.DictReader(f)}

    one = scores(1)
    assert len(one) == 120
    for k in (2, 4):
        other = scores(k)
        assert other.keys() == one.keys()
        # the warm-up epoch ran on k processes: the weights differ from one process by float
        # rounding of the gradient all-reduce only
        assert max(abs(one[i] - other[i]) for i in one) < 1e-4


def test_one_and_two_processes_end_with_the_same_metrics_within_tolerance(runs):
    tmp, _ = runs
    one, two = _metrics(tmp / "k1"), _metrics(tmp / "k2")
    for a, b in zip(one, two, strict=True):
        assert a["train"]["samples"] == b["train"]["samples"]
        assert a["train"]["steps"] == b["train"]["steps"]
        for split in ("train", "val", "test"):
            assert abs(a[split]["loss"] - b[split]["loss"]) < 1e-4, (a["epoch"], split)
        assert abs(a["test"]["acc"] - b["test"]["acc"]) <= 1 / 40  # one test sample of 40


def test_a_rank_killed_mid_epoch_stops_the_run_and_resume_continues_it_exactly(tmp_path):
    config = _config(tmp_path, "bss-lb", checkpoint_every=3)
    _train(tmp_path, 2, config, "full")
    proc, _ = _train(tmp_path, 2, config, "cut", env={"KILL_AT_STEP": "12", "KILL_RANK": "1"},
                     check=False)
    assert proc.returncode != 0
    # torchrun's report names the dead rank; rank 0 either reports the lost contact itself or is
    # stopped by torchrun first (a race torchrun decides), but never waits for the timeout
    assert re.search(r"rank\s+: 1 \(local_rank: 1\)\s+exitcode\s+: -9", proc.stderr)
    _train(tmp_path, 2, config, "cut", "--resume")
    assert (tmp_path / "cut" / "metrics.jsonl").read_text() == \
        (tmp_path / "full" / "metrics.jsonl").read_text()


def test_a_hung_rank_makes_the_others_stop_within_the_timeout_naming_it(tmp_path):
    config = _config(tmp_path, "uniaux", ddp_timeout=15.0)
    t0 = time.monotonic()
    proc, _ = _train(tmp_path, 2, config, "hung", env={"HANG_AT_STEP": "5", "KILL_RANK": "1"},
                     check=False)
    assert proc.returncode != 0 and time.monotonic() - t0 < 120
    assert re.search(r"mmbss: error: rank 0 lost contact with rank 1 of the run \(within "
                     r"train.ddp_timeout = 15 s: .*Timed out", proc.stderr), proc.stderr[-3000:]


def test_a_diverging_run_stops_every_rank_with_the_single_process_message(tmp_path):
    config = _config(tmp_path, "uniaux")
    proc, _ = _train(tmp_path, 2, config, "nan", "--set", "optim.lr=1e12", check=False)
    assert proc.returncode != 0
    assert re.search(r"mmbss: error: the loss became (nan|inf) at epoch 0, step \d+ \(global step "
                     r"\d+\); training stopped and no epoch finished", proc.stderr), proc.stderr[-3000:]
    assert proc.stderr.count("mmbss: error:") == 1  # rank 0 speaks; rank 1 stops quietly


def test_compare_trains_each_run_on_k_processes(tmp_path):
    import subprocess
    import sys

    from ..distributed.launch import ROOT

    config = _config(tmp_path, "uniaux")
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-m", "mmbss", "compare", "--config", str(config),
                           "--methods", "uniaux", "bss-lb", "--seeds", "0", "--out",
                           str(tmp_path / "cmp"), "--nproc-per-node", "2", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    script = tmp_path / "script"  # the console script under torchrun: the same DDP run
    torchrun(2, str(Path(sys.executable).parent / "mmbss"), "train", "--config", str(config),
             "--out", str(script), "--quiet")
    two = tmp_path / "cmp" / "runs" / "uniaux" / "seed0"
    assert (script / "metrics.jsonl").read_text() == (two / "metrics.jsonl").read_text()
    assert not list((tmp_path / "cmp" / "runs" / "uniaux").glob(".*.yaml"))


def test_a_launch_the_product_cannot_serve_refuses_before_touching_out(tmp_path):
    config = _config(tmp_path, "uniaux", batch_size=15)
    proc, _ = _train(tmp_path, 2, config, "odd", check=False)
    assert proc.returncode != 0 and not (tmp_path / "odd").exists()
    assert "mmbss: error: train: 'batch_size' (15) is the global batch, split over the 2 " \
           "processes, but 2 does not divide it; use 14 or 16 (or another multiple of 2)." in proc.stderr
    proc = torchrun(2, "-m", "mmbss", "compare", "--config", str(config), "--out",
                    str(tmp_path / "cmp"), check=False)
    assert proc.returncode != 0 and not (tmp_path / "cmp").exists()
    assert "mmbss: error: 'mmbss compare' runs on one process, but torchrun started 2; only " \
           "'mmbss train' uses DDP. Run it without torchrun (its runs can each use K processes: " \
           "mmbss compare --nproc-per-node K)." in proc.stderr


def test_a_run_started_on_two_processes_resumes_on_one(tmp_path):
    config = _config(tmp_path, "bss-lb")
    _train(tmp_path, 2, config, "full")
    steps = _metrics(tmp_path / "full")[0]["train"]["steps"]
    proc, _ = _train(tmp_path, 2, config, "elastic", env={"KILL_AT_STEP": str(steps + 2)},
                     check=False)  # killed in epoch 1: the last checkpoint is epoch 0's
    assert proc.returncode != 0 and len(_metrics(tmp_path / "elastic")) == 1
    _train(tmp_path, 1, config, "elastic", "--resume")
    for a, b in zip(_metrics(tmp_path / "full"), _metrics(tmp_path / "elastic"), strict=True):
        assert a["train"]["samples"] == b["train"]["samples"]  # the same sample order
        assert abs(a["test"]["loss"] - b["test"]["loss"]) < 1e-4
