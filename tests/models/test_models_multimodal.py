"""MultiModalNet and build_model: output contract, gradients, closed form, validation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmbss.models import ModelOutput, MultiModalNet, build_model, create_encoder

SHAPES = {"pix": (1, 16, 15), "fou": (76,), "kar": (64,)}
FUSIONS = ["concat", "sum", "film", "gated"]


def _small_model(fusion: str = "concat", names=("pix", "fou"), **fusion_kw) -> MultiModalNet:
    shapes = {m: SHAPES[m] for m in names}
    own = {"pix": {"channels": (8, 16)}, "fou": {"hidden": (24,)}, "kar": {"hidden": (24,)}}
    encoder_kw = {m: own[m] for m in names}
    if fusion in ("film", "gated"):
        fusion_kw.setdefault("hidden", 10)
    return build_model(shapes, 5, fusion=fusion, encoder_kw=encoder_kw, fusion_kw=fusion_kw)


def _batch(names=("pix", "fou"), batch: int = 4) -> dict[str, torch.Tensor]:
    return {m: torch.randn(batch, *SHAPES[m]) for m in names}


def test_output_contract():
    torch.manual_seed(0)
    model = _small_model()
    out = model(_batch())
    assert isinstance(out, ModelOutput)
    assert model.modality_names == ["pix", "fou"]
    assert out.fused.shape == (4, 5)
    assert list(out.unimodal) == ["pix", "fou"]
    assert all(z.shape == (4, 5) for z in out.unimodal.values())
    assert out.features["pix"].shape == (4, 16) and out.features["fou"].shape == (4, 24)
    assert list(out.head_inputs) == ["pix", "fou", "fused"]
    assert out.head_inputs["fused"].shape == (4, 40)
    for m in model.modality_names:
        assert out.head_inputs[m] is out.features[m]
        head = model.heads[m]
        torch.testing.assert_close(out.unimodal[m], out.features[m] @ head.weight.T + head.bias)


def test_concat_fused_head_input_feeds_the_fused_linear_layer():
    torch.manual_seed(0)
    model = _small_model("concat")
    out = model(_batch())
    w, b = model.fusion.head.weight, model.fusion.head.bias
    torch.testing.assert_close(out.fused, out.head_inputs["fused"] @ w.T + b)


@pytest.mark.parametrize("names", [("pix", "fou"), ("pix", "fou", "kar")])
@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_in_model(fusion, names):
    torch.manual_seed(0)
    model = _small_model(fusion, names)
    out = model(_batch(names))
    w, b = model.fusion.head_weight_bias()
    torch.testing.assert_close(out.fused, out.head_inputs["fused"] @ w.T + b,
                               rtol=1e-5, atol=1e-5)
    # the fused loss alone reaches every encoder; the full loss reaches every parameter
    out.fused.logsumexp(dim=1).sum().backward(retain_graph=True)
    for m in names:
        grads = [p.grad for p in model.encoder_parameters(m)]
        assert all(g is not None for g in grads), m
        assert sum(g.abs().sum() for g in grads) > 0, m
    model.zero_grad()
    y = torch.arange(4) % 5
    loss = F.cross_entropy(out.fused, y) + sum(F.cross_entropy(z, y) for z in out.unimodal.values())
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_determinism_under_manual_seed():
    results = []
    for _ in range(2):
        torch.manual_seed(7)
        model = _small_model("film", ("pix", "fou", "kar"))
        out = model(_batch(("pix", "fou", "kar")))
        results.append((model.state_dict(), out.fused))
    for key, value in results[0][0].items():
        torch.testing.assert_close(value, results[1][0][key], rtol=0, atol=0)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=0, atol=0)


def _closed_form(logits: torch.Tensor, y: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    residual = logits.softmax(dim=1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)
    return residual.norm(dim=1) * h.norm(dim=1)


def test_closed_form_head_gradient_norm_matches_torch_func():
    torch.manual_seed(3)
    model = _small_model("concat").double().eval()
    x, y = {k: v.double() for k, v in _batch(batch=6).items()}, torch.tensor([0, 1, 2, 3, 4, 0])
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, xs, ys, key):
        out = torch.func.functional_call(model, p, ({k: v.unsqueeze(0) for k, v in xs.items()},))
        logits = out.fused if key == "fused" else out.unimodal[key]
        return F.cross_entropy(logits, ys.unsqueeze(0))

    with torch.no_grad():
        out = model(x)
    for key, weight in [("pix", "heads.pix.weight"), ("fou", "heads.fou.weight"),
                        ("fused", "fusion.head.weight")]:
        grads = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0, None))(
            params, x, y, key)
        per_sample = grads[weight].flatten(1).norm(dim=1)
        logits = out.fused if key == "fused" else out.unimodal[key]
        expected = _closed_form(logits, y, out.head_inputs[key])
        torch.testing.assert_close(per_sample, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_closed_form_fused_head_gradient_batch_size_one(fusion):
    torch.manual_seed(4)
    model = _small_model(fusion, ("pix", "fou", "kar")).eval()
    weights = ([model.fusion.heads[m].weight for m in model.modality_names]
               if fusion == "sum" else [model.fusion.head.weight])
    batch, y = _batch(("pix", "fou", "kar"), batch=3), torch.tensor([1, 4, 2])
    for i in range(3):
        out = model({k: v[i:i + 1] for k, v in batch.items()})
        grads = torch.autograd.grad(F.cross_entropy(out.fused, y[i:i + 1]), weights)
        norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
        expected = _closed_form(out.fused, y[i:i + 1], out.head_inputs["fused"])[0]
        torch.testing.assert_close(norm, expected.detach(), rtol=1e-5, atol=1e-5)


def test_build_model_auto_and_explicit_encoders():
    model = build_model({"a": (1, 8, 8), "b": (10,), "c": (2, 1, 8, 8)}, 3,
                        encoder_kw={"a": {"channels": (4,)}, "c": {"small_input": True}})
    kinds = {m: type(e).__name__ for m, e in model.encoders.items()}
    assert kinds == {"a": "CNN2dEncoder", "b": "MLPEncoder", "c": "ResNet18Encoder"}
    model = build_model({"a": (1, 8, 8), "b": (10,)}, 3, encoder={"a": "mlp", "b": "auto"},
                        encoder_kw={"hidden": (6,)})
    assert [e.out_dim for e in model.encoders.values()] == [6, 6]
    assert model({"a": torch.zeros(2, 1, 8, 8), "b": torch.zeros(2, 10)}).fused.shape == (2, 3)


def test_custom_encoders_and_fusion_module():
    encoders = {"a": create_encoder("mlp", (3,), hidden=(4,)),
                "b": create_encoder("mlp", (5,), hidden=(6,))}
    fusion = build_model({"a": (4,), "b": (6,)}, 2, encoder="mlp", fusion="sum",
                         encoder_kw={"hidden": ()}).fusion
    model = MultiModalNet(encoders, 2, fusion=fusion)
    assert model.fusion is fusion
    assert model({"a": torch.zeros(1, 3), "b": torch.zeros(1, 5)}).fused.shape == (1, 2)
    assert len(list(model.encoder_parameters("b"))) == 2


def _two_encoders():
    return {"a": create_encoder("mlp", (3,), hidden=(4,)),
            "b": create_encoder("mlp", (5,), hidden=(4,))}


@pytest.mark.parametrize(
    ("build", "exc", "match"),
    [
        (lambda: MultiModalNet(_two_encoders(), 1), ValueError,
         r"MultiModalNet: 'num_classes' must be an int >= 2; got 1\."),
        (lambda: MultiModalNet({"a": _two_encoders()["a"]}, 3), ValueError,
         r"MultiModalNet: 'encoders' must hold at least 2 modalities .*got \['a'\]\."),
        (lambda: MultiModalNet(_two_encoders(), 3, fusion="late"), ValueError,
         r"unknown fusion 'late'; valid names: concat, film, gated, sum\."),
        (lambda: MultiModalNet({"fused": nn.Identity(), "b": nn.Identity()}, 3), ValueError,
         r"modality names must be non-empty strings without '\.' and not 'fused'"),
        (lambda: MultiModalNet({"a": nn.Identity(), "b": nn.Identity()}, 3), TypeError,
         r"encoders\['a'\] must be an nn.Module with a positive int attribute 'out_dim'"),
        (lambda: MultiModalNet(_two_encoders(), 3, fusion=nn.Identity(), hidden=3), TypeError,
         r"fusion options \['hidden'\] can only be given with a fusion name"),
        (lambda: build_model({"a": (3,), "b": (4,)}, 3, encoder="lstm"), ValueError,
         r"unknown encoder 'lstm'; valid names: cnn2d, i3d, mlp, resnet18, resnet50, "
         r"transformer\."),
        (lambda: build_model({"a": (3,), "b": (4,)}, 3, encoder={"a": "mlp"}), ValueError,
         r"build_model: 'encoder' has missing \['b'\]"),
        (lambda: build_model({"a": (3,), "b": (0,)}, 3), ValueError,
         r"build_model: 'modality_shapes\['b'\]' must be a tuple of positive ints"),
        (lambda: build_model({"a": (1, 4, 4), "b": (4,)}, 3, encoder_kw={"hidden": (3,)}),
         TypeError, r"build_model: modality 'a' \(encoder 'cnn2d'\): create_encoder\('cnn2d'\): "
                    r"unknown option\(s\) \['hidden'\]"),
        (lambda: build_model({"a": (3,), "b": (4,)}, 3, encoder_kw={"c": {"hidden": (3,)}}),
         ValueError, r"build_model: encoder_kw\['c'\] is a dict, but 'c' is not a modality of "
                     r"this model \['a', 'b'\]"),
        (lambda: build_model({"a": (3,), "b": (4,)}, 3, encoder_kw={"a": 3}), TypeError,
         r"build_model: encoder_kw\['a'\] must be a dict of options"),
    ],
)
def test_bad_model_arguments(build, exc, match):
    with pytest.raises(exc, match=match):
        build()


def test_bad_forward_inputs():
    model = MultiModalNet(_two_encoders(), 3)
    with pytest.raises(ValueError, match=r"MultiModalNet: the input dict has missing \['b'\] "
                                         r"and unexpected \['c'\]; expected exactly the keys "
                                         r"\['a', 'b'\]\."):
        model({"a": torch.zeros(2, 3), "c": torch.zeros(2, 5)})
    with pytest.raises(ValueError, match=r"input 'b' must have shape \[B, 5\]; got \[2, 4\]"):
        model({"a": torch.zeros(2, 3), "b": torch.zeros(2, 4)})
    with pytest.raises(ValueError, match=r"same batch size; 'b' has 3, expected 2"):
        model({"a": torch.zeros(2, 3), "b": torch.zeros(3, 5)})
    with pytest.raises(TypeError, match=r"input 'a' must be a tensor; got list"):
        model({"a": [0, 1, 2], "b": torch.zeros(1, 5)})
    with pytest.raises(ValueError, match=r"unknown modality 'c'; modalities: \['a', 'b'\]"):
        model.encoder_parameters("c")


def test_fusion_kw_must_be_a_dict():
    with pytest.raises(TypeError, match=r"^build_model: 'fusion_kw' must be a dict or None; got "
                                        r"\[1\]\.$"):
        build_model({"a": (3,), "b": (4,)}, 3, fusion_kw=[1])


class _TokenEncoder(nn.Module):
    """A custom encoder of token ids (integer input): no ``float_input`` flag."""

    out_dim = 4

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)

    def forward(self, x):
        return self.emb(x).mean(1)


def test_integer_input_refused_for_built_in_encoders_only():
    model = MultiModalNet(_two_encoders(), 3)
    for dtype in (torch.int64, torch.uint8, torch.bool):
        with pytest.raises(TypeError, match=rf"^MultiModalNet: input 'a' must be a "
                                            rf"floating-point tensor; got {dtype}\.$"):
            model({"a": torch.zeros(2, 3, dtype=dtype), "b": torch.zeros(2, 5)})
    custom = MultiModalNet({"tok": _TokenEncoder(), "b": _two_encoders()["b"]}, 3)
    out = custom({"tok": torch.zeros(2, 6, dtype=torch.long), "b": torch.zeros(2, 5)})
    assert out.fused.shape == (2, 3)
