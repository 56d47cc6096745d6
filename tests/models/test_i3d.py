"""Inception-I3D: pytorch-i3d key names and shapes, "same" padding, variable clip sizes, weights.

The reference keys are written out below from the published architecture (the channel plan of
Carreira & Zisserman's Inception-I3D and the module names of the pytorch-i3d weight files).
"""

from __future__ import annotations

import logging
import math

import pytest
import torch

from mmbss.models import build_model, create_encoder
from mmbss.models.i3d import _same_padding

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
# (name, input channels, b0, b1a, b1b, b2a, b2b, b3b)
MIXED = [
    ("Mixed_3b", 192, 64, 96, 128, 16, 32, 32),
    ("Mixed_3c", 256, 128, 128, 192, 32, 96, 64),
    ("Mixed_4b", 480, 192, 96, 208, 16, 48, 64),
    ("Mixed_4c", 512, 160, 112, 224, 24, 64, 64),
    ("Mixed_4d", 512, 128, 128, 256, 24, 64, 64),
    ("Mixed_4e", 512, 112, 144, 288, 32, 64, 64),
    ("Mixed_4f", 528, 256, 160, 320, 32, 128, 128),
    ("Mixed_5b", 832, 256, 160, 320, 32, 128, 128),
    ("Mixed_5c", 832, 384, 192, 384, 48, 128, 128),
]


def _unit(prefix: str, cin: int, cout: int, k: tuple[int, int, int]) -> dict:
    keys = {f"{prefix}.conv3d.weight": (cout, cin, *k)}
    keys.update({f"{prefix}.bn.{b}": (() if b == "num_batches_tracked" else (cout,)) for b in BN})
    return keys


def pytorch_i3d_keys(in_ch: int = 3) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of pytorch-i3d's ``InceptionI3d(400).state_dict()`` without ``logits``."""
    keys = _unit("Conv3d_1a_7x7", in_ch, 64, (7, 7, 7))
    keys.update(_unit("Conv3d_2b_1x1", 64, 64, (1, 1, 1)))
    keys.update(_unit("Conv3d_2c_3x3", 64, 192, (3, 3, 3)))
    one, three = (1, 1, 1), (3, 3, 3)
    for name, cin, c0, c1a, c1b, c2a, c2b, c3b in MIXED:
        keys.update(_unit(f"{name}.b0", cin, c0, one))
        keys.update(_unit(f"{name}.b1a", cin, c1a, one))
        keys.update(_unit(f"{name}.b1b", c1a, c1b, three))
        keys.update(_unit(f"{name}.b2a", cin, c2a, one))
        keys.update(_unit(f"{name}.b2b", c2a, c2b, three))
        keys.update(_unit(f"{name}.b3b", cin, c3b, one))
    return keys


@pytest.fixture(scope="module")
def i3d():
    torch.manual_seed(0)
    return create_encoder("i3d", (8, 3, 32, 32))


def test_state_dict_has_the_pytorch_i3d_names_and_shapes(i3d):
    expected = pytorch_i3d_keys()
    got = {k: tuple(v.shape) for k, v in i3d.state_dict().items()}
    assert got == expected
    assert got["Conv3d_1a_7x7.conv3d.weight"] == (64, 3, 7, 7, 7)
    assert "Mixed_5c.b3b.conv3d.weight" in got and "Conv3d_1a_7x7.bn.running_mean" in got
    assert not any(k.endswith("conv3d.bias") for k in got)
    bn = i3d.Mixed_4e.b2b.bn
    assert (bn.eps, bn.momentum) == (1e-3, 0.01)
    assert sum(p.numel() for p in i3d.parameters()) == 12_287_264


def test_channel_plan():
    outs = {name: c0 + c1b + c2b + c3b for name, _, c0, _, c1b, _, c2b, c3b in MIXED}
    assert outs == {"Mixed_3b": 256, "Mixed_3c": 480, "Mixed_4b": 512, "Mixed_4c": 512,
                    "Mixed_4d": 512, "Mixed_4e": 528, "Mixed_4f": 832, "Mixed_5b": 832,
                    "Mixed_5c": 1024}
    # every block's input is the previous block's output
    ins = [cin for _, cin, *_ in MIXED]
    assert ins[1:] == list(outs.values())[:-1]


@pytest.mark.parametrize("n", range(1, 12))
@pytest.mark.parametrize(("k", "s"), [(7, 2), (3, 1), (3, 2), (2, 2), (1, 1), (1, 2)])
def test_same_padding_is_tensorflows(n, k, s):
    front, back = _same_padding(torch.Size([n]), (k,), (s,))
    assert back - front in (0, 1)  # the odd pixel goes at the end, as in TF
    assert (n + front + back - k) // s + 1 == math.ceil(n / s)  # TF "same": ceil(n / s)


def test_forward_shapes_and_variable_clip_sizes(i3d):
    assert i3d.out_dim == 1024 and i3d.in_channels == 3 and i3d.variable_axes == (0, 2, 3)
    assert i3d(torch.randn(2, 8, 3, 32, 32)).shape == (2, 1024)
    # fewer or more frames and other sizes, same weights (the minimum is 1 of each)
    assert i3d(torch.randn(2, 1, 3, 1, 1)).shape == (2, 1024)
    assert i3d(torch.randn(1, 10, 3, 20, 36)).shape == (1, 1024)


