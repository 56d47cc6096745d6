"""Data layer: in-memory multi-modal datasets, seeded stratified splits and the dataset registry.

Every dataset factory returns a :class:`DataBundle` (train/val/test
:class:`MultiModalTensorDataset` plus ``num_classes``, ``modality_shapes`` and ``info``); samples
are ``{"modalities": {name: Tensor}, "label": int, "index": int}``. The factories live in the
modules ``mfeat`` (``"mfeat"``, ``"mfeat-corrupt"``) and ``synthetic`` (``"synthetic"``), the
paper's six datasets in :mod:`mmbss.data.paper` (``mmbss prepare`` writes their caches); build
datasets through :func:`create_dataset`.

Examples:
    >>> from mmbss.data import create_dataset, list_datasets
    >>> list_datasets()  # embedded ones, and the paper's (read from a 'mmbss prepare' cache)
    ['cremad', 'kinetics-sounds', 'mfeat', 'mfeat-corrupt', 'nvgesture', 'sarcasm', 'synthetic', 'twitter2015', 'vggsound']
    >>> bundle = create_dataset("mfeat-corrupt", views=("pix", "fou"), seed=0)
    >>> int(bundle.info["corrupted"].sum()), len(bundle.train)
    (360, 1200)
"""

from . import paper as _paper  # noqa: F401,E402  (registers the paper datasets)
from .bundle import DATASETS, DataBundle, build_bundle, create_dataset, list_datasets
from .collate import collate_samples
from .corruption import CORRUPT_MODES, corrupt_samples
from .mfeat import MFEAT_VIEWS, load_mfeat
from .splits import check_fractions, fit_standardisation, numpy_rng, stratified_split
from .synthetic import synthetic as _register_synthetic  # noqa: F401  (registers "synthetic")
from .tensors import MultiModalTensorDataset

__all__ = [
    "CORRUPT_MODES",
    "DATASETS",
    "DataBundle",
    "MFEAT_VIEWS",
    "MultiModalTensorDataset",
    "build_bundle",
    "collate_samples",
    "check_fractions",
    "corrupt_samples",
    "create_dataset",
    "fit_standardisation",
    "list_datasets",
    "load_mfeat",
    "numpy_rng",
    "stratified_split",
]
