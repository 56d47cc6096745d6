"""The decoders and transforms of mmbss prepare, against independent computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmbss.data.paper import transforms as T
from mmbss.data.paper.decode import (
    Skip,
    inside,
    log_spectrogram,
    pick_evenly,
    read_audio,
    read_frames,
    read_image,
    tile_to,
)

from .media import write_garbage, write_image, write_lfs_pointer, write_video, write_wav


def test_log_spectrogram_equals_a_centred_periodic_hann_stft():
    wave = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    ours = log_spectrogram(wave, 512, 353)
    ref = torch.stft(torch.from_numpy(wave), n_fft=512, hop_length=353,
                     window=torch.hann_window(512, periodic=True), center=True,
                     pad_mode="constant", return_complex=True).abs()
    assert ours.shape == (257, 1 + 5000 // 353) == tuple(ref.shape)
    np.testing.assert_allclose(ours, torch.log(ref + 1e-7).numpy(), atol=2e-4)


def test_tiling_repeats_then_cuts_and_clips():
    out = tile_to(np.array([0.5, 2.0, -3.0], np.float32), 7)
    assert out.tolist() == [0.5, 1.0, -1.0, 0.5, 1.0, -1.0, 0.5]


def test_frames_are_picked_evenly_and_sorted():
    assert pick_evenly(90, 3).tolist() == [15, 45, 75]
    assert pick_evenly(1, 2).tolist() == [0, 0]


def test_audio_is_resampled_to_the_asked_rate(tmp_path):
    wav = write_wav(tmp_path / "a.wav", seconds=1.0, rate=16000)
    wave = read_audio(wav, 22050)
    assert abs(len(wave) - 22050) <= 64 and wave.dtype == np.float32
    assert 0.45 < np.abs(wave).max() < 0.55
    mp4 = write_video(tmp_path / "v.mp4", audio_rate=44100, audio_seconds=1.0)
    assert abs(len(read_audio(mp4, 35400)) - 35400) < 2048


@pytest.mark.parametrize("case, reason", [
    ("missing", "missing file"), ("empty", "empty file"), ("lfs", "git-lfs pointer"),
    ("garbage", "cannot decode the audio"), ("silent", "silent audio"),
    ("no-stream", "has no audio stream"),
])
def test_broken_audio_is_skipped_with_its_reason(tmp_path, case, reason):
    path = tmp_path / "x.wav"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "lfs":
        write_lfs_pointer(path)
    elif case == "garbage":
        write_garbage(path)
    elif case == "silent":
        write_wav(path, silent=True)
    elif case == "no-stream":
        path = write_video(tmp_path / "x.mp4")
    with pytest.raises(Skip, match=reason):
        read_audio(path, 16000)


def test_a_span_past_the_end_is_padded_by_repeating_the_last_frame(tmp_path):
    avi = write_video(tmp_path / "v.avi", frames=5, width=16, height=16)
    frames, available = read_frames(avi, 8, span=(2, 9))
    assert frames.shape == (7, 8, 8, 3) and available == 3
    assert np.array_equal(frames[3], frames[2]) and np.array_equal(frames[6], frames[2])
    depth, _ = read_frames(avi, 8, span=(0, 5), gray=True)
    assert depth.shape == (5, 8, 8, 1)
    with pytest.raises(Skip, match="has no video frame in the span 7:9"):
        read_frames(avi, 8, span=(7, 9))


def test_images_decode_and_broken_ones_are_skipped(tmp_path):
    img = read_image(write_image(tmp_path / "a.jpg", width=40, height=30), 24)
    assert img.shape == (24, 24, 3) and img.dtype == np.uint8
    with pytest.raises(Skip, match="unreadable image"):
        read_image(write_garbage(tmp_path / "b.jpg"), 24)


def test_annotation_names_cannot_leave_the_root(tmp_path):
    assert inside(tmp_path, "a/b.wav") == tmp_path / "a" / "b.wav"
    assert inside(tmp_path, "a/../b.wav") == tmp_path / "b.wav"
    with pytest.raises(Skip, match="escapes the dataset root"):
        inside(tmp_path, "../outside.wav")
    with pytest.raises(Skip, match="is an absolute path"):
        inside(tmp_path, "/etc/passwd")
    assert isinstance(inside(Path("rel"), "x"), Path)


def test_random_resized_crop_is_reproducible_and_keeps_frames_aligned():
    x = torch.rand(3, 3, 40, 30)
    a = T.random_resized_crop(x, 16, torch.Generator().manual_seed(1))
    b = T.random_resized_crop(x, 16, torch.Generator().manual_seed(1))
    assert a.shape == (3, 3, 16, 16) and torch.equal(a, b)
    same = torch.rand(1, 3, 40, 30).expand(3, -1, -1, -1)
    out = T.random_resized_crop(same, 16, torch.Generator().manual_seed(2))
    assert torch.equal(out[0], out[2])  # one box for every frame
    assert T.center_crop(torch.arange(36.).view(1, 6, 6), 2).flatten().tolist() == [14, 15, 20, 21]
    assert T.to_chw(np.full((2, 3, 3), 255, np.uint8)).shape == (3, 2, 3)
