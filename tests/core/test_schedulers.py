import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmbss._rng import mix_seed

from mmbss import (
    AntiCurriculumScheduler,
    CurriculumScheduler,
    LearningBasedScheduler,
    RandomPacingScheduler,
    UniformScheduler,
)

ALL = [CurriculumScheduler, LearningBasedScheduler, AntiCurriculumScheduler,
       RandomPacingScheduler, UniformScheduler]
N = 50


def _make(cls, **kw):
    extra = {"pacing": "linear", "lambda0": 0.2, "t_grow": 5} if issubclass(cls, CurriculumScheduler) else {}
    return cls(num_samples=N, seed=3, **{**extra, **kw})


def _scores(seed=0):
    return torch.rand(N, generator=torch.Generator().manual_seed(seed)) * 2


def _feed(s, epoch, seed=0):
    if s.wants_scores(epoch):
        s.update(_scores(seed + epoch))


# ---- contract over every scheduler (DESIGN rule 12) -----------------------------------------
@pytest.mark.parametrize("cls", ALL)
def test_contract_length_determinism_range(cls):
    a, b = _make(cls), _make(cls)
    for epoch in range(7):
        _feed(a, epoch)
        _feed(b, epoch)
        ia, ib = a.indices(epoch), b.indices(epoch)
        assert ia.dtype == torch.long and ia.numel() == a.epoch_size(epoch)
        assert torch.equal(ia, ib)
        assert int(ia.min()) >= 0 and int(ia.max()) < N
        if not getattr(a, "replacement", False):
            assert ia.unique().numel() == ia.numel()


@pytest.mark.parametrize("cls", ALL)
def test_contract_state_round_trip_continues_identically(cls):
    a = _make(cls)
    for epoch in range(3):
        _feed(a, epoch)
        a.indices(epoch)
    b = _make(cls)
    b.load_state_dict(a.state_dict())
    for epoch in range(3, 7):
        _feed(a, epoch, seed=10)
        _feed(b, epoch, seed=10)
        assert torch.equal(a.indices(epoch), b.indices(epoch))


@pytest.mark.parametrize("cls", ALL)
def test_contract_state_dict_rejects_wrong_keys_and_size(cls):
    a = _make(cls)
    with pytest.raises(KeyError, match=r"expected keys \['num_samples', 'scheduler', 'scores', "
                       r"'seed'\]; missing \['scheduler', 'scores'\]"):
        a.load_state_dict({"num_samples": N, "seed": 3})
    other = cls(num_samples=N + 1, seed=3)
    with pytest.raises(ValueError, match=f"state has num_samples={N + 1}, this scheduler has {N}"):
        a.load_state_dict(other.state_dict())
    state = a.state_dict()
    state["scores"] = torch.zeros(N + 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=rf"'scores' must be a Tensor of shape \({N},\); got \({N + 2},\)"):
        a.load_state_dict(state)
    state["scores"] = torch.full((N,), float("nan"), dtype=torch.float64)
    with pytest.raises(ValueError, match="'scores' holds NaN/inf"):
        a.load_state_dict(state)
    foreign = next(c for c in ALL if c is not cls)(num_samples=N, seed=3)
    with pytest.raises(ValueError, match=rf"the state is a {type(foreign).__name__}'s; load it into a"):
        a.load_state_dict(foreign.state_dict())


@pytest.mark.parametrize("cls", ALL)
def test_contract_bad_arguments(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"{name}: 'num_samples' must be an int >= 1; got 0"):
        cls(num_samples=0)
    with pytest.raises(TypeError, match=rf"{name}: 'seed' must be an int >= 0; got '1'"):
        cls(num_samples=5, seed="1")
    with pytest.raises(TypeError):
        cls(5)  # keyword-only


def test_seed_epoch_mixing_is_collision_free():
    assert mix_seed(0, 1, "shuffle") != mix_seed(1, 0, "shuffle")
    u0 = UniformScheduler(num_samples=100, seed=0)
    u1 = UniformScheduler(num_samples=100, seed=1)
    assert not torch.equal(u0.indices(1), u1.indices(0))
    assert not torch.equal(u0.indices(0), u0.indices(1))


