"""Kinetics-Sounds: a Kinetics-400 fixture in the CVDF layout -> mmbss prepare -> the loader ->
one training epoch."""

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
from mmbss.data.paper.kinetics_sounds import ADAMML_CLASSES

from .media import write_garbage, write_video

CLASSES = ["playing guitar", "singing", "tapping pen"]
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "paper" / "kinetics-sounds.yaml"
TINY = ["--set", "train.epochs=1", "--set", "train.batch_size=4", "--set", "train.num_workers=2",
        "--set", "train.device=cpu", "--set", "train.eval_batch_size=8"]
PARAMS = ["--param", "classes=ks-classes.txt", "--param", "sample_rate=8000",
          "--param", "seconds=1", "--param", "frame_size=32"]
HEADER = "label,youtube_id,time_start,time_end,split,is_cc"


def _ytid(split: str, c: int, k: int) -> str:
    return f"{split[:2]}{c:02d}{k:02d}abcdefg"[:11]  # 11 characters, as YouTube ids


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(HEADER.split(","))
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def make_kinetics_sounds(root, classes=CLASSES, per_class=(4, 2), broken=True):
    """Kinetics-400 as CVDF's scripts unpack it (k400/{train,val}/, annotations/*.csv, with rows
    of other classes), plus the class list file ks-classes.txt in annotations/."""
    rows = {"train": [], "val": []}
    for split, count in zip(("train", "val"), per_class, strict=True):
        for c, label in enumerate([*classes, "abseiling"]):  # abseiling: not a KS class
            for k in range(count if c < len(classes) else 1):
                ytid, t0 = _ytid(split, c, k), 10 * k
                rows[split].append([label, ytid, str(t0), str(t0 + 10), split, "0"])
                write_video(root / split / f"{ytid}_{t0:06d}_{t0 + 10:06d}.mp4", frames=6,
                            shade=c + k, audio_rate=16000)
    if broken:
        tr = root / "train"
        (tr / f"{_ytid('train', 0, 1)}_000010_000020.mp4").unlink()               # missing
        write_video(tr / f"{_ytid('train', 1, 1)}_000010_000020.mp4", frames=6)   # no audio
        cut = tr / f"{_ytid('train', 2, 1)}_000010_000020.mp4"                    # corrupt
        cut.write_bytes(cut.read_bytes()[:2000])
        # a corrupt original with its CVDF replacement, and a clip in a class folder
        good = tr / f"{_ytid('train', 0, 2)}_000020_000030.mp4"
        (root / "replacement" / "replacement_for_corrupted_k400").mkdir(parents=True)
        good.rename(root / "replacement" / "replacement_for_corrupted_k400" / good.name)
        write_garbage(good)
        moved = tr / f"{_ytid('train', 1, 2)}_000020_000030.mp4"
        (tr / "singing").mkdir()
        moved.rename(tr / "singing" / moved.name)
        # named by its YouTube id only
        other = tr / f"{_ytid('train', 2, 2)}_000020_000030.mp4"
        other.rename(tr / f"{_ytid('train', 2, 2)}.mp4")
        rows["train"].append([classes[0], "../../etc/passwd", "0", "10", "train", "0"])
    ann = root / "annotations"
    ann.mkdir(parents=True, exist_ok=True)
    for split, lines in rows.items():
        (ann / f"{split}.csv").write_text(_csv(lines))
    (ann / "ks-classes.txt").write_text("# Kinetics-Sounds, a 3-class test list\n"
                                        + "\n".join(c.replace(" ", "_") for c in classes) + "\n")
    return root


