"""The prepare framework itself: options, limits, splits and a decoder that breaks its contract."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mmbss.cli.main import main
from mmbss.data import create_dataset
from mmbss.data.paper import PREPARERS, prepare
from mmbss.data.paper.cremad import read_split_csv
from mmbss.data.splits import carve, group_split

from .test_cremad import PARAMS, make_cremad


def test_cli_options_are_checked(tmp_path, capsys):
    raw = make_cremad(tmp_path / "raw", actors=(1001, 1002), broken=False)
    base = ["prepare", "cremad", "--src", str(raw), "--out", str(tmp_path / "c")]
    assert main(base + ["--param", "seconds"]) == 2
    assert "mmbss prepare: '--param' must be KEY=VALUE, e.g. seconds=3; got 'seconds'." in \
        capsys.readouterr().err
    assert main(base + ["--max-skipped", "lots"]) == 2
    assert ("mmbss prepare: '--max-skipped' must be a count (e.g. 10) or a percentage (e.g. 1%); "
            "got 'lots'.") in capsys.readouterr().err
    assert main(["prepare", "cremd", "--src", str(raw), "--out", str(tmp_path / "c")]) == 2
    assert "unknown prepared dataset 'cremd'; valid names: cremad" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    assert main(["prepare", "cremad", "--src", str(raw), "--out", str(tmp_path / "full")]) == 2
    assert "is not empty and holds no mmbss cache; choose an empty or new --out folder" in \
        capsys.readouterr().err


def test_a_split_file_row_needs_two_fields(tmp_path):
    (tmp_path / "train.csv").write_text("1001_DFA_NEU_XX,NEU\n\n1001_DFA_HAP_XX\n")
    with pytest.raises(ValueError, match=r"train.csv:3: a split row must be 'stem,LABEL'; got "
                                         r"\['1001_DFA_HAP_XX'\]"):
        read_split_csv(tmp_path / "train.csv", ["NEU", "HAP"])


def test_a_cache_with_an_empty_split_is_refused_by_the_loader(tmp_path):
    raw = make_cremad(tmp_path / "raw", actors=(1001, 1002), broken=False)
    (raw / "annotations" / "test.csv").write_text("1009_DFA_NEU_XX,NEU\n")  # no such clip
    prepare("cremad", raw, tmp_path / "c", max_skipped="100%", progress=False,
            params={"sample_rate": 4000, "seconds": 1.0, "n_fft": 64, "hop": 32,
                    "frame_size": 16})
    with pytest.raises(ValueError, match="dataset 'cremad': the test split of the cache '.*' has "
                                         "no prepared item; see its manifest.json."):
        create_dataset("cremad", root=str(tmp_path / "c"))


def test_a_decoder_returning_the_wrong_shape_is_a_bug_report(tmp_path, monkeypatch):
    raw = make_cremad(tmp_path / "raw", actors=(1001, 1002), broken=False)
    original = PREPARERS.get("cremad")

    def decode(item, params, notes):
        out = original.decode(item, params, notes)
        return {**out, "visual": out["visual"][:, :4]}

    monkeypatch.setitem(PREPARERS._items, "cremad",
                        (dataclasses.replace(original, decode=decode), {}))
    with pytest.raises(RuntimeError, match=r"cremad decoder bug: field 'visual' has shape "
                                           r"\(1, 4, 16, 3\), the cache expects \(1, 16, 16, 3\)"):
        prepare("cremad", raw, tmp_path / "c", progress=False,
                params={"sample_rate": 4000, "seconds": 1.0, "frame_size": 16})
    assert json.loads((tmp_path / "c" / "cache.json").read_text())["complete"] is False


def test_splits_carved_and_grouped():
    labels = np.repeat([0, 1, 2], [6, 6, 3])
    kept, val = carve(labels, 0.34, seed=3)
    assert len(val) == 5 and np.bincount(labels[val]).tolist() == [2, 2, 1]
    assert np.array_equal(np.sort(np.concatenate([kept, val])), np.arange(15))
    with pytest.raises(ValueError, match="carving val_fraction=0.01 out of 15 training samples "
                                         "leaves an empty split; use another fraction."):
        carve(labels, 0.01, seed=0)
    with pytest.raises(ValueError, match="a group-disjoint split needs at least 3 groups; got 2."):
        group_split(np.array(["a", "b", "a"]), (0.2, 0.2), seed=0)
    groups = np.repeat(list("abcdefghij"), 3)
    tr, va, te = group_split(groups, (0.2, 0.2), seed=1)
    assert len(te) == 6 and len(va) == 6 and len(tr) == 18
    assert not set(groups[tr]) & set(groups[te])


def test_params_are_typed_like_their_defaults(tmp_path, capsys):
    raw = make_cremad(tmp_path / "raw", actors=(1001, 1002), broken=False)
    assert main(["prepare", "cremad", "--src", str(raw), "--out", str(tmp_path / "c"), "--quiet",
                 *PARAMS, "--param", "frames=2"]) == 0
    header = json.loads((tmp_path / "c" / "cache.json").read_text())
    assert header["params"]["frames"] == 2 and header["params"]["seconds"] == 1.0
    assert header["fields"]["visual"]["shape"] == [2, 32, 32, 3]
    assert main(["prepare", "cremad", "--src", str(raw), "--out", str(tmp_path / "d"),
                 "--param", "frames=true"]) == 2
    assert "parameter 'frames' must be a int like its default 1; got True." in \
        capsys.readouterr().err


def test_bad_audio_and_frame_parameters_and_read_frames_options(tmp_path, capsys):
    from mmbss.data.paper.decode import read_frames

    raw = make_cremad(tmp_path / "raw", actors=(1001, 1002), broken=False)
    assert main(["prepare", "cremad", "--src", str(raw), "--out", str(tmp_path / "c"),
                 "--param", "hop=0"]) == 2
    assert "mmbss prepare cremad: 'hop' must be an int >= 1; got 0." in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"read_frames: give exactly one of 'count' \(frames "
                                         r"picked evenly\) and 'span' \(\(start, end\) frame "
                                         r"numbers\)."):
        read_frames(raw / "VideoFlash" / "1001_DFA_NEU_XX.flv", 8)


def test_an_odd_n_fft_gives_the_stored_number_of_frames(tmp_path):
    raw = make_cremad(tmp_path / "raw", actors=(1001, 1002), broken=False)
    manifest = prepare("cremad", raw, tmp_path / "c", progress=False,
                       params={"sample_rate": 4000, "seconds": 1.0, "n_fft": 63, "hop": 40,
                               "frame_size": 16})
    assert manifest["prepared"] == 12
    assert np.load(tmp_path / "c" / "train" / "audio.npy", mmap_mode="r").shape[1:] == (32, 100)


def _crash_on_one_file(item, params, notes):
    """A decoder library crashing the process on one file (module level: workers unpickle it)."""
    import os
    import signal

    from mmbss.data.paper import cremad

    if item.key == "1001_DFA_SAD_XX":
        os.kill(os.getpid(), signal.SIGKILL)
    return cremad._decode(item, params, notes)


def test_a_worker_that_dies_costs_only_its_item(tmp_path, monkeypatch):
    raw = make_cremad(tmp_path / "raw", actors=(1001, 1002), broken=False)
    original = PREPARERS.get("cremad")
    monkeypatch.setitem(PREPARERS._items, "cremad",
                        (dataclasses.replace(original, decode=_crash_on_one_file), {}))
    manifest = prepare("cremad", raw, tmp_path / "c", workers=2, progress=False,
                       max_skipped="100%",
                       params={"sample_rate": 4000, "seconds": 1.0, "frame_size": 16})
    assert manifest["prepared"] == 11
    assert manifest["skipped_items"] == [{"split": "train", "key": "1001_DFA_SAD_XX", "reason":
                                          "the decoding process died on this item (a crash of "
                                          "the decoder library, or out of memory)"}]
