"""Stratified splits: proportional, disjoint, covering, deterministic; fraction validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmbss.data import check_fractions, numpy_rng, stratified_split


def _check_split(labels, val_fraction, test_fraction, seed):
    tr, va, te = stratified_split(labels, val_fraction=val_fraction,
                                  test_fraction=test_fraction, seed=seed)
    n = len(labels)
    allidx = np.concatenate([tr, va, te])
    assert len(allidx) == n and np.array_equal(np.sort(allidx), np.arange(n))
    for idx in (tr, va, te):
        assert np.array_equal(idx, np.sort(idx)) and idx.dtype == np.int64
    assert len(te) == round(n * test_fraction)
    counts = np.bincount(labels)
    for idx, frac in ((te, test_fraction), (va, val_fraction)):
        got = np.bincount(labels[idx], minlength=len(counts))
        assert np.all(np.abs(got - counts * frac) <= 1.0 + 1e-9)
    return tr, va, te


def test_balanced_classes_exact():
    labels = np.repeat(np.arange(10), 200)
    tr, va, te = _check_split(labels, 0.2, 0.2, seed=0)
    assert (len(tr), len(va), len(te)) == (1200, 400, 400)
    assert np.bincount(labels[te]).tolist() == [40] * 10


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(1, 30), min_size=2, max_size=6),
       val=st.floats(0.05, 0.45), test=st.floats(0.05, 0.45), seed=st.integers(0, 2**32))
def test_unbalanced_classes_proportional(counts, val, test, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(len(labels))]
    if sum(counts) < 8:
        return
    try:
        _check_split(labels, val, test, seed)
    except ValueError as exc:  # tiny sets may leave a split empty; that must be said clearly
        assert "split of" in str(exc) and "is empty" in str(exc)


def test_deterministic_and_seed_sensitive():
    labels = np.repeat(np.arange(4), 50)
    a = stratified_split(labels, val_fraction=0.2, test_fraction=0.2, seed=3)
    b = stratified_split(labels, val_fraction=0.2, test_fraction=0.2, seed=3)
    c = stratified_split(labels, val_fraction=0.2, test_fraction=0.2, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[2], c[2])


def test_streams_do_not_collide():
    """(seed, stream) is mixed, not added: different streams/seeds give different draws."""
    draws = {(s, k): numpy_rng(s, k).integers(2**62) for s in (0, 1) for k in ("split", "corrupt")}
    assert len(set(draws.values())) == 4
    assert numpy_rng(5, "split").integers(2**62) == numpy_rng(5, "split").integers(2**62)


def test_global_rng_untouched():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    stratified_split(np.repeat([0, 1], 10), val_fraction=0.2, test_fraction=0.2, seed=0)
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize(("val", "test", "exc", "match"), [
    (0.0, 0.2, ValueError, r"'val_fraction' must be a float in \(0.0, 1.0\); got 0.0"),
    (0.2, 1.0, ValueError, r"'test_fraction' must be a float in \(0.0, 1.0\); got 1.0"),
    (0.5, 0.5, ValueError, r"'val_fraction \+ test_fraction' must be < 1"),
    ("0.2", 0.2, TypeError, r"'val_fraction' must be a float"),
])
def test_bad_fractions(val, test, exc, match):
    with pytest.raises(exc, match=match):
        check_fractions("x", val, test)


def test_bad_labels_and_empty_split():
    with pytest.raises(ValueError, match="'labels' must be a 1-D integer array"):
        stratified_split(np.zeros(10), val_fraction=0.2, test_fraction=0.2, seed=0)
    with pytest.raises(ValueError, match="the val split of 3 samples is empty"):
        stratified_split(np.array([0, 1, 1]), val_fraction=0.1, test_fraction=0.4, seed=0)
