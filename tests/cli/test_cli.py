import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mmbss.cli.main import main
from mmbss.engine.config import config_to_dict

from ..conftest import tiny_config

MMBSS = [sys.executable, "-m", "mmbss.cli.main"]


def _write_cfg(path: Path, cfg) -> Path:
    path.write_text(yaml.safe_dump(config_to_dict(cfg)))
    return path


def test_list_and_help(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "methods: anti, bss-cl, bss-lb, joint, random-pacing, uniaux" in out
    assert ("datasets: cremad, kinetics-sounds, mfeat, mfeat-corrupt, nvgesture, sarcasm, "
            "synthetic, twitter2015, vggsound") in out


def test_user_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["train", "--set", "train.epoch=3", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmbss: error: unknown config key 'train.epoch'") and "Traceback" not in err
    assert main(["train", "--set", "method.name=bss-c", "--out", str(tmp_path / "r")]) == 2
    assert "Did you mean 'bss-cl'?" in capsys.readouterr().err
    assert main(["train", "--set", "train.epochs=x", "--out", str(tmp_path / "r")]) == 2
    assert "config key 'train.epochs' must be of type int" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "nothing")]) == 2
    assert "has no config.yaml" in capsys.readouterr().err


def test_train_score_report_round_trip(tmp_path, capsys):
    cfg = _write_cfg(tmp_path / "c.yaml", tiny_config("bss-lb", epochs=2))
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--out", str(run), "--quiet"]) == 0
    assert "bss-lb seed 0: best val epoch" in capsys.readouterr().out
    assert main(["train", "--config", str(cfg), "--out", str(run), "--quiet"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["score", str(run)]) == 0
    rows = (run / "scores" / "best.csv").read_text().splitlines()
    assert rows[0] == "index,label,loss,prediction_similarity,d,seen" and len(rows) == 181
    assert main(["report", str(run)]) == 0
    assert (run / "plots" / "learning_curves.png").stat().st_size > 1000


def test_compare_writes_table_with_paired_differences(tmp_path, capsys):
    cfg = tiny_config("uniaux", epochs=2)
    cfg.compare.methods = ["uniaux", {"name": "bss-cl", "label": "cl-w1", "warmup_epochs": 1}]
    cfg.compare.seeds = [0, 1]
    out = tmp_path / "cmp"
    assert main(["compare", "--config", str(_write_cfg(tmp_path / "c.yaml", cfg)), "--out", str(out),
                 "--quiet"]) == 0
    table = (out / "table.md").read_text()
    assert table.splitlines()[0].startswith("| method | seeds | test acc |")
    assert "| uniaux | 2 |" in table and "| cl-w1 | 2 |" in table
    results = (out / "results.csv").read_text().splitlines()
    assert len(results) == 5
    run_cfg = yaml.safe_load((out / "runs" / "cl-w1" / "seed1" / "config.yaml").read_text())
    assert run_cfg["method"]["warmup_epochs"] == 1 and run_cfg["train"]["seed"] == 1
    assert (out / "plots" / "comparison_bars.png").exists()
    assert "Δacc vs uniaux" in capsys.readouterr().out


@pytest.mark.slow
def test_killed_process_resumes_to_identical_metrics(tmp_path):
    """A real SIGKILL in the middle of training, then --resume (the issue's done-criterion)."""
    cfg = tiny_config("bss-lb", epochs=6, scoring="online")
    cfg.data.options = {"num_samples": 1500, "num_classes": 3, "dims": 8}
    c = _write_cfg(tmp_path / "c.yaml", cfg)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run([*MMBSS, "train", "--config", str(c), "--out", str(tmp_path / "full"), "--quiet"],
                   check=True, env=env)
    proc = subprocess.Popen([*MMBSS, "train", "--config", str(c), "--out", str(tmp_path / "cut"),
                             "--quiet"], env=env)
    metrics = tmp_path / "cut" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 2):
        time.sleep(0.01)
    time.sleep(0.05)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    done = len(metrics.read_text().splitlines())
    assert 2 <= done < 6, "the kill must land before the run ends"
    subprocess.run([*MMBSS, "train", "--config", str(c), "--out", str(tmp_path / "cut"), "--resume",
                    "--quiet"], check=True, env=env)
    assert (tmp_path / "full" / "metrics.jsonl").read_text() == metrics.read_text()
    full = json.loads((tmp_path / "full" / "summary.json").read_text())
    cut = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert full["test"] == cut["test"] and full["best_epoch"] == cut["best_epoch"]


