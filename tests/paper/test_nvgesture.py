"""NVGesture: a fixture in the raw layout -> mmbss prepare -> the loader -> one training epoch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmbss.cli.main import main
from mmbss.data import create_dataset

from .media import write_garbage, write_video

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "paper" / "nvgesture.yaml"
TINY = ["--set", "train.epochs=1", "--set", "train.batch_size=4", "--set", "train.num_workers=2",
        "--set", "train.device=cpu", "--set", "train.eval_batch_size=32",
        "--set", "model.encoder_kw={}"]  # random I3D weights: no download in tests
PARAMS = ["--param", "frames=8", "--param", "frame_size=20"]
OPTIONS = {"crop": 16}  # train_frames: round(8 * 64 / 80) = 6 training frames, 8 for evaluation
LISTS = "nvgesture_{}_correct_cvpr2016_v2.lst"


def _line(rel: str, color: tuple[int, int], depth: tuple[int, int], label: int) -> str:
    return (f"path:./{rel} depth:sk_depth:{depth[0]}:{depth[1]} color:sk_color:{color[0]}:"
            f"{color[1]} duo_left:duo_left:{color[0] + 3}:{color[1] + 5} label:{label}")


def make_nvgesture(root, classes=tuple(range(1, 26)), train_subjects=(1, 2), test_subjects=(3,),
                   broken=True, video_frames=12, list_names=LISTS):
    """NVGesture as unpacked from nvGesture_v1.7z.001 (Video_data/class_XX/subject<k>_r0/ with
    sk_color.avi and sk_depth.avi of ``video_frames`` frames) plus the two .lst split lists
    (8-frame spans). The default, 25 classes x 2 + 1 subjects, is the smallest set whose
    splits all hold one sample per class (the engine refuses fewer)."""
    lines = {"train": [], "test": []}
    for c in classes:
        for s in (*train_subjects, *test_subjects):
            rel = f"Video_data/class_{c:02d}/subject{s}_r0"
            write_video(root / rel / "sk_color.avi", frames=video_frames, shade=c + s)
            write_video(root / rel / "sk_depth.avi", frames=video_frames, shade=c, gray=True)
            start = 1 + s % 3
            lines["train" if s in train_subjects else "test"].append(
                _line(rel, (start, start + 8), (start, start + 8), c))
    if broken:
        first = f"Video_data/class_{classes[0]:02d}/subject{train_subjects[0]}_r0"
        lines["train"] += [
            _line(first, (6, 14), (2, 6), classes[0]),  # colour past the end, short depth span
            _line(f"Video_data/class_{classes[1]:02d}/subject99_r0", (1, 9), (1, 9), classes[1]),
            _line("../../x", (1, 9), (1, 9), classes[-1]),                  # escapes the root
        ]
        write_garbage(root / f"Video_data/class_{classes[-1]:02d}/subject{train_subjects[1]}_r0"
                      / "sk_depth.avi")                                     # a broken video
    for split, rows in lines.items():
        (root / list_names.format(split)).write_text("\n".join(rows) + "\n")
    return root


def _prepare(raw, cache, *extra):
    return main(["prepare", "nvgesture", "--src", str(raw), "--out", str(cache), "--quiet",
                 *PARAMS, *extra])


@pytest.fixture
def one_thread():
    """Three I3D encoders on a CPU shared with other jobs: one torch thread avoids the
    oversubscription that made a training step ten times slower in a measurement."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow  # three 12.3M-parameter I3D encoders, 25 samples per split (the engine's minimum)
