"""VGGSound: the official annotation + mp4 clips -> mmbss prepare -> the loader -> one epoch."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmbss.cli.main import main
from mmbss.data import create_dataset
from mmbss.data.paper import PREPARERS

from .media import write_video

CLASSES = ["bird chirping, tweeting", "dog barking", "playing hammond organ"]
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "paper" / "vggsound.yaml"
TINY = ["--set", "train.epochs=1", "--set", "train.batch_size=4", "--set", "train.num_workers=2",
        "--set", "train.device=cpu", "--set", "train.eval_batch_size=8"]
PARAMS = ["--param", "sample_rate=8000", "--param", "seconds=1", "--param", "frame_size=32"]


def _ytid(split: str, c: int, k: int) -> str:
    return f"-v{split[:2]}{c}{k}abcdefg"[:11]  # 11 characters, as YouTube ids


def make_vggsound(root, per_class=(4, 2), broken=True):
    """VGGSound as the annotation (vggsound.csv, no header, labels with commas quoted; one row
    unquoted) and the clips unpacked from several tarballs into video/ (two nested folders)."""
    rows = []
    for split, count in zip(("train", "test"), per_class, strict=True):
        for c, label in enumerate(CLASSES):
            for k in range(count):
                ytid, start = _ytid(split, c, k), 30 * k
                rows.append([ytid, str(start), label, split])
                part = root / "video" / ("vggsound_00" if k % 2 else "vggsound_01/scratch/video")
                write_video(part / f"{ytid}_{start:06d}.mp4", frames=5, shade=c + k,
                            audio_rate=16000)
    if broken:
        video = root / "video"
        (video / "vggsound_00" / f"{_ytid('train', 0, 1)}_000030.mp4").unlink()        # missing
        write_video(video / "vggsound_00" / f"{_ytid('train', 1, 1)}_000030.mp4")      # no audio
        cut = video / "vggsound_00" / f"{_ytid('train', 2, 1)}_000030.mp4"              # corrupt
        cut.write_bytes(cut.read_bytes()[:1500])
        padded = video / "vggsound_01/scratch/video" / f"{_ytid('train', 0, 2)}_000060.mp4"
        padded.rename(padded.with_name(f"{_ytid('train', 0, 2)}_60.mp4"))  # OGM-GE-style name
        rows.append(["../../etc/passwd", "0", "dog barking", "train"])                # escapes
        rows.append(rows[0])                                                           # repeated
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows[1:])
    first = rows[0]  # the label's comma unquoted: joined back
    (root / "vggsound.csv").write_text(",".join(first) + "\n" + out.getvalue())
    return root


def test_vggsound_from_raw_layout_to_a_trained_epoch(tmp_path, capsys):
    raw, cache = make_vggsound(tmp_path / "VGGSound"), tmp_path / "cache"
    args = ["prepare", "vggsound", "--src", str(raw), "--out", str(cache), "--workers", "2",
            "--quiet", *PARAMS]
    assert main(args) == 2  # 4 of 19 skipped: above the default 1 %
    assert "4 of 19 listed items were skipped, more than --max-skipped 1%" in capsys.readouterr().err
    manifest = json.loads((cache / "manifest.json").read_text())
    reasons = {i["key"]: i["reason"] for i in manifest["skipped_items"]}
    assert set(reasons) == {f"{_ytid('train', c, 1)}_000030" for c in range(3)} | {
        "../../etc/passwd_000000"}
    assert reasons[f"{_ytid('train', 0, 1)}_000030"].startswith("missing file")
    assert reasons[f"{_ytid('train', 1, 1)}_000030"].endswith("has no audio stream")
    assert reasons[f"{_ytid('train', 2, 1)}_000030"].startswith("cannot decode the audio")
    assert "escapes the dataset root" in reasons["../../etc/passwd_000000"]
    assert manifest["classes"] == sorted(CLASSES)
    assert manifest["splits"]["train"]["per_class"] == dict.fromkeys(CLASSES, 3)
    assert manifest["splits"]["test"]["per_class"] == dict.fromkeys(CLASSES, 2)
    notes = " ".join(manifest["scan_notes"])
    assert "classes: 3 labels found in the annotation, sorted" in notes
    assert "1 repeated rows left out" in notes and "vggsound.csv" in notes
    assert json.loads((cache / "cache.json").read_text())["classes"] == sorted(CLASSES)
    assert main(args + ["--max-skipped", "4"]) == 0  # continues: the skipped items again
    # the rerun retries only the skipped items (their files may have been fixed)
    assert json.loads((cache / "manifest.json").read_text())["last_run"]["decoded"] == 4

    bundle = create_dataset("vggsound", root=str(cache), seed=0, val_fraction=0.34)
    assert bundle.modality_shapes == {"audio": (1, 257, 23), "visual": (1, 3, 32, 32)}
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (6, 3, 6)
    assert bundle.num_classes == 3 and sorted(bundle.val.labels.tolist()) == [0, 1, 2]
    stored = np.load(cache / "train" / "audio.npy", mmap_mode="r")
    sample = bundle.train_eval[0]
    assert torch.equal(sample["modalities"]["audio"][0],
                       torch.from_numpy(stored[bundle.train.parts[0][1][0]].astype(np.float32)))

    run = tmp_path / "run"  # the shipped paper config, made tiny
    assert main(["train", "--config", str(CONFIG), "--out", str(run), "--quiet",
                 "--set", f"data.root={cache}", "--set", "data.val_fraction=0.34", *TINY]) == 0
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert record["train"]["samples"] == len(bundle.train)
    assert set(record["val"]["modality_acc"]) == {"audio", "visual"}


def _scan(raw, split_dir=None):
    preparer = PREPARERS.get("vggsound")
    return preparer.scan(raw, split_dir, dict(preparer.defaults))


def test_the_official_split_files_are_used_when_present(tmp_path):
    raw = tmp_path / "VGGSound"
    write_video(raw / "clips" / "aaaaaaaaaaa_000010.mp4", frames=2)  # no video/: all of --src
    (raw / "vggsound.csv").write_text("zzzzzzzzzzz,1,people marching,test\n")
    (raw / "data").mkdir()
    (raw / "data" / "train.csv").write_text('aaaaaaaaaaa_000010.mp4,"bird chirping, tweeting"\r\n'
                                            "bbbbbbbbbbb_000000.mp4,dog barking\r\n")
    (raw / "data" / "test.csv").write_text("ccccccccccc_000300.mp4,playing hammond organ\r\n")
    listing = _scan(raw)
    assert listing.classes == sorted(CLASSES)
    assert [(it.key, it.label) for it in listing.splits["train"]] == [
        ("aaaaaaaaaaa_000010", 0), ("bbbbbbbbbbb_000000", 1)]
    assert listing.splits["train"][0].sources["file"] == "clips/aaaaaaaaaaa_000010.mp4"
    assert listing.splits["test"][0].sources["file"] == "ccccccccccc_000300.mp4"
    notes = " ".join(listing.notes)
    assert "the official split files" in notes and "train: 2 clips; no clip of " in notes
    # the same files in --split-dir win over VGGSound/data/
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "train.csv").write_text("ddddddddddd_000000.mp4,dog barking\n")
    (tmp_path / "s" / "test.csv").write_text("eeeeeeeeeee_000000.mp4,dog barking\n")
    listing = _scan(raw, tmp_path / "s")
    assert listing.classes == ["dog barking"] and len(listing.splits["test"]) == 1


@pytest.mark.parametrize("case, expected", [
    ("no-src", "the source folder"),
    ("no-annotation", "has vggsound.csv (nor train.csv and test.csv in"),
    ("short-row", "vggsound.csv:2: a vggsound.csv row must be "
                  "'youtube_id,start_seconds,label,train|test'"),
    ("bad-start", "vggsound.csv:1: the start second '1.5' of 'aaaaaaaaaaa' is not a whole number"),
    ("bad-split", "vggsound.csv:1: the split field (the last) must be 'train' or 'test'; got 'val'"),
    ("empty-label", "vggsound.csv:1: the row has an empty youtube id or label"),
    ("bad-official-row", "train.csv:1: an official VGGSound split row must be "
                         "'<youtube_id>_<start:06d>.mp4,<label>'"),
    ("no-clips", "found no .mp4 file below"),
    ("bad-type", "parameter 'seconds' must be a float like its default 20.0; got 'long'"),
])
def test_vggsound_prepare_bad_input(tmp_path, capsys, case, expected):
    raw = tmp_path / "VGGSound"
    extra = []
    if case != "no-src":
        write_video(raw / "video" / "aaaaaaaaaaa_000001.mp4", frames=2)
        (raw / "vggsound.csv").write_text("aaaaaaaaaaa,1,dog barking,train\n"
                                          "bbbbbbbbbbb,1,dog barking,test\n")
    lines = {"short-row": "aaaaaaaaaaa,1,dog barking,train\nbbbbbbbbbbb,1,test\n",
             "bad-start": "aaaaaaaaaaa,1.5,dog barking,train\n",
             "bad-split": "aaaaaaaaaaa,1,dog barking,val\n",
             "empty-label": "aaaaaaaaaaa,1,,train\n"}
    if case in lines:
        (raw / "vggsound.csv").write_text(lines[case])
    if case == "no-annotation":
        (raw / "vggsound.csv").unlink()
    if case == "bad-official-row":
        (raw / "data").mkdir()
        (raw / "data" / "train.csv").write_text("aaaaaaaaaaa_000001.mp4\n")
        (raw / "data" / "test.csv").write_text("aaaaaaaaaaa_000001.mp4,dog barking\n")
    if case == "no-clips":
        (raw / "video" / "aaaaaaaaaaa_000001.mp4").unlink()
    if case == "bad-type":
        extra = ["--param", "seconds=long"]
    assert main(["prepare", "vggsound", "--src", str(raw), "--out", str(tmp_path / "c"),
                 *extra]) == 2
    assert expected in " ".join(capsys.readouterr().err.split())


def test_vggsound_loader_needs_a_prepared_cache(tmp_path):
    with pytest.raises(ValueError, match="'root' is not set"):
        create_dataset("vggsound")
    with pytest.raises(ValueError, match="the cache folder .* does not exist"):
        create_dataset("vggsound", root=str(tmp_path / "nowhere"))