def test_kinetics_sounds_from_raw_layout_to_a_trained_epoch(tmp_path, capsys):
    raw, cache = make_kinetics_sounds(tmp_path / "k400"), tmp_path / "cache"
    args = ["prepare", "kinetics-sounds", "--src", str(raw), "--out", str(cache), "--workers", "2",
            "--quiet", *PARAMS]
    assert main(args) == 2  # 4 of 19 skipped: above the default 1 %
    assert "4 of 19 listed items were skipped, more than --max-skipped 1%" in capsys.readouterr().err
    manifest = json.loads((cache / "manifest.json").read_text())
    reasons = {i["key"]: i["reason"] for i in manifest["skipped_items"]}
    assert set(reasons) == {f"{_ytid('train', c, 1)}_000010_000020" for c in range(3)} | {
        "../../etc/passwd_000000_000010"}
    assert reasons[f"{_ytid('train', 0, 1)}_000010_000020"].startswith("missing file")
    assert reasons[f"{_ytid('train', 1, 1)}_000010_000020"].endswith("has no audio stream")
    assert reasons[f"{_ytid('train', 2, 1)}_000010_000020"].startswith("cannot decode the audio")
    assert "escapes the dataset root" in reasons["../../etc/passwd_000000_000010"]
    assert manifest["classes"] == CLASSES and manifest["params"]["sample_rate"] == 8000
    assert manifest["splits"]["train"]["listed"] == 13
    assert manifest["splits"]["train"]["per_class"] == dict.fromkeys(CLASSES, 3)
    assert manifest["splits"]["test"]["per_class"] == dict.fromkeys(CLASSES, 2)
    notes = " ".join(manifest["scan_notes"])
    assert "3 from" in notes and "ks-classes.txt" in notes
    assert "1 rows of other Kinetics classes left out; 1 read from replacement/" in notes
    assert main(args + ["--max-skipped", "4"]) == 0  # continues: the skipped items again
    # the rerun retries only the skipped items (their files may have been fixed)
    assert json.loads((cache / "manifest.json").read_text())["last_run"]["decoded"] == 4

    bundle = create_dataset("kinetics-sounds", root=str(cache), seed=0, val_fraction=0.34)
    assert bundle.modality_shapes == {"audio": (1, 257, 23), "visual": (3, 3, 32, 32)}
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (6, 3, 6)
    assert sorted(bundle.val.labels.tolist()) == [0, 1, 2]
    stored = np.load(cache / "train" / "visual.npy", mmap_mode="r")
    frames = bundle.train_eval[0]["modalities"]["visual"]
    mean, std = (torch.tensor(s).view(3, 1, 1) for s in ((0.485, 0.456, 0.406),
                                                          (0.229, 0.224, 0.225)))
    first = torch.from_numpy(stored[bundle.train.parts[0][1][0]].astype(np.float32) / 255)
    assert torch.allclose(frames * std + mean, first.permute(0, 3, 1, 2), atol=1e-5)
    assert frames[0].shape == (3, 32, 32) and not torch.equal(frames[0], frames[2])

    run = tmp_path / "run"  # the shipped paper config, made tiny
    assert main(["train", "--config", str(CONFIG), "--out", str(run), "--quiet",
                 "--set", f"data.root={cache}", "--set", "data.val_fraction=0.34", *TINY]) == 0
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert record["train"]["samples"] == len(bundle.train)
    assert set(record["val"]["modality_acc"]) == {"audio", "visual"} and "map" in record["val"]


def _scan(raw, params=None, split_dir=None):
    preparer = PREPARERS.get("kinetics-sounds")
    return preparer.scan(raw, split_dir, {**preparer.defaults, **(params or {})})


def _listing_only(root, labels, val_labels=None):
    """The annotation files (no clips) of a Kinetics folder, for scan-level checks."""
    for split in ("train", "val"):
        (root / split).mkdir(parents=True, exist_ok=True)
    ann = root / "annotations"
    ann.mkdir(exist_ok=True)
    for split, names in (("train", labels), ("val", val_labels or labels)):
        (ann / f"{split}.csv").write_text(_csv([[n, f"id{i:09d}", "0", "10", split, "0"]
                                                for i, n in enumerate(names)]))
    return root


def test_the_default_class_list_is_adamml_31_in_its_order(tmp_path):
    raw = _listing_only(tmp_path / "k400", ["abseiling", *reversed(ADAMML_CLASSES)],
                        val_labels=ADAMML_CLASSES[:30])
    listing = _scan(raw)
    assert listing.classes == ADAMML_CLASSES and len(ADAMML_CLASSES) == 31
    assert [it.label for it in listing.splits["train"]] == list(range(30, -1, -1))
    assert len(listing.splits["test"]) == 30
    assert "test: no row of 'tickling'" in " ".join(listing.notes)
    assert listing.splits["train"][0].sources["file"] == "train/id000000001_000000_000010.mp4"
    # the class list from --split-dir, resolved by its relative name
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "two.txt").write_text("tickling\r\nbowling  # a comment\r\n\r\n")
    listing = _scan(raw, {"classes": "two.txt"}, split_dir=tmp_path / "lists")
    assert listing.classes == ["tickling", "bowling"] and len(listing.splits["train"]) == 2


