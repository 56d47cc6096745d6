import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mmbss import BalanceScorer, minmax


def test_minmax_hand_values():
    assert minmax(torch.tensor([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]


def test_minmax_constant_gives_zeros_not_nan():
    out = minmax(torch.full((5,), 3.0))
    assert out.tolist() == [0.0] * 5


def test_minmax_rejects_nan_naming_count():
    with pytest.raises(ValueError, match=r"NaN or inf in 2 sample"):
        minmax(torch.tensor([1.0, float("nan"), float("inf")]))


def _two_modalities():
    # hand-checkable: modality a is certain of class 0, b is uniform over 2 classes
    fused = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    a = torch.tensor([[100.0, 0.0], [100.0, 0.0]])
    b = torch.tensor([[0.0, 0.0], [100.0, 0.0]])
    return fused, {"a": a, "b": b}, torch.tensor([0, 1])


def test_prediction_similarity_and_loss_by_hand():
    fused, uni, y = _two_modalities()
    c = BalanceScorer().criteria(fused, uni, y)
    # sample 0: cos((1,0), (.5,.5)) = 1/sqrt(2); sample 1: cos((1,0), (1,0)) = 1
    assert c["prediction_similarity"].tolist() == pytest.approx([1 / math.sqrt(2), 1.0], abs=1e-6)
    # loss = CE(fused) + CE(a) + CE(b); sample 0: ln2 + 0 + ln2; sample 1: ln2 + 100 + 100
    assert c["loss"].tolist() == pytest.approx([2 * math.log(2), math.log(2) + 200], rel=1e-5)


def test_score_is_one_minus_norm_s_plus_norm_l():
    fused, uni, y = _two_modalities()
    d = BalanceScorer().score(fused, uni, y)
    # S: sample 1 most similar -> 1 - N(S) = [1, 0]; L: sample 1 larger -> N(L) = [0, 1]
    assert d.tolist() == pytest.approx([1.0, 1.0])
    d_s = BalanceScorer(information=None).score(fused, uni, y)
    assert d_s.tolist() == pytest.approx([1.0, 0.0])


def test_loss_weights_follow_training_loss():
    fused, uni, y = _two_modalities()
    c = BalanceScorer(loss_weights={"fused": 0.1, "unimodal": 0.9, "b": 0.0}).criteria(fused, uni, y)
    assert c["loss"].tolist() == pytest.approx([0.1 * math.log(2), 0.1 * math.log(2) + 90], rel=1e-5)


def test_feature_similarity_by_hand():
    fused, uni, y = _two_modalities()
    feats = {"a": torch.tensor([[1.0, 0.0], [1.0, 1.0]]), "b": torch.tensor([[0.0, 1.0], [2.0, 2.0]])}
    c = BalanceScorer(correlation="feature", information=None).criteria(fused, uni, y, features=feats)
    assert c["feature_similarity"].tolist() == pytest.approx([0.0, 1.0], abs=1e-6)


def test_gradient_equals_per_sample_weight_gradient_norm():
    torch.manual_seed(0)
    n, c = 6, 4
    heads = {k: torch.nn.Linear(d, c) for k, d in [("fused", 5), ("a", 3), ("b", 7)]}
    xs = {k: torch.randn(n, h.in_features) for k, h in heads.items()}
    y = torch.randint(0, c, (n,))
    z = {k: heads[k](xs[k]) for k in heads}
    weights = {"fused": 0.5, "a": 1.0, "b": 2.0}
    scorer = BalanceScorer(information="gradient", loss_weights=weights)
    g = scorer.criteria(z["fused"], {"a": z["a"], "b": z["b"]}, y, head_inputs=xs)["gradient"]
    for i in range(n):
        expected = 0.0
        for k, head in heads.items():
            loss = weights[k] * F.cross_entropy(head(xs[k][i : i + 1]), y[i : i + 1])
            (gw,) = torch.autograd.grad(loss, head.weight)
            expected += float(gw.norm())
        assert float(g[i]) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("corr", ["prediction", "feature", None])
@pytest.mark.parametrize("info", ["loss", "gradient", None])
def test_all_eight_choices_give_scores_in_range(corr, info):
    if corr is None and info is None:
        with pytest.raises(ValueError, match="cannot both be None"):
            BalanceScorer(correlation=None, information=None)
        return
    torch.manual_seed(1)
    n, c = 8, 3
    uni = {m: torch.randn(n, c) for m in "abc"}
    feats = {m: torch.randn(n, 4) for m in "abc"}
    heads = {"fused": torch.randn(n, 5), **{m: torch.randn(n, 4) for m in "abc"}}
    scorer = BalanceScorer(correlation=corr, information=info)
    d = scorer.score(torch.randn(n, c), uni, torch.randint(0, c, (n,)), features=feats,
                     head_inputs=heads)
    upper = 2.0 if (corr and info) else 1.0
    assert d.shape == (n,) and float(d.min()) >= 0 and float(d.max()) <= upper
    assert set(scorer.criteria(torch.randn(n, c), uni, torch.zeros(n, dtype=torch.long),
                               features=feats, head_inputs=heads)) == set(scorer.keys)


def test_list_of_unimodal_logits_accepted():
    fused, uni, y = _two_modalities()
    assert torch.equal(BalanceScorer().score(fused, list(uni.values()), y),
                       BalanceScorer().score(fused, uni, y))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 30), c=st.integers(2, 6), m=st.integers(2, 4), scale=st.floats(0, 1e3),
       seed=st.integers(0, 2**16))