# ---- curriculum ------------------------------------------------------------------------------
def test_curriculum_takes_most_balanced_prefix_with_root_pacing():
    s = CurriculumScheduler(num_samples=1000, pacing="root", lambda0=0.1, t_grow=40, seed=0)
    d = torch.rand(1000, generator=torch.Generator().manual_seed(0))
    s.update(d)
    order = torch.argsort(d)
    assert s.epoch_size(0) == 186 and s.epoch_size(9) == 507 and s.epoch_size(39) == 1000
    assert set(s.indices(0).tolist()) == set(order[:186].tolist())
    assert not torch.equal(s.indices(0), order[:186])  # reshuffled within the subset


def test_curriculum_ties_broken_by_index_and_anti_reverses():
    s = CurriculumScheduler(num_samples=6, pacing="constant", seed=0)
    s.update(torch.tensor([1.0, 0.0, 1.0, 0.0, 2.0, 1.0]))
    assert s.order().tolist() == [1, 3, 0, 2, 5, 4]
    a = AntiCurriculumScheduler(num_samples=6, pacing="constant", seed=0)
    a.update(torch.tensor([1.0, 0.0, 1.0, 0.0, 2.0, 1.0]))
    assert a.order().tolist() == [4, 0, 2, 5, 1, 3]


def test_warmup_then_pacing_from_lambda0_and_min_samples():
    s = CurriculumScheduler(num_samples=100, pacing="linear", lambda0=0.1, t_grow=10,
                            warmup_epochs=2, min_samples=32, seed=0)
    assert not s.wants_scores(0) and not s.wants_scores(1) and s.wants_scores(2)
    assert s.indices(0).numel() == 100 and sorted(s.indices(1).tolist()) == list(range(100))
    s.update(torch.rand(100))
    assert s.epoch_size(2) == 32   # floor(100 * 0.19) = 19 < min_samples
    assert s.epoch_size(5) == 46   # paced epoch 3: 0.1 + 0.9 * 0.4


def test_rescore_every_k():
    s = CurriculumScheduler(num_samples=10, warmup_epochs=1, rescore_every=3)
    wanted = []
    for e in range(9):
        wanted.append(s.wants_scores(e))
        if wanted[-1]:
            s.update(torch.rand(10))
    assert wanted == [False, True, False, False, True, False, False, True, False]
    ref = CurriculumScheduler(num_samples=10)
    ref.update(torch.rand(10))
    assert [ref.wants_scores(e) for e in range(4)] == [False] * 4


def test_indices_before_scores_raises():
    s = CurriculumScheduler(num_samples=10)
    with pytest.raises(RuntimeError, match=r"CurriculumScheduler: no scores yet; call update\(scores\) before indices\(0\)"):
        s.indices(0)
    with pytest.raises(RuntimeError, match="LearningBasedScheduler: no scores yet"):
        LearningBasedScheduler(num_samples=10).indices(0)


def test_ema_smoothing():
    s = LearningBasedScheduler(num_samples=2, ema=0.5)
    s.update(torch.tensor([0.0, 2.0]))
    s.update(torch.tensor([2.0, 0.0]))
    assert s.scores.tolist() == [1.0, 1.0]


# ---- learning-based ------------------------------------------------------------------------
def test_lb_weights_reference_formula_and_balanced_first_tendency():
    s = LearningBasedScheduler(num_samples=4, eps=0.01)
    s.update(torch.tensor([0.0, 0.5, 1.5, 2.0]))
    assert s.weights().tolist() == pytest.approx([2.01, 1.51, 0.51, 0.01])
    firsts = torch.bincount(torch.stack([s.indices(e)[0] for e in range(400)]), minlength=4)
    assert firsts[0] > firsts[1] > firsts[2] > firsts[3]


