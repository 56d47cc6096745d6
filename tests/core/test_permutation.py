import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmbss import weighted_draws, weighted_permutation

# chi-square 0.999 quantiles for df = 1..20 (scipy.stats.chi2.ppf(0.999, df))
_CHI2_999 = [10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88, 29.59,
             31.26, 32.91, 34.53, 36.12, 37.70, 39.25, 40.79, 42.31, 43.82, 45.31]


def _chi2(counts, probs, total):
    expected = [p * total for p in probs]
    return sum((c - e) ** 2 / e for c, e in zip(counts, expected, strict=True))


def _sequential_position_probs(w):
    """Exact P(item at position 0) and P(item at position 1) under sequential sampling w/o replacement."""
    total = sum(w)
    p0 = [wi / total for wi in w]
    p1 = [0.0] * len(w)
    for i, j in itertools.permutations(range(len(w)), 2):
        p1[j] += p0[i] * w[j] / (total - w[i])
    return p0, p1


def test_positions_match_sequential_multinomial():
    w = [1.0, 2.0, 3.0, 0.5, 3.5]
    p0, p1 = _sequential_position_probs(w)
    g = torch.Generator().manual_seed(123)
    trials = 20000
    first, second = [0] * 5, [0] * 5
    for _ in range(trials):
        perm = weighted_permutation(torch.tensor(w), generator=g)
        first[int(perm[0])] += 1
        second[int(perm[1])] += 1
    assert _chi2(first, p0, trials) < _CHI2_999[3]
    assert _chi2(second, p1, trials) < _CHI2_999[3]
    # and torch.multinomial (the reference) agrees with the same exact law
    m_first = torch.bincount(torch.multinomial(torch.tensor(w).expand(trials, 5), 1, generator=g)[:, 0], minlength=5)
    assert _chi2(m_first.tolist(), p0, trials) < _CHI2_999[3]


def test_is_a_permutation_zero_weights_last_and_reproducible():
    w = torch.tensor([0.0, 1.0, 0.0, 2.0, 1.0])
    a = weighted_permutation(w, generator=torch.Generator().manual_seed(5))
    b = weighted_permutation(w, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert sorted(a.tolist()) == list(range(5))
    assert a[-2:].tolist() == [0, 2]


def test_works_beyond_multinomial_limit():
    n = 2**24 + 10
    w = torch.ones(n)
    with pytest.raises(RuntimeError):
        torch.multinomial(w, 5, replacement=False)
    p = weighted_permutation(w, generator=torch.Generator().manual_seed(0))
    assert p.numel() == n and int(p.max()) == n - 1
    assert torch.bincount(p, minlength=n).max() == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=1, max_size=60).filter(lambda w: any(x > 0 for x in w)),
       st.integers(0, 2**31))
def test_property_always_a_permutation(w, seed):
    p = weighted_permutation(torch.tensor(w, dtype=torch.float64), generator=torch.Generator().manual_seed(seed))
    assert sorted(p.tolist()) == list(range(len(w)))
    n_pos = sum(x > 0 for x in w)
    assert all(w[i] > 0 for i in p[:n_pos].tolist())


