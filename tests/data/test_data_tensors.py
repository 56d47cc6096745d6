"""MultiModalTensorDataset: item, batch and DataLoader paths agree; bad input is rejected."""

import pytest
import torch
from torch.utils.data import DataLoader

from mmbss.data import MultiModalTensorDataset, collate_samples


def _dataset(n=7):
    g = torch.Generator().manual_seed(0)
    tensors = {"img": torch.rand(n, 1, 4, 3, generator=g),
               "vec": torch.randn(n, 5, generator=g, dtype=torch.float64)}
    return MultiModalTensorDataset(tensors, torch.arange(n) % 3)


def test_shapes_len_and_dtypes():
    ds = _dataset()
    assert len(ds) == 7
    assert ds.num_classes == 3
    assert ds.modalities == ["img", "vec"]
    assert ds.modality_shapes == {"img": (1, 4, 3), "vec": (5,)}
    assert all(t.dtype == torch.float32 for t in ds.tensors.values())
    assert ds.labels.dtype == torch.int64
    assert "n=7" in repr(ds)


def test_getitem_structure():
    ds = _dataset()
    item = ds[4]
    assert set(item) == {"modalities", "label", "index"}
    assert item["index"] == 4 and isinstance(item["label"], int) and item["label"] == 1
    assert torch.equal(item["modalities"]["vec"], ds.tensors["vec"][4])
    assert ds[-1]["index"] == 6


def test_batch_getitems_and_getitem_agree():
    ds = _dataset()
    idx = [5, 0, 3, 3]
    fast = ds.batch(torch.tensor(idx))
    via_items = ds.__getitems__(idx)
    slow = [ds[i] for i in idx]
    for b in (fast, via_items):
        assert b["index"].tolist() == idx
        assert b["label"].tolist() == [s["label"] for s in slow]
        assert b["label"].dtype == torch.int64 and b["index"].dtype == torch.int64
        for name in ds.modalities:
            assert b["modalities"][name].shape == (4, *ds.modality_shapes[name])
            assert torch.equal(b["modalities"][name],
                               torch.stack([s["modalities"][name] for s in slow]))


def test_dataloader_uses_getitems_with_collate_samples():
    ds = _dataset()
    loader = DataLoader(ds, batch_size=3, shuffle=False, collate_fn=collate_samples)
    batches = list(loader)
    assert [b["index"].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert torch.equal(batches[1]["modalities"]["img"], ds.tensors["img"][3:6])


def test_index_errors():
    ds = _dataset()
    with pytest.raises(IndexError, match="index 7 is out of range for 7 samples"):
        ds[7]
    with pytest.raises(IndexError, match=r"batch indices must be in \[0, 7\)"):
        ds.batch(torch.tensor([0, 9]))
    with pytest.raises(TypeError, match="'indices' must be integer positions"):
        ds.batch(torch.ones(7, dtype=torch.bool))


@pytest.mark.parametrize(("tensors", "labels", "kw", "exc", "match"), [
    ({}, torch.zeros(2, dtype=torch.long), {}, TypeError, "'tensors' must be a non-empty dict"),
    ({"a": torch.zeros(2, 1)}, torch.zeros(2), {}, TypeError, "'labels' must be a 1-D integer"),
    ({"a": [1, 2]}, torch.zeros(2, dtype=torch.long), {}, TypeError, "must map str names"),
    ({"a": torch.zeros(3, 1)}, torch.zeros(2, dtype=torch.long), {}, ValueError,
     r"'tensors\['a'\]' must have first dimension 2"),
    ({"a": torch.zeros(2, 1)}, torch.tensor([0, 4]), {"num_classes": 3}, ValueError,
     "'num_classes' must be an int >= 5; got 3"),
    ({"a": torch.zeros(2, 1)}, torch.tensor([-1, 0]), {}, ValueError,
     r"'labels' must be in \[0, num_classes\)"),
])
def test_bad_construction(tensors, labels, kw, exc, match):
    with pytest.raises(exc, match=match):
        MultiModalTensorDataset(tensors, labels, **kw)


def test_bool_labels_and_no_samples_are_refused():
    with pytest.raises(TypeError, match=r"^MultiModalTensorDataset: 'labels' must be a 1-D "
                                        r"integer Tensor; got Tensor\(dtype=torch\.bool, "
                                        r"shape=\(2,\)\)\.$"):
        MultiModalTensorDataset({"a": torch.zeros(2, 1)}, torch.tensor([True, False]))
    for kw in ({}, {"num_classes": 3}):
        with pytest.raises(ValueError, match=r"^MultiModalTensorDataset: the dataset has no "
                                             r"samples \('labels' has length 0\); give at least "
                                             r"one sample\.$"):
            MultiModalTensorDataset({"a": torch.zeros(0, 1)}, torch.zeros(0, dtype=torch.long),
                                    **kw)


def test_item_index_must_be_an_integer():
    import numpy as np

    ds = _dataset()
    for bad, shown in (("x", "'x'"), (1.0, "1.0"), (True, "True"),
                       (torch.tensor([0, 1]), r"Tensor\(dtype=torch\.int64, shape=\(2,\)\)")):
        with pytest.raises(TypeError, match=rf"^MultiModalTensorDataset: 'index' must be an int "
                                            rf"\(a position in \[-7, 7\)\); got {shown}\.$"):
            ds[bad]
    assert ds[np.int64(2)]["index"] == ds[torch.tensor(2)]["index"] == ds[-5]["index"] == 2