def test_nvgesture_from_raw_layout_to_a_trained_epoch(tmp_path, capsys, one_thread):
    raw, cache = make_nvgesture(tmp_path / "nvGesture"), tmp_path / "cache"
    assert _prepare(raw, cache, "--workers", "2") == 2  # 3 of 78 skipped: above the default 1 %
    assert "3 of 78 listed items were skipped, more than --max-skipped 1%" in capsys.readouterr().err
    manifest = json.loads((cache / "manifest.json").read_text())
    reasons = {i["key"]: i["reason"] for i in manifest["skipped_items"]}
    assert set(reasons) == {"Video_data/class_02/subject99_r0", "../../x",
                            "Video_data/class_25/subject2_r0"}
    assert reasons["Video_data/class_02/subject99_r0"].startswith("missing folder")
    assert "escapes the dataset root" in reasons["../../x"]
    assert reasons["Video_data/class_25/subject2_r0"].startswith("cannot decode the video")
    notes = [n["note"] for n in manifest["noted_items"]]
    assert {n["key"] for n in manifest["noted_items"]} == {"Video_data/class_01/subject1_r0 (line 51)"}
    assert "sk_color.avi ends inside the color span 6:14: 6 of its 8 frames exist; padded by " \
           "repeating the last" in notes
    assert "the depth span 2:6 has 4 frames, fewer than frames=8: padded by repeating the last" \
           in notes
    scan = manifest["scan_notes"]
    assert scan[0].startswith("train: 53 lines from") and "(the official list has 1050)" in scan[0]
    assert any("lists 'Video_data/class_01/subject1_r0' again" in n for n in scan)
    assert any(n.startswith("flow: computed with OpenCV Farneback") and "no folder" in n
               for n in scan)
    assert manifest["splits"]["train"]["prepared"] == 50
    assert manifest["splits"]["test"]["per_class"] == {f"class_{k:02d}": 1 for k in range(1, 26)}
    # flow=auto is recorded as what it resolved to: a resume that would resolve it otherwise
    # (a flow_data folder added in between) is refused instead of mixing two flow sources
    assert manifest["params"] == {"frames": 8, "frame_size": 20, "flow": "farneback",
                                  "flow_bound": 20.0}
    assert _prepare(raw, cache, "--max-skipped", "3") == 0  # continued: the skipped items again
    # the rerun retries only the skipped items (their files may have been fixed)
    assert json.loads((cache / "manifest.json").read_text())["last_run"]["decoded"] == 3

    # the padded colour span: 6 real frames, then the last one repeated; its flow there is 0
    keys = json.loads((cache / "train" / "keys.json").read_text())
    pos = keys.index("Video_data/class_01/subject1_r0 (line 51)")
    rgb = np.load(cache / "train" / "rgb.npy", mmap_mode="r")[pos]
    flow = np.load(cache / "train" / "flow.npy", mmap_mode="r")[pos]
    assert (rgb[5:] == rgb[5]).all() and not (rgb[4] == rgb[5]).all()
    assert (flow[5:] == 128).all() and (flow[:4] != 128).any()
    assert np.load(cache / "train" / "depth.npy", mmap_mode="r").shape == (53, 8, 20, 20, 1)

    bundle = create_dataset("nvgesture", root=str(cache), val_fraction=0.5, **OPTIONS)
    assert bundle.modality_shapes == {"rgb": (6, 3, 16, 16), "depth": (6, 1, 16, 16),
                                      "flow": (6, 2, 16, 16)}
    assert len(bundle.train) == len(bundle.val) == len(bundle.test) == 25
    assert not set(bundle.info["keys"]["val"]) & set(bundle.info["keys"]["train"])
    assert bundle.num_classes == 25 and bundle.info["train_frames"] == 6
    assert bundle.val[0]["modalities"]["flow"].shape == (8, 2, 16, 16)

    run = tmp_path / "run"  # the shipped paper config, made tiny: 6 training, 8 eval frames
    assert main(["train", "--config", str(CONFIG), "--out", str(run), "--quiet",
                 "--set", f"data.root={cache}", "--set", "data.val_fraction=0.5",
                 "--set", "data.options={crop: 16}", *TINY]) == 0
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert record["train"]["samples"] == 25 and record["scored"]
    assert set(record["val"]["modality_acc"]) == {"rgb", "depth", "flow"}
    assert "macro_f1" in record["test"]


