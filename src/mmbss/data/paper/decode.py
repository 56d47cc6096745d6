"""Decoders for ``mmbss prepare``: audio to log-magnitude spectrograms, video to evenly sampled
frames, images to fixed-size RGB arrays, and the checks every raw file goes through.

Each decoder raises :class:`Skip` for a file that is missing or broken; ``prepare`` records the
item and its reason in the manifest and goes on (a listed item is never fatal). Decoding needs the
optional extras: PyAV for audio and video (``pip install 'mmbss[audio,video]'``), Pillow for
images (``pip install 'mmbss[image]'``); they are imported on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...core.errors import InvalidValueError

__all__ = ["Skip", "inside", "read_audio", "tile_to", "log_spectrogram", "spectrogram_frames",
           "check_audio_video", "read_frames",
           "pick_evenly", "read_image", "require"]

_LFS = b"version https://git-lfs.github.com/spec/v1"


class Skip(Exception):
    """This item cannot be prepared; the message is the reason recorded in the manifest."""


def require(module: str, extra: str):
    """Import ``module`` or fail with the pip command that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InvalidValueError(f"mmbss prepare needs the Python package {module!r} for this "
                                f"dataset; install it with: pip install 'mmbss[{extra}]'.") from None


def inside(root: Path, name: str) -> Path:
    """``root / name`` for a file name read from an annotation, refusing names that leave root.

    Raises:
        Skip: ``name`` is absolute or its ``..`` parts escape ``root`` (never read such a file).
    """
    if os.path.isabs(name) or Path(name).is_absolute():
        raise Skip(f"the annotation's file name {name!r} is an absolute path; it must be relative "
                   f"to the dataset root, so it was not read")
    root_norm = os.path.normpath(os.path.abspath(root))
    path = os.path.normpath(os.path.join(root_norm, name))
    if os.path.commonpath([root_norm, path]) != root_norm:
        raise Skip(f"the annotation's file name {name!r} escapes the dataset root {str(root)!r}, "
                   f"so it was not read")
    return Path(path)


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise Skip(f"missing file {str(path)!r}")
    if path.stat().st_size == 0:
        raise Skip(f"empty file {str(path)!r} (0 bytes)")
    with open(path, "rb") as f:
        if f.read(len(_LFS)) == _LFS:
            raise Skip(f"{str(path)!r} is a git-lfs pointer, not media: fetch the files with "
                       f"'git lfs pull' (or clone the dataset's mirror that serves them)")