def test_score_never_nan_and_bounded(n, c, m, scale, seed):
    g = torch.Generator().manual_seed(seed)
    uni = {str(i): torch.randn(n, c, generator=g) * scale for i in range(m)}
    y = torch.randint(0, c, (n,), generator=g)
    d = BalanceScorer().score(torch.randn(n, c, generator=g) * scale, uni, y)
    assert torch.isfinite(d).all() and float(d.min()) >= 0 and float(d.max()) <= 2


# ---- bad input: each message pinned ----------------------------------------------------------
def test_mismatched_n_or_c():
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"unimodal_logits\['b'\] has shape \(3, 2\); expected \(N, C\) = \(2, 2\)"):
        BalanceScorer().score(torch.zeros(2, 2), {"a": torch.zeros(2, 2), "b": torch.zeros(3, 2)}, y)
    with pytest.raises(ValueError, match=r"has shape \(2, 3\); expected \(N, C\) = \(2, 2\)"):
        BalanceScorer().score(torch.zeros(2, 2), {"a": torch.zeros(2, 2), "b": torch.zeros(2, 3)}, y)


def test_fewer_than_two_modalities():
    with pytest.raises(ValueError, match="has 1 modality; BSS needs at least 2"):
        BalanceScorer().score(torch.zeros(2, 2), {"a": torch.zeros(2, 2)}, torch.tensor([0, 1]))


def test_labels_out_of_range_and_wrong_dtype():
    uni = {"a": torch.zeros(2, 3), "b": torch.zeros(2, 3)}
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\] for C=3 classes; got values in \[0, 3\]"):
        BalanceScorer().score(torch.zeros(2, 3), uni, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="integer class ids"):
        BalanceScorer().score(torch.zeros(2, 3), uni, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels must be an integer Tensor\[N\] with N=2"):
        BalanceScorer().score(torch.zeros(2, 3), uni, torch.tensor([0, 1, 2]))


def test_nan_and_inf_logits_named():
    uni = {"a": torch.zeros(3, 2), "b": torch.tensor([[float("nan"), 0], [0, float("inf")], [0, 0]])}
    with pytest.raises(ValueError, match=r"unimodal_logits\['b'\] holds NaN or inf in 2 sample"):
        BalanceScorer().score(torch.zeros(3, 2), uni, torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match=r"fused_logits holds NaN or inf in 1 sample"):
        BalanceScorer().score(torch.tensor([[float("nan"), 0], [0, 0], [0, 0]]),
                              {"a": torch.zeros(3, 2), "b": torch.zeros(3, 2)}, torch.tensor([0, 1, 0]))


def test_feature_similarity_unequal_dims():
    uni = {"a": torch.zeros(2, 2), "b": torch.zeros(2, 2)}
    with pytest.raises(ValueError, match=r"needs equal feature dims, got \{'a': \(3,\), 'b': \(4,\)\}"):
        BalanceScorer(correlation="feature").score(
            torch.zeros(2, 2), uni, torch.tensor([0, 1]),
            features={"a": torch.zeros(2, 3), "b": torch.zeros(2, 4)})
    with pytest.raises(ValueError, match="needs features"):
        BalanceScorer(correlation="feature").score(torch.zeros(2, 2), uni, torch.tensor([0, 1]))


def test_gradient_needs_head_inputs():
    uni = {"a": torch.zeros(2, 2), "b": torch.zeros(2, 2)}
    with pytest.raises(ValueError, match="needs head_inputs"):
        BalanceScorer(information="gradient").score(torch.zeros(2, 2), uni, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"head_inputs lacks 'fused'"):
        BalanceScorer(information="gradient").score(
            torch.zeros(2, 2), uni, torch.tensor([0, 1]),
            head_inputs={"a": torch.zeros(2, 1), "b": torch.zeros(2, 1)})


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match=r"BalanceScorer: 'correlation' must be one of 'prediction', 'feature', None; got 'predictoin' \(did you mean 'prediction'\?\)"):
        BalanceScorer(correlation="predictoin")
    with pytest.raises(ValueError, match=r"BalanceScorer: 'loss_weights\['fused'\]' must be a float >= 0.0; got -1"):
        BalanceScorer(loss_weights={"fused": -1})