def test_nvgesture_transforms_reference_shapes_and_one_window_for_all_streams():
    from mmbss.data.paper.nvgesture import _eval_tf, _train_tf

    def clip(frames, size):  # frame t holds the value t; depth and flow the same numbers
        t = np.arange(frames, dtype=np.uint8).reshape(-1, 1, 1, 1)
        grid = np.zeros((1, size, size, 1), np.uint8)
        return {m: np.broadcast_to(t + grid, (frames, size, size, c)).copy()
                for m, c in (("rgb", 3), ("depth", 1), ("flow", 2))}

    big = clip(80, 256)
    train = _train_tf(80, 256, 64, 224)(big, torch.Generator().manual_seed(0))
    test = _eval_tf(80, 256, 224)(big, None)
    assert {m: tuple(x.shape) for m, x in train.items()} == {
        "rgb": (64, 3, 224, 224), "depth": (64, 1, 224, 224), "flow": (64, 2, 224, 224)}
    assert {m: tuple(x.shape) for m, x in test.items()} == {
        "rgb": (80, 3, 224, 224), "depth": (80, 1, 224, 224), "flow": (80, 2, 224, 224)}
    assert test["rgb"].dtype == torch.float32
    assert torch.allclose(test["flow"][:, 0, 0, 0], torch.arange(80) / 127.5 - 1)

    small = clip(80, 40)
    y, x = np.mgrid[0:40, 0:40]
    small["rgb"][..., 1], small["rgb"][..., 2] = y, x  # the window's position, in the pixels
    small["flow"][..., 0], small["depth"][..., 0] = y, x
    starts = set()
    for seed in range(120):
        out = _train_tf(80, 40, 64, 32)(small, torch.Generator().manual_seed(seed))
        u8 = {m: ((v + 1) * 127.5).round().to(torch.uint8) for m, v in out.items()}
        start, top, left = (int(u8["rgb"][0, 0, 0, 0]), int(u8["rgb"][0, 1, 0, 0]),
                            int(u8["rgb"][0, 2, 0, 0]))
        starts.add(start)
        assert 0 <= top <= 8 and 0 <= left <= 8
        assert int(u8["flow"][0, 1, 0, 0]) == start and int(u8["depth"][0, 0, 0, 0]) == left
        assert int(u8["flow"][0, 0, 0, 0]) == top
        assert torch.equal(u8["rgb"][:, 0, 0, 0], torch.arange(start, start + 64).to(torch.uint8))
    assert starts == set(range(17))  # a random start in [0, 16], as the reference
    centre = _eval_tf(80, 40, 32)(small, None)
    assert int(((centre["flow"][0, 0, 0, 0] + 1) * 127.5).round()) == 4  # (40 - 32) // 2


def test_nvgesture_reads_the_bss_flow_files_and_list_names(tmp_path):
    raw = make_nvgesture(tmp_path / "raw", classes=(1, 2), train_subjects=(1, 2, 3),
                         test_subjects=(4,), broken=False,
                         list_names="nvgesture_{}_correct_v2.lst")
    splits = tmp_path / "splits"  # the BSS names, in a --split-dir
    splits.mkdir()
    for split in ("train", "test"):
        (raw / f"nvgesture_{split}_correct_v2.lst").rename(splits / f"nvgesture_{split}_correct_v2.lst")
    flow_dir = raw / "Video_data" / "flow_data"
    (flow_dir / "train").mkdir(parents=True)
    (flow_dir / "test").mkdir()
    moving = np.zeros((24, 32, 2, 8), np.float32)
    moving[:, :, 0], moving[:, :, 1] = 4.0, -3.0  # px at 32x24: 2.5 and -2.5 px at 20x20
    np.save(flow_dir / "train" / "0.npy", moving)
    mapped = np.random.default_rng(0).integers(0, 256, (20, 20, 2, 8), dtype=np.uint8)
    np.save(flow_dir / "train" / "1.npy", mapped)
    np.save(flow_dir / "train" / "2.npy", np.zeros((20, 20, 2, 5), np.float32))  # 5 frames
    np.save(flow_dir / "train" / "3.npy", np.zeros((20, 20, 3, 8), np.float32))  # not (H,W,2,T)
    write_garbage(flow_dir / "train" / "4.npy")
    np.save(flow_dir / "train" / "5.npy", mapped)
    np.save(flow_dir / "test" / "0.npy", mapped)  # test/1.npy is missing
    cache = tmp_path / "c"
    assert _prepare(raw, cache, "--split-dir", str(splits), "--max-skipped", "3") == 0
    manifest = json.loads((cache / "manifest.json").read_text())
    assert any(n.startswith("flow: read from the BSS files") and "found 6 of 6 train, 1 of 2 test"
               in n for n in manifest["scan_notes"])
    reasons = sorted(i["reason"] for i in manifest["skipped_items"])
    assert reasons[0].startswith("cannot read the flow file") and "4.npy" in reasons[0]
    assert reasons[1].startswith("missing file") and "1.npy' (flow=bss)" in reasons[1]
    assert reasons[2].startswith("the flow file") and "has shape (20, 20, 3, 8); BSS flow files" \
           in reasons[2]
    flow = np.load(cache / "train" / "flow.npy")
    assert (flow[0, ..., 0] == 143).all() and (flow[0, ..., 1] == 112).all()
    assert np.array_equal(flow[1], np.moveaxis(mapped, 3, 0))
    notes = {n["note"] for n in manifest["noted_items"]}
    assert notes == {"the flow file's 24x32 frames were resized to 20x20",
                     "the flow file has 5 frames, fewer than frames=8: padded by repeating the "
                     "last"}


