"""The dataset registry and what every dataset factory returns: a :class:`DataBundle`."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mmbss.core.registry import Registry

from ..core.errors import InvalidTypeError, InvalidValueError
from .splits import fit_standardisation, stratified_split
from .tensors import MultiModalTensorDataset

__all__ = ["DataBundle", "DATASETS", "create_dataset", "list_datasets", "build_bundle",
           "factory_options", "load_factory"]

log = logging.getLogger(__name__)

DATASETS = Registry("dataset")
"""Registry of dataset factories; each takes keyword options and returns a :class:`DataBundle`.
A factory declares the split options it has (``seed``, ``val_fraction``, ``test_fraction``): a
dataset with a fixed test split takes no ``test_fraction``."""


@dataclass
class DataBundle:
    """The three splits of one dataset plus what a model needs to know about it.

    Any map-style ``torch.utils.data.Dataset`` whose items are the sample dicts
    ``{"modalities": {name: Tensor}, "label": int, "index": int}`` (``index`` = the position in
    its split) can be a split; a ``__getitems__(indices)`` returning the collated batch is a fast
    path (see :class:`MultiModalTensorDataset`).

    Attributes:
        train: training split, ``N_train`` samples (with the training transforms).
        val: validation split (model selection), ``N_val`` samples.
        test: test split (reported once), ``N_test`` samples.
        num_classes: number of classes C.
        modality_shapes: modality name -> per-sample shape, e.g. ``{"pix": (1, 16, 15),
            "fou": (76,)}``; the modality order is the order the user asked for.
        info: dataset-specific extras, e.g. ``"corrupted"`` (BoolTensor ``[N_train]``) for
            ``mfeat-corrupt`` or ``"easy_mask"`` for ``synthetic``; always ``"name"``, ``"seed"``
            and ``"source_indices"`` (``{"train"|"val"|"test": LongTensor}`` row numbers in the
            full dataset) for the built-in datasets.
        train_eval: the training samples with the *evaluation* transforms, index for index
            (the exact scoring pass reads it: SPEC §2 scores without augmentation); defaults to
            ``train`` for datasets without augmentation.
    """

    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    modality_shapes: dict[str, tuple[int, ...]]
    info: dict[str, Any] = field(default_factory=dict)
    train_eval: Dataset | None = None

    def __post_init__(self):
        if self.train_eval is None:  # no augmentation: the training samples as they are
            self.train_eval = self.train
        if len(self.train_eval) != len(self.train):
            raise InvalidValueError(f"DataBundle: 'train_eval' must hold the training samples with the "
                                    f"evaluation transforms ({len(self.train)} samples); got "
                                    f"{len(self.train_eval)}.")

    @property
    def modalities(self) -> list[str]:
        """Modality names, in order."""
        return list(self.modality_shapes)


def list_datasets() -> list[str]:
    """Sorted names of the registered datasets (feeds ``--help``)."""
    return DATASETS.names()


def create_dataset(name: str, **kwargs: Any) -> DataBundle:
    """Build the dataset registered as ``name``, or a user's factory ``"module:function"`` /
    ``"path/to/file.py:function"``.

    Args:
        name: a name from :func:`list_datasets`, e.g. ``"mfeat"``, ``"mfeat-corrupt"``,
            ``"synthetic"``; or ``"package.module:factory"`` / ``"path/file.py:factory"``: a
            function called with ``**kwargs`` that returns a :class:`DataBundle`.
        **kwargs: the factory's keyword options (the built-in ones take ``seed``,
            ``val_fraction`` (default 0.2) and ``test_fraction`` (default 0.2)).

    Returns:
        A :class:`DataBundle`; the same name and options give identical splits and values.

    Raises:
        ValueError: unknown dataset name (the message lists the valid ones and a close match), a
            user factory that cannot be found, or a bad option value.
        TypeError: an option the dataset does not have, an option of the wrong type, or a user
            factory that returns something other than a :class:`DataBundle`.

    Examples:
        >>> bundle = create_dataset("mfeat", views=("pix", "fou"), seed=0)
        >>> len(bundle.train), len(bundle.val), len(bundle.test), bundle.num_classes
        (1200, 400, 400, 10)
    """
    user = _is_user_name(name) and name not in DATASETS
    factory = load_factory(name) if user else DATASETS.get(name)
    options = factory_options(factory)
    unknown = sorted(set(kwargs) - set(options)) if options is not None else []
    if unknown:
        raise InvalidTypeError(f"dataset {name!r} has no option {unknown[0]!r}; valid options: "
                               f"{', '.join(options)}.")
    bundle = factory(**kwargs) if user else DATASETS.create(name, **kwargs)
    if not isinstance(bundle, DataBundle):
        raise InvalidTypeError(f"dataset factory {name!r} returned a {type(bundle).__name__}, not a "
                        f"mmbss.data.DataBundle; return DataBundle(train=..., val=..., test=..., "
                               f"num_classes=..., modality_shapes=...).")
    return bundle


def factory_options(factory: Callable) -> list[str] | None:
    """The keyword options a dataset factory takes (None: any, it has ``**kwargs``)."""
    params = inspect.signature(factory).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return list(params)


_USER_MODULES: dict[str, tuple[str, bool]] = {}
"""Module name -> (folder, whether load_factory added it to sys.path) of the dataset files
:func:`load_factory` imported."""


def _is_user_name(name: object) -> bool:
    return isinstance(name, str) and ":" in name


def load_factory(name: str) -> Callable:
    """The function named by ``"package.module:function"`` or ``"path/to/file.py:function"``
    (a relative path is taken from the current folder).

    Raises:
        ValueError: the file, module or function does not exist (the message shows the form).
    """
    import importlib
    import sys
    from pathlib import Path

    target, _, func = name.rpartition(":")
    form = "the form is 'package.module:function' or 'path/to/file.py:function'"
    if not target or not func:
        raise InvalidValueError(f"data.name {name!r} names no function; {form}.")
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise InvalidValueError(f"data.name {name!r}: the file '{target}' does not exist; {form}.")
        # imported by its own name from its folder (appended to sys.path), so that DataLoader
        # workers started by spawn, which inherit sys.path, can unpickle its classes
        folder, stem = str(path.parent), path.stem
        module = sys.modules.get(stem)
        if module is not None and _USER_MODULES.get(stem, (folder,))[0] != folder:
            old, added = _USER_MODULES.pop(stem)  # a file of the same name elsewhere, read by an
            if added:                             # earlier call: this one replaces it
                sys.path.remove(old)
            del sys.modules[stem]
            module = None
        if module is None:
            added = folder not in sys.path
            if added:
                sys.path.append(folder)
            module = importlib.import_module(stem)
            _USER_MODULES[stem] = (folder, added)
        where = getattr(module, "__file__", None)
        if where is None or Path(where).resolve() != path:
            raise InvalidValueError(f"data.name {name!r}: the module name {stem!r} is already "
                                    f"taken (by an installed package or the Python library); "
                                    f"rename '{target}'.")
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as e:
            raise InvalidValueError(f"data.name {name!r}: no module {e.name!r} can be imported; {form} "
                             f"(is the package installed, or its folder on PYTHONPATH?).") from None
    fn = getattr(module, func, None)
    if not callable(fn):
        found = sorted(k for k, v in vars(module).items() if inspect.isfunction(v)
                       and not k.startswith("_") and v.__module__ == module.__name__)
        raise InvalidValueError(f"data.name {name!r}: {target!r} has no function {func!r}; its "
                                f"functions: {', '.join(found) or 'none'}.")
    return fn


def build_bundle(views: Mapping[str, np.ndarray], labels: np.ndarray, *, name: str, seed: int,
                 val_fraction: float, test_fraction: float, num_classes: int,
                 image_scale: Mapping[str, float] | None = None,
                 train_transform: Callable[[dict[str, np.ndarray], np.ndarray], dict[str, Any]]
                 | None = None,
                 info: dict[str, Any] | None = None) -> DataBundle:
    """Split, preprocess and wrap raw arrays into a :class:`DataBundle` (shared by the factories).

    Steps: stratified split by ``seed`` (:func:`~mmbss.data.splits.stratified_split`); the mean
    and std of every view not named in ``image_scale`` over the clean training rows; then
    ``train_transform`` may alter the raw training rows (e.g. corruption); finally each view in
    ``image_scale`` is divided by its scale and every other view standardised with those
    statistics. Because the statistics come from the clean rows, a transform never changes the
    validation and test tensors.

    Args:
        views: name -> raw array ``[N, *shape]`` over all samples, in modality order.
        labels: int array ``[N]`` in ``[0, num_classes)``.
        name: dataset name, for messages and ``info["name"]``.
        seed: split seed.
        val_fraction: validation share in (0, 1).
        test_fraction: test share in (0, 1); the two sum to < 1.
        num_classes: number of classes C.
        image_scale: views to scale by ``1 / scale`` instead of standardising (e.g.
            ``{"pix": 6.0}``).
        train_transform: ``f(train_views, train_labels) -> extra_info``; may replace arrays in
            the ``train_views`` dict (``[N_train, *shape]`` each) in place; what it returns is
            merged into ``info``.
        info: extra entries for ``bundle.info``.

    Returns:
        The bundle; ``info["standardisation"]`` holds the train mean/std per standardised view.
    """
    image_scale = dict(image_scale or {})
    labels = np.asarray(labels, dtype=np.int64)
    train, val, test = stratified_split(labels, val_fraction=val_fraction,
                                        test_fraction=test_fraction, seed=seed, owner=name)
    splits = {"train": train, "val": val, "test": test}
    per_split = {s: {k: np.asarray(v)[idx] for k, v in views.items()} for s, idx in splits.items()}
    stats = fit_standardisation({k: v for k, v in per_split["train"].items()
                                 if k not in image_scale})
    extra = train_transform(per_split["train"], labels[train]) if train_transform else {}
    datasets = {}
    for s, idx in splits.items():
        tensors = {}
        for k, raw in per_split[s].items():
            if k in image_scale:
                arr = raw.astype(np.float32) / np.float32(image_scale[k])
            else:
                arr = (raw.astype(np.float32) - stats[k]["mean"]) / stats[k]["std"]
            tensors[k] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        datasets[s] = MultiModalTensorDataset(tensors, torch.from_numpy(labels[idx]),
                                              num_classes=num_classes)
    bundle_info: dict[str, Any] = {
        "name": name, "seed": seed,
        "source_indices": {s: torch.from_numpy(idx) for s, idx in splits.items()},
        "standardisation": {k: {m: torch.from_numpy(v) for m, v in st.items()}
                            for k, st in stats.items()},
    }
    bundle_info.update(info or {})
    bundle_info.update(extra)
    log.debug("dataset %s (seed %d): %d train / %d val / %d test samples, modalities %s",
             name, seed, len(train), len(val), len(test), list(views))
    return DataBundle(train=datasets["train"], val=datasets["val"], test=datasets["test"],
                      num_classes=num_classes, modality_shapes=datasets["train"].modality_shapes,
                      info=bundle_info)
