"""NVGesture (Molchanov et al. CVPR 2016): 1,532 dynamic hand gestures of 20 subjects, 25
classes; colour, depth and optical flow clips (an I3D encoder each in the BSS reference).

``mmbss prepare nvgesture --src nvGesture --out CACHE`` reads the folder that unpacking NVIDIA's
``nvGesture_v1.7z.001`` makes (``Video_data/class_XX/subject<k>_r<n>/``) plus its split lists
``nvgesture_{train,test}_correct_cvpr2016_v2.lst`` (or the names the BSS code reads,
``nvgesture_{train,test}_correct_v2.lst``; or the same files in ``--split-dir``). A list line is
``path:./Video_data/class_01/subject13_r0 depth:sk_depth:138:218 color:sk_color:138:218
duo_left:duo_left:161:254 label:1`` (files without ``.avi``; spans ``start:end``, end exclusive;
labels 1..25 -> 0..24). The official lists hold 1,050 / 482 lines and no validation split.

Stored per item (parameter defaults and their sources):

* ``rgb``: the ``color`` span of ``sk_color.avi``, its first ``frames`` (80: the fixed
  80-frame container of NVIDIA's ``readdata.py`` and of the BSS loader) frames, each resized to
  ``frame_size`` (256: the BSS ``cv2.resize(frame, (256, 256))``): uint8 ``[80, 256, 256, 3]``;
* ``depth``: the ``depth`` span of ``sk_depth.avi`` decoded as one grey channel: uint8
  ``[80, 256, 256, 1]``;
* ``flow``: optical flow, which NVIDIA does not distribute. ``flow`` = ``"auto"`` (default)
  reads the BSS files ``Video_data/flow_data/{train,test}/<line index>.npy`` (``(H, W, 2, T)``,
  index = 0-based position of the line in its list) when ``Video_data/flow_data`` exists, else
  computes it (``"bss"`` / ``"farneback"`` force one source). Computed flow is OpenCV's dense
  Farneback flow (``pyr_scale`` 0.5, 3 levels, window 15, 3 iterations, ``poly_n`` 5,
  ``poly_sigma`` 1.2: the values of OpenCV's own example) between the grey versions of
  consecutive stored colour frames, frame t -> t + 1 (the frame after the span when the video
  has it); the flow recipe of BSS is unknown. Displacements in pixels of the stored frame are
  clipped to +-``flow_bound`` (20, the I3D recipe of kinetics-i3d: TV-L1 "truncating pixel
  values to the range [-20, 20]") and mapped linearly to uint8 0..255: uint8
  ``[80, 256, 256, 2]`` (x, y). BSS files with float values are taken as displacements in
  pixels (resized, clipped and mapped the same way); uint8 ones as already mapped.

A span shorter than ``frames``, or one that runs past the end of its video, is padded by
repeating the last frame (computed flow there is 0) and recorded as a note; a longer span keeps
its first ``frames`` frames (noted too). At the defaults an item takes 31,457,280 bytes (30 MiB):
48.2 GB for the 1,532 clips; ``--param frame_size=128`` stores a quarter of that.

The dataset ``nvgesture`` (options ``root``, ``seed``, ``val_fraction`` 0.1, ``crop``,
``train_frames``) serves ``rgb`` ``[T, 3, crop, crop]``, ``depth`` ``[T, 1, crop, crop]`` and
``flow`` ``[T, 2, crop, crop]`` float tensors in [-1, 1] (``x / 255 * 2 - 1``, the input range of
pytorch-i3d's weights). Training (the BSS loader): ``train_frames`` (64) consecutive frames from
a random start in ``[0, frames - train_frames]`` and a random ``crop`` (224) window, the same
for the three streams of a sample, no flip; evaluation: all ``frames`` frames and the centre
window. ``crop`` and ``train_frames`` default to the reference ratios of the cache's sizes
(``round(frame_size * 224 / 256)``, ``round(frames * 64 / 80)``). The validation split is a
seeded stratified ``val_fraction`` of the prepared training clips (the lists have none).
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ...core._validation import check_int
from ...core.errors import InvalidValueError
from ..bundle import DATASETS
from ..splits import carve
from . import transforms as T
from .cache import cached_bundle, open_cache
from .decode import Skip, inside, read_frames, require
from .prepare import PREPARERS, Field, Item, Listing, Preparer

__all__ = ["CLASSES", "LIST_NAMES", "read_list", "encode_flow", "farneback_flow", "nvgesture"]

CLASSES = [f"class_{k:02d}" for k in range(1, 26)]
"""Label k - 1 of the lists' ``label:k`` (the folder names; the gesture-name order is unknown)."""

