"""Nothing is written outside --out: method labels are one path component, and a symbolic link
planted inside a comparison cannot redirect a run elsewhere."""

from __future__ import annotations

import pytest

from mmbss.engine.compare import compare
from mmbss.engine.rundir import child_dir, clear_output_dir

from ..conftest import interrupted_before_training, tiny_config


def _cfg(label):
    cfg = tiny_config("uniaux", epochs=1)
    cfg.compare.methods, cfg.compare.seeds = [{"name": "uniaux", "label": label}], [0]
    return cfg


@pytest.mark.parametrize("label,exc", [
    ("../escaped", ValueError), ("/tmp/absolute", ValueError), ("a/b", ValueError),
    ("..", ValueError), (".", ValueError), (".hidden", ValueError), ("", ValueError),
    ("back\\slash", ValueError), (7, TypeError),
])
def test_labels_that_leave_the_comparison_folder_are_refused(tmp_path, label, exc):
    with pytest.raises(exc, match=r"compare.methods: 'label' must be a name usable as one folder "
                                  r"name \(no '/', '\\', leading '.' or '..'\); got "):
        compare(_cfg(label), tmp_path / "cmp", quiet=True)
    assert not (tmp_path / "cmp").exists() and not (tmp_path / "escaped").exists()


def test_a_symlink_planted_in_a_comparison_cannot_redirect_a_run(tmp_path):
    out, victim = tmp_path / "cmp", tmp_path / "victim"
    compare(_cfg("base"), out, quiet=True)
    victim.mkdir()
    (victim / "precious.txt").write_text("keep")
    (out / "runs" / "other").symlink_to(victim, target_is_directory=True)
    with pytest.raises(ValueError, match=r"runs/other/seed0' resolves to '.*victim/seed0', outside "
                                         r"'.*cmp'; mmbss only writes inside the output folder"):
        compare(_cfg("other"), out, resume=True, quiet=True)
    assert [p.name for p in victim.iterdir()] == ["precious.txt"]


def test_child_dir_refuses_parent_references_and_absolute_parts(tmp_path):
    assert child_dir(tmp_path, "runs", "a", "seed0") == tmp_path / "runs" / "a" / "seed0"
    for parts in (("..", "x"), ("/etc",), ("runs", "../../x")):
        with pytest.raises(ValueError, match="outside"):
            child_dir(tmp_path, *parts)


def test_overwrite_never_deletes_through_a_symlink(tmp_path):
    real = tmp_path / "real"
    clear_output_dir(real, kind="run", overwrite=False)
    (real / "metrics.jsonl").write_text("{}\n")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    with pytest.raises(FileExistsError, match="'.*link' is a symbolic link; mmbss does not delete "
                                              "through links"):
        clear_output_dir(link, kind="run", overwrite=True)
    assert (real / "metrics.jsonl").exists()


def test_compare_validates_every_method_but_builds_each_setup_once(tmp_path, monkeypatch):
    import mmbss.engine.build as build

    calls, original = [], build.build_data
    monkeypatch.setattr(build, "build_data", lambda cfg: (calls.append(cfg.method.name),
                                                            original(cfg))[1])
    cfg = tiny_config("uniaux", epochs=1)
    cfg.compare.methods, cfg.compare.seeds = ["uniaux", "bss-cl", "bss-lb", "anti"], [0]
    compare(cfg, tmp_path / "cmp", quiet=True)
    assert calls == ["uniaux"] + ["uniaux", "bss-cl", "bss-lb", "anti"]  # validation, then 4 runs
    cfg.compare.methods = ["uniaux", {"name": "bss-cl", "correlation": "feature"}]
    cfg.model.encoder_kw = {"m0": {"hidden": [16]}, "m1": {"hidden": [8]}}
    with pytest.raises(ValueError, match=r"compare.methods\[1\] \(bss-cl\): method: "
                                         r"correlation='feature' needs equal feature dims"):
        compare(cfg, tmp_path / "cmp2", quiet=True)


def test_compare_resume_never_reuses_a_run_whose_extension_was_killed(tmp_path, monkeypatch):

    cfg = tiny_config("uniaux", epochs=2)
    cfg.optim.schedule = "step"
    cfg.compare.methods, cfg.compare.seeds = ["uniaux"], [0]
    compare(cfg, tmp_path / "cmp", quiet=True)
    cfg.train.epochs = 3
    with interrupted_before_training():
        compare(cfg, tmp_path / "cmp", resume=True, quiet=True)
    result = compare(cfg, tmp_path / "cmp", resume=True, quiet=True)
    metrics = (tmp_path / "cmp" / "runs" / "uniaux" / "seed0" / "metrics.jsonl").read_text()
    assert len(metrics.splitlines()) == 3 and result["rows"][0]["best_epoch"] in (0, 1, 2)
