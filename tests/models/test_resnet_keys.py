"""ResNet-18/50: torchvision state-dict layout, resnet50 shapes, loading downloaded weights.

torchvision is not used: the reference key lists are written out below from the well-known
torchvision architecture (stem conv1/bn1, layer1..layer4 of BasicBlocks or v1.5 Bottlenecks,
``downsample.0``/``downsample.1`` projection shortcuts, ``fc``).
"""

from __future__ import annotations

import logging

import pytest
import torch

from mmbss.models import build_model, create_encoder

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _bn(prefix: str, ch: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{k}": (() if k == "num_batches_tracked" else (ch,)) for k in BN}


def torchvision_resnet_keys(arch: str, in_ch: int = 3) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of ``torchvision.models.<arch>().state_dict()``, fc included."""
    bottleneck = arch == "resnet50"
    depths = (3, 4, 6, 3) if bottleneck else (2, 2, 2, 2)
    expansion = 4 if bottleneck else 1
    keys = {"conv1.weight": (64, in_ch, 7, 7), **_bn("bn1", 64)}
    inplanes = 64
    for stage, (planes, depth) in enumerate(zip((64, 128, 256, 512), depths, strict=True), 1):
        for block in range(depth):
            p = f"layer{stage}.{block}"
            stride = 2 if stage > 1 and block == 0 else 1
            out = planes * expansion
            if bottleneck:
                convs = [(inplanes, planes, 1), (planes, planes, 3), (planes, out, 1)]
            else:
                convs = [(inplanes, planes, 3), (planes, planes, 3)]
            for i, (cin, cout, k) in enumerate(convs, start=1):
                keys[f"{p}.conv{i}.weight"] = (cout, cin, k, k)
                keys.update(_bn(f"{p}.bn{i}", cout))
            if stride != 1 or inplanes != out:
                keys[f"{p}.downsample.0.weight"] = (out, inplanes, 1, 1)
                keys.update(_bn(f"{p}.downsample.1", out))
            inplanes = out
    keys["fc.weight"] = (1000, 512 * expansion)
    keys["fc.bias"] = (1000,)
    return keys


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize(("arch", "n_keys"), [("resnet18", 122), ("resnet50", 320)])
def test_state_dict_is_torchvision_layout(arch, n_keys):
    expected = torchvision_resnet_keys(arch)
    assert len(expected) == n_keys  # torchvision's counts, fc's two keys included
    assert "layer2.0.downsample.0.weight" in expected
    # a Bottleneck stage 1 widens 64 -> 256, so only resnet50 has a projection in layer1
    assert ("layer1.0.downsample.0.weight" in expected) == (arch == "resnet50")
    without_fc = {k: v for k, v in expected.items() if not k.startswith("fc.")}
    enc = create_encoder(arch, (3, 32, 32))
    got = _shapes(enc)
    assert list(got) == list(without_fc)  # same keys, same order
    assert got == without_fc


def test_known_torchvision_resnet18_keys():
    expected = torchvision_resnet_keys("resnet18")
    assert expected["conv1.weight"] == (64, 3, 7, 7)
    assert expected["layer1.0.conv1.weight"] == (64, 64, 3, 3)
    assert expected["layer2.0.downsample.0.weight"] == (128, 64, 1, 1)
    assert expected["layer4.1.bn2.running_var"] == (512,)
    assert expected["fc.weight"] == (1000, 512)
    # torchvision's resnet18 has 11,689,512 parameters (num_batches_tracked and running stats
    # are buffers, not parameters)
    params = sum(torch.Size(s).numel() for k, s in expected.items()
                 if k.endswith(("weight", "bias")))
    assert params == 11_689_512


def test_resnet50_parameter_count_and_shapes():
    enc = create_encoder("resnet50", (3, 32, 32), small_input=True)
    assert enc.out_dim == 2048
    assert sum(p.numel() for p in enc.parameters()) == 23_508_032 - 64 * 3 * (49 - 9)
    assert enc(torch.randn(2, 3, 32, 32)).shape == (2, 2048)
    params = sum(torch.Size(s).numel() for k, s in torchvision_resnet_keys("resnet50").items()
                 if k.endswith(("weight", "bias")))
    assert params == 25_557_032  # torchvision's resnet50


def test_resnet50_frames():
    enc = create_encoder("resnet50", (2, 1, 8, 8), small_input=True)
    assert enc.frames and enc.maxpool.__class__ is torch.nn.Identity
    assert enc(torch.randn(1, 2, 1, 8, 8)).shape == (1, 2048)


@pytest.fixture(scope="module")
def r18():
    """A resnet18 (3 channels) with non-trivial BN statistics, built once for this file."""
    torch.manual_seed(0)
    enc = create_encoder("resnet18", (3, 32, 32))
    for m in enc.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_()
            m.num_batches_tracked.fill_(7)
    return enc


def _save(tmp_path, state, name="w.pth"):
    path = tmp_path / name
    torch.save(state, path)
    return path


def _with_fc(enc, width):
    state = dict(enc.state_dict())
    state["fc.weight"] = torch.randn(1000, width)
    state["fc.bias"] = torch.randn(1000)
    return state


def test_weights_round_trip_resnet18_ddp_checkpoint(tmp_path, caplog, r18):
    src = r18
    state = {"module." + k: v for k, v in _with_fc(src, 512).items()}
    path = _save(tmp_path, {"state_dict": state, "epoch": 3})
    with caplog.at_level(logging.DEBUG, logger="mmbss.models._weights"):
        enc = create_encoder("resnet18", (3, 32, 32), weights=path)
    assert "dropped the classifier keys ['fc.bias', 'fc.weight']" in caplog.text
    assert enc.weights == str(path)
    loaded = enc.state_dict()
    for k, v in src.state_dict().items():
        assert torch.equal(loaded[k], v), k


def test_weights_round_trip_resnet50_plain_state_dict(tmp_path):
    src = create_encoder("resnet50", (3, 32, 32))
    path = _save(tmp_path, _with_fc(src, 2048))
    enc = create_encoder("resnet50", (3, 32, 32), weights=str(path))
    loaded = enc.state_dict()
    for k, v in src.state_dict().items():
        assert torch.equal(loaded[k], v), k
    src.eval()
    enc.eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(enc(x), src(x))


@pytest.mark.parametrize("channels", [1, 2])
def test_first_conv_is_adapted_to_the_channels(tmp_path, caplog, channels, r18):
    src = r18
    path = _save(tmp_path, _with_fc(src, 512))
    with caplog.at_level(logging.INFO, logger="mmbss.models._weights"):
        enc = create_encoder("resnet18", (2, channels, 32, 32), weights=path)
    w = src.conv1.weight.detach()
    expected = w.mean(dim=1, keepdim=True).repeat(1, channels, 1, 1) * (3 / channels)
    torch.testing.assert_close(enc.conv1.weight.detach(), expected)
    # sum-preserving: a grey image copied to every channel gets the RGB response of that image
    torch.testing.assert_close(enc.conv1.weight.sum(dim=1), w.sum(dim=1))
    if channels == 1:
        torch.testing.assert_close(enc.conv1.weight[:, 0], w.sum(dim=1))
    assert f"takes 3 input channels, the encoder {channels}: each channel got the mean of the " \
           f"3 filters times 3/{channels}" in caplog.text
    assert torch.equal(enc.layer3[1].conv2.weight, src.layer3[1].conv2.weight)


def test_mismatched_weights_list_missing_unexpected_and_shapes(tmp_path, r18):
    state = dict(r18.state_dict())
    del state["layer4.1.bn2.weight"]
    state["head.extra"] = torch.zeros(3)
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    path = _save(tmp_path, state)
    with pytest.raises(ValueError) as info:
        create_encoder("resnet18", (3, 32, 32), weights=path)
    msg = str(info.value)
    assert msg == (
        f"ResNet18Encoder: the 'weights' file '{path}' does not match this encoder: missing keys "
        "1 ['layer4.1.bn2.weight']; unexpected keys 1 ['head.extra']; shape mismatches 1 "
        "['layer1.0.conv1.weight: file [64, 64, 1, 1] vs encoder [64, 64, 3, 3]']. Give the "
        "state dict of torchvision.models.resnet18 (the classifier 'fc.*' is dropped and a "
        "3-channel first conv adapted to the input channels), or set weights=None.")


def test_a_resnet18_file_for_resnet50_lists_ten_keys_and_a_count(tmp_path, r18):
    path = _save(tmp_path, r18.state_dict())
    with pytest.raises(ValueError, match=r"ResNet50Encoder: the 'weights' file .* does not match "
                                         r"this encoder: missing keys 165 \[.*\] and 155 more; "
                                         r"unexpected keys 0 \[\]; shape mismatches 23 \[.*\] "
                                         r"and 13 more\. ") as info:
        create_encoder("resnet50", (3, 32, 32), weights=path)
    assert "Give the state dict of torchvision.models.resnet50 (" in str(info.value)
    missing = str(info.value).split("missing keys 165 ")[1].split("] and")[0]
    assert missing.count("', '") == 9  # ten keys shown


def test_a_file_with_other_first_conv_channels_is_not_adapted(tmp_path, r18):
    state = dict(r18.state_dict())
    state["conv1.weight"] = torch.zeros(64, 4, 7, 7)
    path = _save(tmp_path, state)
    with pytest.raises(ValueError, match=r"shape mismatches 1 \['conv1.weight: file "
                                         r"\[64, 4, 7, 7\] vs encoder \[64, 1, 7, 7\]'\]"):
        create_encoder("resnet18", (1, 32, 32), weights=path)


@pytest.mark.parametrize(
    ("make", "kw", "exc", "match"),
    [
        (None, {"weights": "missing.pth"}, ValueError,
         r"ResNet18Encoder: the 'weights' file '.*missing.pth' does not exist; download the "
         r"pretrained weights first and give the path of the file, or set weights=None to "
         r"start from random weights\."),
        ("folder", {}, ValueError,
         r"ResNet18Encoder: 'weights' must be the path of a weights file; '.*' is a folder\."),
        (None, {"weights": 5}, TypeError,
         r"ResNet18Encoder: 'weights' must be the path of a weights file or None; got 5\."),
        ("good", {"small_input": True}, ValueError,
         r"ResNet18Encoder: 'weights' cannot be used with small_input=True: the downloaded "
         r"resnet18 starts with a 7x7 stride-2 conv1 and a max-pool, the small-input stem with "
         r"a 3x3 conv; set small_input=False \(and give images of at least about 64x64\) or "
         r"drop 'weights'\."),
        ("garbage", {}, ValueError,
         r"ResNet18Encoder: the 'weights' file '.*' cannot be read with "
         r"torch.load\(weights_only=True\): "),
        ("list", {}, ValueError,
         r"ResNet18Encoder: the 'weights' file '.*' does not hold a state dict \(a dict of "
         r"parameter names to tensors, or \{'state_dict': \.\.\.\}\); save it with "
         r"torch.save\(model.state_dict\(\), path\)\."),
    ],
)
def test_bad_weights(tmp_path, monkeypatch, make, kw, exc, match):
    monkeypatch.chdir(tmp_path)
    if make == "folder":
        kw = {"weights": tmp_path}
    elif make == "good":
        kw = {**kw, "weights": _save(tmp_path, {"conv1.weight": torch.zeros(1)})}
    elif make == "garbage":
        (tmp_path / "bad.pth").write_bytes(b"not a torch file")
        kw = {"weights": tmp_path / "bad.pth"}
    elif make == "list":
        kw = {"weights": _save(tmp_path, [torch.zeros(2)])}
    with pytest.raises(exc, match=match):
        create_encoder("resnet18", (3, 32, 32), **kw)


def test_build_model_names_the_modality_of_a_missing_weights_file(tmp_path):
    with pytest.raises(ValueError, match=r"build_model: modality 'image' \(encoder 'resnet18'\): "
                                         r"ResNet18Encoder: the 'weights' file"):
        build_model({"image": (3, 32, 32), "x": (4,)}, 3, encoder={"image": "resnet18",
                                                                   "x": "mlp"},
                    encoder_kw={"image": {"weights": tmp_path / "nope.pth"}})