LIST_NAMES = ("nvgesture_{split}_correct_cvpr2016_v2.lst", "nvgesture_{split}_correct_v2.lst")
"""The split-list names looked for, in this order: NVIDIA's, then the BSS code's."""

OFFICIAL_SIZES = {"train": 1050, "test": 482}

EXAMPLE = ("path:./Video_data/class_01/subject13_r0 depth:sk_depth:138:218 "
           "color:sk_color:138:218 duo_left:duo_left:161:254 label:1")

LAYOUT = """nvGesture/                     (7z x nvGesture_v1.7z.001; NVIDIA's archive, by request)
├── Video_data/
│   ├── class_01/ … class_25/
│   │   └── subject<k>_r<n>/         e.g. subject13_r0
│   │       ├── sk_color.avi          colour, 320x240, 30 fps
│   │       ├── sk_depth.avi          depth
│   │       └── duo_left.avi, ...     (not used)
│   └── flow_data/{train,test}/<line index>.npy   (optional: the BSS optical flow)
├── nvgesture_train_correct_cvpr2016_v2.lst   (or nvgesture_train_correct_v2.lst; or --split-dir)
└── nvgesture_test_correct_cvpr2016_v2.lst    (or nvgesture_test_correct_v2.lst)"""

DEFAULTS = {"frames": 80, "frame_size": 256, "flow": "auto", "flow_bound": 20.0}

FLOW_SOURCES = ("auto", "bss", "farneback")

_FARNEBACK = {"pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5,
              "poly_sigma": 1.2, "flags": 0}
_SPAN = re.compile(r"([^:]+):(\d+):(\d+)")


def read_list(path: Path) -> list[dict]:
    """The lines of an NVGesture split list as dicts: ``line`` (1-based line number), ``index``
    (0-based position among the non-blank lines: the BSS flow file number), ``path`` (the
    sample folder as written), ``color`` / ``depth`` (``(file, start, end)``) and ``label``
    (0..24). Blank lines are ignored; ``duo_left`` and unknown fields are not read.

    Raises:
        ValueError: a line without ``path:``, a ``color`` / ``depth`` field that is missing or
            not ``name:<file>:<start>:<end>`` with ``start < end``, or a label outside 1..25;
            the message gives ``file:line``.
    """
    rows = []
    text = path.read_bytes().decode("utf-8-sig")
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        tokens = line.split()
        if not tokens[0].startswith("path:") or len(tokens[0]) == len("path:"):
            raise InvalidValueError(f"{path}:{n}: a list line must start with 'path:<folder>', "
                                    f"as in {EXAMPLE!r}; got {line!r}.")
        fields = {}
        for token in tokens[1:]:
            key, _, value = token.partition(":")
            fields[key] = value
        row = {"line": n, "index": len(rows), "path": tokens[0][len("path:"):]}
        for key in ("color", "depth"):
            match = _SPAN.fullmatch(fields.get(key, ""))
            if key not in fields or match is None or int(match[2]) >= int(match[3]):
                raise InvalidValueError(
                    f"{path}:{n}: the '{key}' field must be '{key}:<file>:<start>:<end>' with "
                    f"start < end (e.g. {key}:sk_{key}:138:218); got "
                    f"{(key + ':' + fields[key]) if key in fields else 'no such field'!r}.")
            row[key] = (match[1], int(match[2]), int(match[3]))
        label = fields.get("label", "")
        if not label.isdigit() or not 1 <= int(label) <= len(CLASSES):
            raise InvalidValueError(f"{path}:{n}: the label {label!r} of {row['path']!r} is not a "
                                    f"class of NVGesture; labels are 1..{len(CLASSES)} "
                                    f"('label:k' as in {EXAMPLE!r}).")
        row["label"] = int(label) - 1
        rows.append(row)
    return rows


