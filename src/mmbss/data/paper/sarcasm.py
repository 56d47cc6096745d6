"""Sarcasm (the HFM data of Cai, Cai & Wan, ACL 2019): 24,635 tweets with one image each,
2 classes (0 not sarcastic, 1 sarcastic); image + text.

``mmbss prepare sarcasm --src SARCASM --out CACHE`` reads the layout of the HFM repository
(headacheboy/data-of-multimodal-sarcasm-detection) with its images unpacked beside it:

* splits ``text/{train.txt, valid2.txt, test2.txt}`` (or feiLinX's byte-identical
  ``text_data/{train,valid,test}.txt``; also looked for in ``--split-dir``): one Python literal
  list per line, parsed with ``ast.literal_eval`` (never ``eval``): ``[id, text, label]`` in
  train, ``[id, text, hashtag_label, human_label]`` in valid/test; the label is the **last**
  field (the original code's ``lineLS[-1]``). A line that is not such a list is an error that
  names the file and line. Every post with one of the whitespace tokens exgag, sarcasm,
  sarcastic, reposting, <url>, joke, humour, humor, jokes, irony, ironic is dropped (the HFM
  filter; their images were never published): 29,040 -> 19,816 train lines, 2,410 valid,
  2,409 test.
* images ``dataset_image/<id>.jpg`` (the split zip joined with ``zip -FF`` and unpacked; the
  folders ``dataset_image``, ``image_data`` or ``images`` are found, or give
  ``--param images=FOLDER``) -> bicubic ``Resize((image_size, image_size))``: uint8
  ``[224, 224, 3]``; a missing or broken image is skipped and recorded.
* text ``pre_caption(max_words)`` (lower case, ``,.'!?"()*#:;~`` dropped, the first
  ``max_words`` words), stored as UTF-8 ``S<text_bytes>``.

Parameters (``--param NAME=VALUE``) and the source of each default:

* ``image_size`` 224: BSS ``Sarcasm/dataset/sarcasm.py``, ``Resize((224, 224), BICUBIC)`` in
  test, ``RandomResizedCrop(224)`` in train;
* ``max_words`` 50: BSS ``dataSarcasm(..., 50)`` in ``train-SPL.py``;
* ``text_bytes`` 1024: room for 50 words of UTF-8; longer is cut and noted;
* ``images`` "": the image folder (empty: found among the names above).

The dataset ``sarcasm`` (options ``root``, ``seed``, ``text_model``, ``max_length`` 80) serves
``image`` float ``[3, 224, 224]`` with CLIP normalisation (train: RandomResizedCrop of scale
0.5-1 + horizontal flip; eval: as stored) and ``text`` int64 ``[2, max_length]`` (token ids,
attention mask) from the tokenizer in the local folder ``text_model``; splits train / valid
(validation) / test as shipped.
"""

from __future__ import annotations

import ast
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ...core._validation import check_int
from ...core.errors import InvalidValueError
from ..bundle import DATASETS
from . import transforms as T
from .cache import open_cache
from .decode import inside, read_image
from .prepare import PREPARERS, Field, Item, Listing, Preparer
from .text import image_dir, pre_caption, text_bundle, utf8_field

__all__ = ["CLASSES", "KEYWORDS", "read_lines", "sarcasm"]

CLASSES = ["not_sarcastic", "sarcastic"]
"""The HFM labels: 0 not sarcastic, 1 sarcastic."""

KEYWORDS = frozenset({"exgag", "sarcasm", "sarcastic", "reposting", "<url>", "joke", "humour",
                      "humor", "jokes", "irony", "ironic"})
"""A post with one of these whitespace tokens is dropped (HFM README and ``codes/loadData.py``)."""

LAYOUT = """SARCASM/                         (headacheboy/data-of-multimodal-sarcasm-detection)
├── text/train.txt, valid2.txt, test2.txt     (or text_data/train.txt, valid.txt, test.txt;
│                                               or --split-dir)
└── dataset_image/<id>.jpg                     (the joined split zip; or image_data/, images/,
                                                --param images=DIR)"""

DEFAULTS = {"image_size": 224, "max_words": 50, "text_bytes": 1024, "images": ""}

_IMAGE_DIRS = ("dataset_image", "image_data", "images")
_FILES = {"train": ("train.txt",), "valid": ("valid2.txt", "valid.txt"),
          "test": ("test2.txt", "test.txt")}
_FORMAT = ("each line must be a list [id, text, label] (train) or [id, text, hashtag_label, "
           "human_label] (valid, test)")


