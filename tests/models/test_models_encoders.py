"""Encoders: output shapes, ResNet-18 facts, frame pooling, option validation."""

from __future__ import annotations

import pytest
import torch

from mmbss.models import ENCODERS, create_encoder, list_encoders


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_registry_lists_all_encoders():
    assert list_encoders() == ["cnn2d", "i3d", "mlp", "resnet18", "resnet50",
                               "transformer"] == ENCODERS.names()


@pytest.mark.parametrize(
    ("shape", "kw", "out_dim"),
    [
        ((240,), {}, 256),
        ((240,), {"hidden": (64, 32), "norm": True, "dropout": 0.1}, 32),
        ((4, 5), {"hidden": (16,), "out_dim": 8}, 8),
        ((6,), {"hidden": ()}, 6),
    ],
)
def test_mlp_shapes(shape, kw, out_dim):
    enc = create_encoder("mlp", shape, **kw)
    out = enc(torch.randn(3, *shape))
    assert out.shape == (3, out_dim)
    assert enc.out_dim == out_dim
    assert enc.input_shape == shape


@pytest.mark.parametrize(
    ("shape", "kw", "out_dim"),
    [
        ((1, 16, 15), {}, 64),
        ((3, 8, 8), {"channels": (8, 16, 24), "kernel_size": 5}, 24),
        ((16, 15), {"channels": (8,)}, 8),
        ((2, 1, 3), {"channels": (4, 4, 4), "dropout": 0.2}, 4),
    ],
)
def test_cnn2d_shapes(shape, kw, out_dim):
    enc = create_encoder("cnn2d", shape, **kw)
    assert enc(torch.randn(2, *shape)).shape == (2, out_dim)
    assert enc.out_dim == out_dim


@pytest.mark.parametrize(
    ("shape", "kw"),
    [
        ((1, 32, 32), {}),
        ((3, 6, 10), {"small_input": True}),
        ((2, 3, 32, 32), {}),
        ((3, 1, 8, 8), {"frames": True, "small_input": True}),
    ],
)
def test_resnet18_shapes(shape, kw):
    enc = create_encoder("resnet18", shape, **kw)
    assert enc.frames == (len(shape) == 4)
    assert enc.out_dim == 512
    assert enc(torch.randn(2, *shape)).shape == (2, 512)


@pytest.mark.parametrize(("channels", "expected"), [(3, 11_176_512), (1, 11_170_240)])
def test_resnet18_parameter_count_and_forward(channels, expected):
    # torchvision's resnet18 has 11,689,512 parameters, of which the fc layer holds 513,000;
    # a 1-channel stem has 64*7*7*2 = 6,272 fewer weights.
    enc = create_encoder("resnet18", (channels, 32, 32))
    assert _n_params(enc) == expected
    assert enc(torch.randn(2, channels, 32, 32)).shape == (2, 512)


def test_resnet18_small_stem_parameter_count():
    # 3x3 stem instead of 7x7: 64*3*(49-9) = 7,680 fewer weights.
    enc = create_encoder("resnet18", (3, 32, 32), small_input=True)
    assert _n_params(enc) == 11_176_512 - 7_680


def test_resnet18_initialisation():
    enc = create_encoder("resnet18", (3, 32, 32))
    stem_conv = enc.conv1
    fan_out = stem_conv.out_channels * 7 * 7
    assert stem_conv.weight.std().item() == pytest.approx((2.0 / fan_out) ** 0.5, rel=0.05)
    for m in enc.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)


def test_resnet18_frames_average_per_frame_features():
    torch.manual_seed(0)
    enc = create_encoder("resnet18", (3, 1, 8, 8), small_input=True).eval()
    x = torch.randn(2, 3, 1, 8, 8)
    with torch.no_grad():
        pooled = enc(x)
        per_frame = torch.stack([enc._encode(x[:, t]) for t in range(3)], dim=1)
    torch.testing.assert_close(pooled, per_frame.mean(dim=1), rtol=1e-5, atol=1e-5)


def test_encoders_are_deterministic_under_seed():
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        enc = create_encoder("cnn2d", (1, 16, 15))
        outs.append(enc(torch.ones(2, 1, 16, 15)))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_unknown_encoder_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown encoder 'resnet19'; valid names: cnn2d, i3d, "
                                         r"mlp, resnet18, resnet50, transformer\. Did you mean "
                                         r"'resnet18'\?"):
        create_encoder("resnet19", (3, 32, 32))


def test_unknown_encoder_option_lists_valid_ones():
    with pytest.raises(TypeError, match=r"create_encoder\('mlp'\): unknown option\(s\) "
                                        r"\['width'\]; valid options: .*'hidden'"):
        create_encoder("mlp", (10,), width=3)


@pytest.mark.parametrize(
    ("name", "shape", "kw", "exc", "match"),
    [
        ("mlp", (10,), {"dropout": 1.0}, ValueError,
         r"MLPEncoder: 'dropout' must be a float in \[0\.0, 1\.0\); got 1\.0\."),
        ("mlp", (10,), {"hidden": (0,)}, ValueError, r"MLPEncoder: 'hidden' must be a tuple"),
        ("mlp", (10,), {"norm": 1}, TypeError, r"MLPEncoder: 'norm' must be a bool; got 1\."),
        ("mlp", (), {}, ValueError, r"MLPEncoder: 'input_shape' must be a tuple of positive"),
        ("mlp", "10", {}, TypeError, r"MLPEncoder: 'input_shape' must be a tuple"),
        ("cnn2d", (240,), {}, ValueError,
         r"CNN2dEncoder: 'input_shape' must be a tuple of positive ints of length 2 or 3"),
        ("cnn2d", (1, 8, 8), {"kernel_size": 4}, ValueError,
         r"CNN2dEncoder: 'kernel_size' must be an odd int >= 1; got 4\."),
        ("cnn2d", (1, 8, 8), {"channels": ()}, ValueError,
         r"CNN2dEncoder: 'channels' must be a tuple of positive ints \(at least one\)"),
        ("resnet18", (3, 32, 32), {"frames": True}, ValueError,
         r"ResNet18Encoder: 'input_shape' must be \(T, C, H, W\) with frames=True"),
        ("resnet18", (2, 3, 32, 32), {"frames": False}, ValueError,
         r"ResNet18Encoder: 'input_shape' must be \(C, H, W\) with frames=False"),
        ("resnet18", (32, 32), {}, ValueError, r"ResNet18Encoder: 'input_shape' must be"),
    ],
)
def test_bad_encoder_arguments(name, shape, kw, exc, match):
    with pytest.raises(exc, match=match):
        create_encoder(name, shape, **kw)
