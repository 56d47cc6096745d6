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


def test_channels_last_is_refused_for_3d_convolutions(tmp_path):
    from mmbss.engine.build import build_run

    factory = tmp_path / "clips.py"
    factory.write_text(
        "import torch\n"
        "from mmbss.data import DataBundle, MultiModalTensorDataset\n"
        "def clips():\n"
        "    def split(n):\n"
        "        g = torch.Generator().manual_seed(n)\n"
        "        return MultiModalTensorDataset({'rgb': torch.rand(n, 2, 3, 8, 8, generator=g),\n"
        "                                        'aux': torch.rand(n, 4, generator=g)},\n"
        "                                       torch.arange(n) % 2, num_classes=2)\n"
        "    return DataBundle(train=split(8), val=split(4), test=split(4), num_classes=2,\n"
        "                      modality_shapes={'rgb': (2, 3, 8, 8), 'aux': (4,)})\n")
    cfg = tiny_config("uniaux", epochs=1)
    cfg.data.name, cfg.data.options = f"{factory}:clips", {}
    cfg.model.encoder, cfg.model.encoder_kw = {"rgb": "i3d", "aux": "mlp"}, {"aux": {"hidden": [4]}}
    cfg.train.batch_size, cfg.train.channels_last = 4, True
    with pytest.raises(ValueError, match=r"train.channels_last applies to 2-D convolutions, but "
                                         r"the encoder of 'rgb' has 3-D ones \(e.g. i3d\); set "
                                         r"train.channels_last to false."):
        build_run(cfg)
