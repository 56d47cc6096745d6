"""CREMA-D: a fixture in the raw layout -> mmbss prepare -> the loader -> one training epoch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmbss.cli.main import main
from mmbss.data import create_dataset

from .media import write_garbage, write_lfs_pointer, write_video, write_wav

EMOS = ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"]
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "paper" / "cremad.yaml"
TINY = ["--set", "train.epochs=1", "--set", "train.batch_size=4", "--set", "train.num_workers=2",
        "--set", "train.device=cpu", "--set", "train.eval_batch_size=8"]
PARAMS = ["--param", "sample_rate=4000", "--param", "seconds=1", "--param", "n_fft=64",
          "--param", "hop=32", "--param", "frame_size=32"]


def make_cremad(root, actors=(1001, 1002, 1003, 1004), broken=True):
    """CREMA-D as cloned (AudioWAV/, VideoFlash/) plus OGM-GE-format split files."""
    train, test = [], []
    for a in actors:
        for k, emo in enumerate(EMOS):
            stem = f"{a}_DFA_{emo}_XX"
            write_wav(root / "AudioWAV" / f"{stem}.wav", seconds=0.4 + 0.1 * k, freq=200 + 60 * k)
            write_video(root / "VideoFlash" / f"{stem}.flv", frames=6, shade=k)
            (test if a == actors[-1] else train).append(f"{stem},{emo}")
    if broken:
        (root / "AudioWAV" / "1001_DFA_NEU_XX.wav").unlink()               # listed, missing
        write_wav(root / "AudioWAV" / "1001_DFA_HAP_XX.wav", silent=True)  # silent audio
        write_garbage(root / "VideoFlash" / "1002_DFA_SAD_XX.flv")         # broken video
        write_lfs_pointer(root / "AudioWAV" / "1002_DFA_FEA_XX.wav")       # zip download
        train.append("../../etc/passwd,ANG")                               # escapes the root
    ann = root / "annotations"
    ann.mkdir(parents=True, exist_ok=True)
    # the OGM-GE format: no header, CRLF line ends; one file with a BOM
    (ann / "train.csv").write_bytes(("\r\n".join(train) + "\r\n").encode("utf-8-sig"))
    (ann / "test.csv").write_bytes(("\r\n".join(test) + "\r\n").encode())
    return root


def test_cremad_from_raw_layout_to_a_trained_epoch(tmp_path, capsys):
    raw, cache = make_cremad(tmp_path / "CREMA-D"), tmp_path / "cache"
    args = ["prepare", "cremad", "--src", str(raw), "--out", str(cache), "--workers", "2",
            "--quiet", *PARAMS]
    assert main(args) == 2  # 5 of 25 skipped: above the default 1 %
    err = capsys.readouterr().err
    assert "5 of 25 listed items were skipped, more than --max-skipped 1%" in err
    manifest = json.loads((cache / "manifest.json").read_text())
    reasons = {i["key"]: i["reason"] for i in manifest["skipped_items"]}
    assert set(reasons) == {"1001_DFA_NEU_XX", "1001_DFA_HAP_XX", "1002_DFA_SAD_XX",
                            "1002_DFA_FEA_XX", "../../etc/passwd"}
    assert reasons["1001_DFA_NEU_XX"].startswith("missing file")
    assert reasons["1001_DFA_HAP_XX"].startswith("silent audio")
    assert reasons["1002_DFA_SAD_XX"].startswith("cannot decode the video")
    assert "git-lfs pointer" in reasons["1002_DFA_FEA_XX"]
    assert "escapes the dataset root" in reasons["../../etc/passwd"]
    assert manifest["splits"]["train"]["listed"] == 19 and manifest["splits"]["test"]["prepared"] == 6
    assert manifest["splits"]["test"]["per_class"] == dict.fromkeys(EMOS, 1)
    assert manifest["params"]["frame_size"] == 32 and manifest["classes"] == EMOS
    # a second run with a higher threshold continues and succeeds
    assert main(args + ["--max-skipped", "5"]) == 0
    # the rerun retries only the skipped items (their files may have been fixed)
    assert json.loads((cache / "manifest.json").read_text())["last_run"]["decoded"] == 5

    bundle = create_dataset("cremad", root=str(cache), seed=0, val_fraction=0.45)
    assert bundle.modality_shapes == {"audio": (1, 33, 126), "visual": (1, 3, 32, 32)}
    assert len(bundle.train) + len(bundle.val) == 14 and len(bundle.test) == 6
    assert not set(bundle.info["keys"]["val"]) & set(bundle.info["keys"]["train"])
    stored = np.load(cache / "train" / "audio.npy", mmap_mode="r")
    sample = bundle.train_eval[0]
    assert torch.equal(sample["modalities"]["audio"][0],
                       torch.from_numpy(stored[bundle.train.parts[0][1][0]].astype(np.float32)))

    run = tmp_path / "run"  # the shipped paper config, made tiny
    assert main(["train", "--config", str(CONFIG), "--out", str(run), "--quiet",
                 "--set", f"data.root={cache}", "--set", "data.val_fraction=0.45",
                 *TINY]) == 0
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert record["train"]["samples"] == len(bundle.train)
    assert set(record["val"]["modality_acc"]) == {"audio", "visual"}


def test_cremad_actor_split_keeps_every_actor_in_one_split(tmp_path):
    raw = make_cremad(tmp_path / "raw", actors=(1001, 1002, 1003, 1004, 1005, 1006), broken=False)
    assert main(["prepare", "cremad", "--src", str(raw), "--out", str(tmp_path / "c"), "--quiet",
                 *PARAMS]) == 0
    bundle = create_dataset("cremad", root=str(tmp_path / "c"), split="actor", val_fraction=0.2)
    actors = {s: {k.split("_")[0] for k in keys} for s, keys in bundle.info["keys"].items()}
    assert actors["train"] and actors["val"] and actors["test"]
    assert not (actors["train"] & actors["val"] or actors["train"] & actors["test"]
                or actors["val"] & actors["test"])
    assert sum(len(getattr(bundle, s)) for s in ("train", "val", "test")) == 36


def test_augmentation_is_a_function_of_seed_epoch_and_index(tmp_path):
    from mmbss.data.paper import EpochIndex

    raw = make_cremad(tmp_path / "raw", broken=False)
    main(["prepare", "cremad", "--src", str(raw), "--out", str(tmp_path / "c"), "--quiet", *PARAMS])
    train = create_dataset("cremad", root=str(tmp_path / "c")).train
    a = train[EpochIndex(3, 7, 1)]["modalities"]["visual"]
    assert torch.equal(a, train[EpochIndex(3, 7, 1)]["modalities"]["visual"])
    assert not torch.equal(a, train[EpochIndex(3, 7, 2)]["modalities"]["visual"])
    assert not torch.equal(a, train[EpochIndex(3, 8, 1)]["modalities"]["visual"])


@pytest.mark.parametrize("case, expected", [
    ("no-src", "the source folder"),
    ("no-audio-dir", "has no AudioWAV folder; --src must be the CREMA-D folder. Expected layout:"),
    ("no-splits", "The split files are not part of CREMA-D: take data/CREMAD/train.csv"),
    ("bad-label", "the label 'XYZ' of '1001_DFA_NEU_XX' is not a class of this dataset"),
    ("bad-param", "mmbss prepare cremad: no parameter 'secs'; its parameters"),
    ("bad-type", "parameter 'seconds' must be a float like its default 20.0; got 'long'"),
])
def test_cremad_prepare_bad_input(tmp_path, capsys, case, expected):
    raw = tmp_path / "raw"
    extra = []
    if case != "no-src":
        make_cremad(raw, actors=(1001, 1002), broken=False)
    if case == "no-audio-dir":
        for f in (raw / "AudioWAV").iterdir():
            f.unlink()
        (raw / "AudioWAV").rmdir()
    if case == "no-splits":
        (raw / "annotations" / "train.csv").unlink()
    if case == "bad-label":
        (raw / "annotations" / "train.csv").write_text("1001_DFA_NEU_XX,XYZ\n")
    if case == "bad-param":
        extra = ["--param", "secs=3"]
    if case == "bad-type":
        extra = ["--param", "seconds=long"]
    assert main(["prepare", "cremad", "--src", str(raw), "--out", str(tmp_path / "c"), *extra]) == 2
    assert expected in capsys.readouterr().err


def test_cremad_loader_refuses_what_is_not_a_finished_cache_of_this_version(tmp_path):
    raw = make_cremad(tmp_path / "raw", actors=(1001, 1002), broken=False)
    with pytest.raises(ValueError, match="has no cache.json, so it is not a prepared cache"):
        create_dataset("cremad", root=str(raw))
    with pytest.raises(ValueError, match="dataset 'cremad': 'root' is not set; set data.root to "
                                         "the folder 'mmbss prepare cremad --out' wrote."):
        create_dataset("cremad")
    cache = tmp_path / "c"
    main(["prepare", "cremad", "--src", str(raw), "--out", str(cache), "--quiet", *PARAMS])
    header = json.loads((cache / "cache.json").read_text())
    with pytest.raises(ValueError, match="prepare it again into a new folder"):
        (cache / "cache.json").write_text(json.dumps({**header, "preparer_version": 0}))
        create_dataset("cremad", root=str(cache))
    (cache / "cache.json").write_text(json.dumps({**header, "complete": False}))
    with pytest.raises(ValueError, match=r"is unfinished \(its prepare was interrupted\); run the "
                                         "same 'mmbss prepare' command again to finish it."):
        create_dataset("cremad", root=str(cache))
    # other parameters into the same folder: refused, nothing overwritten
    (cache / "cache.json").write_text(json.dumps(header))
    with pytest.raises(ValueError, match="holds a cache prepared with other settings"):
        from mmbss.data.paper import prepare
        prepare("cremad", raw, cache, params={"frame_size": 16}, progress=False)


def test_an_interrupted_prepare_continues_where_it_stopped(tmp_path, monkeypatch):
    import dataclasses
    import importlib

    from mmbss.data.paper import PREPARERS, prepare

    module = importlib.import_module("mmbss.data.paper.prepare")
    raw = make_cremad(tmp_path / "raw", broken=False)
    params = {"sample_rate": 4000, "seconds": 1.0, "n_fft": 64, "hop": 32, "frame_size": 32}
    original = PREPARERS.get("cremad")
    calls = []

    def decode(item, p, notes):  # a Ctrl-C while the 11th item is decoded
        calls.append(item.key)
        if len(calls) == 11:
            raise KeyboardInterrupt
        return original.decode(item, p, notes)

    monkeypatch.setattr(module, "_FLUSH_ITEMS", 5)
    monkeypatch.setitem(PREPARERS._items, "cremad",
                        (dataclasses.replace(original, decode=decode), {}))
    with pytest.raises(KeyboardInterrupt):
        prepare("cremad", raw, tmp_path / "c", params=params, progress=False)
    assert (np.load(tmp_path / "c" / "train" / "status.npy") == 1).sum() == 10
    assert json.loads((tmp_path / "c" / "cache.json").read_text())["complete"] is False
    monkeypatch.setitem(PREPARERS._items, "cremad", (original, {}))
    manifest = prepare("cremad", raw, tmp_path / "c", params=params, progress=False)
    assert manifest["last_run"]["decoded"] == 14 and manifest["prepared"] == 24
    assert prepare("cremad", raw, tmp_path / "d", params=params, progress=False)["prepared"] == 24
    for split in ("train", "test"):
        for f in ("audio", "visual", "status", "labels"):
            assert np.array_equal(np.load(tmp_path / "c" / split / f"{f}.npy"),
                                  np.load(tmp_path / "d" / split / f"{f}.npy"))