@pytest.mark.parametrize("case, expected", [
    ("no-src", "the source folder"),
    ("no-video-data", "has no Video_data folder; --src must be the folder that unpacking "
                      "nvGesture_v1.7z.001 made. Expected layout:"),
    ("no-lists", ("neither nvgesture_test_correct_cvpr2016_v2.lst nor nvgesture_test_correct_v2.lst "
                  "is in", "The lists come with NVIDIA's archive next to Video_data/ (give another "
                  "folder with --split-dir). Expected layout:")),
    ("label-26", "nvgesture_train_correct_cvpr2016_v2.lst:2: the label '26' of "
                 "'./Video_data/class_02/subject1_r0' is not a class of NVGesture; labels are 1..25"),
    ("label-0", "nvgesture_train_correct_cvpr2016_v2.lst:1: the label '0' of"),
    ("no-path", "correct_cvpr2016_v2.lst:1: a list line must start with 'path:<folder>', as in"),
    ("bad-span", ":1: the 'color' field must be 'color:<file>:<start>:<end>' with start < end "
                 "(e.g. color:sk_color:138:218); got 'color:sk_color:9:9'."),
    ("no-depth", ":1: the 'depth' field must be 'depth:<file>:<start>:<end>' with start < end "
                 "(e.g. depth:sk_depth:138:218); got 'no such field'."),
    ("bad-flow", "mmbss prepare nvgesture: parameter 'flow' must be one of auto, bss, farneback; "
                 "got 'tvl1'."),
    ("bad-frames", "mmbss prepare nvgesture: parameters 'frames' and 'frame_size' must be >= 1 and "
                   "'flow_bound' > 0; got frames=0, frame_size=20, flow_bound=20.0."),
    ("bss-no-flow", "flow=bss reads the BSS flow files, but"),
    ("bad-param", "mmbss prepare nvgesture: no parameter 'size'; its parameters"),
])
def test_nvgesture_prepare_bad_input(tmp_path, capsys, case, expected):
    raw, extra = tmp_path / "raw", []
    if case != "no-src":
        make_nvgesture(raw, classes=(1, 2), train_subjects=(1,), test_subjects=(2,), broken=False)
    train = raw / LISTS.format("train")
    rows = train.read_text().splitlines() if case != "no-src" else []
    if case == "no-video-data":
        (raw / "Video_data").rename(raw / "videos")
    if case == "no-lists":
        (raw / LISTS.format("test")).unlink()
    if case == "label-26":
        train.write_text(rows[0] + "\n" + rows[1].replace("label:2", "label:26") + "\n")
    if case == "label-0":
        train.write_text(rows[0].replace("label:1", "label:0") + "\n")
    if case == "no-path":
        train.write_text(rows[0].replace("path:", "folder:") + "\n")
    if case == "bad-span":
        train.write_text(rows[0].replace("color:sk_color:2:10", "color:sk_color:9:9") + "\n")
    if case == "no-depth":
        train.write_text(rows[0].replace("depth:sk_depth:2:10 ", "") + "\n")
    extra = {"bad-flow": ["--param", "flow=tvl1"], "bad-frames": ["--param", "frames=0"],
             "bss-no-flow": ["--param", "flow=bss"], "bad-param": ["--param", "size=3"]}.get(case, [])
    assert _prepare(raw, tmp_path / "c", *extra) == 2
    err = capsys.readouterr().err
    assert all(part in err for part in ((expected,) if isinstance(expected, str) else expected))


def test_nvgesture_loader_options_are_checked(tmp_path):
    raw = make_nvgesture(tmp_path / "raw", classes=(1, 2), train_subjects=(1, 2, 3),
                         test_subjects=(4,), broken=False)
    assert _prepare(raw, tmp_path / "c") == 0
    with pytest.raises(ValueError, match=r"nvgesture: 'crop' must be an int in \[1, 20\] or None"):
        create_dataset("nvgesture", root=str(tmp_path / "c"), crop=24)
    with pytest.raises(ValueError, match=r"'train_frames' must be an int in \[1, 8\] or None"):
        create_dataset("nvgesture", root=str(tmp_path / "c"), train_frames=9)
    with pytest.raises(ValueError, match="has no cache.json, so it is not a prepared cache"):
        create_dataset("nvgesture", root=str(raw))
    bundle = create_dataset("nvgesture", root=str(tmp_path / "c"), val_fraction=0.34)
    assert bundle.info["crop"] == 18 and bundle.modality_shapes["flow"] == (6, 2, 18, 18)
    assert bundle.val[0]["modalities"]["rgb"].shape == (8, 3, 18, 18)
