"""synthetic: shapes, speed, known easy mask, determinism, bad arguments."""

import time

import pytest
import torch

from mmbss.data import create_dataset


def test_shapes_and_masks():
    b = create_dataset("synthetic", seed=0)
    assert b.modalities == ["m0", "m1"]
    assert b.modality_shapes == {"m0": (16,), "m1": (16,)}
    assert b.num_classes == 4
    assert (len(b.train), len(b.val), len(b.test)) == (720, 240, 240)
    assert torch.bincount(b.train.labels).tolist() == [180] * 4
    masks = [b.info["easy_mask"], b.info["easy_mask_val"], b.info["easy_mask_test"]]
    assert [len(m) for m in masks] == [720, 240, 240]
    assert all(m.dtype == torch.bool for m in masks)
    assert int(sum(m.sum() for m in masks)) == round(0.8 * 1200)


def test_dims_list_and_more_modalities():
    b = create_dataset("synthetic", num_modalities=3, dims=[5, 3, 2], num_classes=3,
                       num_samples=300, seed=1)
    assert b.modality_shapes == {"m0": (5,), "m1": (3,), "m2": (2,)}


def test_fast():
    create_dataset("synthetic", seed=0)  # warm-up
    start = time.perf_counter()
    create_dataset("synthetic", seed=1)
    assert time.perf_counter() - start < 0.1


def test_deterministic():
    a, b = create_dataset("synthetic", seed=3), create_dataset("synthetic", seed=3)
    c = create_dataset("synthetic", seed=4)
    assert torch.equal(a.train.tensors["m0"], b.train.tensors["m0"])
    assert torch.equal(a.info["easy_mask"], b.info["easy_mask"])
    assert not torch.equal(a.train.tensors["m0"], c.train.tensors["m0"])


def _centroid_accuracy(bundle, view, mask=None):
    """Nearest class mean (fit on train) on the test split, optionally on a subset."""
    x, y = bundle.train.tensors[view], bundle.train.labels
    means = torch.stack([x[y == k].mean(0) for k in range(bundle.num_classes)])
    xt, yt = bundle.test.tensors[view], bundle.test.labels
    if mask is not None:
        xt, yt = xt[mask], yt[mask]
    return (torch.cdist(xt, means).argmin(1) == yt).float().mean().item()


def test_m0_is_easy_only_on_easy_samples_and_m1_is_weaker():
    b = create_dataset("synthetic", num_samples=3000, seed=0)
    easy = b.info["easy_mask_test"]
    assert _centroid_accuracy(b, "m0", easy) > 0.9
    assert _centroid_accuracy(b, "m0", ~easy) < 0.4  # chance is 0.25
    m1 = _centroid_accuracy(b, "m1")
    assert 0.45 < m1 < _centroid_accuracy(b, "m0", easy)
    assert _centroid_accuracy(b, "m1", ~easy) > 0.45  # m1 still informs on the hard samples


@pytest.mark.parametrize(("kw", "exc", "match"), [
    ({"num_samples": 5}, ValueError, "synthetic: 'num_samples' must be an int >= 10; got 5"),
    ({"num_classes": 1}, ValueError, "synthetic: 'num_classes' must be an int >= 2; got 1"),
    ({"num_modalities": 1}, ValueError, "'num_modalities' must be an int >= 2; got 1"),
    ({"dims": [4]}, TypeError, r"'dims' must be an int or a list of 2 ints .*; got \[4\]"),
    ({"dims": 0}, ValueError, "'dims' must be an int >= 1; got 0"),
    ({"easy_fraction": 1.5}, ValueError, r"'easy_fraction' must be a float in \[0.0, 1.0\]"),
    ({"noise": 0.0}, ValueError, "'noise' must be a float > 0.0; got 0.0"),
    ({"seed": "0"}, TypeError, "synthetic: 'seed' must be an int; got '0'"),
    ({"test_fraction": 0.9}, ValueError, r"'val_fraction \+ test_fraction' must be < 1"),
])
def test_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        create_dataset("synthetic", **kw)


def test_every_class_needs_a_training_sample():
    with pytest.raises(ValueError, match=r"^synthetic: 'num_classes' must be an int <= "
                                         r"num_samples \(10\) so that every class has a sample; "
                                         r"got 20\. Raise num_samples or lower num_classes\.$"):
        create_dataset("synthetic", num_samples=10, num_classes=20)
    with pytest.raises(ValueError, match=r"^synthetic: the train split of 12 samples has no "
                                         r"sample of class\(es\) \[2\] with num_classes=6, "
                                         r"val_fraction=0\.2 and test_fraction=0\.2; use more "
                                         r"samples per class, fewer classes or smaller "
                                         r"fractions\.$"):
        create_dataset("synthetic", num_samples=12, num_classes=6)
    b = create_dataset("synthetic", num_samples=10, num_classes=5)
    assert torch.bincount(b.train.labels, minlength=5).min() >= 1
