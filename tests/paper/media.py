"""Writers of tiny media files in real formats for the paper-dataset fixtures (wav via the
standard library, video via PyAV, images via Pillow)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(path: Path, seconds: float = 0.5, rate: int = 16000, freq: float = 440.0,
              silent: bool = False) -> Path:
    """16-bit mono PCM wav of a sine tone (or silence)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    samples = np.zeros_like(t) if silent else 0.5 * np.sin(2 * np.pi * freq * t)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def frame_pattern(k: int, width: int, height: int, shade: int = 0) -> np.ndarray:
    """An RGB frame whose content moves with k (uint8 [height, width, 3])."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(width - 1, 1) + 16 * k) % 256
    g = (y * 255 // max(height - 1, 1) + 8 * shade) % 256
    b = np.full_like(x, (40 * shade + 5 * k) % 256)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def write_video(path: Path, frames: int = 8, width: int = 32, height: int = 24, fps: int = 10,
                shade: int = 0, audio_rate: int | None = None, audio_seconds: float = 0.8,
                gray: bool = False) -> Path:
    """A short video (codec by extension: .flv -> flv, .mp4 -> h264/mpeg4, .avi -> mpeg4),
    with an AAC or PCM audio track when ``audio_rate`` is given."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    codec = {".flv": "flv", ".mp4": "mpeg4", ".avi": "mpeg4"}[path.suffix]
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        ast = None
        if audio_rate is not None:
            acodec = {".flv": "mp3", ".mp4": "aac", ".avi": "pcm_s16le"}[path.suffix]
            ast = out.add_stream(acodec, rate=audio_rate, layout="mono")
        for k in range(frames):
            img = frame_pattern(k, width, height, shade)
            if gray:
                img = np.repeat(img[..., :1], 3, axis=-1)
            for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if ast is not None:
            n = int(audio_rate * audio_seconds)
            t = np.arange(n) / audio_rate
            samples = (0.3 * np.sin(2 * np.pi * (300 + 50 * shade) * t)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
            frame.sample_rate = audio_rate
            resampler = av.AudioResampler(format=ast.codec_context.format.name, layout="mono",
                                          rate=audio_rate)
            for f in resampler.resample(frame):
                for packet in ast.encode(f):
                    out.mux(packet)
            for packet in ast.encode():
                out.mux(packet)
    return path


def write_image(path: Path, width: int = 40, height: int = 30, shade: int = 0) -> Path:
    """A JPEG (or PNG, by extension) image."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame_pattern(0, width, height, shade)).save(path)
    return path


def write_garbage(path: Path, text: bytes = b"this is not a media file\n" * 4) -> Path:
    """A broken file that no decoder reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    return path


def write_lfs_pointer(path: Path) -> Path:
    """What a media file is in a zip download of a git-lfs repository."""
    return write_garbage(path, b"version https://git-lfs.github.com/spec/v1\n"
                               b"oid sha256:0123456789abcdef\nsize 40618\n")
