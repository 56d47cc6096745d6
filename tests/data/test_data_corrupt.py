"""mfeat-corrupt: exact known corruption of training samples only."""

import pytest
import torch

from mmbss.data import create_dataset, load_mfeat


@pytest.fixture(scope="module")
def clean():
    return create_dataset("mfeat", views=("pix", "fou"), seed=0)


@pytest.fixture(scope="module")
def swapped():
    return create_dataset("mfeat-corrupt", views=("pix", "fou"), seed=0)


def test_fraction_exact_and_info(swapped):
    mask = swapped.info["corrupted"]
    assert mask.dtype == torch.bool and mask.shape == (len(swapped.train),)
    assert int(mask.sum()) == round(0.3 * len(swapped.train)) == 360
    assert swapped.info["corrupt_view"] == "pix"
    assert swapped.info["corrupt_mode"] == "swap"


def test_only_marked_training_samples_change(clean, swapped):
    mask = swapped.info["corrupted"]
    for s in ("val", "test"):
        for v in ("pix", "fou"):
            assert torch.equal(getattr(clean, s).tensors[v], getattr(swapped, s).tensors[v])
    assert torch.equal(clean.train.tensors["fou"], swapped.train.tensors["fou"])
    assert torch.equal(clean.train.labels, swapped.train.labels)
    a, b = clean.train.tensors["pix"], swapped.train.tensors["pix"]
    assert torch.equal(a[~mask], b[~mask])
    changed = (a[mask] != b[mask]).flatten(1).any(1)
    assert changed.float().mean() > 0.95  # a digit of another class is (almost) always different


def test_swap_comes_from_a_different_class(clean, swapped):
    mask, src = swapped.info["corrupted"], swapped.info["corrupt_source"]
    assert torch.all(src[~mask] == -1)
    assert torch.all((src[mask] >= 0) & (src[mask] < len(swapped.train)))
    labels = swapped.train.labels
    assert torch.all(labels[src[mask]] != labels[mask])
    assert torch.equal(swapped.train.tensors["pix"][mask], clean.train.tensors["pix"][src[mask]])


def test_deterministic_and_seeded():
    a = create_dataset("mfeat-corrupt", seed=1)
    b = create_dataset("mfeat-corrupt", seed=1)
    c = create_dataset("mfeat-corrupt", seed=2)
    assert torch.equal(a.info["corrupted"], b.info["corrupted"])
    assert torch.equal(a.train.tensors["pix"], b.train.tensors["pix"])
    assert not torch.equal(a.info["source_indices"]["train"], c.info["source_indices"]["train"])


def test_corrupted_set_is_not_tied_to_the_split_stream():
    """Corruption uses its own stream: the chosen positions are not the split's first rows."""
    a = create_dataset("mfeat-corrupt", corrupt_fraction=0.5, seed=0)
    assert not torch.equal(a.info["corrupted"][:600], torch.ones(600, dtype=torch.bool))


def test_noise_mode_pix(clean):
    b = create_dataset("mfeat-corrupt", corrupt_mode="noise", seed=0)
    mask = b.info["corrupted"]
    x = b.train.tensors["pix"]
    assert torch.equal(x[~mask], clean.train.tensors["pix"][~mask])
    assert x.min() >= 0 and x.max() <= 1
    assert torch.allclose(x * 6, (x * 6).round())
    assert abs(x[mask].mean().item() - 0.5) < 0.02  # uniform on 0..6, unlike real digits
    assert torch.all(b.info["corrupt_source"] == -1)


def test_noise_mode_vector_view(clean):
    b = create_dataset("mfeat-corrupt", corrupt_view="fou", corrupt_mode="noise",
                       corrupt_fraction=0.5, seed=0)
    mask = b.info["corrupted"]
    x = b.train.tensors["fou"]
    assert int(mask.sum()) == 600
    assert torch.equal(x[~mask], clean.train.tensors["fou"][~mask])
    assert torch.equal(b.train.tensors["pix"], clean.train.tensors["pix"])
    assert x[mask].mean().abs() < 0.05 and abs(x[mask].std().item() - 1) < 0.05


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_fraction_bounds_allowed(fraction):
    b = create_dataset("mfeat-corrupt", corrupt_fraction=fraction, seed=0)
    assert int(b.info["corrupted"].sum()) == round(fraction * len(b.train))


@pytest.mark.parametrize(("kw", "exc", "match"), [
    ({"corrupt_fraction": 1.2}, ValueError,
     r"mfeat-corrupt: 'corrupt_fraction' must be a float in \[0.0, 1.0\]; got 1.2"),
    ({"corrupt_fraction": "0.3"}, TypeError, "'corrupt_fraction' must be a float"),
    ({"corrupt_mode": "swop"}, ValueError,
     r"'corrupt_mode' must be one of 'swap', 'noise'; got 'swop' \(did you mean 'swap'\?\)"),
    ({"corrupt_view": "kar"}, ValueError, r"'corrupt_view' must be one of 'pix', 'fou'; got 'kar'"),
    ({"views": ("pix",)}, ValueError, "mfeat-corrupt: 'views' must be a list of at least 2"),
    ({"val_fraction": 0}, ValueError, "mfeat-corrupt: 'val_fraction' must be a float"),
])
def test_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        create_dataset("mfeat-corrupt", **kw)


def test_raw_data_untouched_by_corruption():
    before = load_mfeat()[0]["pix"].copy()
    create_dataset("mfeat-corrupt", corrupt_mode="noise", seed=0)
    assert (load_mfeat()[0]["pix"] == before).all()


@pytest.mark.parametrize(("fraction", "exc"), [(2, ValueError), (-0.5, ValueError),
                                               (float("nan"), ValueError), ("0.5", TypeError)])
def test_corrupt_samples_fraction_range(fraction, exc):
    import numpy as np

    from mmbss.data import corrupt_samples

    with pytest.raises(exc, match=r"^corrupt_samples: 'fraction' must be a float in \[0\.0, "
                                  r"1\.0\]; got "):
        corrupt_samples(np.zeros((4, 2)), np.array([0, 1, 0, 1]), fraction=fraction,
                        mode="swap", seed=0)
