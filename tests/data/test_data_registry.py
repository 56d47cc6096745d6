"""Dataset registry, public surface and the runnable docstring examples of mmbss.data."""

import inspect

import pytest

import mmbss.data
from mmbss.data import DATASETS, DataBundle, create_dataset, list_datasets
from mmbss.data.bundle import factory_options

MODULES = ["mmbss.data", "mmbss.data.bundle", "mmbss.data.collate", "mmbss.data.corruption",
           "mmbss.data.mfeat",
           "mmbss.data.splits", "mmbss.data.synthetic", "mmbss.data.tensors"]


PAPER = ["cremad", "kinetics-sounds", "nvgesture", "sarcasm", "twitter2015", "vggsound"]


def test_list_datasets():
    assert list_datasets() == sorted(["mfeat", "mfeat-corrupt", "synthetic", *PAPER])


@pytest.mark.parametrize("name", [n for n in list_datasets() if n not in PAPER])
def test_every_dataset_contract(name):
    """Every embedded factory (they all carve their splits) declares seed/val_fraction/
    test_fraction and returns a consistent bundle (the paper datasets read a prepared cache:
    tests/paper/ prepares one for each and checks its bundle); a factory with fixed splits declares fewer
    (tests/test_lazy_dataset_example.py), and the engine passes only what a factory declares."""
    kw = {"num_samples": 100} if name == "synthetic" else {}
    b = create_dataset(name, seed=0, val_fraction=0.25, test_fraction=0.25, **kw)
    assert isinstance(b, DataBundle)
    n = len(b.train) + len(b.val) + len(b.test)
    assert len(b.test) == round(0.25 * n) and len(b.val) == round(0.25 * n)
    for ds in (b.train, b.val, b.test):
        assert ds.modality_shapes == b.modality_shapes and ds.num_classes == b.num_classes
        item = ds[0]
        assert set(item["modalities"]) == set(b.modalities)
    assert b.info["name"] == name and b.info["seed"] == 0
    params = inspect.signature(DATASETS.get(name)).parameters
    assert {"seed", "val_fraction", "test_fraction"} <= set(factory_options(DATASETS.get(name)))
    assert params["val_fraction"].default == 0.2 and params["test_fraction"].default == 0.2


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match=r"unknown dataset 'mfaet'; valid names: cremad, "
                                         r"kinetics-sounds, mfeat, mfeat-corrupt, nvgesture, "
                                         r"sarcasm, synthetic, twitter2015, vggsound\. Did you "
                                         r"mean 'mfeat'\?"):
        create_dataset("mfaet")


def test_unknown_option():
    with pytest.raises(TypeError, match=r"dataset 'mfeat' has no option 'corrupt_mode'; valid "
                                        r"options: views, seed, val_fraction, test_fraction\."):
        create_dataset("mfeat", corrupt_mode="swap")


def test_package_all_is_complete():
    for name in mmbss.data.__all__:
        assert hasattr(mmbss.data, name)
