"""The curriculum variants of issue 12, deliverable 3: self-taught scoring (a teacher trained,
used to score, then discarded) and warm-up epochs counted as pacing time."""

import json

import torch

from mmbss.engine import train
from mmbss.engine.build import build_run
from mmbss.engine.checkpoint import load_checkpoint
from mmbss.engine.trainer import _rescore

from ..conftest import interrupted_at_step, tiny_config


def _records(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_self_taught_teacher_is_a_uniaux_run_and_its_scores_start_the_curriculum(tmp_path):
    cfg = tiny_config("bss-cl", epochs=3, warmup_epochs=2, self_taught=True)
    summary = train(cfg, tmp_path / "st", quiet=True)
    # the teacher is exactly a 2-epoch uniaux run of the same seed
    train(tiny_config("uniaux", epochs=2), tmp_path / "uniaux", quiet=True)
    assert (tmp_path / "st" / "teacher" / "metrics.jsonl").read_text() == \
        (tmp_path / "uniaux" / "metrics.jsonl").read_text()
    student = _records(tmp_path / "st" / "metrics.jsonl")
    assert [r["epoch"] for r in student] == [0, 1, 2] and student[0]["scored"]
    assert student[0]["subset_fraction"] < 1.0  # the curriculum starts at epoch 0, not after 2
    assert summary["epochs"] == 3
    # the teacher's training time is part of the first scoring's cost
    timings = _records(tmp_path / "st" / "timings.jsonl")
    teacher_time = sum(r["train"] for r in _records(tmp_path / "st" / "teacher" / "timings.jsonl"))
    assert timings[0]["scoring"] > teacher_time


def test_rescoring_with_a_teacher_scores_with_its_weights_and_keeps_the_models(tmp_path):
    cfg = tiny_config("bss-cl", epochs=3)
    train(tiny_config("uniaux", epochs=2), tmp_path / "teacher", quiet=True)
    teacher = load_checkpoint(tmp_path / "teacher" / "checkpoints" / "last.pt")["model"]
    run = build_run(cfg)
    own = {k: v.clone() for k, v in run.model.state_dict().items()}
    assert _rescore(run, 0, tmp_path, {"model": teacher, "seconds": 0.0})
    assert all(torch.equal(v, own[k]) for k, v in run.model.state_dict().items())
    by_teacher = run.scheduler.scores.clone()
    other = build_run(cfg)
    other.model.load_state_dict(teacher)
    assert _rescore(other, 0, tmp_path)
    assert torch.equal(other.scheduler.scores, by_teacher)
    fresh = build_run(cfg)
    assert _rescore(fresh, 0, tmp_path)
    assert not torch.equal(fresh.scheduler.scores, by_teacher)


def test_self_taught_killed_while_teaching_resumes_to_the_same_run(tmp_path):
    cfg = tiny_config("bss-cl", epochs=3, warmup_epochs=2, self_taught=True)
    train(cfg, tmp_path / "full", quiet=True)
    steps = _records(tmp_path / "full" / "teacher" / "metrics.jsonl")[0]["train"]["steps"]
    with interrupted_at_step(steps + 2):  # inside the teacher's second epoch
        train(cfg, tmp_path / "cut", quiet=True)
    assert not (tmp_path / "cut" / "checkpoints" / "last.pt").exists()
    assert len(_records(tmp_path / "cut" / "teacher" / "metrics.jsonl")) == 1
    train(cfg, tmp_path / "cut", resume=True, quiet=True)
    for name in ("metrics.jsonl", "teacher/metrics.jsonl"):
        assert (tmp_path / "cut" / name).read_text() == (tmp_path / "full" / name).read_text()


def test_paced_warmup_run_never_shrinks_its_subset(tmp_path):
    cfg = tiny_config("bss-cl", epochs=5, warmup_epochs=2, warmup="paced")
    train(cfg, tmp_path / "paced", quiet=True)
    records = _records(tmp_path / "paced" / "metrics.jsonl")
    fractions = [r["subset_fraction"] for r in records]
    assert fractions == sorted(fractions) and fractions[0] < 1.0
    assert [r["scored"] for r in records] == [False, False, True, False, False]
