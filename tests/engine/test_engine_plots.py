"""Plots of a run directory and of a comparison directory (mmbss.engine.plots)."""

import ast
import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from mmbss.engine import plots
from mmbss.engine.plots import plot_comparison, plot_run
from mmbss.engine.plots.common import _best_epoch, _read_metrics
from mmbss.engine.plots.comparison import _load_comparison
from mmbss.engine.plots.run import _plot_score_histograms, _read_scores, _roc_auc

MODS = ("pix", "fou")


def _split(rng, acc, gap):
    return {"loss": 2.0 - acc, "acc": acc, "macro_f1": acc - 0.02, "map": acc + 0.05,
            "modality_acc": {"pix": acc - 0.05, "fou": acc - 0.05 - gap}, "unimodal_gap": gap,
            "agreement": float(rng.uniform(0.3, 0.6))}


def _write_run(path, *, method="bss-cl", seed=0, epochs=5, scores=(1, 3), summary=True,
               corrupted=True):
    """A synthetic run directory as `mmbss train` leaves it."""
    rng = np.random.default_rng(seed + 1000 * sum(map(ord, method)))
    boost = rng.uniform(0, 0.05)
    path.mkdir(parents=True)
    with open(path / "metrics.jsonl", "w") as f:
        for e in range(epochs):
            acc = min(0.9, 0.4 + 0.04 * e + boost) + rng.uniform(0, 0.03)
            rec = {"epoch": e, "lr": 0.01, "subset_fraction": min(1.0, 0.2 + 0.1 * e + boost),
                   "scored": e in scores, "train": {"loss": 2.0 - 0.3 * e, "acc": acc + 0.05,
                                                    "samples": 223, "steps": 7},
                   "val": _split(rng, acc, max(0.05, 0.3 - 0.03 * e - boost)),
                   "test": _split(rng, acc - 0.02, 0.3),
                   "time": {"train": 0.8, "scoring": 0.1, "eval": 0.2}}
            f.write(json.dumps(rec) + "\n")
    for e in scores:
        (path / "scores").mkdir(exist_ok=True)
        with open(path / "scores" / f"epoch_{e:03d}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["index", "label", "prediction_similarity", "loss", "d", "seen"]
                       + ["corrupted"] * corrupted)
            for i in range(200):
                bad = int(i % 5 == 0)
                d = float(np.clip(rng.normal(1.2 if bad else 0.6, 0.3), 0, 2))
                w.writerow([i, i % 10, 0.5, 1.1, f"{d:.4f}", int(rng.uniform() < 0.5)]
                           + [bad] * corrupted)
    if summary:
        (path / "summary.json").write_text(json.dumps(
            {"method": method, "seed": seed, "dataset": "mfeat", "best_epoch": epochs - 2,
             "test": {"acc": 0.8 + 0.01 * seed}, "best_val": {"acc": 0.8}, "time": {"train": 4}}))
    return path


def _assert_pngs(paths, names):
    from matplotlib.image import imread

    assert [p.name for p in paths] == names
    for p in paths:
        image = imread(p)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200, p


def test_plot_run_writes_every_png(tmp_path):
    run = _write_run(tmp_path / "run")
    paths = plot_run(run)
    _assert_pngs(paths, ["learning_curves.png", "modality_accuracy.png", "score_histograms.png",
                         "pacing.png"])
    assert all(p.parent == run / "plots" for p in paths)


def test_plot_run_without_scores_summary_or_corrupted_column(tmp_path):
    run = _write_run(tmp_path / "run", scores=(), summary=False)
    paths = plot_run(str(run), out_dir=tmp_path / "out")
    _assert_pngs(paths, ["learning_curves.png", "modality_accuracy.png", "pacing.png"])
    run2 = _write_run(tmp_path / "run2", scores=(0, 1, 2, 3, 4), corrupted=False)
    scores = _read_scores(run2 / "scores")
    assert [e for e, _ in scores] == [0, 1, 2, 3, 4] and "corrupted" not in scores[0][1]
    _assert_pngs([_plot_score_histograms(scores, "t", tmp_path / "h.png")], ["h.png"])


def test_best_epoch_from_summary_else_first_argmax_of_val_acc():
    recs = [{"epoch": e, "val": {"acc": a}} for e, a in enumerate([0.2, 0.7, 0.5, 0.7])]
    assert _best_epoch(recs, {"best_epoch": 3}) == 3
    assert _best_epoch(recs, {}) == 1
    assert _best_epoch([{"epoch": 0}], {}) is None


def test_resumed_run_keeps_the_last_line_of_an_epoch(tmp_path):
    run = _write_run(tmp_path / "run", epochs=2)
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"epoch": 1, "val": {"acc": 0.99}}) + "\n")
    records = _read_metrics(run)
    assert [r["epoch"] for r in records] == [0, 1] and records[1]["val"]["acc"] == 0.99


