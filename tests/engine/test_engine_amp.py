"""GPU speed options exercised on the CPU (issue 8, deliverable 5): bf16 and fp16 autocast (fp16
with a GradScaler, whose state resumes), channels-last CNN inputs, torch.compile."""

import json

import pytest

from mmbss.engine import train
from mmbss.engine.checkpoint import load_checkpoint

from ..conftest import interrupted_at_step, tiny_config


def _metrics(path):
    return [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_autocast_trains_close_to_fp32_and_resumes_exactly(tmp_path, amp):
    base = tiny_config("bss-lb+mmpareto", epochs=2)
    train(base, tmp_path / "fp32", quiet=True)
    cfg = tiny_config("bss-lb+mmpareto", epochs=2)
    cfg.train.amp, cfg.train.checkpoint_every = amp, 5
    train(cfg, tmp_path / amp, quiet=True)
    ref, low = _metrics(tmp_path / "fp32"), _metrics(tmp_path / amp)
    assert ref != low  # autocast really ran in low precision
    for a, b in zip(ref, low, strict=True):
        assert abs(a["val"]["loss"] - b["val"]["loss"]) < 0.05
    with interrupted_at_step(15):
        train(cfg, tmp_path / "cut", quiet=True)
    state = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert (state["scaler"] is not None) == (amp == "fp16")
    train(cfg, tmp_path / "cut", resume=True, quiet=True)
    assert (tmp_path / "cut" / "metrics.jsonl").read_text() == (tmp_path / amp / "metrics.jsonl").read_text()


def test_channels_last_cnn_inputs_give_the_same_run(tmp_path):
    def cfg(channels_last):
        c = tiny_config("uniaux", epochs=1)
        c.data.name, c.data.options = "mfeat", {"views": ["pix", "fou"]}
        c.model.encoder, c.model.encoder_kw = "auto", None
        c.train.channels_last = channels_last
        c.optim.lr = 0.01  # a stable run: the formats differ only by summation order
        return c
    train(cfg(False), tmp_path / "a", quiet=True)
    train(cfg(True), tmp_path / "b", quiet=True)
    a, b = _metrics(tmp_path / "a")[0], _metrics(tmp_path / "b")[0]
    assert a["train"]["steps"] == b["train"]["steps"]
    assert abs(a["val"]["loss"] - b["val"]["loss"]) < 0.01 * a["val"]["loss"]


@pytest.mark.slow
def test_compiled_model_trains_like_the_eager_one(tmp_path):
    eager, compiled = tiny_config("bss-lb", epochs=1), tiny_config("bss-lb", epochs=1)
    compiled.train.compile = True
    train(eager, tmp_path / "eager", quiet=True)
    train(compiled, tmp_path / "compiled", quiet=True)
    a, b = _metrics(tmp_path / "eager")[0], _metrics(tmp_path / "compiled")[0]
    assert abs(a["val"]["loss"] - b["val"]["loss"]) < 1e-4
