import pytest
import torch

from mmbss import BalanceScorer, OnlineScoreTracker


def test_last_value_kept_and_unseen_get_mean():
    t = OnlineScoreTracker(4)
    t.record(torch.tensor([0, 1]), {"loss": torch.tensor([1.0, 3.0])})
    t.record(torch.tensor([1]), {"loss": torch.tensor([5.0])})
    assert t.criteria()["loss"].tolist() == [1.0, 5.0, 3.0, 3.0]
    assert t.seen.tolist() == [True, True, False, False]


def test_online_scores_equal_exact_scores_when_all_seen():
    torch.manual_seed(0)
    n = 12
    fused, uni, y = torch.randn(n, 3), {"a": torch.randn(n, 3), "b": torch.randn(n, 3)}, torch.randint(0, 3, (n,))
    scorer = BalanceScorer()
    exact = scorer.score(fused, uni, y)
    t = OnlineScoreTracker(n)
    for idx in torch.randperm(n).split(5):  # mini-batches in a random order
        t.record(idx, scorer.criteria(fused[idx], {k: v[idx] for k, v in uni.items()}, y[idx]))
    assert torch.allclose(t.scores(scorer), exact, atol=1e-6)


def test_policies_and_errors():
    t = OnlineScoreTracker(3, unseen="error")
    with pytest.raises(RuntimeError, match="no sample recorded yet"):
        t.criteria()
    t.record(torch.tensor([0]), {"loss": torch.tensor([1.0])})
    with pytest.raises(RuntimeError, match=r"2 of 3 samples were never seen \(unseen='error'\)"):
        t.criteria()
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 2\]; got \[3, 3\]"):
        t.record(torch.tensor([3]), {"loss": torch.tensor([1.0])})
    with pytest.raises(ValueError, match="criterion 'loss' holds NaN/inf"):
        t.record(torch.tensor([1]), {"loss": torch.tensor([float("nan")])})
    with pytest.raises(ValueError, match=r"OnlineScoreTracker: 'unseen' must be one of 'mean', 'error'; got 'zero'"):
        OnlineScoreTracker(3, unseen="zero")


def test_state_round_trip():
    a = OnlineScoreTracker(3)
    a.record(torch.tensor([2]), {"loss": torch.tensor([4.0])})
    b = OnlineScoreTracker(3)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.criteria()["loss"], b.criteria()["loss"])
    with pytest.raises(ValueError, match=r"every tensor of the state must have shape \(4,\) \(this "
                                         r"tracker's N\); got \[\(3,\), \(3,\), \(3,\)\]"):
        OnlineScoreTracker(4).load_state_dict(a.state_dict())


def test_float_indices_and_missing_criteria_are_errors_and_store_nothing():
    t = OnlineScoreTracker(4)
    with pytest.raises(TypeError, match=r"'indices' must be integer sample indices \(e.g. "
                                        r"batch\['index'\]\); got dtype torch.float32"):
        t.record(torch.tensor([0.0, 1.7]), {"loss": torch.tensor([1.0, 2.0])})
    with pytest.raises(ValueError, match=r"'criteria' must hold the same criteria at every call "
                                         r"\(at least one\); got \[\]"):
        t.record(torch.tensor([0]), {})
    t.record(torch.tensor([0]), {"loss": torch.tensor([1.0]), "prediction_similarity": torch.tensor([0.5])})
    with pytest.raises(ValueError, match=r"same criteria at every call \(\['loss', "
                                         r"'prediction_similarity'\]\); got \['loss'\]"):
        t.record(torch.tensor([1]), {"loss": torch.tensor([2.0])})
    with pytest.raises(ValueError, match="criterion 'prediction_similarity' holds NaN/inf"):
        t.record(torch.tensor([2]), {"loss": torch.tensor([2.0]),
                                     "prediction_similarity": torch.tensor([float("inf")])})
    assert t.seen.tolist() == [True, False, False, False]
    assert t.criteria()["loss"].tolist() == [1.0, 1.0, 1.0, 1.0]  # nothing of the failed calls


