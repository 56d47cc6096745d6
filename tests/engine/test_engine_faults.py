"""Fault tests: real SIGKILLs at chosen points, torn and tampered checkpoints, a full disk,
non-finite weights. After each fault, ``--resume`` must end with the same ``metrics.jsonl`` as a
run that was never interrupted."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from mmbss.cli.main import main
from mmbss.engine import CheckpointError, TrainingDiverged, train
from mmbss.engine.checkpoint import load_checkpoint, load_resume, save_checkpoint
from mmbss.engine.config import config_to_dict

from ..conftest import tiny_config

METHODS = {  # name -> (method, method options); 4 epochs of 12 steps each
    "uniaux": ("uniaux", {}),
    "cl-warmup": ("bss-cl", {"warmup_epochs": 1, "rescore_every": 1}),
    "lb-exact": ("bss-lb", {}),
    "lb-online": ("bss-lb", {"scoring": "online"}),
}

# (id, method, patched callable "module:attr" or "module:Class.attr", kill at the n-th call,
#  only count calls whose first str/Path argument ends with this suffix)
KILL_POINTS = [
    ("step-epoch0", "uniaux", "torch.optim:SGD.step", 5, None),             # before any checkpoint
    ("step-epoch1", "uniaux", "torch.optim:SGD.step", 18, None),
    ("step-epoch2-online", "lb-online", "torch.optim:SGD.step", 30, None),
    ("step-after-warmup", "cl-warmup", "torch.optim:SGD.step", 15, None),
    ("scoring-pass", "lb-exact", "mmbss.engine.trainer:exact_criteria", 3, None),
    ("scoring-pass-cl", "cl-warmup", "mmbss.engine.trainer:exact_criteria", 2, None),
    ("online-record", "lb-online", "mmbss.tracking:OnlineScoreTracker.record", 40, None),
    ("eval-val", "lb-exact", "mmbss.engine.trainer:_evaluate", 3, None),
    ("eval-test", "uniaux", "mmbss.engine.trainer:_evaluate", 6, None),
    ("scores-export", "lb-exact", "mmbss.engine.trainer:write_scores", 2, None),
    ("ckpt-before-rename", "uniaux", "os:replace", 2, ".next.pt"),         # temp file left behind
    ("ckpt-last-to-previous", "lb-online", "os:replace", 2, "previous.pt"),  # no last.pt on disk
    ("ckpt-next-to-last", "cl-warmup", "os:replace", 2, "last.pt"),
    ("ckpt-best", "lb-exact", "os:replace", 1, "best.pt"),       # best.pt repaired on resume
    ("metrics-line", "lb-online", "mmbss.engine.trainer:append_jsonl", 3, None),
    ("summary", "uniaux", "mmbss.engine.trainer:write_text_atomic", 1, None),
]

DRIVER = textwrap.dedent("""
    import importlib, os, signal, sys
    from pathlib import PurePath
    module, attr, n, suffix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    owner = importlib.import_module(module)
    *path, name = attr.split(".")
    for p in path:
        owner = getattr(owner, p)
    original, calls = getattr(owner, name), [0]

    def killing(*args, **kwargs):
        text = [str(a) for a in args if isinstance(a, (str, PurePath))]
        if suffix == "-" or (len(text) > 1 and text[1].endswith(suffix)):
            calls[0] += 1
            if calls[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    setattr(owner, name, killing)
    from mmbss.cli.main import main
    sys.exit(main(sys.argv[5:]))
""")


def _cfg(key: str, epochs: int = 4):
    method, kw = METHODS[key]
    return tiny_config(method, epochs=epochs, **kw)


@pytest.fixture(scope="module")
def reference_dirs(tmp_path_factory):
    """One uninterrupted run per method."""
    root = tmp_path_factory.mktemp("reference")
    for k in METHODS:
        train(_cfg(k), root / k, quiet=True)
    return {k: root / k for k in METHODS}


@pytest.fixture(scope="module")
def reference(reference_dirs):
    """metrics.jsonl of the uninterrupted run of each method."""
    return {k: (d / "metrics.jsonl").read_text() for k, d in reference_dirs.items()}


@pytest.mark.slow
@pytest.mark.parametrize("point,method,target,n,suffix", KILL_POINTS, ids=[p[0] for p in KILL_POINTS])
def test_sigkill_then_resume_gives_identical_metrics(tmp_path, reference, point, method, target, n,
                                                     suffix):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(config_to_dict(_cfg(method))))
    run = tmp_path / "run"
    module, attr = target.split(":")
    proc = subprocess.run([sys.executable, "-c", DRIVER, module, attr, str(n), suffix or "-",
                           "train", "--config", str(cfg_file), "--out", str(run), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not (run / "summary.json").exists() or point == "summary"
    assert main(["train", "--config", str(cfg_file), "--out", str(run), "--resume", "--quiet"]) == 0
    assert (run / "metrics.jsonl").read_text() == reference[method]
    assert not list(run.rglob("*.tmp")) and not (run / "checkpoints" / ".next.pt").exists()
    assert load_checkpoint(run / "checkpoints" / "best.pt", kind="best")["epoch"] == \
        json.loads((run / "summary.json").read_text())["best_epoch"]


def _cut(tmp_path, monkeypatch, key: str, epochs_done: int) -> Path:
    """A 4-epoch run of ``key`` interrupted (in-process) as epoch ``epochs_done`` starts."""
    import mmbss.engine.trainer as trainer

    original = trainer._train_epoch

    def interrupted(run, epoch, *a, **k):
        if epoch == epochs_done:
            raise KeyboardInterrupt("simulated kill")
        return original(run, epoch, *a, **k)

    monkeypatch.setattr(trainer, "_train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(key), tmp_path / "cut", quiet=True)
    monkeypatch.setattr(trainer, "_train_epoch", original)
    return tmp_path / "cut"


def test_torn_newest_checkpoint_falls_back_to_the_older(tmp_path, monkeypatch, reference, caplog):
    run = _cut(tmp_path, monkeypatch, "lb-online", 3)
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # torn
    with caplog.at_level(logging.WARNING):
        train(_cfg("lb-online"), run, resume=True, quiet=True)
    assert "is torn or not a checkpoint" in caplog.text
    assert "resuming from the older" in caplog.text and "previous.pt' (epoch 2)" in caplog.text
    assert (run / "checkpoints" / "last.pt.unreadable").exists()
    assert (run / "metrics.jsonl").read_text() == reference["lb-online"]


def test_tampered_checkpoint_fails_its_checksum_and_both_bad_is_a_clear_error(tmp_path, monkeypatch):
    run = _cut(tmp_path, monkeypatch, "uniaux", 2)
    folder = run / "checkpoints"
    state = torch.load(folder / "last.pt", weights_only=True)
    next(iter(state["payload"]["model"].values())).add_(1.0)  # edit a weight, keep the digest
    torch.save(state, folder / "last.pt")
    with pytest.raises(CheckpointError, match=r"last.pt' fails its checksum \(the file was changed"):
        load_checkpoint(folder / "last.pt")
    (folder / "previous.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"no usable resume checkpoint: .*last.pt' fails its "
                                              r"checksum.*previous.pt' is torn or not a checkpoint "
                                              r"\(EOFError.* Start the run again with --overwrite"):
        load_resume(folder)


def test_planted_pickle_payload_never_runs(tmp_path, monkeypatch, capsys):
    """A checkpoint carrying code (as a pickle __reduce__) is refused by resume, by the best.pt
    check and by mmbss score; the code never runs."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    run = _cut(tmp_path, monkeypatch, "uniaux", 2)
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(config_to_dict(_cfg("uniaux"))))
    for name in ("last.pt", "best.pt"):
        torch.save({"format": "mmbss-checkpoint", "model": Payload()}, run / "checkpoints" / name)
    (run / "checkpoints" / "previous.pt").unlink(missing_ok=True)
    assert main(["score", str(run), "--checkpoint", "best"]) == 2
    assert "may carry code); mmbss never runs code from a checkpoint" in capsys.readouterr().err
    assert main(["train", "--config", str(cfg_file), "--out", str(run), "--resume"]) == 2
    assert "may carry code" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="may carry code"):
        load_checkpoint(run / "checkpoints" / "best.pt", kind="best")
    assert not marker.exists()