def test_weighted_draws_frequencies():
    w = torch.tensor([1.0, 0.0, 3.0, 6.0])
    d = weighted_draws(w, 50000, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(d, minlength=4).tolist()
    assert counts[1] == 0
    assert _chi2([counts[0], counts[2], counts[3]], [0.1, 0.3, 0.6], 50000) < _CHI2_999[1]


@pytest.mark.parametrize("fn", [weighted_permutation, lambda w: weighted_draws(w, 3)])
def test_bad_weights(fn):
    with pytest.raises(ValueError, match=r"'weights' must be finite and >= 0; got 1 negative and 0 infinite"):
        fn(torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"'weights' holds 1 NaN value"):
        fn(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="all weights are zero"):
        fn(torch.zeros(3))
    with pytest.raises(ValueError, match="'weights' is empty"):
        fn(torch.zeros(0))
    with pytest.raises(ValueError, match="'weights' must be a 1-D Tensor"):
        fn(torch.ones(2, 2))


@pytest.mark.parametrize("index_bits", [3, 20, 45, 60])
def test_packed_argsort_equals_stable_argsort_even_with_many_truncation_ties(index_bits):
    from mmbss.permutation import _argsort_packed

    g = torch.Generator().manual_seed(index_bits)
    keys = torch.cat([torch.randn(500, generator=g, dtype=torch.float64) * 1e-3,
                      torch.tensor([float("inf")] * 5 + [float("-inf")] * 3 + [0.0, -0.0, 1.0, 1.0],
                                   dtype=torch.float64)])
    keys = keys[torch.randperm(keys.numel(), generator=g)]
    expected = torch.sort(keys, stable=True).indices
    assert torch.equal(_argsort_packed(keys.clone(), max(index_bits, 10)), expected)


def _keys(u: torch.Tensor, lw: torch.Tensor) -> torch.Tensor:
    """The documented keys: log E - log w with E = -log(1 - U)."""
    return (-torch.log1p(-u)).log() - lw


def test_same_seed_same_order_as_the_plain_exponential_keys():
    w = torch.rand(3000, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    lw = w.log() - w.log().max()
    keys = _keys(torch.empty_like(w).uniform_(generator=torch.Generator().manual_seed(2)), lw)
    got = weighted_permutation(w, generator=torch.Generator().manual_seed(2))
    assert torch.equal(got, torch.sort(keys, stable=True).indices)


def test_log_weights_keep_order_where_weights_would_underflow():
    # exp(-800) and exp(-900) underflow to 0.0 in float64, but their logs order them
    lw = torch.tensor([-900.0, 0.0, -800.0, float("-inf")], dtype=torch.float64)
    firsts = [weighted_permutation(log_weights=lw, generator=torch.Generator().manual_seed(s)).tolist()
              for s in range(20)]
    assert all(p == [1, 2, 0, 3] for p in firsts)
    with pytest.raises(ValueError, match="pass exactly one of 'weights' and 'log_weights'"):
        weighted_permutation(torch.ones(2), log_weights=torch.zeros(2))
    with pytest.raises(ValueError, match=r"'log_weights' holds 1 NaN or \+inf"):
        weighted_permutation(log_weights=torch.tensor([0.0, float("inf")]))


def test_huge_common_log_weight_offset_changes_nothing():
    firsts = torch.bincount(torch.tensor([
        int(weighted_permutation(log_weights=torch.full((3,), -1e20),
                                 generator=torch.Generator().manual_seed(s))[0]) for s in range(300)]),
        minlength=3)
    assert _chi2(firsts.tolist(), [1 / 3] * 3, 300) < _CHI2_999[1]


def test_draws_count_checked_and_constant_keys_keep_index_order():
    from mmbss.permutation import _argsort_packed

    with pytest.raises(ValueError, match=r"'num_draws' must be an int >= 0; got -1"):
        weighted_draws(torch.ones(3), -1)
    assert _argsort_packed(torch.full((5,), 2.5, dtype=torch.float64), 3).tolist() == [0, 1, 2, 3, 4]


def test_arguments_of_the_wrong_type_raise_type_error():
    w = torch.ones(3)
    with pytest.raises(TypeError, match=r"^weighted_permutation: 'weights' must be a 1-D Tensor; "
                                        r"got list\.$"):
        weighted_permutation([1.0, 2.0])
    with pytest.raises(TypeError, match=r"^weighted_draws: 'log_weights' must be a 1-D Tensor; "
                                        r"got list\.$"):
        weighted_draws(None, 2, log_weights=[0.0, 0.0])
    with pytest.raises(TypeError, match=r"^weighted_draws: 'num_draws' must be an int >= 0; got "
                                        r"'3'\.$"):
        weighted_draws(w, "3")
    with pytest.raises(TypeError, match=r"^weighted_draws: 'num_draws' must be an int >= 0; got "
                                        r"True\.$"):
        weighted_draws(w, True)
    with pytest.raises(TypeError, match=r"^weighted_permutation: 'generator' must be a "
                                        r"torch\.Generator or None; got 3\.$"):
        weighted_permutation(w, generator=3)
    with pytest.raises(TypeError, match=r"^weighted_draws: 'generator' must be a "
                                        r"torch\.Generator or None; got 3\.$"):
        weighted_draws(w, 2, generator=3)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_chunked_passes_give_the_stable_argsort_whatever_the_chunk_size(monkeypatch, chunk):
    # runs of tied steps across chunk boundaries, infinities in chunks of their own, -inf keys
    import mmbss.core.permutation as perm

    monkeypatch.setattr(perm, "_CHUNK", chunk)
    g = torch.Generator().manual_seed(chunk)
    for keys in (torch.randint(-3, 3, (200,), generator=g).double(),
                 torch.full((50,), 1.5, dtype=torch.float64),
                 torch.cat([torch.full((9,), float("inf"), dtype=torch.float64),
                            torch.randn(40, generator=g, dtype=torch.float64),
                            torch.tensor([float("-inf")] * 4, dtype=torch.float64)])):
        expected = torch.sort(keys, stable=True).indices
        assert torch.equal(perm._argsort_packed(keys.clone(), 8), expected)
    w = torch.rand(300, dtype=torch.float64, generator=g)
    w[::7] = 0.0
    w = w.float().double()  # the float32 weights below, exactly
    lw = w.log() - w.log().max()
    keys = _keys(torch.empty_like(w).uniform_(generator=torch.Generator().manual_seed(3)), lw)
    got = perm.weighted_permutation(w.float(), generator=torch.Generator().manual_seed(3))
    expected = torch.sort(keys.masked_fill(w == 0, float("inf")), stable=True).indices
    assert torch.equal(got, expected)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_callers_weights_are_never_changed(dtype):
    w = torch.tensor([0.5, 2.0, 0.0, 1.0], dtype=dtype)
    lw = torch.tensor([-1.0, 0.5, float("-inf"), 2.0], dtype=dtype)
    w0, lw0 = w.clone(), lw.clone()
    weighted_permutation(w, generator=torch.Generator().manual_seed(0))
    weighted_permutation(log_weights=lw, generator=torch.Generator().manual_seed(0))
    weighted_draws(w, 5, generator=torch.Generator().manual_seed(0))
    weighted_draws(None, 5, generator=torch.Generator().manual_seed(0), log_weights=lw)
    assert torch.equal(w, w0) and torch.equal(lw, lw0)