def test_compare_resume_refuses_changed_finished_runs_and_bad_seed_lists(tmp_path, capsys):
    cfg = tiny_config("uniaux", epochs=1)
    cfg.compare.methods, cfg.compare.seeds = ["uniaux"], [0]
    c = _write_cfg(tmp_path / "c.yaml", cfg)
    out = str(tmp_path / "cmp")
    assert main(["compare", "--config", str(c), "--out", out, "--quiet"]) == 0
    assert main(["compare", "--config", str(c), "--out", out, "--quiet", "--resume",
                 "--seeds", "0", "1"]) == 0        # adding a seed reuses seed 0
    capsys.readouterr()
    assert main(["compare", "--config", str(c), "--out", out, "--quiet", "--resume",
                 "--set", "train.batch_size=8"]) == 2
    err = capsys.readouterr().err
    assert "seed0': the config differs on keys that cannot change on resume" in err
    assert "train.batch_size: 16 -> 8" in err
    assert main(["compare", "--config", str(c), "--out", out, "--quiet", "--resume",
                 "--set", "optim.lr=0.5"]) == 2
    assert "finished all 1 epochs, so the changed optim.lr would not take effect" in \
        capsys.readouterr().err
    assert main(["compare", "--config", str(c), "--out", out, "--seeds", "0", "0"]) == 2
    assert "lists a seed twice" in capsys.readouterr().err


def test_score_with_a_foreign_checkpoint_is_a_clear_error(tmp_path, capsys):
    cfg = _write_cfg(tmp_path / "c.yaml", tiny_config("uniaux", epochs=1))
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--out", str(run), "--quiet"]) == 0
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert main(["score", str(run), "--checkpoint", str(junk)]) == 2
    assert "junk.pt' is not a checkpoint (not a file written by torch.save)" in capsys.readouterr().err


def test_path_mistakes_are_one_line_errors(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["train", "--out", str(afile), "--set", "train.epochs=1"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path)]) == 2
    assert "is a folder, not a file" in capsys.readouterr().err
    cfg = _write_cfg(tmp_path / "c.yaml", tiny_config("uniaux", epochs=1))
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--out", str(run), "--quiet"]) == 0
    (tmp_path / "adir").mkdir()
    assert main(["score", str(run), "--out", str(tmp_path / "adir")]) == 2
    assert "is a folder; give a CSV file name" in capsys.readouterr().err
    assert list((tmp_path / "adir").iterdir()) == [] and not list(tmp_path.glob("*.tmp"))


def test_compare_table_gives_intervals_and_verdicts(tmp_path):
    from mmbss.engine.compare import format_table

    rows = [{"method": m, "seed": s, "test_acc": acc, "test_macro_f1": acc, "test_map": acc,
             "test_gap": 0.1, "test_acc_a": acc, "time_train": 1.0, "time_scoring": 0.0}
            for m, accs in (("base", [0.80, 0.81, 0.79]), ("up", [0.85, 0.87, 0.84]),
                            ("same", [0.81, 0.80, 0.79]))
            for s, acc in enumerate(accs)]
    table, csv_rows = format_table(rows, ["base", "up", "same"], "base")
    up = next(line for line in table.splitlines() if line.startswith("| up |"))
    assert "| +5.33 [+3.90, +6.77] | 3/0/0 | better |" in up
    assert "| no detectable difference |" in next(x for x in table.splitlines() if x.startswith("| same |"))
    assert csv_rows[1]["verdict"] == "better" and csv_rows[1]["ci_method"] == "t"
    single, _ = format_table([r for r in rows if r["seed"] == 0], ["base", "up"], "base")
    assert "| +5.00 no interval | 1/0/0 | no interval (1 seed; use 2 or more) |" in single
    assert "nan" not in single.lower()