def test_cthw_layout_gives_the_same_features(i3d):
    other = create_encoder("i3d", (3, 8, 32, 32), layout="CTHW")
    other.load_state_dict(i3d.state_dict())
    assert other.variable_axes == (1, 2, 3)
    x = torch.randn(1, 8, 3, 32, 32)
    i3d.eval()
    other.eval()
    try:
        with torch.no_grad():
            torch.testing.assert_close(other(x.permute(0, 2, 1, 3, 4)), i3d(x))
    finally:
        i3d.train()


def test_weights_round_trip_and_flow_adaptation(tmp_path, caplog, i3d):
    state = dict(i3d.state_dict())
    state["logits.conv3d.weight"] = torch.randn(400, 1024, 1, 1, 1)
    state["logits.conv3d.bias"] = torch.randn(400)
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(state, path)
    with caplog.at_level(logging.DEBUG, logger="mmbss.models._weights"):
        flow = create_encoder("i3d", (4, 2, 16, 16), weights=path)
    assert "dropped the classifier keys ['logits.conv3d.bias', 'logits.conv3d.weight']" \
        in caplog.text
    assert "'Conv3d_1a_7x7.conv3d.weight' of" in caplog.text
    w = i3d.Conv3d_1a_7x7.conv3d.weight.detach()
    torch.testing.assert_close(flow.Conv3d_1a_7x7.conv3d.weight.detach(),
                               w.mean(dim=1, keepdim=True).repeat(1, 2, 1, 1, 1) * 1.5)
    loaded = flow.state_dict()
    for k, v in i3d.state_dict().items():
        if k != "Conv3d_1a_7x7.conv3d.weight":
            assert torch.equal(loaded[k], v), k


def test_mismatched_i3d_weights(tmp_path, i3d):
    state = {k: v for k, v in i3d.state_dict().items() if not k.startswith("Mixed_5c")}
    path = tmp_path / "w.pt"
    torch.save({"state_dict": state}, path)
    with pytest.raises(ValueError, match=r"I3DEncoder: the 'weights' file '.*w.pt' does not match "
                                         r"this encoder: missing keys 30 \[.*\] and 20 more; "
                                         r"unexpected keys 0 \[\]; shape mismatches 0 \[\]\. Give "
                                         r"the state dict of pytorch-i3d's InceptionI3d, e.g. "
                                         r"rgb_imagenet.pt for 3 channels or flow_imagenet.pt "
                                         r"for 2 \(the classifier 'logits.\*' is dropped"):
        create_encoder("i3d", (8, 3, 32, 32), weights=path)


@pytest.mark.parametrize(
    ("shape", "kw", "exc", "match"),
    [
        ((3, 32, 32), {}, ValueError,
         r"I3DEncoder: 'input_shape' must be a tuple of positive ints of length 4; got "
         r"\(3, 32, 32\)\."),
        ((8, 3, 32, 32), {"layout": "NCTHW"}, ValueError,
         r"I3DEncoder: 'layout' must be one of 'TCHW', 'CTHW'; got 'NCTHW'"),
        ((8, 3, 32, 32), {"weights": "rgb_imagenet.pt"}, ValueError,
         r"I3DEncoder: the 'weights' file 'rgb_imagenet.pt' does not exist"),
    ],
)
def test_bad_i3d_arguments(tmp_path, monkeypatch, shape, kw, exc, match):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(exc, match=match):
        create_encoder("i3d", shape, **kw)


def test_multimodal_net_lets_clips_change_length_but_not_channels(i3d):
    model = build_model({"video": (8, 3, 32, 32), "audio": (6,)}, 3,
                        encoder={"video": "i3d", "audio": "mlp"})
    model.encoders["video"].load_state_dict(i3d.state_dict())
    out = model({"video": torch.randn(2, 4, 3, 16, 16), "audio": torch.randn(2, 6)})
    assert out.fused.shape == (2, 3) and out.features["video"].shape == (2, 1024)
    with pytest.raises(ValueError, match=r"MultiModalNet: input 'video' must have shape "
                                         r"\[B, \*, 3, \*, \*\]; got \[2, 4, 1, 16, 16\]\."):
        model({"video": torch.randn(2, 4, 1, 16, 16), "audio": torch.randn(2, 6)})
    with pytest.raises(ValueError, match=r"input 'video' must have shape \[B, \*, 3, \*, \*\]"):
        model({"video": torch.randn(2, 3, 16, 16), "audio": torch.randn(2, 6)})


def test_an_old_file_without_batchnorm_counters_loads(tmp_path, i3d):
    # files saved before PyTorch 0.4.1 (as pytorch-i3d's) have no num_batches_tracked
    state = {k: v for k, v in i3d.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pt")
    enc = create_encoder("i3d", (8, 3, 32, 32), weights=tmp_path / "old.pt")
    assert int(enc.Mixed_4b.b0.bn.num_batches_tracked) == 0
    torch.testing.assert_close(enc.Mixed_4b.b0.bn.running_var, i3d.Mixed_4b.b0.bn.running_var)
