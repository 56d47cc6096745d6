import pytest
import torch

from mmbss.engine.metrics import evaluate_outputs, macro_f1, mean_average_precision


def test_macro_f1_by_hand():
    pred = torch.tensor([0, 0, 1, 1, 2])
    y = torch.tensor([0, 1, 1, 1, 0])
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp0 fn1 -> 0.8; class 2: tp0 fp1 fn0 -> 0
    assert macro_f1(pred, y, 3) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_map_by_hand():
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    y = torch.tensor([0, 1, 1, 0])
    # class 0 ranking: s0(+) s1(-) s3(+) s2(-): AP = (1/1 + 2/3) / 2
    # class 1 ranking: s2(+) s3(-) s1(+) s0(-): AP = (1 + 2/3) / 2
    assert mean_average_precision(scores, y) == pytest.approx((1 + 2 / 3) / 2)


def test_evaluate_outputs_modality_gap_agreement():
    y = torch.tensor([0, 1, 0, 1])
    a = torch.tensor([[2.0, 0], [0, 2], [2, 0], [0, 2]])   # all right, confident
    b = torch.tensor([[1.0, 0], [1, 0], [1, 0], [1, 0]])   # always class 0: half right
    m = evaluate_outputs(torch.zeros(4, 2), {"a": a, "b": b}, y, 2, rule="sum")
    assert m["modality_acc"] == {"a": 1.0, "b": 0.5}
    assert m["unimodal_gap"] == 0.5 and m["agreement"] == 0.5
    assert m["acc"] == 1.0   # sum of logits: a outvotes b
    assert evaluate_outputs(torch.zeros(4, 2), {"a": a, "b": b}, y, 2, rule="fused")["acc"] == 0.5