def test_lb_redraws_every_epoch_and_wants_scores_every_epoch():
    s = LearningBasedScheduler(num_samples=30)
    assert all(s.wants_scores(e) for e in range(3))
    s.update(torch.rand(30))
    assert not torch.equal(s.indices(0), s.indices(1))


def test_lb_temperature_and_replacement():
    s = LearningBasedScheduler(num_samples=3, temperature=0.5, replacement=True, seed=1)
    s.update(torch.tensor([0.0, 1.0, 2.0]))
    assert s.weights().tolist() == pytest.approx([1.0, torch.exp(torch.tensor(-2.0)).item(),
                                                  torch.exp(torch.tensor(-4.0)).item()])
    draws = torch.cat([s.indices(e) for e in range(300)])
    assert draws.numel() == 900
    counts = torch.bincount(draws, minlength=3)
    assert counts[0] > counts[1] > counts[2]


def test_lb_bad_values():
    with pytest.raises(ValueError, match=r"LearningBasedScheduler: 'eps' must be a float in \(0.0, 1.0\]; got -0.5"):
        LearningBasedScheduler(num_samples=3, eps=-0.5)
    with pytest.raises(ValueError, match=r"'temperature' must be a float > 0.0 or None; got 0"):
        LearningBasedScheduler(num_samples=3, temperature=0)
    s = LearningBasedScheduler(num_samples=3)
    with pytest.raises(ValueError, match=r"scores must be <= 2 .* got max 3"):
        s.update(torch.tensor([0.0, 1.0, 3.0]))
    with pytest.raises(ValueError, match=r"'scores' must be a Tensor of shape \(3,\); got \(2,\)"):
        s.update(torch.zeros(2))
    with pytest.raises(ValueError, match=r"'scores' holds 1 NaN/inf"):
        s.update(torch.tensor([0.0, float("nan"), 1.0]))


def test_curriculum_bad_pacing_parameters_propagate():
    with pytest.raises(ValueError, match=r"pacing: 'lambda0' must be a float in \(0.0, 1.0\]; got 0"):
        CurriculumScheduler(num_samples=3, lambda0=0)
    with pytest.raises(ValueError, match=r"pacing: 't_grow' must be an int >= 1; got 0"):
        CurriculumScheduler(num_samples=3, t_grow=0)


def test_repr_shows_non_defaults():
    assert repr(CurriculumScheduler(num_samples=5)) == "CurriculumScheduler(num_samples=5)"
    assert repr(LearningBasedScheduler(num_samples=5, eps=0.1)) == "LearningBasedScheduler(num_samples=5, eps=0.1)"


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 200), lam=st.floats(0.01, 1.0), t_grow=st.integers(1, 50),
       epoch=st.integers(0, 60), seed=st.integers(0, 1000))
def test_property_curriculum_subset_sizes(n, lam, t_grow, epoch, seed):
    s = CurriculumScheduler(num_samples=n, lambda0=lam, t_grow=t_grow, seed=seed)
    s.update(torch.rand(n, generator=torch.Generator().manual_seed(seed)))
    idx = s.indices(epoch)
    assert 1 <= idx.numel() <= n and idx.unique().numel() == idx.numel()
    assert set(idx.tolist()) == set(s.order()[: idx.numel()].tolist())
    if epoch + 1 >= t_grow:
        assert idx.numel() == n


def test_lb_small_temperature_orders_by_d_instead_of_underflowing():
    s = LearningBasedScheduler(num_samples=8, temperature=0.002, seed=0)
    d = torch.tensor([0.0, 1.9, 0.5, 1.0, 1.5, 0.2, 2.0, 0.7])
    s.update(d)
    assert float(s.weights()[6]) == 0.0  # exp(-1000) underflows ...
    for epoch in range(3):               # ... yet the order still follows d
        assert s.indices(epoch).tolist() == torch.argsort(d).tolist()


