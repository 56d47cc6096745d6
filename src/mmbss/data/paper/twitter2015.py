"""Twitter2015 (Yu & Jiang, IJCAI 2019, the TomBERT data): 5,338 (tweet, target) pairs with one
image each, 3 sentiment classes; image + text.

``mmbss prepare twitter2015 --src IJCAI2019_data --out CACHE`` reads the TomBERT files:

* splits ``twitter2015/{train,dev,test}.tsv`` (TomBERT ``absa_data/twitter2015``; also looked
  for in ``--split-dir`` and in ``--src`` itself): tab-separated, read **by position** (index,
  label, image id, the tweet with the target replaced by ``$T$``, the target phrase); the first
  line is a header and is skipped (the ``test.tsv`` header has 4 fields while its rows have 5);
  3,179 / 1,122 / 1,037 rows. Labels 0 negative, 1 neutral, 2 positive.
* images ``twitter2015_images/<image id>`` (the ``IJCAI2019_data`` zip; the folder name varies:
  ``twitter2015_images``, ``twitter15_images`` or ``images`` are found, or give
  ``--param images=FOLDER``, relative to ``--src`` or absolute) -> bilinear
  ``Resize((image_size, image_size))``: uint8 ``[384, 384, 3]``. A missing or broken image is
  skipped and recorded (TomBERT substitutes a placeholder image instead).
* text: the BSS cleaning, ``clean_str`` (only the ``[A-Za-z]+`` words) and
  ``pre_caption(max_words)`` (lower case, punctuation dropped, the first ``max_words`` words),
  of the tweet with ``$T$`` replaced by its target, the target's words first (``target``),
  stored as UTF-8 ``S<text_bytes>``.

Parameters (``--param NAME=VALUE``) and the source of each default:

* ``image_size`` 384: BSS ``Twitter/train-SPL.py``, ``transforms.Resize((384, 384))``;
* ``max_words`` 20: BSS ``dataTwitter(..., max_words=20)``;
* ``text_bytes`` 512: room for the cleaned text (20 ASCII words), longer is cut and noted;
* ``target`` "prefix": one TomBERT row is one (tweet, target) pair, and the rows of one tweet
  share its image, so the tweet alone would give identical inputs with different labels (in
  test.tsv 253 of the 1,037 rows are in such groups); "prefix" puts the target's words before
  the tweet as written; "replace" gives the tweet as written only (the BSS TSV's ``String``
  column is unknown; this may be it); "keep" keeps ``$T$`` (``clean_str`` makes it the word
  ``T``);
* ``images`` "": the image folder (empty: found among the names above).

The dataset ``twitter2015`` (options ``root``, ``seed``, ``text_model``, ``max_length`` 40)
serves ``image`` float ``[3, 384, 384]`` in [0, 1] (BSS: ``ToTensor`` only, no normalisation,
no augmentation) and ``text`` int64 ``[2, max_length]`` (token ids, attention mask) from the
tokenizer in the local folder ``text_model``; splits train / dev (validation) / test as shipped.

This module also holds the text helpers of the image-text datasets (Sarcasm uses them):
:func:`clean_str`, :func:`pre_caption`, :func:`utf8_field`, :func:`load_tokenizer`,
:class:`TokenTable` and :func:`text_bundle`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ...core._validation import check_choice, check_int
from ...core.errors import InvalidValueError
from ..bundle import DATASETS
from . import transforms as T
from .cache import open_cache
from .decode import inside, read_image
from .prepare import PREPARERS, Field, Item, Listing, Preparer
from .text import clean_str, image_dir, pre_caption, text_bundle, utf8_field

__all__ = ["CLASSES", "read_tsv", "tweet_text", "twitter2015"]

log = logging.getLogger(__name__)

CLASSES = ["negative", "neutral", "positive"]
"""TomBERT's labels: 0 negative, 1 neutral, 2 positive (the TXT polarity -1/0/1 plus 1)."""

LAYOUT = """IJCAI2019_data/                     (the TomBERT image zip, with the TSVs beside it)
├── twitter2015/train.tsv, dev.tsv, test.tsv   (TomBERT absa_data/twitter2015; or --split-dir)
└── twitter2015_images/<image id>.jpg          (or twitter15_images/, images/, --param images=DIR)"""

DEFAULTS = {"image_size": 384, "max_words": 20, "text_bytes": 512, "target": "prefix",
            "images": ""}
TARGETS = ("prefix", "replace", "keep")

_IMAGE_DIRS = ("twitter2015_images", "twitter15_images", "images")
_SPLITS = ("train", "dev", "test")
_ROW = "index, label, image id, tweet with $T$, target"