def _list_file(src: Path, split_dir: Path | None, split: str) -> Path:
    folders = ([split_dir] if split_dir is not None else []) + [src]
    names = [n.format(split=split) for n in LIST_NAMES]
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    where = " or ".join(f"'{f}'" for f in folders)
    raise InvalidValueError(
        f"mmbss prepare nvgesture: neither {' nor '.join(names)} is in {where}. The lists come "
        f"with NVIDIA's archive next to Video_data/ (give another folder with --split-dir). "
        f"Expected layout:\n{LAYOUT}")


def _check_params(params: dict) -> None:
    if params["flow"] not in FLOW_SOURCES:
        raise InvalidValueError(f"mmbss prepare nvgesture: parameter 'flow' must be one of "
                                f"{', '.join(FLOW_SOURCES)}; got {params['flow']!r}.")
    if params["frames"] < 1 or params["frame_size"] < 1 or not params["flow_bound"] > 0:
        raise InvalidValueError(f"mmbss prepare nvgesture: parameters 'frames' and 'frame_size' "
                                f"must be >= 1 and 'flow_bound' > 0; got frames={params['frames']}, "
                                f"frame_size={params['frame_size']}, "
                                f"flow_bound={params['flow_bound']}.")


def _scan(src: Path, split_dir: Path | None, params: dict) -> Listing:
    _check_params(params)
    if not (src / "Video_data").is_dir():
        raise InvalidValueError(f"mmbss prepare nvgesture: '{src}' has no Video_data folder; "
                                f"--src must be the folder that unpacking nvGesture_v1.7z.001 "
                                f"made. Expected layout:\n{LAYOUT}")
    flow_root = src / "Video_data" / "flow_data"
    source = params["flow"]
    if source == "auto":
        source = "bss" if flow_root.is_dir() else "farneback"
    if source == "bss" and not flow_root.is_dir():
        raise InvalidValueError(f"mmbss prepare nvgesture: flow=bss reads the BSS flow files, but "
                                f"'{flow_root}' does not exist; use --param flow=farneback (or "
                                f"auto) to compute the flow from the colour video.")
    splits, notes = {}, []
    for split in ("train", "test"):
        path = _list_file(src, split_dir, split)
        rows = read_list(path)
        official = OFFICIAL_SIZES[split]
        notes.append(f"{split}: {len(rows)} lines from {path}"
                     + ("" if len(rows) == official else f" (the official list has {official})"))
        items, seen = [], set()
        for row in rows:
            key = row["path"][2:] if row["path"].startswith("./") else row["path"]
            if key in seen:
                notes.append(f"{split}: {path.name}:{row['line']} lists {key!r} again; its key is "
                             f"'{key} (line {row['line']})'")
                key = f"{key} (line {row['line']})"
            seen.add(key)
            folder = Path(row["path"]).name
            klass = Path(row["path"]).parent.name
            if klass in CLASSES and CLASSES.index(klass) != row["label"]:
                notes.append(f"{split}: {path.name}:{row['line']}: {row['path']!r} is in folder "
                             f"{klass} but has label:{row['label'] + 1}; the label is used")
            sources = {"root": str(src), "dir": row["path"], "folder": folder,
                       "color": list(row["color"]), "depth": list(row["depth"]),
                       "flow": source,
                       "flow_file": f"Video_data/flow_data/{split}/{row['index']}.npy"}
            items.append(Item(key, row["label"], sources))
        splits[split] = items
    if source == "bss":
        found = {s: sum((src / it.sources["flow_file"]).is_file() for it in items)
                 for s, items in splits.items()}
        notes.append(f"flow: read from the BSS files {flow_root}/{{train,test}}/<line index>.npy "
                     f"(found {found['train']} of {len(splits['train'])} train, {found['test']} "
                     f"of {len(splits['test'])} test)")
    else:
        recipe = ", ".join(f"{k} {v}" for k, v in _FARNEBACK.items())
        notes.append(f"flow: computed with OpenCV Farneback ({recipe}) from the stored colour "
                     f"frames, clipped to +-{params['flow_bound']} px and mapped to uint8 0..255"
                     + ("" if params["flow"] == "farneback" else f" (no folder {flow_root})"))
    return Listing(splits, list(CLASSES), notes, params={"flow": source})


def _fields(params: dict) -> dict[str, Field]:
    t, s = params["frames"], params["frame_size"]
    return {"rgb": Field((t, s, s, 3), "uint8"), "depth": Field((t, s, s, 1), "uint8"),
            "flow": Field((t, s, s, 2), "uint8")}