def read_audio(path: Path, rate: int) -> np.ndarray:
    """The first audio stream of ``path`` (wav, mp4, flv, ...) as mono float32 at ``rate`` Hz.

    Raises:
        Skip: missing, empty, undecodable, no audio stream, no samples, or silent (all zero).
    """
    _check_file(path)
    av = require("av", "audio")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise Skip(f"{str(path)!r} has no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            parts = []
            for frame in container.decode(stream):
                parts.extend(r.to_ndarray().reshape(-1) for r in resampler.resample(frame))
            parts.extend(r.to_ndarray().reshape(-1) for r in resampler.resample(None))
    except Skip:
        raise
    except Exception as err:  # noqa: BLE001 - any decoder failure is a broken file
        raise Skip(f"cannot decode the audio of {str(path)!r}: {type(err).__name__}: {err}") from None
    wave = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    if wave.size == 0:
        raise Skip(f"empty audio: {str(path)!r} decodes to no samples")
    if not np.any(wave):
        raise Skip(f"silent audio: every sample of {str(path)!r} is 0")
    return wave


def tile_to(wave: np.ndarray, length: int) -> np.ndarray:
    """Repeat ``wave`` until it has ``length`` samples and cut it there (the reference tiling),
    then clip to [-1, 1]."""
    reps = -(-length // len(wave))
    return np.clip(np.tile(wave, reps)[:length], -1.0, 1.0)


def check_audio_video(owner: str, params: dict) -> None:
    """Check the audio (``sample_rate``, ``seconds``, ``n_fft``, ``hop``) and frame
    (``frames``, ``frame_size``) parameters a preparer has."""
    from ...core._validation import check_float, check_int

    for key, low in (("sample_rate", 1), ("n_fft", 2), ("hop", 1), ("frames", 1),
                     ("frame_size", 1)):
        if key in params:
            check_int(owner, key, params[key], low=low)
    if "seconds" in params:
        check_float(owner, "seconds", params["seconds"], low=0.0, low_open=True)


def spectrogram_frames(length: int, n_fft: int, hop: int) -> int:
    """The number of frames :func:`log_spectrogram` gives for ``length`` samples."""
    return 1 + (length + 2 * (n_fft // 2) - n_fft) // hop


def log_spectrogram(wave: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """``log(|STFT| + 1e-7)`` as librosa computes it by default: centred frames (``n_fft // 2``
    zeros padded on each side), a periodic Hann window, ``1 + len // hop`` frames.

    Returns:
        float32 ``[n_fft // 2 + 1, 1 + len(wave) // hop]``.

    Examples:
        >>> log_spectrogram(np.zeros(66150, np.float32), 512, 353).shape
        (257, 188)
    """
    padded = np.pad(wave.astype(np.float32), n_fft // 2)
    count = 1 + (len(padded) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(count, n_fft), strides=(padded.strides[0] * hop, padded.strides[0]))
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    mag = np.abs(np.fft.rfft(frames * window, axis=1))
    return np.log(mag.T + 1e-7).astype(np.float32)


def pick_evenly(available: int, count: int) -> np.ndarray:
    """``count`` frame numbers spread evenly over ``available`` frames (the middle of each of
    ``count`` equal parts), sorted; with fewer frames than asked, some repeat.

    Examples:
        >>> pick_evenly(10, 3).tolist(), pick_evenly(2, 3).tolist()
        ([1, 5, 8], [0, 1, 1])
    """
    return np.minimum(((np.arange(count) + 0.5) * available / count).astype(np.int64),
                      available - 1)


def read_frames(path: Path, size: int, *, count: int | None = None,
                span: tuple[int, int] | None = None, gray: bool = False
                ) -> tuple[np.ndarray, int]:
    """Decoded video frames of ``path``, each resized to ``size`` x ``size``.

    Args:
        path: the video file (mp4, flv, avi, ...).
        size: output height and width (the reference ``Resize((size, size))``).
        count: pick this many frames evenly over the whole clip (:func:`pick_evenly`).
        span: or take the frames ``start <= k < end`` (NVGesture's annotated span).
        gray: one channel (depth streams) instead of RGB.

    Returns:
        ``(frames, available)``: uint8 ``[T, size, size, C]`` (C = 3, or 1 with ``gray``) with
        ``T = count`` or ``end - start``, and how many frames the file (or span) really had;
        fewer than asked are padded by repeating the last (the caller records it).

    Raises:
        Skip: missing, empty or undecodable file, no video stream, or no frame in range.
    """
    if (count is None) == (span is None):
        raise InvalidValueError("read_frames: give exactly one of 'count' (frames picked evenly) "
                                "and 'span' ((start, end) frame numbers).")
    _check_file(path)
    av = require("av", "video")
    fmt = "gray" if gray else "rgb24"
    start, end = span if span is not None else (0, None)
    wanted = None  # frame numbers to convert; None: every frame in [start, end)
    if count is not None:  # count the frames first, then convert only the picked ones
        available = _decode(path, av, lambda k, frame: None)
        if available == 0:
            raise Skip(f"{str(path)!r} has no video frame")
        wanted = {int(k) for k in pick_evenly(available, count)}
    kept: dict[int, np.ndarray] = {}

    def keep(k, frame):
        if (end is not None and k >= end) or k < start or (wanted is not None and k not in wanted):
            return end is not None and k >= end  # True: stop decoding
        kept[k] = frame.reformat(width=size, height=size, format=fmt,
                                 interpolation="BILINEAR").to_ndarray()
        return None

    _decode(path, av, keep)
    if not kept:
        where = f" in the span {start}:{end}" if span is not None else ""
        raise Skip(f"{str(path)!r} has no video frame{where}")
    if count is not None:
        stack = np.stack([kept[int(k)] for k in pick_evenly(available, count)])
    else:
        stack = np.stack([kept[k] for k in sorted(kept)])
        available = len(stack)
    if gray:
        stack = stack[..., None]
    if count is None and available < end - start:
        stack = np.concatenate([stack, np.repeat(stack[-1:], end - start - available, axis=0)])
    return stack, available


def _decode(path: Path, av, visit) -> int:
    """Decode the first video stream of ``path``, calling ``visit(k, frame)`` for frame k until
    it returns True; returns the number of frames decoded.

    Raises:
        Skip: undecodable file or no video stream.
    """
    n = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise Skip(f"{str(path)!r} has no video stream")
            for n, frame in enumerate(container.decode(container.streams.video[0]), start=1):
                if visit(n - 1, frame):
                    break
    except Skip:
        raise
    except Exception as err:  # noqa: BLE001 - any decoder failure is a broken file
        raise Skip(f"cannot decode the video of {str(path)!r}: {type(err).__name__}: {err}") from None
    return n


def read_image(path: Path, size: int, resample: str = "bilinear") -> np.ndarray:
    """An image file as uint8 RGB ``[size, size, 3]`` (``Resize((size, size))``, ``resample``
    ``"bilinear"`` or ``"bicubic"``).

    Raises:
        Skip: missing, empty or unreadable image.
    """
    _check_file(path)
    pil = require("PIL.Image", "image")
    try:
        with pil.open(path) as img:
            mode = {"bilinear": pil.Resampling.BILINEAR, "bicubic": pil.Resampling.BICUBIC}[resample]
            img = img.convert("RGB").resize((size, size), mode)
            return np.asarray(img, dtype=np.uint8)
    except Exception as err:  # noqa: BLE001 - any decoder failure is a broken file
        raise Skip(f"unreadable image {str(path)!r}: {type(err).__name__}: {err}") from None