@pytest.mark.parametrize("best_epoch", [0, 1])
def test_a_bad_best_checkpoint_is_repaired_or_reported_on_resume(tmp_path, monkeypatch, caplog,
                                                                 best_epoch):
    """best.pt torn: repaired from last.pt when the best epoch is the last one trained (its
    weights are last.pt's), otherwise reported."""
    from mmbss.engine.build import build_run
    from mmbss.engine.trainer import _restore

    run = _cut(tmp_path, monkeypatch, "uniaux", 2)
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    state["best"] = dict(state["best"], epoch=best_epoch)
    save_checkpoint(state, run / "checkpoints" / "last.pt", kind="resume")
    (run / "checkpoints" / "best.pt").write_bytes(b"PK\x03\x04torn")
    with caplog.at_level(logging.WARNING):
        _restore(build_run(_cfg("uniaux")), run, load_resume(run / "checkpoints")[0])
    if best_epoch == 1:
        assert load_checkpoint(run / "checkpoints" / "best.pt", kind="best")["epoch"] == 1
        assert "best-validation" not in caplog.text
    else:
        assert "does not hold the best-validation weights of epoch 0 (checkpoint" in caplog.text
        assert "is torn or not a checkpoint" in caplog.text


def _full_disk(monkeypatch, at_call: int):
    """Make the n-th checkpoint write fail as a full disk would."""
    import mmbss.engine.checkpoint as ck

    original, calls = ck.torch.save, [0]

    def failing(obj, f, *a, **k):
        calls[0] += 1
        if calls[0] == at_call:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(obj, f, *a, **k)

    monkeypatch.setattr(ck.torch, "save", failing)
    return original