def encode_flow(flow: np.ndarray, bound: float) -> np.ndarray:
    """Displacements in pixels -> uint8: clipped to ``[-bound, bound]``, mapped linearly to
    0..255 (0 px -> 128; the loader's ``x / 255 * 2 - 1`` gives back ``flow / bound``).

    Examples:
        >>> encode_flow(np.array([-30.0, -20.0, 0.0, 20.0]), 20.0).tolist()
        [0, 0, 128, 255]
    """
    scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2.0 * bound))
    return np.round(scaled).astype(np.uint8)


def farneback_flow(frames: np.ndarray) -> np.ndarray:
    """Dense Farneback flow between consecutive RGB frames (uint8 ``[T + 1, H, W, 3]``) ->
    float32 ``[T, H, W, 2]`` displacements (x, y) in pixels; 0 between identical frames."""
    cv2 = require("cv2", "video")
    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]
    out = np.zeros((len(frames) - 1, *frames.shape[1:3], 2), np.float32)
    for k in range(len(frames) - 1):
        if not np.array_equal(grey[k], grey[k + 1]):
            out[k] = cv2.calcOpticalFlowFarneback(grey[k], grey[k + 1], None, **_FARNEBACK)
    return out


def _stream(item: Item, key: str, params: dict, notes: list, *, gray: bool = False,
            following: bool = False) -> np.ndarray:
    """The ``frames`` stored frames of one span, plus (``following``) the frame after them for
    the flow of the last one (the video's next frame; the last stored frame again when the
    span was padded or the video ends there)."""
    root, want = Path(item.sources["root"]), params["frames"]
    name, start, end = item.sources[key]
    path = inside(root, f"{item.sources['dir']}/{name}.avi")
    kept = min(end - start, want)
    extra = 1 if following and kept == want else 0
    frames, available = read_frames(path, params["frame_size"], span=(start, start + kept + extra),
                                    gray=gray)
    if available < kept:
        notes.append(f"{path.name} ends inside the {key} span {start}:{end}: {available} of its "
                     f"{kept} frames exist; padded by repeating the last")
    if end - start < want:
        notes.append(f"the {key} span {start}:{end} has {end - start} frames, fewer than "
                     f"frames={want}: padded by repeating the last")
    elif end - start > want:
        notes.append(f"the {key} span {start}:{end} has {end - start} frames; its first {want} "
                     f"are stored")
    total = want + (1 if following else 0)
    if len(frames) < total:  # a short span: repeat its last frame
        frames = np.concatenate([frames, np.repeat(frames[-1:], total - len(frames), axis=0)])
    return frames


def _bss_flow(item: Item, params: dict, notes: list) -> np.ndarray:
    path = inside(Path(item.sources["root"]), item.sources["flow_file"])
    if not path.is_file():
        raise Skip(f"missing file {str(path)!r} (flow=bss)")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as err:  # noqa: BLE001 - any reader failure is a broken file
        raise Skip(f"cannot read the flow file {str(path)!r}: {type(err).__name__}: {err}") from None
    if arr.ndim != 4 or arr.shape[2] != 2 or 0 in arr.shape:
        raise Skip(f"the flow file {str(path)!r} has shape {arr.shape}; BSS flow files are "
                   f"(H, W, 2, T)")
    want, size, bound = params["frames"], params["frame_size"], params["flow_bound"]
    arr = np.moveaxis(arr, 3, 0)[:want]  # (T, H, W, 2)
    if len(arr) < want:
        notes.append(f"the flow file has {len(arr)} frames, fewer than frames={want}: padded by "
                     f"repeating the last")
        arr = np.concatenate([arr, np.repeat(arr[-1:], want - len(arr), 0)])
    if arr.dtype == np.uint8 and arr.shape[1:3] == (size, size):
        return arr
    flow = arr.astype(np.float32)
    if arr.dtype == np.uint8:  # already mapped: back to pixels
        flow = (flow / 255.0 * 2.0 - 1.0) * bound
    if arr.shape[1:3] != (size, size):
        cv2 = require("cv2", "video")
        h, w = arr.shape[1:3]
        flow = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in flow])
        flow *= np.array([size / w, size / h], np.float32)  # displacements scale with the frame
        notes.append(f"the flow file's {h}x{w} frames were resized to {size}x{size}")
    return encode_flow(flow, bound)


