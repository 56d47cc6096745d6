"""train.loggers: the real TensorBoard and MLflow backends, written to the run folder."""

from __future__ import annotations

import json

import pytest

from mmbss.engine import train

from ..conftest import tiny_config


def _metrics(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_tensorboard_and_mlflow_get_every_epoch_and_a_resume_continues_them(tmp_path):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tiny_config("bss-lb", epochs=2)
    cfg.optim.schedule = "step"
    cfg.train.loggers = ["tensorboard", "mlflow"]
    run = tmp_path / "run"
    train(cfg, run, quiet=True)
    first_id = (run / "mlflow_run_id").read_text().strip()
    cfg.train.epochs = 3
    train(cfg, run, resume=True, quiet=True)
    records = _metrics(run)
    assert len(records) == 3

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"histograms": 0}).Reload()
    acc = [(e.step, e.value) for e in events.Scalars("val/acc")]
    assert acc == [(r["epoch"], pytest.approx(r["val"]["acc"])) for r in records]
    tags = events.Tags()["scalars"]
    assert {"val/macro_f1", "train/loss", "timings/scoring", "subset_fraction"} <= set(tags)
    assert any(t.startswith("val/modality_acc/") for t in tags)
    scored = [r["epoch"] for r in records if r["scored"]]
    assert [h.step for h in events.Histograms("scores")] == scored

    client = MlflowClient(tracking_uri=(run / "mlruns").resolve().as_uri())
    assert (run / "mlflow_run_id").read_text().strip() == first_id  # the same MLflow run
    history = client.get_metric_history(first_id, "val.acc")
    assert sorted((m.step, m.value) for m in history) == \
        [(r["epoch"], pytest.approx(r["val"]["acc"])) for r in records]
    mlrun = client.get_run(first_id)
    assert mlrun.data.params["method.name"] == "bss-lb" and mlrun.info.run_name == "run"
    assert "scores.q50" in mlrun.data.metrics


@pytest.mark.parametrize("value, message", [
    ("[wandb]", "train.loggers: unknown logger 'wandb'; valid names: tensorboard, mlflow."),
    ("tensorboard", "config key 'train.loggers' must be of type list; got 'tensorboard' (str)."),
    ("[mlflow, mlflow]", "train.loggers: a logger is listed twice: ['mlflow', 'mlflow']."),
])
def test_bad_logger_lists_are_refused(tmp_path, capsys, value, message):
    from mmbss.cli.main import main

    assert main(["train", "--set", "data.name=synthetic", "--set", f"train.loggers={value}",
                 "--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_tracker_package_names_the_extra(monkeypatch):
    import importlib.util

    from mmbss.engine.loggers import check_loggers

    with pytest.raises(ValueError, match=r"train: 'loggers' must be a list of logger names \(e.g. "
                                         r"\[tensorboard, mlflow\]\); got 'tensorboard'."):
        check_loggers("tensorboard")

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ValueError, match=r"train.loggers: 'mlflow' needs the package 'mlflow', "
                                         r"which is not installed; install it with: pip install "
                                         r"'mmbss\[mlflow\]'."):
        check_loggers(["tensorboard", "mlflow"])