@pytest.mark.parametrize(("criteria", "match"), [
    ([torch.tensor([1.0, 2.0])], r"^OnlineScoreTracker\.record: 'criteria' must be a dict name -> "
                                 r"Tensor\[B\] \(e\.g\. BalanceScorer\.criteria\(\.\.\.\)\); got "
                                 r"list\.$"),
    ({"loss": "ab"}, r"^OnlineScoreTracker\.record: 'criteria\['loss'\]' must be a real-valued "
                     r"Tensor\[B\]; got 'ab'\.$"),
    ({"loss": [1.0, 2.0]}, r"'criteria\['loss'\]' must be a real-valued Tensor\[B\]; got "
                           r"\[1\.0, 2\.0\]\.$"),
    ({1: torch.tensor([1.0, 2.0])}, r"'criteria' must be keyed by criterion names \(str\); got "
                                    r"1\.$"),
])
def test_record_needs_a_dict_of_tensors(criteria, match):
    t = OnlineScoreTracker(4)
    with pytest.raises(TypeError, match=match):
        t.record(torch.tensor([0, 1]), criteria)
    assert not bool(t.seen.any())


@pytest.mark.parametrize(("change", "exc", "match"), [
    (None, TypeError, r"^OnlineScoreTracker\.load_state_dict: 'state' must be a dict with keys "
                      r"'seen' and 'values' \(from OnlineScoreTracker\.state_dict\(\)\); got "
                      r"NoneType\.$"),
    ({"values": [1]}, TypeError, r"^OnlineScoreTracker\.load_state_dict: 'values' must be a dict "
                                 r"criterion name -> Tensor\[N\]; got list\.$"),
    ({"values": {"loss": [1.0] * 4}}, TypeError, r"'values' must be a dict criterion name -> "
                                                 r"Tensor\[N\]; got \{'loss': list\}\.$"),
    ({"seen": torch.zeros(4)}, TypeError, r"^OnlineScoreTracker\.load_state_dict: 'seen' must be "
                                          r"a bool Tensor\[N\] \(True = sample seen\); got dtype "
                                          r"torch\.float32\.$"),
    ({"seen": [True] * 4}, TypeError, r"'seen' must be a bool Tensor\[N\] \(True = sample seen\); "
                                      r"got list\.$"),
])
def test_load_state_dict_checks_types(change, exc, match):
    t = OnlineScoreTracker(4)
    t.record(torch.tensor([0]), {"loss": torch.tensor([1.0])})
    state = None if change is None else {**t.state_dict(), **change}
    with pytest.raises(exc, match=match):
        t.load_state_dict(state)
    assert t.seen.tolist() == [True, False, False, False]  # unchanged


def test_a_state_with_float_steps_is_refused():
    state = OnlineScoreTracker(3).state_dict()
    state["step"] = state["step"].double()
    with pytest.raises(TypeError, match=r"OnlineScoreTracker.load_state_dict: 'step' must be a "
                                        r"LongTensor\[N\] \(the record call of each value\); got Tensor"):
        OnlineScoreTracker(3).load_state_dict(state)


def test_unchecked_criteria_and_records_are_the_checked_ones_without_the_value_checks():
    from mmbss import BalanceScorer, OnlineScoreTracker

    g = torch.Generator().manual_seed(0)
    fused, uni = torch.randn(6, 3, generator=g), {"a": torch.randn(6, 3, generator=g),
                                                  "b": torch.randn(6, 3, generator=g)}
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    scorer = BalanceScorer()
    checked, unchecked = scorer.criteria(fused, uni, y), scorer.criteria(fused, uni, y, check=False)
    assert checked.keys() == unchecked.keys()
    assert all(torch.equal(checked[k], unchecked[k]) for k in checked)
    bad = {"a": uni["a"].clone(), "b": uni["b"]}
    bad["a"][0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"unimodal_logits\['a'\] holds NaN or inf in 1 sample"):
        scorer.criteria(fused, bad, y)
    assert scorer.criteria(fused, bad, y, check=False)["loss"].isnan().any()  # the caller's check
    tracker = OnlineScoreTracker(6)
    tracker.record(torch.arange(6), unchecked, check=False)
    assert torch.equal(tracker.criteria()["loss"], checked["loss"].double())
    with pytest.raises(ValueError, match="holds NaN/inf"):
        tracker.record(torch.arange(6), {k: torch.full((6,), float("nan")) for k in unchecked})
    with pytest.raises(ValueError, match=r"'criteria' must hold the same criteria"):
        tracker.record(torch.arange(6), {"other": torch.zeros(6)}, check=False)  # still checked