def test_a_split_dir_replaces_the_annotations_folder(tmp_path):
    raw = _listing_only(tmp_path / "k400", ["bowling", "tickling"])
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "train.csv").write_text(_csv([["bowling", "zzzzzzzzzzz", "5", "15",
                                                     "train", "0"]]))
    (tmp_path / "s" / "two.txt").write_text("bowling\n")
    listing = _scan(raw, {"classes": "two.txt"}, split_dir=tmp_path / "s")
    assert [it.key for it in listing.splits["train"]] == ["zzzzzzzzzzz_000005_000015"]
    assert len(listing.splits["test"]) == 1  # val.csv from annotations/


@pytest.mark.parametrize("case, expected", [
    ("no-src", "the source folder"),
    ("no-train-dir", "has no train folder; --src must be the Kinetics-400 folder (k400/). "
                     "Expected layout:"),
    ("no-val-csv", "has val.csv. Take the Kinetics-400 annotations"),
    ("bad-header", "train.csv:1: a Kinetics annotation file starts with the header"),
    ("bad-time", "train.csv:2: a Kinetics annotation row must be "
                 "'label,youtube_id,time_start,time_end,...' with whole seconds"),
    ("unknown-class", "ks-classes.txt:3: the class 'tapping pens' is not a label of"),
    ("builtin-class", "the built-in adamml-31 list: the class 'blowing nose' is not a label of"),
    ("no-class-file", "the class list 'nowhere.txt' (--param classes) is neither a built-in list"),
    ("twice", "ks-classes.txt:3: the class 'singing' is already listed on line 2; list each "
              "class once."),
    ("empty", "the class list names no class; write one Kinetics class name per line"),
    ("bad-param", "mmbss prepare kinetics-sounds: no parameter 'secs'; its parameters"),
])
def test_kinetics_sounds_prepare_bad_input(tmp_path, capsys, case, expected):
    raw = tmp_path / "k400"
    ann = raw / "annotations"
    extra = list(PARAMS)
    if case != "no-src":
        _listing_only(raw, CLASSES)
        (ann / "ks-classes.txt").write_text("playing guitar\nsinging\ntapping pen\n")
    if case == "no-train-dir":
        (raw / "train").rmdir()
    if case == "no-val-csv":
        (ann / "val.csv").unlink()
    if case == "bad-header":
        (ann / "train.csv").write_text("youtube_id,label\nabc,singing\n")
    if case == "bad-time":
        (ann / "train.csv").write_text(f"{HEADER}\nsinging,abcdefghijk,zero,10,train,0\n")
    if case == "unknown-class":
        (ann / "ks-classes.txt").write_text("playing guitar\nsinging\ntapping pens\n")
    if case == "builtin-class":
        extra = []
    if case == "no-class-file":
        extra = ["--param", "classes=nowhere.txt"]
    if case == "twice":
        (ann / "ks-classes.txt").write_text("playing guitar\nsinging\nsinging\n")
    if case == "empty":
        (ann / "ks-classes.txt").write_text("# nothing\n\n")
    if case == "bad-param":
        extra = ["--param", "secs=3"]
    assert main(["prepare", "kinetics-sounds", "--src", str(raw), "--out", str(tmp_path / "c"),
                 *extra]) == 2
    assert expected in " ".join(capsys.readouterr().err.split())


def test_kinetics_sounds_loader_refuses_a_raw_folder_and_a_bad_seed(tmp_path):
    raw = _listing_only(tmp_path / "k400", CLASSES)
    with pytest.raises(ValueError, match="has no cache.json, so it is not a prepared cache"):
        create_dataset("kinetics-sounds", root=str(raw))
    with pytest.raises(TypeError, match="seed"):
        create_dataset("kinetics-sounds", root=str(raw), seed="0")