def read_tsv(path: Path) -> list[tuple[int, str, int, str, str, str]]:
    """``(line, index, label, image id, tweet, target)`` rows of a TomBERT TSV, by position; a
    first line starting with ``index`` is the header and is skipped; blank lines are ignored.

    Raises:
        ValueError: not UTF-8, a row without 5 fields, a label not 0/1/2, a repeated index.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidValueError(f"{path}: the file is not UTF-8 text ({err}); give the TomBERT "
                                f"TSV files as downloaded.") from None
    rows, seen = [], {}
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip() or (n == 1 and line.split("\t")[0].strip().lower() == "index"):
            continue
        fields = line.split("\t")
        if len(fields) != 5:
            raise InvalidValueError(f"{path}:{n}: a row must have 5 tab-separated fields "
                                    f"({_ROW}); got {len(fields)}: {line[:120]!r}.")
        index, label, image, tweet, target = (f.strip() for f in fields)
        if label not in ("0", "1", "2"):
            raise InvalidValueError(f"{path}:{n}: the label {label!r} of row {index!r} is not a "
                                    f"class of this dataset; the classes are 0 (negative), "
                                    f"1 (neutral), 2 (positive).")
        if index in seen:
            raise InvalidValueError(f"{path}:{n}: the index {index!r} was already used on line "
                                    f"{seen[index]}; every row needs its own index.")
        seen[index] = n
        rows.append((n, index, int(label), image, tweet, target))
    return rows


def _image_dir(src: Path, params: dict) -> Path:
    return image_dir("twitter2015", src, params["images"], _IMAGE_DIRS,
                     "--src must be the unpacked IJCAI2019_data folder", LAYOUT)


def _split_file(src: Path, split_dir: Path | None, split: str) -> Path:
    folders = ([split_dir] if split_dir is not None else []) + [src / "twitter2015", src]
    for folder in folders:
        if (folder / f"{split}.tsv").is_file():
            return folder / f"{split}.tsv"
    raise InvalidValueError(
        f"mmbss prepare twitter2015: no {split}.tsv in {', '.join(repr(str(f)) for f in folders)}. "
        f"Take absa_data/twitter2015/{{train,dev,test}}.tsv from the TomBERT repository "
        f"(jefferyYu/TomBERT) into '{src / 'twitter2015'}' or a --split-dir. Expected "
        f"layout:\n{LAYOUT}")


def _scan(src: Path, split_dir: Path | None, params: dict) -> Listing:
    for key in ("image_size", "max_words", "text_bytes"):
        check_int("mmbss prepare twitter2015", key, params[key], low=1)
    check_choice("mmbss prepare twitter2015", "target", params["target"], TARGETS)
    images = _image_dir(src, params)
    splits, notes = {}, [f"images from {images}"]
    for split in _SPLITS:
        path = _split_file(src, split_dir, split)
        rows = read_tsv(path)
        notes.append(f"{split}: {len(rows)} rows from {path}")
        splits[split] = [Item(index, label, {"root": str(images), "image": image, "tweet": tweet,
                                             "target": target})
                         for _, index, label, image, tweet, target in rows]
    return Listing(splits, list(CLASSES), notes)


def _fields(params: dict) -> dict[str, Field]:
    size = params["image_size"]
    return {"image": Field((size, size, 3), "uint8"), "text": Field((), f"S{params['text_bytes']}")}


def tweet_text(tweet: str, target: str, params: dict) -> str:
    """The stored text of a row (``target``: "prefix" the target's words, then the tweet with
    ``$T$`` replaced; "replace" the tweet only; "keep" ``$T$`` kept), after ``clean_str`` and
    ``pre_caption(max_words)``."""
    words = params["max_words"]
    if params["target"] == "keep":
        return pre_caption(clean_str(tweet), words)
    sentence = pre_caption(clean_str(tweet.replace("$T$", target)), words)
    if params["target"] == "replace":
        return sentence
    return f"{pre_caption(clean_str(target), words)} {sentence}".strip()


def _decode(item: Item, params: dict, notes: list) -> dict[str, np.ndarray]:
    src = item.sources
    image = read_image(inside(Path(src["root"]), src["image"]), params["image_size"])
    text = tweet_text(src["tweet"], src["target"], params)
    return {"image": image, "text": utf8_field(text, params["text_bytes"], notes)}


PREPARERS.register("twitter2015")(Preparer("twitter2015", 1, DEFAULTS, _scan, _fields,
                                           _decode, LAYOUT))


def _image(stored: np.ndarray, gen=None) -> torch.Tensor:
    return T.to_chw(stored)  # BSS: Resize((384, 384)) + ToTensor, in train and test


@DATASETS.register("twitter2015")
def twitter2015(root: str | None = None, seed: int = 0, text_model: str | None = None,
                max_length: int = 40):
    """Twitter2015 from a cache written by ``mmbss prepare twitter2015`` (see the module
    docstring); ``text_model``: the local folder of the tokenizer; ``max_length``: tokens per
    text (with [CLS] and [SEP])."""
    check_int("twitter2015", "seed", seed)
    cache = open_cache(root, "twitter2015")
    parts = {"train": [("train", cache.rows("train"))], "val": [("dev", cache.rows("dev"))],
             "test": [("test", cache.rows("test"))]}
    return text_bundle(cache, name="twitter2015", seed=seed, parts=parts, image_train=_image,
                       image_eval=_image, text_model=text_model, max_length=max_length)
