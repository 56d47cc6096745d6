"""Sarcasm: a fixture in the HFM layout -> mmbss prepare -> the loader -> one training epoch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmbss.cli.main import main
from mmbss.data import create_dataset

from ..text_model import make_tiny_bert
from .media import write_garbage, write_image

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "paper" / "sarcasm.yaml"
TINY = ["--set", "train.epochs=1", "--set", "train.batch_size=4", "--set", "train.num_workers=2",
        "--set", "train.device=cpu", "--set", "train.eval_batch_size=8"]
PARAMS = ["--param", "image_size=32"]


def dataset_options(tmp):
    """Loader options for benchmarks/bench_prepare.py: a tiny tokenizer written into tmp."""
    return {"text_model": str(make_tiny_bert(tmp / "tiny-bert")), "max_length": 64}
TEXTS = {0: "the cat sat on the mat . # lolsarcasm {k}",  # 'lolsarcasm' is not a keyword
         1: "oh great , i love mondays ! # blessed emoji_15 <user> caf\u00e9 {k}"}
FIRST_ID = 851584901593931776


def make_sarcasm(root, per_class=(3, 2, 2), broken=True, layout="hfm"):
    """The HFM data as cloned and unpacked: text/{train,valid2,test2}.txt (one Python list per
    line: train [id, text, label], valid/test [id, text, hashtag_label, human_label]) and
    dataset_image/<id>.jpg; ``layout="feilinx"``: text_data/{train,valid,test}.txt and
    image_data/. Posts the keyword filter drops have no image (as published)."""
    text_dir, image_dir, names = (("text", "dataset_image", ("train.txt", "valid2.txt", "test2.txt"))
                                  if layout == "hfm" else
                                  ("text_data", "image_data", ("train.txt", "valid.txt", "test.txt")))
    post, lines = FIRST_ID, {}
    for split, count in zip(("train", "valid", "test"), per_class, strict=True):
        rows = []
        for k in range(count):
            for label in (0, 1):
                post += 1
                write_image(root / image_dir / f"{post}.jpg", shade=label + 2 * k)
                text = TEXTS[label].format(k=k)
                if split == "train":
                    rows.append([str(post), text, label])
                else:  # the hashtag label and the human label disagree on the first posts
                    hashtag = 1 - label if k == 0 else label
                    rows.append([str(post), text, hashtag, label])
        lines[split] = rows
    lines["train"] += [[str(post + 1), "when you see it # sarcasm", 1],   # dropped: keyword
                       [str(post + 2), "look at this <url>", 0]]          # dropped: keyword
    if broken:
        lines["train"] += [[str(post + 3), "the dog sat", 0],              # its image is missing
                           ["../../etc/passwd", "a mat", 1]]               # escapes the root
        write_garbage(root / image_dir / f"{FIRST_ID + 9}.jpg")          # valid: a broken jpg
    folder = root / text_dir
    folder.mkdir(parents=True, exist_ok=True)
    for rows, name in zip(lines.values(), names, strict=True):
        (folder / name).write_text("".join(f"{row!r}\n" for row in rows), encoding="utf-8")
    return root


def tiny_model(bert) -> list[str]:
    """``--set`` overrides: a cnn2d image encoder and the tiny BERT as the text encoder."""
    return ["--set", "model.encoder={image: cnn2d, text: transformer}",
            "--set", f"model.encoder_kw={{text: {{path: {bert}}}}}"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("bert") / "tiny-bert")


def test_sarcasm_from_raw_layout_to_a_trained_epoch(tmp_path, capsys, tiny_bert):
    raw, cache = make_sarcasm(tmp_path / "sarcasm"), tmp_path / "cache"
    args = ["prepare", "sarcasm", "--src", str(raw), "--out", str(cache), "--workers", "2",
            "--quiet", *PARAMS]
    assert main(args) == 2  # 3 of 16 skipped: above the default 1 %
    assert "3 of 16 listed items were skipped, more than --max-skipped 1%" in capsys.readouterr().err
    manifest = json.loads((cache / "manifest.json").read_text())
    reasons = {(i["split"], i["key"]): i["reason"] for i in manifest["skipped_items"]}
    assert set(reasons) == {("train", str(FIRST_ID + 17)), ("train", "../../etc/passwd"),
                            ("valid", str(FIRST_ID + 9))}
    assert reasons["train", str(FIRST_ID + 17)].startswith("missing file")
    assert "escapes the dataset root" in reasons["train", "../../etc/passwd"]
    assert reasons["valid", str(FIRST_ID + 9)].startswith("unreadable image")
    notes = manifest["scan_notes"]
    assert notes[1].startswith("train: 10 posts in ") and notes[1].endswith(
        ", 2 dropped by the keyword filter, 8 kept")
    assert manifest["splits"]["test"] == {"listed": 4, "prepared": 4, "skipped": 0,
                                          "per_class": {"not_sarcastic": 2, "sarcastic": 2}}
    assert manifest["classes"] == ["not_sarcastic", "sarcastic"]
    assert manifest["params"] == {"image_size": 32, "max_words": 50, "text_bytes": 1024,
                                  "images": ""}
    # the label is the LAST field (the human label) where the hashtag label disagrees
    keys = json.loads((cache / "valid" / "keys.json").read_text())
    labels = dict(zip(keys, np.load(cache / "valid" / "labels.npy").tolist(), strict=True))
    assert labels[str(FIRST_ID + 7)] == 0 and labels[str(FIRST_ID + 8)] == 1
    keys = json.loads((cache / "test" / "keys.json").read_text())
    assert np.load(cache / "test" / "labels.npy").tolist() == [0, 1, 0, 1]
    assert keys[0] == str(FIRST_ID + 11)
    texts = np.load(cache / "train" / "text.npy").tolist()
    assert texts[:2] == [b"the cat sat on the mat lolsarcasm 0",
                         "oh great i love mondays blessed emoji_15 <user> caf\u00e9 0".encode()]
    assert main(args + ["--max-skipped", "3"]) == 0  # continues: the skipped items again

    bundle = create_dataset("sarcasm", root=str(cache), text_model=str(tiny_bert), max_length=48)
    assert bundle.modality_shapes == {"image": (3, 32, 32), "text": (2, 48)}
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (6, 3, 4)
    from mmbss.data.paper import EpochIndex
    from mmbss.data.paper import transforms as T

    stored = np.load(cache / "train" / "image.npy")[0]
    evaluated = bundle.train_eval[0]["modalities"]["image"]  # eval: as stored, CLIP-normalised
    assert torch.allclose(evaluated, T.normalise(T.to_chw(stored), T.CLIP))
    a = bundle.train[EpochIndex(0, 7, 1)]["modalities"]["image"]  # train: RandomResizedCrop+flip
    assert torch.equal(a, bundle.train[EpochIndex(0, 7, 1)]["modalities"]["image"])
    assert not torch.equal(a, bundle.train[EpochIndex(0, 7, 2)]["modalities"]["image"])
    text = bundle.train[1]["modalities"]["text"]
    assert text.dtype == torch.int64 and text[1].sum() < 48  # padded, not truncated
    assert bundle.info["text_truncated"] == {"train": 0, "val": 0, "test": 0}

    run = tmp_path / "run"  # the shipped paper config (Adam 1e-5), made tiny
    assert main(["train", "--config", str(CONFIG), "--out", str(run), "--quiet",
                 "--set", f"data.root={cache}",
                 "--set", f"data.options={{text_model: {tiny_bert}, max_length: 24}}", *TINY,
                 *tiny_model(tiny_bert)]) == 0
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert record["train"]["samples"] == 6
    assert set(record["val"]["modality_acc"]) == {"image", "text"}


def test_the_feilinx_layout_is_read_too(tmp_path):
    raw = make_sarcasm(tmp_path / "raw", per_class=(1, 1, 1), broken=False, layout="feilinx")
    assert main(["prepare", "sarcasm", "--src", str(raw), "--out", str(tmp_path / "c"),
                 "--quiet", *PARAMS]) == 0
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["prepared"] == 6 and manifest["scan_notes"][0].endswith("image_data")
    assert manifest["scan_notes"][2].startswith(f"valid: 2 posts in {raw / 'text_data' / 'valid.txt'}")


def test_a_line_is_parsed_as_a_literal_never_run(tmp_path, capsys):
    raw = make_sarcasm(tmp_path / "raw", per_class=(1, 1, 1), broken=False)
    marker = tmp_path / "ran"
    with open(raw / "text" / "valid2.txt", "a") as f:
        f.write(f"__import__('pathlib').Path({str(marker)!r}).touch()\n")
    assert main(["prepare", "sarcasm", "--src", str(raw), "--out", str(tmp_path / "c")]) == 2
    assert "valid2.txt:3: the line is not a Python literal (ValueError: malformed node" in \
        capsys.readouterr().err
    assert not marker.exists()


@pytest.mark.parametrize("case, expected", [
    ("no-src", "the source folder"),
    ("no-images", "has no image folder (looked for dataset_image, image_data, images)"),
    ("bad-images", "(--param images) does not exist. Expected layout:"),
    ("no-splits", "no valid2.txt or valid.txt in"),
    ("unparsable", "train.txt:2: the line is not a Python literal (SyntaxError:"),
    ("not-a-list", "test2.txt:1: each line must be a list [id, text, label] (train) or [id, "
                   "text, hashtag_label, human_label] (valid, test); got a dict"),
    ("two-fields", "train.txt:1: each line must be a list [id, text, label] (train) or [id, "
                   "text, hashtag_label, human_label] (valid, test); got a list of 2 field(s)"),
    ("bad-types", "with a string id and a string text; got id 1.5 and text 'x'"),
    ("bad-label", "valid2.txt:1: the label 2 (the last field) of post '7' is not a class of "
                  "this dataset"),
    ("same-id", "train.txt:2: the id '5' was already used on line 1; every post needs"),
    ("not-utf8", "test2.txt: the file is not UTF-8 text ("),
    ("bad-param", "mmbss prepare sarcasm: no parameter 'size'; its parameters"),
    ("bad-size", "mmbss prepare sarcasm: 'max_words' must be an int >= 1; got 0"),
])
def test_sarcasm_prepare_bad_input(tmp_path, capsys, case, expected):
    raw, extra = tmp_path / "raw", []
    if case != "no-src":
        make_sarcasm(raw, per_class=(1, 1, 1), broken=False)
    text = raw / "text"
    if case == "no-images":
        (raw / "dataset_image").rename(raw / "elsewhere")
    if case == "bad-images":
        extra = ["--param", "images=nowhere"]
    if case == "no-splits":
        (text / "valid2.txt").unlink()
    if case == "unparsable":
        (text / "train.txt").write_text("['1', 'a', 0]\n['2', 'b', 1\n")
    if case == "not-a-list":
        (text / "test2.txt").write_text("{'id': '3', 'text': 'c', 'label': 1}\n")
    if case == "two-fields":
        (text / "train.txt").write_text("['4', 'd']\n")
    if case == "bad-types":
        (text / "train.txt").write_text("[1.5, 'x', 0]\n")
    if case == "bad-label":
        (text / "valid2.txt").write_text("['7', 'e', 1, 2]\n")
    if case == "same-id":
        (text / "train.txt").write_text("['5', 'f', 0]\n['5', 'g', 1]\n")
    if case == "not-utf8":
        (text / "test2.txt").write_bytes(b"['8', '\xff', 0]\n")
    if case == "bad-param":
        extra = ["--param", "size=3"]
    if case == "bad-size":
        extra = ["--param", "max_words=0"]
    assert main(["prepare", "sarcasm", "--src", str(raw), "--out", str(tmp_path / "c"),
                 *extra]) == 2
    assert expected in capsys.readouterr().err


def test_sarcasm_loader_needs_a_local_tokenizer(tmp_path, tiny_bert):
    raw = make_sarcasm(tmp_path / "raw", per_class=(1, 1, 1), broken=False)
    assert main(["prepare", "sarcasm", "--src", str(raw), "--out", str(tmp_path / "c"),
                 "--quiet", *PARAMS]) == 0
    with pytest.raises(ValueError, match="dataset 'sarcasm': 'text_model' is not set"):
        create_dataset("sarcasm", root=str(tmp_path / "c"))
    with pytest.raises(ValueError, match="dataset 'twitter2015': the cache .* cannot be read: it "
                                         "holds 'sarcasm'"):
        create_dataset("twitter2015", root=str(tmp_path / "c"), text_model=str(tiny_bert))
