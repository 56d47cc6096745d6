import json

import pytest
import torch

from mmbss.engine import RunExistsError, TrainingDiverged, train
from mmbss.engine.checkpoint import CheckpointError, load_checkpoint, save_atomic

from ..conftest import interrupted_before_training, tiny_config


def _lines(path):
    return path.read_text().splitlines()


def test_run_directory_contents_and_selection_by_validation(tmp_path):
    s = train(tiny_config("bss-lb", epochs=3), tmp_path / "r", quiet=True)
    r = tmp_path / "r"
    for name in ("config.yaml", "metrics.jsonl", "timings.jsonl", "summary.json",
                 "checkpoints/last.pt", "checkpoints/best.pt", "scores/epoch_000.csv"):
        assert (r / name).exists(), name
    records = [json.loads(x) for x in _lines(r / "metrics.jsonl")]
    assert [x["epoch"] for x in records] == [0, 1, 2]
    vals = [x["val"]["acc"] for x in records]
    best = vals.index(max(vals))
    assert s["best_epoch"] == best and s["test"] == records[best]["test"]
    assert set(records[0]["test"]["modality_acc"]) == {"m0", "m1"}
    header = _lines(r / "scores" / "epoch_000.csv")[0]
    assert header == "index,label,loss,prediction_similarity,d,seen"


def test_same_config_same_metrics(tmp_path):
    train(tiny_config("bss-cl", epochs=3), tmp_path / "a", quiet=True)
    train(tiny_config("bss-cl", epochs=3), tmp_path / "b", quiet=True)
    assert (tmp_path / "a" / "metrics.jsonl").read_text() == (tmp_path / "b" / "metrics.jsonl").read_text()


@pytest.mark.parametrize("method", ["bss-lb", "bss-cl"])
def test_crash_mid_epoch_then_resume_gives_identical_metrics(tmp_path, monkeypatch, method):
    kw = {"scoring": "online"} if method == "bss-lb" else {"warmup_epochs": 1, "rescore_every": 1}
    train(tiny_config(method, epochs=4, **kw), tmp_path / "full", quiet=True)
    steps = [json.loads(x)["train"]["steps"] for x in _lines(tmp_path / "full" / "metrics.jsonl")]
    crash_at = steps[0] + steps[1] + steps[2] // 2  # the middle of epoch 2
    calls = {"n": 0}
    original = torch.optim.SGD.step

    def crashing_step(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == crash_at:
            raise KeyboardInterrupt("simulated kill")
        return original(self, *a, **k)

    monkeypatch.setattr(torch.optim.SGD, "step", crashing_step)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(method, epochs=4, **kw), tmp_path / "cut", quiet=True)
    monkeypatch.setattr(torch.optim.SGD, "step", original)
    assert load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["epoch"] == 2
    train(tiny_config(method, epochs=4, **kw), tmp_path / "cut", resume=True, quiet=True)
    assert (tmp_path / "full" / "metrics.jsonl").read_text() == (tmp_path / "cut" / "metrics.jsonl").read_text()


def test_nan_loss_stops_naming_epoch_and_step_and_keeps_checkpoint(tmp_path, monkeypatch):
    from mmbss.methods import Method

    original = Method.loss
    calls = {"n": 0}

    def poisoned(self, model, out, labels):
        calls["n"] += 1
        loss = original(self, model, out, labels)
        return loss * float("nan") if calls["n"] == 19 else loss  # 12 steps per epoch

    monkeypatch.setattr(Method, "loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"the loss became nan at epoch 1, step 6 .*last good checkpoint is '.*last.pt'"):
        train(tiny_config("uniaux", epochs=3), tmp_path / "r", quiet=True)
    state = load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())


def test_existing_run_refused_unless_overwrite_and_resume_config_mismatch(tmp_path):
    cfg = tiny_config("uniaux", epochs=1)
    train(cfg, tmp_path / "r", quiet=True)
    with pytest.raises(RunExistsError, match="already holds a run; pass --overwrite .* or --resume"):
        train(cfg, tmp_path / "r", quiet=True)
    train(cfg, tmp_path / "r", overwrite=True, quiet=True)
    other = tiny_config("uniaux", epochs=1)
    other.train.batch_size = 8
    with pytest.raises(ValueError, match=r"cannot change on resume:\n  train.batch_size: 16 -> 8"):
        train(other, tmp_path / "r", resume=True, quiet=True)
    with pytest.raises(FileNotFoundError, match="fresh' holds no run; start the run without --resume"):
        train(cfg, tmp_path / "fresh", resume=True, quiet=True)


