"""Embedded mfeat: raw contents, bundle splits, preprocessing, bad views, single-view sanity."""

import numpy as np
import pytest
import torch

from mmbss.data import MFEAT_VIEWS, create_dataset, load_mfeat

ALL_VIEWS = ("fou", "fac", "kar", "pix", "zer", "mor")


def test_raw_arrays():
    views, labels = load_mfeat()
    assert set(views) == set(ALL_VIEWS)
    assert labels.dtype == np.int64 and labels.shape == (2000,)
    assert np.bincount(labels).tolist() == [200] * 10
    for name, shape in MFEAT_VIEWS.items():
        assert views[name].shape == (2000, *shape)
        assert np.isfinite(views[name]).all()
    pix = views["pix"]
    assert pix.dtype == np.uint8 and pix.min() == 0 and pix.max() == 6
    with pytest.raises(ValueError, match="read-only"):
        pix[0, 0, 0, 0] = 1


def test_pix_rows_look_like_digits():
    """Row-major 16x15: a '1' is a narrow vertical stroke, a '0' has an empty centre."""
    views, labels = load_mfeat()
    pix = views["pix"][:, 0].astype(float)
    ones = pix[labels == 1].mean(axis=0)
    zeros = pix[labels == 0].mean(axis=0)
    assert ones[:, 5:10].mean() > 2 * ones[:, [0, 1, 13, 14]].mean()
    assert zeros[6:10, 6:9].mean() < 0.5 * zeros[6:10, [1, 2, 12, 13]].mean()


def test_default_bundle():
    b = create_dataset("mfeat", seed=0)
    assert b.modalities == ["pix", "fou"]
    assert b.modality_shapes == {"pix": (1, 16, 15), "fou": (76,)}
    assert b.num_classes == 10
    assert (len(b.train), len(b.val), len(b.test)) == (1200, 400, 400)
    for ds, per_class in ((b.train, 120), (b.val, 40), (b.test, 40)):
        assert torch.bincount(ds.labels, minlength=10).tolist() == [per_class] * 10
        assert ds.num_classes == 10
    idx = b.info["source_indices"]
    allidx = torch.cat([idx["train"], idx["val"], idx["test"]])
    assert torch.equal(allidx.sort().values, torch.arange(2000))
    labels = torch.tensor(load_mfeat()[1])
    assert torch.equal(b.test.labels, labels[idx["test"]])


def test_view_order_and_all_views():
    b = create_dataset("mfeat", views=list(reversed(ALL_VIEWS)), seed=1)
    assert b.modalities == list(reversed(ALL_VIEWS))
    for name in ALL_VIEWS:
        assert b.modality_shapes[name] == MFEAT_VIEWS[name]


def test_preprocessing_train_only():
    b = create_dataset("mfeat", views=("pix", "fou", "mor"), seed=2)
    for name in ("fou", "mor"):
        x = b.train.tensors[name].double()
        assert torch.allclose(x.mean(0), torch.zeros(x.shape[1], dtype=torch.float64), atol=1e-4)
        assert torch.allclose(x.std(0, unbiased=False), torch.ones(x.shape[1],
                              dtype=torch.float64), atol=1e-3)
        assert b.test.tensors[name].double().mean(0).abs().max() > 1e-3  # not refitted on test
        raw = torch.from_numpy(load_mfeat()[0][name][b.info["source_indices"]["test"].numpy()])
        st = b.info["standardisation"][name]
        assert torch.allclose(b.test.tensors[name], (raw.float() - st["mean"]) / st["std"])
    raw_pix = load_mfeat()[0]["pix"][b.info["source_indices"]["val"].numpy()]
    assert torch.equal(b.val.tensors["pix"], torch.from_numpy(raw_pix).float() / 6)
    assert "pix" not in b.info["standardisation"]


def test_same_seed_same_split_different_seed_different_split():
    a = create_dataset("mfeat", seed=5)
    b = create_dataset("mfeat", views=("fac", "zer"), seed=5)
    c = create_dataset("mfeat", seed=6)
    for s in ("train", "val", "test"):
        assert torch.equal(a.info["source_indices"][s], b.info["source_indices"][s])
    assert torch.equal(a.test.tensors["pix"], create_dataset("mfeat", seed=5).test.tensors["pix"])
    assert not torch.equal(a.info["source_indices"]["test"], c.info["source_indices"]["test"])


@pytest.mark.parametrize(("views", "exc", "match"), [
    (("pix",), ValueError, r"mfeat: 'views' must be a list of at least 2 distinct view names "
                           r"from fou, fac, kar, pix, zer, mor; got \('pix',\)"),
    (("pix", "pix"), ValueError, "'views' must be a list of at least 2 distinct"),
    (("pix", "fuo"), ValueError, r"'views' must be one of 'fou', 'fac', 'kar', 'pix', 'zer', "
                                 r"'mor'; got 'fuo' \(did you mean 'fou'\?\)"),
    ("pix", TypeError, "'views' must be a list of at least 2 distinct view names"),
    (None, TypeError, "'views' must be a list"),
])
def test_bad_views(views, exc, match):
    with pytest.raises(exc, match=match):
        create_dataset("mfeat", views=views)


@pytest.mark.parametrize(("kw", "exc", "match"), [
    ({"val_fraction": 1.5}, ValueError, r"mfeat: 'val_fraction' must be a float in \(0.0, 1.0\)"),
    ({"test_fraction": -0.1}, ValueError, "mfeat: 'test_fraction' must be a float"),
    ({"val_fraction": 0.6, "test_fraction": 0.4}, ValueError, r"'val_fraction \+ test_fraction'"),
    ({"seed": 1.5}, TypeError, "mfeat: 'seed' must be an int; got 1.5"),
])
def test_bad_fractions_and_seed(kw, exc, match):
    with pytest.raises(exc, match=match):
        create_dataset("mfeat", **kw)


def _logreg_accuracy(bundle, view, steps=150, lr=0.2, momentum=0.9, weight_decay=1e-4):
    """Full-batch softmax regression by heavy-ball gradient descent (closed-form gradient)."""
    ones = torch.ones(len(bundle.train), 1)
    x = torch.cat([bundle.train.tensors[view].flatten(1), ones], 1)
    x_test = torch.cat([bundle.test.tensors[view].flatten(1), ones[: len(bundle.test)]], 1)
    y = torch.nn.functional.one_hot(bundle.train.labels, bundle.num_classes).float()
    w = torch.zeros(x.shape[1], bundle.num_classes)
    velocity = torch.zeros_like(w)
    for _ in range(steps):
        grad = x.T @ (torch.softmax(x @ w, 1) - y) / len(x) + weight_decay * w
        velocity = momentum * velocity + grad
        w = w - lr * velocity
    return ((x_test @ w).argmax(1) == bundle.test.labels).float().mean().item()


@pytest.fixture
def one_thread():
    """Tiny matmuls: one thread avoids waiting on a busy second core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_single_view_logistic_regression_matches_spec(one_thread):
    """SPEC 9: LR accuracy pix .964, fou .800 -- pix is strong, fou clearly weaker."""
    bundle = create_dataset("mfeat", views=("pix", "fou"), seed=0)
    pix, fou = _logreg_accuracy(bundle, "pix"), _logreg_accuracy(bundle, "fou")
    print(f"logistic regression test accuracy: pix {pix:.4f}, fou {fou:.4f}")
    assert pix > 0.9
    assert 0.6 < fou < 0.9