def test_full_disk_stops_with_a_clear_error_and_the_last_checkpoint_loads(tmp_path, monkeypatch,
                                                                          reference, capsys):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(config_to_dict(_cfg("lb-exact"))))
    run = tmp_path / "run"
    original = _full_disk(monkeypatch, at_call=4)  # last.pt, best.pt, last.pt, then this one
    assert main(["train", "--config", str(cfg_file), "--out", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "could not write '" in err and "the disk is full" in err and "--resume" in err
    assert not list(run.rglob("*.tmp"))
    assert load_resume(run / "checkpoints")[0]["epoch"] in (1, 2)
    monkeypatch.setattr(torch, "save", original)
    assert main(["train", "--config", str(cfg_file), "--out", str(run), "--resume", "--quiet"]) == 0
    assert (run / "metrics.jsonl").read_text() == reference["lb-exact"]


@pytest.mark.slow
def test_full_tmpfs_stops_cleanly_and_resumes_after_space_is_freed(tmp_path, reference,
                                                                  reference_dirs):
    """A real full disk: a small tmpfs (needs root and mount; the injected variant above always
    runs)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here; the injected full-disk test covers it")
    try:
        used = sum(-(-p.stat().st_size // 4096) * 4096 for p in
                   reference_dirs["lb-exact"].rglob("*") if p.is_file())
        filler = mnt / "filler"
        free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
        filler.write_bytes(b"\0" * max(0, free - int(0.6 * used)))
        with pytest.raises(OSError, match="could not write '.*': the disk is full"):
            train(_cfg("lb-exact"), mnt / "run", quiet=True)
        filler.unlink()
        train(_cfg("lb-exact"), mnt / "run", resume=True, quiet=True)
        assert (mnt / "run" / "metrics.jsonl").read_text() == reference["lb-exact"]
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_non_finite_weights_stop_the_run_and_are_never_checkpointed(tmp_path, monkeypatch):
    original, calls = torch.optim.SGD.step, [0]

    def poisoned(self, *a, **k):
        out = original(self, *a, **k)
        calls[0] += 1
        if calls[0] == 24:  # the last step of epoch 1: a weight explodes after its loss was finite
            with torch.no_grad():
                self.param_groups[0]["params"][0].view(-1)[0] = float("inf")
        return out

    monkeypatch.setattr(torch.optim.SGD, "step", poisoned)
    with pytest.raises(TrainingDiverged, match=r"the model weights hold NaN/inf.* after epoch 1 "
                                               r"\(global step \d+\); training stopped and the "
                                               r"last good checkpoint is '.*last.pt'"):
        train(_cfg("uniaux"), tmp_path / "r", quiet=True)
    state, _ = load_resume(tmp_path / "r" / "checkpoints")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    with pytest.raises(RuntimeError, match="refusing to save a resume checkpoint with non-finite"):
        bad = dict(state, model={k: v * float("nan") for k, v in state["model"].items()})
        from mmbss.engine.checkpoint import save_resume

        save_resume(bad, tmp_path / "r" / "checkpoints")
    save_checkpoint(dict(state), tmp_path / "copy.pt", kind="resume")  # the good one still saves


def test_non_finite_validation_loss_stops_the_run(tmp_path, monkeypatch):
    import mmbss.engine.trainer as trainer

    original, calls = trainer.split_metrics, [0]

    def exploding(outputs, *a, **k):
        calls[0] += 1
        m = original(outputs, *a, **k)
        return {**m, "loss": float("inf")} if calls[0] == 1 else m  # epoch 0's validation split

    monkeypatch.setattr(trainer, "split_metrics", exploding)
    with pytest.raises(TrainingDiverged, match=r"the validation loss is inf after epoch 0 "
                                               r"\(global step 12\); training stopped and no epoch "
                                               r"finished, so there is no checkpoint"):
        train(_cfg("uniaux"), tmp_path / "r", quiet=True)
    assert not (tmp_path / "r" / "metrics.jsonl").exists() or \
        (tmp_path / "r" / "metrics.jsonl").read_text() == ""
