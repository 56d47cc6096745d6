"""Twitter2015: a fixture in the TomBERT layout -> mmbss prepare -> the loader -> one epoch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmbss.cli.main import main
from mmbss.data import create_dataset

from ..text_model import make_tiny_bert
from .media import write_garbage, write_image

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "paper" / "twitter2015.yaml"
TINY = ["--set", "train.epochs=1", "--set", "train.batch_size=4", "--set", "train.num_workers=2",
        "--set", "train.device=cpu", "--set", "train.eval_batch_size=8"]
PARAMS = ["--param", "image_size=32"]


def dataset_options(tmp):
    """Loader options for benchmarks/bench_prepare.py: a tiny tokenizer written into tmp."""
    return {"text_model": str(make_tiny_bert(tmp / "tiny-bert"))}
HEADER = "index\t#1 Label\t#2 ImageID\t#3 String\t#3 String"
TEST_HEADER = "index\t#1 ImageID\t#2 String\t#2 String"  # TomBERT's test.tsv: 4 header fields

# (label, tweet with $T$, target): words the tiny tokenizer knows, plus a few it spells out
TWEETS = [(0, "RT @ catnews : $T$ is a bad film # hate", "the dog"),
          (1, "the cat sat on the mat with $T$ .", "a dog"),
          (2, "I love $T$ , very good movie ! 2015", "the red cat")]


def make_twitter2015(root, per_class=(3, 2, 2), broken=True):
    """IJCAI2019_data as unpacked: twitter2015/{train,dev,test}.tsv (TomBERT's files, read by
    position) and twitter2015_images/<id>.jpg; rows of one split share some images."""
    index, lines = 0, {}
    for split, count in zip(("train", "dev", "test"), per_class, strict=True):
        rows = []
        for k in range(count):
            for label, tweet, target in TWEETS:
                index += 1
                image = f"{split}{k}.jpg" if label != 2 else f"{split}{k}_{label}.jpg"
                write_image(root / "twitter2015_images" / image, shade=label + 3 * k)
                rows.append(f"{index}\t{label}\t{image}\t{tweet}\t{target}")
        lines[split] = rows
    if broken:
        lines["train"].append(f"{index + 1}\t1\tmissing.jpg\tthe cat $T$\tsat")   # no such file
        lines["train"].append(f"{index + 2}\t0\t../../secret.jpg\t$T$ is bad\tit")  # escapes
        write_garbage(root / "twitter2015_images" / "dev1.jpg")                   # broken jpg
    ann = root / "twitter2015"
    ann.mkdir(parents=True, exist_ok=True)
    for split, rows in lines.items():
        head = TEST_HEADER if split == "test" else HEADER
        (ann / f"{split}.tsv").write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
    return root


def tiny_model(bert) -> list[str]:
    """``--set`` overrides: a cnn2d image encoder and the tiny BERT as the text encoder."""
    return ["--set", "model.encoder={image: cnn2d, text: transformer}",
            "--set", f"model.encoder_kw={{text: {{path: {bert}}}}}"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("bert") / "tiny-bert")


def _prepared(tmp_path, broken=False):
    raw, cache = make_twitter2015(tmp_path / "IJCAI2019_data", broken=broken), tmp_path / "cache"
    assert main(["prepare", "twitter2015", "--src", str(raw), "--out", str(cache), "--quiet",
                 *PARAMS]) == 0
    return raw, cache


def test_twitter2015_from_raw_layout_to_a_trained_epoch(tmp_path, capsys, tiny_bert):
    raw, cache = make_twitter2015(tmp_path / "IJCAI2019_data"), tmp_path / "cache"
    args = ["prepare", "twitter2015", "--src", str(raw), "--out", str(cache), "--workers", "2",
            "--quiet", *PARAMS]
    assert main(args) == 2  # 4 of 23 skipped: above the default 1 %
    assert "4 of 23 listed items were skipped, more than --max-skipped 1%" in capsys.readouterr().err
    manifest = json.loads((cache / "manifest.json").read_text())
    reasons = {(i["split"], i["key"]): i["reason"] for i in manifest["skipped_items"]}
    assert set(reasons) == {("train", "22"), ("train", "23"), ("dev", "13"), ("dev", "14")}
    assert reasons["train", "22"].startswith("missing file")
    assert "escapes the dataset root" in reasons["train", "23"]
    assert reasons["dev", "13"].startswith("unreadable image")  # dev1.jpg: 2 rows share it
    assert manifest["splits"]["test"] == {"listed": 6, "prepared": 6, "skipped": 0, "per_class": {
        "negative": 2, "neutral": 2, "positive": 2}}
    assert manifest["classes"] == ["negative", "neutral", "positive"]
    assert manifest["params"]["image_size"] == 32 and manifest["params"]["max_words"] == 20
    assert main(args + ["--max-skipped", "4"]) == 0  # continues: the skipped items again
    # the rerun retries only the skipped items (their files may have been fixed)
    assert json.loads((cache / "manifest.json").read_text())["last_run"]["decoded"] == 4

    # the target's words, then the tweet with $T$ -> target; clean_str and pre_caption
    texts = np.load(cache / "train" / "text.npy").tolist()
    assert texts[:3] == [b"the dog rt catnews the dog is a bad film hate",
                         b"a dog the cat sat on the mat with a dog",
                         b"the red cat i love the red cat very good movie"]
    images = np.load(cache / "train" / "image.npy", mmap_mode="r")
    assert images.shape == (11, 32, 32, 3) and images.dtype == np.uint8

    bundle = create_dataset("twitter2015", root=str(cache), text_model=str(tiny_bert),
                            max_length=12)
    assert bundle.modality_shapes == {"image": (3, 32, 32), "text": (2, 12)}
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (9, 4, 6)
    assert bundle.num_classes == 3 and bundle.info["max_length"] == 12
    sample = bundle.train[0]["modalities"]
    assert sample["text"].dtype == torch.int64
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert, local_files_only=True)
    want = tok(texts[0].decode(), padding="max_length", truncation=True, max_length=12)
    assert sample["text"][0].tolist() == want["input_ids"]
    assert sample["text"][1].tolist() == want["attention_mask"]
    # the target's words first, then the tweet: every text is longer than 12 tokens here
    assert bundle.info["text_truncated"]["train"] == 9
    assert torch.equal(sample["image"], torch.from_numpy(images[0].copy()).permute(2, 0, 1) / 255)
    assert float(sample["image"].max()) <= 1.0  # BSS: ToTensor only, no normalisation

    run = tmp_path / "run"  # the shipped paper config, made tiny: a small image encoder (a
    # resnet50 step costs seconds on 2 shared cores) and the tiny BERT
    assert main(["train", "--config", str(CONFIG), "--out", str(run), "--quiet",
                 "--set", f"data.root={cache}",
                 "--set", f"data.options={{text_model: {tiny_bert}, max_length: 16}}", *TINY,
                 *tiny_model(tiny_bert)]) == 0
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert record["train"]["samples"] == 9
    assert set(record["val"]["modality_acc"]) == {"image", "text"}
    assert "macro_f1" in record["val"]


def test_the_target_can_stay_a_placeholder_or_only_replace_it(tmp_path, capsys):
    raw = make_twitter2015(tmp_path / "raw", per_class=(1, 1, 1), broken=False)
    for mode, texts in (("keep", [b"rt catnews t is", b"the cat sat on", b"i love t very"]),
                        ("replace", [b"rt catnews the dog", b"the cat sat on",
                                     b"i love the red"])):
        cache = tmp_path / mode
        assert main(["prepare", "twitter2015", "--src", str(raw), "--out", str(cache), "--quiet",
                     *PARAMS, "--param", f"target={mode}", "--param", "max_words=4"]) == 0
        assert np.load(cache / "dev" / "text.npy").tolist() == texts
    assert main(["prepare", "twitter2015", "--src", str(raw), "--out", str(tmp_path / "x"),
                 "--param", "target=drop"]) == 2
    assert ("mmbss prepare twitter2015: 'target' must be one of 'prefix', 'replace', 'keep'; got "
            "'drop'.") in capsys.readouterr().err


def test_other_folder_names_and_a_split_dir(tmp_path):
    raw = make_twitter2015(tmp_path / "raw", per_class=(1, 1, 1), broken=False)
    (raw / "twitter2015_images").rename(raw / "pics")
    (raw / "twitter2015").rename(tmp_path / "tsv")
    assert main(["prepare", "twitter2015", "--src", str(raw), "--out", str(tmp_path / "c"),
                 "--split-dir", str(tmp_path / "tsv"), "--param", "images=pics", "--quiet",
                 *PARAMS]) == 0
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["prepared"] == 9
    assert manifest["scan_notes"][0] == f"images from {raw / 'pics'}"


def test_a_long_text_is_cut_at_a_character_boundary_and_noted():
    from mmbss.data.paper.text import utf8_field

    notes = []
    field = utf8_field("ab\u00e9cd", 3, notes)  # é is 2 bytes: b"ab\xc3" would split it
    assert field.dtype == np.dtype("S3") and field.item() == b"ab"
    assert notes == ["the text has 6 UTF-8 bytes, more than text_bytes=3: cut to 2 bytes"]
    assert utf8_field("abc", 3, notes).item() == b"abc" and len(notes) == 1


@pytest.mark.parametrize("case, expected", [
    ("no-src", "the source folder"),
    ("no-images", "has no image folder (looked for twitter2015_images, twitter15_images, images)"),
    ("bad-images", "(--param images) does not exist. Expected layout:"),
    ("no-splits", "Take absa_data/twitter2015/{train,dev,test}.tsv from the TomBERT repository"),
    ("bad-label", "dev.tsv:3: the label '3' of row '5' is not a class of this dataset"),
    ("bad-fields", "train.tsv:2: a row must have 5 tab-separated fields (index, label, image id"),
    ("same-index", "test.tsv:3: the index '1' was already used on line 2; every row needs"),
    ("not-utf8", "the file is not UTF-8 text"),
    ("bad-param", "mmbss prepare twitter2015: no parameter 'size'; its parameters"),
    ("bad-size", "mmbss prepare twitter2015: 'image_size' must be an int >= 1; got 0"),
])
def test_twitter2015_prepare_bad_input(tmp_path, capsys, case, expected):
    raw, extra = tmp_path / "raw", []
    if case != "no-src":
        make_twitter2015(raw, per_class=(1, 1, 1), broken=False)
    ann = raw / "twitter2015"
    if case == "no-images":
        (raw / "twitter2015_images").rename(raw / "elsewhere")
    if case == "bad-images":
        extra = ["--param", "images=nowhere"]
    if case == "no-splits":
        (ann / "train.tsv").unlink()
    if case == "bad-label":
        (ann / "dev.tsv").write_text(f"{HEADER}\n4\t1\tdev0.jpg\tx $T$\ty\n5\t3\tdev0.jpg\t$T$\tz\n")
    if case == "bad-fields":
        (ann / "train.tsv").write_text(f"{HEADER}\n1\t1\ttrain0.jpg\ttweet without target\n")
    if case == "same-index":
        (ann / "test.tsv").write_text(f"{TEST_HEADER}\n1\t1\ttest0.jpg\t$T$\ta\n1\t2\ttest0.jpg"
                                      f"\t$T$\tb\n")
    if case == "not-utf8":
        (ann / "dev.tsv").write_bytes(b"index\n1\t1\tdev0.jpg\t\xff\xfe $T$\ta\n")
    if case == "bad-param":
        extra = ["--param", "size=3"]
    if case == "bad-size":
        extra = ["--param", "image_size=0"]
    assert main(["prepare", "twitter2015", "--src", str(raw), "--out", str(tmp_path / "c"),
                 *extra]) == 2
    assert expected in capsys.readouterr().err


def test_twitter2015_loader_needs_a_local_tokenizer(tmp_path, monkeypatch, tiny_bert):
    raw, cache = _prepared(tmp_path)

    def load(**kw):
        return create_dataset("twitter2015", root=str(cache), **kw)

    with pytest.raises(ValueError, match="'text_model' is not set; set data.options.text_model"):
        load()
    with pytest.raises(ValueError, match="does not exist; nothing is downloaded: the folder must"):
        load(text_model=str(tmp_path / "no-such-model"))
    with pytest.raises(TypeError, match="'text_model' must be the path of a local tokenizer"):
        load(text_model=3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no tokenizer can be loaded offline from"):
        load(text_model=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="'max_length' is 100, more than the 64 positions of"):
        load(text_model=str(tiny_bert), max_length=100)
    with pytest.raises(ValueError, match="'max_length' must be an int >= 2; got 1"):
        load(text_model=str(tiny_bert), max_length=1)
    with pytest.raises(ValueError, match="has no cache.json, so it is not a prepared cache"):
        create_dataset("twitter2015", root=str(raw), text_model=str(tiny_bert))
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ValueError, match="tokenising the text needs the Python package "
                                         "'transformers'; install it with: pip install"):
        load(text_model=str(tiny_bert))


def test_a_text_outside_the_table_is_tokenised_on_the_spot(tiny_bert):
    from transformers import AutoTokenizer

    from mmbss.data.paper.text import TokenTable

    tok = AutoTokenizer.from_pretrained(tiny_bert, local_files_only=True)
    table = TokenTable(tok, [b"the cat", b"the cat", b"a dog sat on the mat"], 5)
    assert table.arrays.shape == (2, 2, 5) and table.truncated([b"a dog sat on the mat"]) == 1
    assert torch.equal(table(np.array(b"the red mat", dtype="S20")),
                       torch.tensor([tok("the red mat", padding="max_length", max_length=5,
                                         truncation=True)[k] for k in ("input_ids",
                                                                       "attention_mask")]))