def _decode(item: Item, params: dict, notes: list) -> dict[str, np.ndarray]:
    root = Path(item.sources["root"])
    folder = inside(root, item.sources["dir"])
    if not folder.is_dir():
        raise Skip(f"missing folder {str(folder)!r} (listed as {item.sources['dir']!r})")
    compute = item.sources["flow"] == "farneback"
    colour = _stream(item, "color", params, notes, following=compute)
    depth = _stream(item, "depth", params, notes, gray=True)
    want = params["frames"]
    if compute:
        flow = encode_flow(farneback_flow(colour), params["flow_bound"])
    else:
        flow = _bss_flow(item, params, notes)
    return {"rgb": colour[:want], "depth": depth, "flow": flow}


PREPARERS.register("nvgesture")(Preparer("nvgesture", 1, DEFAULTS, _scan, _fields, _decode,
                                         LAYOUT))


def _to_unit(u8: np.ndarray):
    """uint8 ``[T, H, W, C]`` -> float ``[T, C, H, W]`` in [-1, 1] (pytorch-i3d's input range)."""
    return T.to_chw(u8).mul_(2.0).sub_(1.0)


def _window(values: dict, start: int, count: int, top: int, left: int, crop: int) -> dict:
    return {m: _to_unit(values[m][start:start + count, top:top + crop, left:left + crop])
            for m in ("rgb", "depth", "flow")}


def _train(values, gen, *, frames: int, size: int, train_frames: int, crop: int):
    start = int(torch.randint(0, frames - train_frames + 1, (), generator=gen))
    top = int(torch.randint(0, size - crop + 1, (), generator=gen))
    left = int(torch.randint(0, size - crop + 1, (), generator=gen))
    return _window(values, start, train_frames, top, left, crop)


def _eval(values, gen, *, frames: int, size: int, crop: int):
    return _window(values, 0, frames, (size - crop) // 2, (size - crop) // 2, crop)


def _train_tf(frames: int, size: int, train_frames: int, crop: int):
    """The training transform (a partial of a module-level function: spawn workers unpickle it)."""
    return partial(_train, frames=frames, size=size, train_frames=train_frames, crop=crop)


def _eval_tf(frames: int, size: int, crop: int):
    """The evaluation transform (a picklable partial)."""
    return partial(_eval, frames=frames, size=size, crop=crop)


@DATASETS.register("nvgesture")
def nvgesture(root: str | None = None, seed: int = 0, val_fraction: float = 0.1,
              crop: int | None = None, train_frames: int | None = None):
    """NVGesture from a cache written by ``mmbss prepare nvgesture`` (see the module docstring).

    Args:
        root: the cache folder. seed: the validation carve's seed. val_fraction: the share of
            the prepared training clips carved out (stratified) as the validation split.
        crop: the square window the clips are cropped to (default: ``round(frame_size * 224 /
            256)``, 224 at the default 256). train_frames: the frames of a training clip
            (default: ``round(frames * 64 / 80)``, 64 at the default 80); evaluation uses all.
    """
    check_int("nvgesture", "seed", seed)
    cache = open_cache(root, "nvgesture")
    frames, size = cache.params["frames"], cache.params["frame_size"]
    crop = check_int("nvgesture", "crop", crop, low=1, high=size, allow_none=True)
    train_frames = check_int("nvgesture", "train_frames", train_frames, low=1, high=frames,
                             allow_none=True)
    crop = crop if crop is not None else max(1, round(size * 224 / 256))
    train_frames = train_frames if train_frames is not None else max(1, round(frames * 64 / 80))
    train_rows, test_rows = cache.rows("train"), cache.rows("test")
    kept, val = carve(cache.labels("train")[train_rows], val_fraction, seed=seed,
                      owner="nvgesture")
    parts = {"train": [("train", train_rows[kept])], "val": [("train", train_rows[val])],
             "test": [("test", test_rows)]}
    return cached_bundle(cache, name="nvgesture", seed=seed, parts=parts,
                         train_transform=_train_tf(frames, size, train_frames, crop),
                         eval_transform=_eval_tf(frames, size, crop),
                         info={"crop": crop, "train_frames": train_frames, "frames": frames})