def test_bad_names_fail_before_any_directory_is_made(tmp_path):
    cfg = tiny_config("bss-lbb")
    with pytest.raises(ValueError, match=r"unknown method 'bss-lbb'; valid names: .* Did you mean 'bss-lb'\?"):
        train(cfg, tmp_path / "r", quiet=True)
    cfg = tiny_config()
    cfg.data.name = "mfeet"
    with pytest.raises(ValueError, match=r"unknown dataset 'mfeet'.*Did you mean 'mfeat'\?"):
        train(cfg, tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()


def test_atomic_save_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "c.pt"
    save_atomic({"a": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        save_atomic({"a": Unpicklable()}, path)
    assert torch.load(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    with pytest.raises(CheckpointError, match="was not written by mmbss"):
        load_checkpoint(path)


@pytest.mark.parametrize("key,value,message", [
    ("predict", "mean", r"train: 'predict' must be one of 'sum', 'fused', 'unimodal'; got 'mean'"),
    ("select_metric", "loss", r"train: 'select_metric' must be one of 'acc', 'macro_f1', 'map'"),
    ("device", "gpu", r"train: 'device' must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got 'gpu'"),
    ("epochs", 0, r"train: 'epochs' must be an int >= 1; got 0"),
])
def test_bad_train_values(tmp_path, key, value, message):
    cfg = tiny_config()
    setattr(cfg.train, key, value)
    with pytest.raises(ValueError, match=message):
        train(cfg, tmp_path / "r", quiet=True)


def test_online_scoring_starts_from_the_exact_pass(tmp_path):
    from mmbss.engine.build import build_run
    from mmbss.engine.trainer import _rescore

    run = build_run(tiny_config("bss-cl", scoring="online", rescore_every=1))
    assert _rescore(run, 0, tmp_path)          # nothing seen yet: exact pass
    assert bool(run.tracker.seen.all())        # ... recorded for later online re-scoring


def test_exact_per_sample_gradient_matches_batch_size_one_backward():
    from mmbss.engine.build import build_run
    from mmbss.engine.evaluation import per_sample_grad_norms

    run = build_run(tiny_config("bss-lb", information="gradient", gradient_mode="exact"))
    model, data = run.model, run.bundle.train
    from mmbss.engine.loaders import eval_loader

    loader = eval_loader(data, 8, num_workers=0, device=torch.device("cpu"), seed=0)
    got = per_sample_grad_norms(model, loader, 0.5, {"m0": 1.0, "m1": 2.0},
                                device=torch.device("cpu"), chunk=3)
    model.eval()
    for i in (0, 5, 11):
        b = data.batch(torch.tensor([i]))
        out = model(b["modalities"])
        loss = 0.5 * torch.nn.functional.cross_entropy(out.fused, b["label"])
        loss = loss + sum(w * torch.nn.functional.cross_entropy(out.unimodal[m], b["label"])
                          for m, w in {"m0": 1.0, "m1": 2.0}.items())
        grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
        expected = torch.sqrt(sum(g.pow(2).sum() for g in grads if g is not None))
        assert float(got[i]) == pytest.approx(float(expected), rel=1e-4)


def test_exact_gradient_mode_in_a_run_and_its_bad_combination(tmp_path):
    train(tiny_config("bss-cl", epochs=1, information="gradient", gradient_mode="exact"),
          tmp_path / "r", quiet=True)
    assert "gradient" in (tmp_path / "r" / "scores" / "epoch_000.csv").read_text().splitlines()[0]
    with pytest.raises(ValueError, match="gradient_mode='exact' needs scoring='exact'"):
        train(tiny_config("bss-lb", information="gradient", gradient_mode="exact", scoring="online"),
              tmp_path / "s", quiet=True)


def test_overwrite_never_deletes_a_folder_that_is_not_a_run(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(RunExistsError, match="is not empty and was not made by mmbss as a run; mmbss will not delete it"):
        train(tiny_config("uniaux", epochs=1), precious, overwrite=True, quiet=True)
    assert (precious / "notes.txt").read_text() == "keep me"
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        train(tiny_config("uniaux", epochs=1), afile, quiet=True)


def test_resume_survives_a_torn_metrics_line(tmp_path, monkeypatch):
    import mmbss.engine.trainer as trainer

    cfg = tiny_config("uniaux", epochs=3)
    train(cfg, tmp_path / "full", quiet=True)
    original = trainer.append_jsonl

    def torn(path, record):
        if path.name == "metrics.jsonl" and record["epoch"] == 1:  # killed while writing
            path.open("a").write(json.dumps(record)[:25])
            raise KeyboardInterrupt("simulated kill")
        original(path, record)

    monkeypatch.setattr(trainer, "append_jsonl", torn)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "r", quiet=True)
    monkeypatch.setattr(trainer, "append_jsonl", original)
    train(cfg, tmp_path / "r", resume=True, quiet=True)
    assert (tmp_path / "r" / "metrics.jsonl").read_text() == (tmp_path / "full" / "metrics.jsonl").read_text()


@pytest.mark.parametrize("override,message", [
    (("optim", "step_size", 0), r"optim: 'step_size' must be an int >= 1; got 0"),
    (("optim", "lr", 0.0), r"optim: 'lr' must be a float > 0.0; got 0.0"),
    (("train", "fused_weight", -1.0), r"train: 'fused_weight' must be a float >= 0.0; got -1.0"),
])
def test_bad_optim_and_loss_weight_values(tmp_path, override, message):
    cfg = tiny_config()
    setattr(getattr(cfg, override[0]), override[1], override[2])
    with pytest.raises(ValueError, match=message):
        train(cfg, tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()


def test_overwrite_refuses_a_project_folder_that_merely_has_a_config_yaml(tmp_path):
    project = tmp_path / "project"
    (project / "runs").mkdir(parents=True)
    (project / "config.yaml").write_text("mine: 1\n")
    with pytest.raises(RunExistsError, match="was not made by mmbss as a run"):
        train(tiny_config("uniaux", epochs=1), project, overwrite=True, quiet=True)
    assert (project / "config.yaml").read_text() == "mine: 1\n"
    from mmbss.engine.compare import compare

    cfg = tiny_config("uniaux", epochs=1)
    cfg.compare.methods, cfg.compare.seeds = ["uniaux"], [0]
    with pytest.raises(RunExistsError, match="was not made by mmbss as a comparison"):
        compare(cfg, project, overwrite=True, quiet=True)
    with pytest.raises(ValueError, match=r"compare: 'jobs' must be an int >= 1; got 0"):
        compare(cfg, tmp_path / "c", quiet=True, jobs=0)


def test_a_last_batch_of_one_joins_the_previous_batch_for_batchnorm(tmp_path):
    from mmbss.engine.build import build_run

    cfg = tiny_config("uniaux", epochs=1)
    cfg.model.encoder_kw = {"hidden": [16], "norm": True}
    n = len(build_run(cfg).bundle.train)
    cfg.train.batch_size = next(b for b in range(8, n) if (n - 1) % b == 0)  # n = k * b + 1
    s = train(cfg, tmp_path / "r", quiet=True)
    record = json.loads((tmp_path / "r" / "metrics.jsonl").read_text())
    assert record["train"]["samples"] == n and record["train"]["steps"] == (n - 1) // cfg.train.batch_size
    assert s["best_epoch"] == 0


def test_feature_similarity_with_unequal_dims_fails_before_training(tmp_path):
    cfg = tiny_config("bss-cl", correlation="feature", warmup_epochs=2)
    cfg.model.encoder_kw = {"m0": {"hidden": [16]}, "m1": {"hidden": [8]}}
    with pytest.raises(ValueError, match=r"correlation='feature' needs equal feature dims, but the encoders give \{'m0': 16, 'm1': 8\}"):
        train(cfg, tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()


def test_resume_repairs_best_checkpoint_after_a_kill_between_last_and_best(tmp_path, monkeypatch):
    import mmbss.engine.trainer as trainer

    cfg = tiny_config("uniaux", epochs=2)
    original = trainer._save_best

    def killed(run, epoch, out):
        if epoch == 1:
            raise KeyboardInterrupt("killed after last.pt, before best.pt")
        original(run, epoch, out)

    monkeypatch.setattr(trainer, "_save_best", killed)
    cfg.optim.lr = 0.05
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "r", quiet=True)
    monkeypatch.setattr(trainer, "_save_best", original)
    best_epoch = load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")["best"]["epoch"]
    assert best_epoch == 1  # the epoch whose best.pt was never written
    train(cfg, tmp_path / "r", resume=True, quiet=True)  # nothing left to train: only the repair
    assert load_checkpoint(tmp_path / "r" / "checkpoints" / "best.pt", kind="best")["epoch"] == 1


def test_batches_cover_the_sequence_and_avoid_singletons():
    from mmbss import BalanceSampler, UniformScheduler
    from mmbss.engine.loaders import Batches as _Batches

    for n in range(1, 30):
        for bs in range(1, 9):
            sampler = BalanceSampler(UniformScheduler(num_samples=n, seed=n))
            batches = list(_Batches(sampler, bs))
            assert [i for b in batches for i in b] == list(sampler)
            assert len(batches) == len(_Batches(sampler, bs))
            assert bs == 1 or n == 1 or min(map(len, batches)) > 1


def test_resume_may_change_lr_and_extend_epochs_and_records_it(tmp_path):
    cfg = tiny_config("uniaux", epochs=2)
    cfg.optim.schedule = "step"
    cfg.optim.step_size = 1
    cfg.optim.gamma = 0.5
    train(cfg, tmp_path / "r", quiet=True)
    more = tiny_config("uniaux", epochs=3)
    more.optim.schedule, more.optim.step_size, more.optim.gamma = "step", 1, 0.5
    more.optim.lr = 0.5  # 10x: the schedule from here on is scaled by 10
    train(more, tmp_path / "r", resume=True, quiet=True)
    records = [json.loads(x) for x in _lines(tmp_path / "r" / "metrics.jsonl")]
    assert [r["lr"] for r in records] == pytest.approx([0.05, 0.025, 0.5 * 0.25])
    changes = [json.loads(x) for x in _lines(tmp_path / "r" / "resume_changes.jsonl")]
    assert changes == [{"epoch": 2, "changes": ["optim.lr: 0.05 -> 0.5", "train.epochs: 2 -> 3"]}]
    import yaml

    saved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert saved["optim"]["lr"] == 0.5 and saved["train"]["epochs"] == 3


@pytest.mark.parametrize("change,message", [
    ({"epochs": 1}, r"train.epochs: 1 is below the 2 epochs already trained; give train.epochs >= 2"),
    ({"lr": 0.5}, r"finished all 2 epochs, so the changed optim.lr would not take effect"),
    ({"epochs": 3, "schedule": "cosine"}, r"the config differs on keys that cannot change on "
                                          r"resume:\n  optim.schedule: 'step' -> 'cosine'"),
])
def test_resume_changes_that_cannot_take_effect_are_refused(tmp_path, change, message):
    cfg = tiny_config("uniaux", epochs=2)
    cfg.optim.schedule = "step"
    train(cfg, tmp_path / "r", quiet=True)
    other = tiny_config("uniaux", epochs=change.get("epochs", 2))
    other.optim.schedule = change.get("schedule", "step")
    other.optim.lr = change.get("lr", other.optim.lr)
    with pytest.raises(ValueError, match=message):
        train(other, tmp_path / "r", resume=True, quiet=True)


def test_cosine_schedule_cannot_be_extended_on_resume(tmp_path):
    train(tiny_config("uniaux", epochs=1), tmp_path / "r", quiet=True)
    with pytest.raises(ValueError, match=r"train.epochs cannot change on resume with "
                                         r"optim.schedule: cosine"):
        train(tiny_config("uniaux", epochs=2), tmp_path / "r", resume=True, quiet=True)


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_over(tmp_path, monkeypatch,
                                                                        caplog):
    import logging


    cfg = tiny_config("uniaux", epochs=2)
    train(cfg, tmp_path / "full", quiet=True)
    with interrupted_before_training():
        train(cfg, tmp_path / "r", quiet=True)
    (tmp_path / "r" / "checkpoints").mkdir(exist_ok=True)
    (tmp_path / "r" / "checkpoints" / ".last.pt.abc.tmp").write_bytes(b"torn")
    with caplog.at_level(logging.WARNING):
        train(cfg, tmp_path / "r", resume=True, quiet=True)
    assert "has no checkpoint yet (the run stopped before its first epoch ended); starting it " \
           "over" in caplog.text
    assert (tmp_path / "r" / "metrics.jsonl").read_text() == \
        (tmp_path / "full" / "metrics.jsonl").read_text()
    assert not list((tmp_path / "r").rglob("*.tmp"))


def test_resume_and_overwrite_together_are_refused(tmp_path):
    from mmbss.engine.compare import compare

    with pytest.raises(ValueError, match=r"--resume and --overwrite contradict each other"):
        train(tiny_config("uniaux", epochs=1), tmp_path / "r", resume=True, overwrite=True)
    cfg = tiny_config("uniaux", epochs=1)
    with pytest.raises(ValueError, match=r"--resume and --overwrite contradict each other"):
        compare(cfg, tmp_path / "c", resume=True, overwrite=True)
    assert not (tmp_path / "r").exists() and not (tmp_path / "c").exists()


def test_resume_changes_are_recorded_only_once_saved(tmp_path, monkeypatch):
    """A resume with a new lr killed before its first checkpoint leaves config.yaml and the
    change log as they were; the summary of the finished run is gone until it finishes again."""
    import yaml


    cfg = tiny_config("uniaux", epochs=2)
    cfg.optim.schedule = "step"
    train(cfg, tmp_path / "r", quiet=True)
    more = tiny_config("uniaux", epochs=3)
    more.optim.schedule, more.optim.lr = "step", 0.5
    with interrupted_before_training():
        train(more, tmp_path / "r", resume=True, quiet=True)
    saved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert saved["optim"]["lr"] == 0.05 and saved["train"]["epochs"] == 2
    assert not (tmp_path / "r" / "resume_changes.jsonl").exists()
    assert not (tmp_path / "r" / "summary.json").exists()
    train(more, tmp_path / "r", resume=True, quiet=True)
    assert len(_lines(tmp_path / "r" / "resume_changes.jsonl")) == 1


def test_a_finished_run_resumes_with_settings_that_change_no_result(tmp_path):
    cfg = tiny_config("uniaux", epochs=1)
    train(cfg, tmp_path / "r", quiet=True)
    before = (tmp_path / "r" / "metrics.jsonl").read_text()
    cfg.train.num_workers, cfg.train.eval_batch_size = 1, 64
    train(cfg, tmp_path / "r", resume=True, quiet=True)
    assert (tmp_path / "r" / "metrics.jsonl").read_text() == before
    change = json.loads(_lines(tmp_path / "r" / "resume_changes.jsonl")[0])
    assert change["changes"] == ["train.eval_batch_size: 1024 -> 64", "train.num_workers: 0 -> 1"]


def test_global_batches_do_not_depend_on_the_world_size():
    from mmbss import BalanceSampler, UniformScheduler
    from mmbss.engine.loaders import Batches as _Batches

    for n in range(4, 41):
        for bs in (4, 8):
            sampler = BalanceSampler(UniformScheduler(num_samples=n, seed=n))
            one = list(_Batches(sampler, bs))
            assert [len(b) for b in one] == _Batches(sampler, bs).global_sizes()
            for world in (2, 4):
                parts = [list(_Batches(sampler, bs, world, r)) for r in range(world)]
                assert len({len(p) for p in parts}) == 1  # every rank takes the same number of steps
                merged = [sum((p[s] for p in parts), []) for s in range(len(parts[0]))]
                tail_folded = world > 2 and 0 < n % bs < world
                if not tail_folded:
                    assert merged == one, (n, bs, world)
                assert [i for b in merged for i in b] == list(sampler)
                assert all(len(p[s]) >= 1 for p in parts for s in range(len(p)))
            skipping = _Batches(sampler, bs)
            skipping.skip = 2
            assert list(skipping) == one[2:] and list(skipping) == one  # skip applies once
