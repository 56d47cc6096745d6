"""Text helpers of the image-text datasets (Twitter2015, Sarcasm): the reference cleaning
(``clean_str``, ``pre_caption``), UTF-8 storage in a fixed-size field, the tokenizer read from a
local folder, and the bundle whose text modality is ``[2, L]`` token ids and attention mask."""

from __future__ import annotations

import logging
import os
import re
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ...core._validation import check_int
from ...core.errors import InvalidTypeError, InvalidValueError
from .cache import Cache, cached_bundle

__all__ = ["TokenTable", "clean_str", "image_dir", "load_tokenizer", "pre_caption",
           "text_bundle", "utf8_field"]

log = logging.getLogger(__name__)


_WORD = re.compile(r"\b[A-Za-z]+\b")
_PUNCT = re.compile(r"[,.'!?\"()*#:;~]")
_SPACES = re.compile(r"\s{2,}")


def image_dir(dataset: str, src: Path, option: str, candidates: tuple[str, ...], hint: str,
              layout: str) -> Path:
    """The image folder: ``option`` (``--param images``; relative to ``src`` unless absolute)
    or the first of ``candidates`` found in ``src``.

    Raises:
        ValueError: the named folder does not exist, or none of the candidates (the message
            gives ``hint`` and the expected ``layout``).
    """
    if option:
        folder = Path(option).expanduser()
        folder = folder if folder.is_absolute() else src / folder
        if not folder.is_dir():
            raise InvalidValueError(f"mmbss prepare {dataset}: the image folder '{folder}' "
                                    f"(--param images) does not exist. Expected layout:\n{layout}")
        return folder
    for name in candidates:
        if (src / name).is_dir():
            return src / name
    raise InvalidValueError(f"mmbss prepare {dataset}: '{src}' has no image folder (looked for "
                            f"{', '.join(candidates)}); {hint}, or give --param images=FOLDER. "
                            f"Expected layout:\n{layout}")


def clean_str(text: str) -> str:
    """The ``[A-Za-z]+`` words of ``text`` joined by single spaces (BSS ``clean_str``).

    Examples:
        >>> clean_str("RT @ ltsChuckBass : Chuck Bass is everything # MCM 2015")
        'RT ltsChuckBass Chuck Bass is everything MCM'
    """
    return " ".join(_WORD.findall(text))


def pre_caption(caption: str, max_words: int) -> str:
    """BSS ``pre_caption``: lower case; drop ``,.'!?"()*#:;~``; ``-`` and ``/`` become spaces,
    ``<person>`` becomes ``person``; runs of 2+ blanks become one space; strip; keep the first
    ``max_words`` space-separated words.

    Examples:
        >>> pre_caption("Hello,  World! (a-b/c) <person>", 3)
        'hello world a'
    """
    text = _PUNCT.sub("", caption.lower()).replace("-", " ").replace("/", " ")
    text = _SPACES.sub(" ", text.replace("<person>", "person")).rstrip("\n").strip(" ")
    words = text.split(" ")
    return " ".join(words[:max_words]) if len(words) > max_words else text


def utf8_field(text: str, size: int, notes: list) -> np.ndarray:
    """``text`` as a 0-d ``S<size>`` array of UTF-8 bytes; a longer text is cut at a character
    boundary and a note says so."""
    data = text.encode("utf-8")
    if len(data) > size:
        cut = data[:size].decode("utf-8", "ignore").encode("utf-8")
        notes.append(f"the text has {len(data)} UTF-8 bytes, more than text_bytes={size}: "
                     f"cut to {len(cut)} bytes")
        data = cut
    return np.array(data, dtype=f"S{size}")


_TOKENIZER_FILES = ("nothing is downloaded: the folder must hold a tokenizer saved with "
                    "AutoTokenizer.from_pretrained(name).save_pretrained(folder) "
                    "(tokenizer_config.json with tokenizer.json or vocab.txt), usually the "
                    "model folder given to the text encoder as model.encoder_kw.text.path")


def load_tokenizer(dataset: str, text_model, max_length: int):
    """``AutoTokenizer.from_pretrained(text_model, local_files_only=True)``, with clear errors.

    Raises:
        ValueError: ``text_model`` not set, not a folder, no tokenizer in it, ``max_length``
            above the tokenizer's ``model_max_length``, or ``transformers`` not installed.
    """
    if text_model is None:
        raise InvalidValueError(f"dataset {dataset!r}: 'text_model' is not set; set "
                                f"data.options.text_model to the local folder of the text "
                                f"encoder's tokenizer (e.g. ~/models/bert-base-uncased); "
                                f"{_TOKENIZER_FILES}.")
    if isinstance(text_model, bytes) or not isinstance(text_model, (str, os.PathLike)):
        raise InvalidTypeError(f"dataset {dataset!r}: 'text_model' must be the path of a local "
                               f"tokenizer folder; got {text_model!r}.")
    folder = Path(text_model).expanduser()
    if not folder.is_dir():
        raise InvalidValueError(f"dataset {dataset!r}: the text_model folder '{folder}' does not "
                                f"exist; {_TOKENIZER_FILES}.")
    try:
        import transformers
    except ImportError:
        raise InvalidValueError(f"dataset {dataset!r}: tokenising the text needs the Python "
                                f"package 'transformers'; install it with: pip install "
                                f"'mmbss[text]'.") from None
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise InvalidValueError(f"dataset {dataset!r}: no tokenizer can be loaded offline from "
                                f"'{folder}' ({type(err).__name__}: {' '.join(str(err).split())}); "
                                f"{_TOKENIZER_FILES}.") from None
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and limit < max_length:
        raise InvalidValueError(f"dataset {dataset!r}: 'max_length' is {max_length}, more than "
                                f"the {limit} positions of the tokenizer in '{folder}'; set "
                                f"data.options.max_length to at most {limit}.")
    return tokenizer