def read_lines(path: Path) -> tuple[list[tuple[int, str, str, int]], int]:
    """``(line, id, text, label)`` of the posts of an HFM text file that pass the keyword filter,
    and how many posts the filter dropped; blank lines are ignored.

    Raises:
        ValueError: not UTF-8, a line that is not a Python literal, not a list of 3 or 4 fields, an id
            that is not a string or int, a text that is not a string, a label not 0/1, or an
            id used twice in the file.
    """
    rows, seen, dropped = [], {}, 0
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidValueError(f"{path}: the file is not UTF-8 text ({err}); give the HFM text "
                                f"files as downloaded.") from None
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = ast.literal_eval(line.strip())
        except (ValueError, SyntaxError, TypeError, RecursionError) as err:
            raise InvalidValueError(f"{path}:{n}: the line is not a Python literal "
                                    f"({type(err).__name__}: {err}); {_FORMAT}.") from None
        if not isinstance(value, (list, tuple)) or len(value) not in (3, 4):
            what = (f"a list of {len(value)} field(s)" if isinstance(value, (list, tuple))
                    else f"a {type(value).__name__}")
            raise InvalidValueError(f"{path}:{n}: {_FORMAT}; got {what}: {line.strip()[:120]}")
        post, words, label = value[0], value[1], value[-1]
        if isinstance(post, bool) or not isinstance(post, (str, int)) or not isinstance(words, str):
            raise InvalidValueError(f"{path}:{n}: {_FORMAT}, with a string id and a string "
                                    f"text; got id {post!r} and text {words!r}.")
        if isinstance(label, bool) or label not in (0, 1):
            raise InvalidValueError(f"{path}:{n}: the label {label!r} (the last field) of post "
                                    f"{post!r} is not a class of this dataset; the classes are "
                                    f"0 (not sarcastic) and 1 (sarcastic).")
        post = str(post).strip()
        if post in seen:
            raise InvalidValueError(f"{path}:{n}: the id {post!r} was already used on line "
                                    f"{seen[post]}; every post needs its own id.")
        seen[post] = n
        if KEYWORDS.intersection(words.split()):
            dropped += 1
            continue
        rows.append((n, post, words, int(label)))
    return rows, dropped


def _image_dir(src: Path, params: dict) -> Path:
    return image_dir("sarcasm", src, params["images"], _IMAGE_DIRS,
                     "unpack the joined dataset_image zip into --src", LAYOUT)


def _split_file(src: Path, split_dir: Path | None, split: str) -> Path:
    folders = ([split_dir] if split_dir is not None else []) + [src / "text", src / "text_data"]
    for folder in folders:
        for name in _FILES[split]:
            if (folder / name).is_file():
                return folder / name
    raise InvalidValueError(
        f"mmbss prepare sarcasm: no {' or '.join(_FILES[split])} in "
        f"{', '.join(repr(str(f)) for f in folders)}. Take text/train.txt, valid2.txt and "
        f"test2.txt from the HFM repository (headacheboy/data-of-multimodal-sarcasm-detection) "
        f"into '{src / 'text'}' or a --split-dir. Expected layout:\n{LAYOUT}")


def _scan(src: Path, split_dir: Path | None, params: dict) -> Listing:
    for key in ("image_size", "max_words", "text_bytes"):
        check_int("mmbss prepare sarcasm", key, params[key], low=1)
    images = _image_dir(src, params)
    splits, notes = {}, [f"images from {images}"]
    for split in _FILES:
        path = _split_file(src, split_dir, split)
        rows, dropped = read_lines(path)
        notes.append(f"{split}: {len(rows) + dropped} posts in {path}, {dropped} dropped by the "
                     f"keyword filter, {len(rows)} kept")
        splits[split] = [Item(post, label, {"root": str(images), "id": post, "text": words})
                         for _, post, words, label in rows]
    return Listing(splits, list(CLASSES), notes)


def _fields(params: dict) -> dict[str, Field]:
    size = params["image_size"]
    return {"image": Field((size, size, 3), "uint8"), "text": Field((), f"S{params['text_bytes']}")}


def _decode(item: Item, params: dict, notes: list) -> dict[str, np.ndarray]:
    src = item.sources
    image = read_image(inside(Path(src["root"]), f"{src['id']}.jpg"), params["image_size"],
                       resample="bicubic")
    text = pre_caption(src["text"], params["max_words"])
    return {"image": image, "text": utf8_field(text, params["text_bytes"], notes)}


PREPARERS.register("sarcasm")(Preparer("sarcasm", 1, DEFAULTS, _scan, _fields, _decode, LAYOUT))


def _train_crop(stored: np.ndarray, gen, *, size: int) -> torch.Tensor:
    x = T.random_resized_crop(T.to_chw(stored), size, gen, scale=(0.5, 1.0))
    return T.normalise(T.random_flip(x, gen), T.CLIP)


def _train_image(size: int):
    return partial(_train_crop, size=size)  # picklable: spawn workers unpickle it


def _eval_image(stored: np.ndarray) -> torch.Tensor:
    return T.normalise(T.to_chw(stored), T.CLIP)


@DATASETS.register("sarcasm")
def sarcasm(root: str | None = None, seed: int = 0, text_model: str | None = None,
            max_length: int = 80):
    """Sarcasm from a cache written by ``mmbss prepare sarcasm`` (see the module docstring);
    ``text_model``: the local folder of the tokenizer; ``max_length``: tokens per text (with
    [CLS] and [SEP])."""
    check_int("sarcasm", "seed", seed)
    cache = open_cache(root, "sarcasm")
    parts = {"train": [("train", cache.rows("train"))], "val": [("valid", cache.rows("valid"))],
             "test": [("test", cache.rows("test"))]}
    return text_bundle(cache, name="sarcasm", seed=seed, parts=parts,
                       image_train=_train_image(cache.params["image_size"]),
                       image_eval=_eval_image, text_model=text_model, max_length=max_length)