def test_lb_state_round_trip_with_ema_and_sparse_rescoring():
    def make():
        return LearningBasedScheduler(num_samples=N, seed=3, ema=0.5, rescore_every=3)

    a = make()
    for epoch in range(4):
        _feed(a, epoch)
    b = make()
    b.load_state_dict(a.state_dict())
    for epoch in range(4, 9):  # epochs 4, 5 use the restored scores; 6 blends them by EMA
        _feed(a, epoch, seed=10)
        _feed(b, epoch, seed=10)
        assert torch.equal(a.indices(epoch), b.indices(epoch))
    fresh = make()
    _feed(fresh, 0)
    for epoch in range(4, 6):
        assert not torch.equal(fresh.indices(epoch), a.indices(epoch))


def test_scores_that_are_not_a_tensor_name_their_type():
    s = LearningBasedScheduler(num_samples=4)
    with pytest.raises(TypeError, match=r"^LearningBasedScheduler\.update: 'scores' must be a "
                                        r"Tensor of shape \(4,\); got list\.$"):
        s.update([0.0, 0, 0, 0])
    state = {**s.state_dict(), "scores": [0.0, 0.0, 0.0, 0.0]}
    with pytest.raises(TypeError, match=r"^LearningBasedScheduler\.load_state_dict: 'scores' "
                                        r"must be a Tensor of shape \(4,\); got list\.$"):
        s.load_state_dict(state)


def test_load_state_dict_refuses_scores_that_update_refuses():
    s = LearningBasedScheduler(num_samples=4)
    state = {**s.state_dict(), "scores": torch.tensor([0.0, 3.0, 0.0, 0.0])}
    with pytest.raises(ValueError, match=r"^LearningBasedScheduler\.load_state_dict: scores must "
                                         r"be <= 2 \(the range of BalanceScorer\.score\) so that "
                                         r"2 \+ eps - d > 0; got max 3\.$"):
        s.load_state_dict(state)
    assert s.state_dict()["scores"] is None  # nothing loaded
    hot = LearningBasedScheduler(num_samples=4, temperature=0.5)  # exp weights: any finite d
    hot.load_state_dict({**hot.state_dict(), "scores": torch.tensor([0.0, 3.0, 0.0, 0.0])})
    assert hot.scores.tolist() == [0.0, 3.0, 0.0, 0.0]


def test_paced_warmup_counts_as_pacing_time_and_the_subset_never_shrinks():
    from mmbss import CurriculumScheduler, RandomPacingScheduler

    kw = dict(num_samples=100, pacing="linear", lambda0=0.2, t_grow=5, warmup_epochs=2, seed=3)
    full = CurriculumScheduler(**kw)
    paced = CurriculumScheduler(**kw, warmup="paced")
    # linear pacing over paced epochs p = 0, 1, ...: 36, 52, 68, 84, 100 samples
    assert [full.epoch_size(e) for e in range(8)] == [100, 100, 36, 52, 68, 84, 100, 100]
    assert [paced.epoch_size(e) for e in range(8)] == [36, 52, 68, 84, 100, 100, 100, 100]
    first, second = paced.indices(0), paced.indices(1)  # no scores needed during the warm-up
    assert not paced.wants_scores(1) and paced.wants_scores(2)
    assert set(first.tolist()) <= set(second.tolist())  # one fixed random order, a growing prefix
    assert len(set(second.tolist())) == 52
    paced.update(torch.arange(100.0))  # sample 0 is the most balanced
    assert sorted(paced.indices(2).tolist()) == list(range(68))
    # random pacing: the warm-up subsets are prefixes of the very order it paces afterwards
    rp = RandomPacingScheduler(**kw, warmup="paced")
    assert torch.equal(torch.sort(rp.indices(1)).values, torch.sort(rp.order()[:52]).values)
    assert torch.equal(torch.sort(rp.indices(2)).values, torch.sort(rp.order()[:68]).values)
    with pytest.raises(ValueError, match=r"CurriculumScheduler: 'warmup' must be one of 'full', "
                                         r"'paced'; got 'pace' \(did you mean 'paced'\?\)\."):
        CurriculumScheduler(num_samples=5, warmup="pace")