class TokenTable:
    """Token ids and attention masks of a set of texts, computed once in one batch call.

    Args:
        tokenizer: a Hugging Face tokenizer.
        texts: the stored UTF-8 texts (``bytes``) to encode.
        max_length: L, the fixed length: longer texts are truncated (counted in
            :attr:`truncated`), shorter ones padded (mask 0).

    Calling it with a stored text gives its int64 ``[2, L]`` tensor (row 0 ids, row 1 mask);
    a text that was not in ``texts`` is tokenised on the spot.
    """

    def __init__(self, tokenizer, texts, max_length: int):
        self.tokenizer, self.max_length = tokenizer, max_length
        unique = sorted(set(texts))
        self.row = {t: i for i, t in enumerate(unique)}
        self.arrays, self.cut = self._encode([t.decode("utf-8", "replace") for t in unique])

    def _encode(self, strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
        n = self.max_length
        if not strings:
            return np.zeros((0, 2, n), np.int64), np.zeros(0, bool)
        enc = self.tokenizer(strings, padding="max_length", truncation=True, max_length=n)
        ids = np.asarray(enc["input_ids"], dtype=np.int64)
        mask = np.asarray(enc["attention_mask"], dtype=np.int64)
        cut = np.zeros(len(strings), bool)
        full = np.flatnonzero(mask.sum(1) == n)  # only these can have been truncated
        if len(full):
            whole = self.tokenizer([strings[i] for i in full], truncation=False)["input_ids"]
            cut[full] = [len(x) > n for x in whole]
        return np.stack([ids, mask], axis=1), cut

    def truncated(self, texts) -> int:
        """How many of ``texts`` (stored bytes) have more than ``max_length`` tokens."""
        return int(sum(self.cut[self.row[t]] for t in texts))

    def __call__(self, stored) -> torch.Tensor:
        text = np.asarray(stored).item()
        i = self.row.get(text)
        arr = self.arrays[i] if i is not None else \
            self._encode([text.decode("utf-8", "replace")])[0][0]
        return torch.from_numpy(arr.copy())


def text_bundle(cache: Cache, *, name: str, seed: int, parts: dict, image_train, image_eval,
                text_model, max_length: int, info: dict | None = None):
    """The bundle of an image-text cache (fields ``image``, ``text``): the texts of every served
    item are tokenised once here; ``image_train`` / ``image_eval`` map a stored uint8 image and
    a generator (None in evaluation) to the image tensor."""
    check_int(name, "max_length", max_length, low=2)
    tokenizer = load_tokenizer(name, text_model, max_length)
    stored = {split: np.load(cache.root / split / "text.npy", mmap_mode="r")
              for split in {s for plist in parts.values() for s, _ in plist}}
    texts = {part: [t for s, rows in plist for t in stored[s][rows].tolist()]
             for part, plist in parts.items()}
    table = TokenTable(tokenizer, [t for values in texts.values() for t in values], max_length)
    truncated = {part: table.truncated(values) for part, values in texts.items()}
    for part, count in truncated.items():
        if count:
            log.warning("%s: %d of the %d %s texts have more than max_length=%d tokens and are "
                        "truncated; raise data.options.max_length to keep them whole", name,
                        count, len(texts[part]), part, max_length)

    train_tf = partial(_train_item, image=image_train, table=table)  # picklable partials:
    eval_tf = partial(_eval_item, image=image_eval, table=table)      # spawn workers need them
    return cached_bundle(cache, name=name, seed=seed, parts=parts, train_transform=train_tf,
                         eval_transform=eval_tf,
                         info={"text_model": str(Path(text_model).expanduser()),
                               "max_length": max_length, "text_truncated": truncated,
                               **(info or {})})


# ---------------------------------------------------------------------------------------------
# the preparer


def _train_item(values, gen, *, image, table):
    return {"image": image(values["image"], gen), "text": table(values["text"])}


def _eval_item(values, gen, *, image, table):
    return {"image": image(values["image"]), "text": table(values["text"])}
