"""The paper's datasets: ``mmbss prepare`` (raw download -> cache) and their loaders.

Each dataset module registers a :class:`~mmbss.data.paper.prepare.Preparer` (in
:data:`PREPARERS`) and a dataset factory of the same name (in :data:`mmbss.data.DATASETS`).
Decoding needs the optional extras (``pip install 'mmbss[audio,video,image,text]'``), imported
only when a file is decoded.
"""

# each module registers its preparer and its dataset under the same name
from . import cremad, kinetics_sounds, nvgesture, sarcasm, twitter2015, vggsound  # noqa: F401
from .cache import Cache, CachedSplit, EpochIndex, cached_bundle, open_cache
from .prepare import PREPARERS, Field, Item, Listing, Preparer, list_preparers, prepare

__all__ = ["Cache", "CachedSplit", "EpochIndex", "Field", "Item", "Listing", "PREPARERS",
           "Preparer", "cached_bundle", "list_preparers", "open_cache", "prepare"]