def test_repr_shows_non_defaults():
    assert repr(BalanceScorer()) == "BalanceScorer()"
    assert repr(BalanceScorer(information="gradient")) == "BalanceScorer(information='gradient')"


def test_minmax_and_loss_weights_of_the_wrong_type():
    with pytest.raises(TypeError, match=r"^minmax: expected a 1-D tensor; got list \(convert it "
                                        r"with torch\.as_tensor\)\.$"):
        minmax([1.0, 2.0])
    expected = (r"^BalanceScorer: 'loss_weights' must be a dict head -> float \(keys 'fused', "
                r"'unimodal' or a modality name\) or None; got ")
    with pytest.raises(TypeError, match=expected + r"\[1, 2\]\.$"):
        BalanceScorer(loss_weights=[1, 2])
    with pytest.raises(TypeError, match=expected + r"key 1\.$"):
        BalanceScorer(loss_weights={1: 0.5})


def test_features_and_head_inputs_keyed_by_the_modalities():
    uni = {"a": torch.zeros(4, 3), "b": torch.zeros(4, 3)}
    y = torch.tensor([0, 1, 2, 0])
    feature = BalanceScorer(correlation="feature")
    with pytest.raises(ValueError, match=r"^features has missing \['a', 'b'\] and unexpected "
                                         r"\['x', 'y'\]; expected exactly the keys \['a', 'b'\] "
                                         r"\(the modalities of unimodal_logits\)\.$"):
        feature.score(torch.zeros(4, 3), uni, y, features={"x": torch.ones(4, 5),
                                                           "y": torch.ones(4, 5)})
    with pytest.raises(ValueError, match=r"^features has unexpected \['c'\]; expected exactly"):
        feature.score(torch.zeros(4, 3), uni, y, features={m: torch.ones(4, 5) for m in "abc"})
    with pytest.raises(TypeError, match=r"^features\['b'\] must be a Tensor\[N, D\]; got list\.$"):
        feature.score(torch.zeros(4, 3), uni, y, features={"a": torch.ones(4, 5), "b": [1]})
    as_list = feature.criteria(torch.zeros(4, 3), uni, y, features=[torch.ones(4, 5)] * 2)
    as_dict = feature.criteria(torch.zeros(4, 3), uni, y, features={m: torch.ones(4, 5)
                                                                    for m in "ab"})
    assert torch.equal(as_list["feature_similarity"], as_dict["feature_similarity"])
    gradient = BalanceScorer(information="gradient")
    heads = {m: torch.ones(4, 2) for m in ("fused", "a", "b")}
    with pytest.raises(ValueError, match=r"^head_inputs has keys \['c'\] that are neither 'fused' "
                                         r"nor a modality of unimodal_logits; expected keys "
                                         r"\['fused', 'a', 'b'\]\.$"):
        gradient.score(torch.zeros(4, 3), uni, y, head_inputs={**heads, "c": torch.ones(4, 2)})
    with pytest.raises(TypeError, match=r"^head_inputs must be a dict head -> Tensor\[N, D_h\] "
                                        r"with keys \['fused', 'a', 'b'\]; got list\.$"):
        gradient.score(torch.zeros(4, 3), uni, y, head_inputs=list(heads.values()))
    with pytest.raises(TypeError, match=r"^head_inputs\['a'\] must be a Tensor\[N, D\]; got "
                                        r"str\.$"):
        gradient.score(torch.zeros(4, 3), uni, y, head_inputs={**heads, "a": "x"})