@pytest.mark.parametrize("scores, labels, expected", [
    ([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 1.0),
    ([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 0.0),
    ([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], 0.5),
    ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),
    ([0.3, 0.5, 0.5, 0.9], [0, 1, 0, 1], 0.875),  # one tied pair counts 1/2
])
def test_roc_auc_hand_values(scores, labels, expected):
    assert _roc_auc(np.array(scores), np.array(labels)) == pytest.approx(expected)


def test_roc_auc_matches_pairwise_count_and_rejects_bad_labels():
    rng = np.random.default_rng(0)
    s, y = rng.integers(0, 5, 60).astype(float), rng.integers(0, 2, 60)
    pos, neg = s[y == 1], s[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert _roc_auc(s, y) == pytest.approx(pairs)
    assert math.isnan(_roc_auc([0.1, 0.2], [1, 1]))
    with pytest.raises(ValueError, match="0/1 labels"):
        _roc_auc([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="equal-length"):
        _roc_auc([0.1, 0.2, 0.3], [0, 1])


def _write_comparison(root, methods=("joint", "bss-cl"), seeds=(0, 1)):
    for m in methods:
        for s in seeds:
            _write_run(root / "runs" / m / f"seed{s}", method=m, seed=s,
                       scores=(1, 3) if m != "joint" else ())
    with open(root / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "seed", "best_epoch", "test_acc"])
        w.writerows([m, s, 3, 0.8] for m in methods for s in seeds)
    return root


def test_plot_comparison_writes_every_png(tmp_path):
    cmp_dir = _write_comparison(tmp_path / "cmp")
    paths = plot_comparison(cmp_dir)
    _assert_pngs(paths, ["comparison_curves.png", "comparison_bars.png",
                         "comparison_modality.png", "comparison_pacing.png"])
    assert all(p.parent == cmp_dir / "plots" for p in paths)


def test_comparison_methods_follow_results_csv_then_sorted(tmp_path):
    cmp_dir = _write_comparison(tmp_path / "cmp", methods=("joint", "bss-cl"), seeds=(10, 2))
    _write_run(cmp_dir / "runs" / "anti" / "seed0", method="anti")  # not in results.csv
    runs = _load_comparison(cmp_dir)
    assert list(runs) == ["joint", "bss-cl"]  # a run the table does not report is not plotted
    assert [seed for seed, _, _ in runs["joint"]] == ["seed2", "seed10"]
    (cmp_dir / "results.csv").unlink()
    assert list(_load_comparison(cmp_dir)) == ["anti", "bss-cl", "joint"]


def test_run_without_metrics_says_to_train_first(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=re.escape(str(tmp_path)) + r".*run 'mmbss train' first"):
        plot_run(tmp_path)


def test_empty_or_malformed_metrics_raise_value_error(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl' is empty"):
        plot_run(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 0}\n{oops\n')
    with pytest.raises(ValueError, match="line 2 is not valid JSON"):
        plot_run(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"epoch": "one"}\n')
    with pytest.raises(ValueError, match="int 'epoch' >= 0"):
        plot_run(tmp_path)


def test_scores_file_without_d_column_raises(tmp_path):
    run = _write_run(tmp_path / "run", scores=())
    (run / "scores").mkdir()
    (run / "scores" / "epoch_000.csv").write_text("index,label,seen\n0,1,1\n")
    with pytest.raises(ValueError, match=r"epoch_000.csv' has no 'd' column"):
        plot_run(run)


def test_comparison_without_runs_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "runs"))):
        plot_comparison(tmp_path)
    (tmp_path / "runs" / "joint" / "seed0").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="holds no <method>/seed<k>/metrics.jsonl"):
        plot_comparison(tmp_path)


def test_public_names_documented_and_matplotlib_imported_lazily():
    assert plots.__doc__ and all(getattr(plots, n).__doc__ for n in plots.__all__)
    tree = ast.parse(Path(plots.__file__).read_text())
    top = [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names]
    top += [n.module for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert not [m for m in top if m and m.startswith("matplotlib")]


def test_gradient_policy_statistics_get_one_panel_each(tmp_path):
    run = _write_run(tmp_path / "run", scores=())
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    for rec in lines:
        e = rec["epoch"]
        rec["method"] = {"ogm-ge": {"modulated_steps": 7, "mean_coefficient": {"pix": 0.4 + 0.1 * e, "fou": 1.0},
                                    "damped_share": {"pix": 0.9, "fou": 0.1}}}
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    paths = plot_run(run)
    _assert_pngs(paths, ["learning_curves.png", "modality_accuracy.png", "pacing.png",
                         "method_statistics.png"])
    from mmbss.engine.plots.run import _method_panels

    panels = _method_panels(lines, [("", lines, {})])
    assert [(name, [m for m, _, _ in ls]) for name, _, ls in panels] == [
        ("ogm-ge: mean coefficient", ["pix", "fou"]), ("ogm-ge: damped share", ["pix", "fou"])]
