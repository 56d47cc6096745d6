"""The bad-input catalogue: every bad input a user can give mmbss, with the message it gets.

``CASES`` lists one row per bad input — the CLI's arguments, config files and ``--set`` overrides,
dataset and model options, the core API (scorer, schedulers, sampler, tracker, pacing, weighted
permutation) and the engine's run directories, checkpoints and comparisons. One parametrised test
runs every row and pins its message; ``scripts/bad_input_catalogue.py`` runs the same rows to write
``docs/BAD_INPUT.md`` (the test at the bottom keeps that file in step with the code).

A row's ``trigger`` is either a callable (an API row; it takes no argument, or ``tmp`` when it
needs files) that must raise ``expect``, or a tuple of ``mmbss`` arguments (a CLI row) in which
``{tmp}`` stands for a scratch folder; ``main(argv)`` must then return ``expect`` (2 for a user
mistake, 1 for a diverged run) and print a message matching ``match``, never a traceback. Every CLI
row finds a tiny synthetic config at ``{tmp}/tiny.yaml`` (see :func:`tests.conftest.tiny_config`).
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import inspect
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple
from unittest import mock

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from mmbss import (
    BalanceSampler,
    BalanceScorer,
    CurriculumScheduler,
    LearningBasedScheduler,
    OnlineScoreTracker,
    minmax,
    pacing,
    score_dataset,
    shard,
    weighted_draws,
    weighted_permutation,
)
from mmbss.cli.main import main
from mmbss.core.errors import MmbssError
from mmbss.core.registry import Registry
from mmbss.data import (
    DataBundle,
    MultiModalTensorDataset,
    collate_samples,
    corrupt_samples,
    create_dataset,
    stratified_split,
)
from mmbss.engine.build import _check_world, build_run
from mmbss.engine.checkpoint import (
    RESUME_KEYS,
    load_checkpoint,
    load_resume,
    payload_digest,
    save_checkpoint,
)
from mmbss.engine.config import (
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
)
from mmbss.engine.distributed import launch, torchrun_world
from mmbss.engine.evaluation import collect_outputs as collect_eval_outputs
from mmbss.engine.rundir import make_dir
from mmbss.engine.trainer import train
from mmbss.methods import GradientPolicy, create_method
from mmbss.models import MultiModalNet, build_model, create_encoder, create_fusion
from mmbss.models.encoders import MLPEncoder

from .conftest import tiny_config

AREAS = ("cli", "config", "core", "data", "models", "engine")
ROOT = Path(__file__).resolve().parents[1]


class Case(NamedTuple):
    """One bad input and what it gets."""

    id: str  #: short kebab-case name, unique
    area: str  #: one of AREAS
    input: str  #: what is bad, in a few words (Markdown)
    trigger: Callable[..., object] | tuple[str, ...]  #: API callable, or CLI argv with {tmp}
    expect: type[BaseException] | int  #: the exception type, or the CLI exit status
    match: str  #: regex that the message must contain (re.search)
    setup: Callable[[Path], object] | None = None  #: CLI rows: writes the files argv names


# ------------------------------------------------------------------------------------ helpers
L = re.escape  # a literal piece of a message
TINY = "{tmp}/tiny.yaml"
SCORES4 = torch.tensor([0.0, 1.0, 0.5, 2.0])
LABELS4 = torch.tensor([0, 1, 2, 0])


def _with_env(env: dict, fn):
    """``fn()`` with ``env`` set in os.environ (restored afterwards)."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return fn()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k)
            else:
                os.environ[k] = v


def _cli_raises(argv):
    """Run the CLI with MMBSS_DEBUG set, so that its error propagates as an exception."""
    from mmbss.cli.main import main

    return _with_env({"MMBSS_DEBUG": "1"}, lambda: main(argv))


def api(id: str, area: str, input: str, fn: Callable[..., object],
        exc: type[BaseException], match: str) -> Case:
    return Case(id, area, input, fn, exc, match)


def cli(id: str, area: str, input: str, argv: tuple[str, ...] | list[str], match: str, *,
        setup: Callable[[Path], object] | None = None, code: int = 2) -> Case:
    return Case(id, area, input, tuple(argv), code, match, setup)


def train_argv(*sets: str, out: str = "{tmp}/run", extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """``mmbss train`` on the tiny config with ``--set`` overrides."""
    argv = ["train", "--config", TINY, "--quiet", "--out", out, *extra]
    for s in sets:
        argv += ["--set", s]
    return tuple(argv)


def compare_argv(*args: str, out: str = "{tmp}/cmp") -> tuple[str, ...]:
    """``mmbss compare`` on the tiny config."""
    return ("compare", "--config", TINY, "--quiet", "--out", out, *args)


def _dump(cfg: Config) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def write(name: str, text: str | bytes) -> Callable[[Path], None]:
    """Setup: write ``text`` to ``{tmp}/name`` (parents created)."""

    def setup(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)

    return setup


def mkdir(name: str) -> Callable[[Path], None]:
    return lambda tmp: (tmp / name).mkdir(parents=True)


def fake_run(name: str, cfg: Config | None = None, *,
             files: dict[str, object] | None = None) -> Callable[[Path], None]:
    """Setup: a run directory ``{tmp}/name`` stamped as made by mmbss, with ``config.yaml`` and
    the given files (bytes are written as is, other objects with ``torch.save``)."""

    def setup(tmp: Path) -> None:
        run = tmp / name
        (run / "checkpoints").mkdir(parents=True)
        (run / "config.yaml").write_text(_dump(cfg or tiny_config(epochs=1)))
        (run / ".mmbss-run").write_text("made by mmbss as a run\n")
        for rel, obj in (files or {}).items():
            path = run / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(obj, bytes):
                path.write_bytes(obj)
            else:
                torch.save(obj, path)

    return setup


@functools.lru_cache(maxsize=1)
def _trained_template() -> Path:
    """A finished 2-epoch run of the tiny config (step LR schedule), trained once per process."""
    root = Path(tempfile.mkdtemp(prefix="mmbss-bad-input-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    cfg = tiny_config(epochs=2)
    cfg.optim.schedule = "step"
    train(cfg, root / "run", quiet=True)
    return root / "run"


def trained_run(name: str, edit: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    """Setup: a copy of a really trained run as ``{tmp}/name``, then ``edit(run_dir)``."""

    def setup(tmp: Path) -> None:
        shutil.copytree(_trained_template(), tmp / name)
        if edit is not None:
            edit(tmp / name)

    return setup


def copy_trained(tmp: Path) -> Path:
    """The trained run copied to ``tmp/old``."""
    trained_run("old")(tmp)
    return tmp / "old"


def edit_best(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """An edit of ``checkpoints/best.pt``: load the raw file, ``change`` it, save it back."""

    def edit(run: Path) -> None:
        path = run / "checkpoints" / "best.pt"
        raw = torch.load(path, map_location="cpu", weights_only=True)
        change(raw)
        torch.save(raw, path)

    return edit


def resume_argv(*sets: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """``mmbss train --resume`` of the trained run ``{tmp}/old`` with its own config."""
    argv = ["train", "--config", "{tmp}/old/config.yaml", "--quiet", "--out", "{tmp}/old",
            "--resume", *extra]
    for s in sets:
        argv += ["--set", s]
    return tuple(argv)


def metrics_run(name: str, metrics: str, extra: dict[str, str] | None = None
                ) -> Callable[[Path], None]:
    """Setup: a folder with ``metrics.jsonl`` (and other text files) for ``mmbss report``."""

    def setup(tmp: Path) -> None:
        for rel, text in {"metrics.jsonl": metrics, **(extra or {})}.items():
            write(f"{name}/{rel}", text)(tmp)

    return setup


def finished_compare_run(tmp: Path) -> None:
    """Setup: a comparison ``{tmp}/cmp`` holding the trained run as bss-lb/seed0."""
    (tmp / "cmp" / "runs" / "bss-lb").mkdir(parents=True)
    (tmp / "cmp" / ".mmbss-comparison").write_text("made by mmbss as a comparison\n")
    trained_run("old")(tmp)
    shutil.copytree(tmp / "old", tmp / "cmp" / "runs" / "bss-lb" / "seed0")


def logits(n: int = 4, c: int = 3) -> torch.Tensor:
    return torch.zeros(n, c)


def two(n: int = 4, c: int = 3) -> dict[str, torch.Tensor]:
    return {"a": logits(n, c), "b": logits(n, c)}


def nan(*shape: int) -> torch.Tensor:
    return torch.full(shape, float("nan"))


def lb(**kw) -> LearningBasedScheduler:
    return LearningBasedScheduler(num_samples=4, **kw)


def lb_scored(scores: torch.Tensor) -> LearningBasedScheduler:
    s = lb()
    s.update(scores)
    return s


def lb_state(**changes) -> dict:
    """A valid LearningBasedScheduler(num_samples=4) state with ``changes``."""
    return {**lb().state_dict(), **changes}


def dataset2() -> MultiModalTensorDataset:
    return MultiModalTensorDataset({"a": torch.zeros(2, 1)}, torch.tensor([0, 1]))


def net() -> MultiModalNet:
    return build_model({"a": (4,), "b": (3,)}, 3, encoder_kw={"hidden": [4]})


def concat() -> nn.Module:
    return create_fusion("concat", {"a": 4, "b": 4}, 3)


def tracker_seen_half(unseen: str) -> OnlineScoreTracker:
    t = OnlineScoreTracker(4, unseen=unseen)
    t.record(torch.tensor([0, 1]), {"loss": torch.tensor([1.0, 2.0])})
    return t


def cfg_with(**sections) -> Config:
    """The tiny config with ``section={key: value}`` changes."""
    cfg = tiny_config(epochs=1)
    for section, values in sections.items():
        for k, v in values.items():
            setattr(getattr(cfg, section), k, v)
    return cfg


class _TwoHeads(nn.Module):
    """A model returning (fused, {modality: logits}) for score_dataset rows."""

    def forward(self, x):
        z = torch.zeros(len(next(iter(x.values()))), 3)
        return z, {"a": z, "b": z}


class _OneTensor(nn.Module):
    """A model returning a single tensor (not the SPEC §1 outputs)."""

    def forward(self, x):
        return x["a"]


def _batch(index: list[int]) -> dict:
    n = len(index)
    return {"modalities": {"a": torch.zeros(n, 2)}, "label": torch.zeros(n, dtype=torch.long),
            "index": torch.tensor(index)}


class _Loader(list):
    """A list of batches with a ``dataset`` of ``n`` samples (what the engine's passes read)."""

    def __init__(self, batches, n):
        super().__init__(batches)
        self.dataset = range(n)


def _nan_checkpoint(tmp: Path) -> None:
    payload = {k: None for k in RESUME_KEYS} | {"model": {"w": torch.tensor([float("nan")])}}
    save_checkpoint(payload, tmp / "last.pt", kind="resume")


def _no_permission(tmp: Path) -> None:
    with mock.patch.object(Path, "mkdir", side_effect=PermissionError(13, "denied")):
        make_dir(tmp / "x")


def registry_twice() -> None:
    r = Registry("colour")
    r.register("red")(lambda: "red")
    r.register("red")(lambda: "crimson")


VIEWS_EXPECTED = "a list of at least 2 distinct view names from fou, fac, kar, pix, zer, mor"


# -------------------------------------------------------------------------------------- cases
CASES: list[Case] = [
    # -- cli: argument parsing --------------------------------------------------------------------
    cli("no-command", "cli", "`mmbss` without a command", (),
        L("mmbss: error: the following arguments are required: COMMAND")),
    cli("unknown-command", "cli", "`mmbss trian`", ("trian",),
        L("mmbss: error: argument COMMAND: invalid choice: 'trian'")),
    cli("unknown-option", "cli", "`mmbss train --epochs 3`", ("train", "--epochs", "3"),
        L("mmbss: error: unrecognized arguments: --epochs 3")),
    cli("jobs-not-int", "cli", "`mmbss compare --jobs x`", compare_argv("--jobs", "x"),
        L("mmbss compare: error: argument --jobs: invalid int value: 'x'")),
    cli("seeds-not-int", "cli", "`mmbss compare --seeds a`", compare_argv("--seeds", "a"),
        L("mmbss compare: error: argument --seeds: invalid int value: 'a'")),
    cli("methods-no-names", "cli", "`mmbss compare --methods` with no name",
        ("compare", "--methods", "--out", "{tmp}/cmp"),
        L("mmbss compare: error: argument --methods: expected at least one argument")),
    cli("score-no-run", "cli", "`mmbss score` without a run directory", ("score",),
        L("mmbss score: error: the following arguments are required: run")),
    cli("report-no-dir", "cli", "`mmbss report` without a directory", ("report",),
        L("mmbss report: error: the following arguments are required: dir")),
    cli("config-flag-no-value", "cli", "`mmbss train --config` without a file",
        ("train", "--config"), L("mmbss train: error: argument --config: expected one argument")),
    cli("set-flag-no-value", "cli", "`mmbss train --set` without key=value", ("train", "--set"),
        L("mmbss train: error: argument --set: expected one argument")),

    # -- config: --set syntax and types -----------------------------------------------------------
    cli("set-no-equals", "config", "`--set train`", train_argv("train"),
        L("mmbss: error: --set expects key=value (e.g. train.epochs=5); got 'train'.")),
    cli("set-no-section", "config", "`--set epochs=3`", train_argv("epochs=3"),
        L("mmbss: error: config keys have the form section.key (e.g. train.epochs); got "
          "'epochs'.")),
    cli("set-too-deep", "config", "`--set train.epochs.max=3`", train_argv("train.epochs.max=3"),
        L("config keys have the form section.key (e.g. train.epochs); got 'train.epochs.max'.")),
    cli("set-unknown-key", "config", "`--set train.epoch=3`", train_argv("train.epoch=3"),
        L("mmbss: error: unknown config key 'train.epoch'; valid keys here: train.epochs, "
          "train.batch_size,") + ".*" + L(" Did you mean 'train.epochs'?")),
    cli("set-unknown-section", "config", "`--set trian.epochs=3`", train_argv("trian.epochs=3"),
        L("unknown config key 'trian'; valid keys here: data, model, optim, train, method, "
          "compare. Did you mean 'train'?")),
    cli("set-int-not-number", "config", "`--set train.epochs=x`", train_argv("train.epochs=x"),
        L("config key 'train.epochs' must be of type int; got 'x' (str).")),
    cli("set-int-float", "config", "`--set train.epochs=2.5`", train_argv("train.epochs=2.5"),
        L("config key 'train.epochs' must be of type int; got 2.5 (float).")),
    cli("set-int-bool", "config", "`--set train.epochs=true`", train_argv("train.epochs=true"),
        L("config key 'train.epochs' must be of type int; got True (bool).")),
    cli("set-empty-value", "config", "`--set train.epochs=` (no value)",
        train_argv("train.epochs="),
        L("config key 'train.epochs' must be of type int; got None (NoneType).")),
    cli("set-float-word", "config", "`--set optim.lr=fast`", train_argv("optim.lr=fast"),
        L("config key 'optim.lr' must be of type float; got 'fast' (str).")),
    cli("set-bool-int", "config", "`--set train.export_scores=1`",
        train_argv("train.export_scores=1"),
        L("config key 'train.export_scores' must be of type bool; got 1 (int).")),
    cli("set-dict-list", "config", "`--set data.options=[1, 2]`",
        train_argv("data.options=[1, 2]"),
        L("config key 'data.options' must be of type dict; got [1, 2] (list).")),
    cli("set-list-str", "config", "`--set compare.methods=uniaux`",
        compare_argv("--set", "compare.methods=uniaux"),
        L("config key 'compare.methods' must be of type list; got 'uniaux' (str).")),
    cli("set-optional-str-int", "config", "`--set method.correlation=5`",
        train_argv("method.correlation=5"),
        L("config key 'method.correlation' must be of type str or null; got 5 (int).")),
    cli("set-encoder-int", "config", "`--set model.encoder=5`", train_argv("model.encoder=5"),
        L("config key 'model.encoder' must be of type str or dict; got 5 (int).")),

    # -- config: files ----------------------------------------------------------------------------
    cli("config-missing", "config", "`--config` names a file that does not exist",
        ("train", "--config", "{tmp}/nope.yaml"),
        r"mmbss: error: config file '.*nope\.yaml' does not exist; see configs/ for examples\."),
    cli("config-is-folder", "config", "`--config` names a folder",
        ("train", "--config", "{tmp}/folder.yaml"),
        r"config file '.*folder\.yaml' is a folder, not a file; see configs/ for examples\.",
        setup=mkdir("folder.yaml")),
    cli("config-invalid-yaml", "config", "config file `train: [1` (invalid YAML)",
        ("train", "--config", "{tmp}/bad.yaml"),
        r"config file '.*bad\.yaml' is not valid YAML: while parsing a flow sequence",
        setup=write("bad.yaml", "train: [1\n")),
    cli("config-yaml-list", "config", "config file holding a list", ("train", "--config",
        "{tmp}/list.yaml"),
        r"mmbss: error: config file '.*list\.yaml': a config must be a mapping of sections; got "
        r"list\.",
        setup=write("list.yaml", "- train\n- method\n")),
    cli("config-yaml-scalar", "config", "config file holding a single word",
        ("train", "--config", "{tmp}/word.yaml"),
        L("a config must be a mapping of sections; got str."), setup=write("word.yaml", "hi\n")),
    cli("config-section-scalar", "config", "config file `train: 5`",
        ("train", "--config", "{tmp}/c.yaml"),
        L("config section 'train' must be a mapping; got 5."), setup=write("c.yaml", "train: 5\n")),
    cli("config-section-empty", "config", "config file `train:` (empty section)",
        ("train", "--config", "{tmp}/c.yaml"),
        L("config section 'train' must be a mapping; got None."),
        setup=write("c.yaml", "train:\n")),
    cli("config-unknown-section", "config", "config file with section `trainer:`",
        ("train", "--config", "{tmp}/c.yaml"),
        L("unknown config key 'trainer'; valid keys here: data, model, optim, train, method, "
          "compare. Did you mean 'train'?"), setup=write("c.yaml", "trainer: {epochs: 3}\n")),
    cli("config-unknown-key", "config", "config file `optim: {learning_rate: 0.1}`",
        ("train", "--config", "{tmp}/c.yaml"),
        L("unknown config key 'optim.learning_rate'; valid keys here: optim.name, optim.lr,"),
        setup=write("c.yaml", "optim: {learning_rate: 0.1}\n")),
    cli("config-wrong-type", "config", "config file `train: {batch_size: big}`",
        ("train", "--config", "{tmp}/c.yaml"),
        L("config key 'train.batch_size' must be of type int; got 'big' (str)."),
        setup=write("c.yaml", "train: {batch_size: big}\n")),
    cli("config-dotted-key", "config", "config file `train: {epochs.max: 3}`",
        ("train", "--config", "{tmp}/c.yaml"),
        L("config keys have the form section.key (e.g. train.epochs); got 'train.epochs.max'."),
        setup=write("c.yaml", "train: {epochs.max: 3}\n")),
    cli("config-duplicate-key", "config", "config file giving `train:` twice",
        ("train", "--config", "{tmp}/c.yaml"),
        r"config file '.*c\.yaml' is not valid YAML: duplicate key 'train' \(first given on line "
        r"1\); keep one of them", setup=write("c.yaml", "train: {epochs: 1}\ntrain: {epochs: 2}\n")),
    cli("config-not-utf8", "config", "config file that is not UTF-8 text",
        ("train", "--config", "{tmp}/c.yaml"),
        r"config file '.*c\.yaml' is not a text file \(it is not UTF-8\); give a YAML config such "
        r"as configs/mfeat-demo\.yaml\.", setup=write("c.yaml", b"\xff\xfe\x00garbage")),
    cli("config-binary", "config", "config file holding a NUL byte",
        ("train", "--config", "{tmp}/c.yaml"),
        r"config file '.*c\.yaml' is a binary file, not YAML; give a YAML config such as "
        r"configs/mfeat-demo\.yaml\.", setup=write("c.yaml", b"train:\x00 {}\n")),
    api("config-dict-not-mapping", "config", "`config_from_dict([1, 2])`",
        lambda: config_from_dict([1, 2]), ValueError,
        L("a config must be a mapping of sections; got list.")),
    api("override-api-unknown-key", "config", "`apply_overrides(cfg, ['method.lamda0=0.1'])`",
        lambda: apply_overrides(Config(), ["method.lamda0=0.1"]), ValueError,
        L("unknown config key 'method.lamda0'; valid keys here: method.name,") + ".*"
        + L("Did you mean 'method.lambda0'?")),

    # -- config: train / optim values -------------------------------------------------------------
    cli("train-epochs-zero", "config", "`train.epochs=0`", train_argv("train.epochs=0"),
        L("mmbss: error: train: 'epochs' must be an int >= 1; got 0.")),
    cli("train-batch-size-zero", "config", "`train.batch_size=0`",
        train_argv("train.batch_size=0"), L("train: 'batch_size' must be an int >= 1; got 0.")),
    cli("train-eval-batch-size-zero", "config", "`train.eval_batch_size=0`",
        train_argv("train.eval_batch_size=0"),
        L("train: 'eval_batch_size' must be an int >= 1; got 0.")),
    cli("train-seed-negative", "config", "`train.seed=-1`", train_argv("train.seed=-1"),
        L("train: 'seed' must be an int >= 0; got -1.")),
    cli("train-fused-weight-negative", "config", "`train.fused_weight=-1`",
        train_argv("train.fused_weight=-1"),
        L("train: 'fused_weight' must be a float >= 0.0; got -1.0.")),
    cli("train-weights-both-zero", "config", "`train.fused_weight=0` and `unimodal_weight=0`",
        train_argv("train.fused_weight=0", "train.unimodal_weight=0"),
        L("train: 'fused_weight' and 'unimodal_weight' are both 0; nothing would be trained.")),
    cli("train-batch-above-split", "config", "`train.batch_size=1000` for 180 training samples",
        train_argv("train.batch_size=1000"),
        L("train: 'batch_size' (1000) is larger than the training split (180 samples), so every "
          "epoch would be one batch; set train.batch_size to at most 180.")),
    cli("train-predict-unknown", "config", "`train.predict=fusd`", train_argv("train.predict=fusd"),
        L("train: 'predict' must be one of 'sum', 'fused', 'unimodal'; got 'fusd' (did you mean "
          "'fused'?).")),
    cli("train-select-metric-unknown", "config", "`train.select_metric=f1`",
        train_argv("train.select_metric=f1"),
        L("train: 'select_metric' must be one of 'acc', 'macro_f1', 'map'; got 'f1'.")),
    cli("train-device-unknown", "config", "`train.device=tpu`", train_argv("train.device=tpu"),
        L("train: 'device' must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got 'tpu'.")),
    api("train-device-no-cuda", "config", "`train.device=cuda` on a machine without CUDA",
        lambda: _without_cuda(lambda: build_run(cfg_with(train={"device": "cuda"}))), ValueError,
        L("train: 'device' is 'cuda' but no CUDA device is available; use 'cpu' or 'auto'.")),
    cli("train-checkpoint-every-zero", "config", "`train.checkpoint_every=0`",
        train_argv("train.checkpoint_every=0"),
        L("train: 'checkpoint_every' must be an int >= 1 or None; got 0.")),
    cli("train-amp-unknown", "config", "`train.amp=fp8`", train_argv("train.amp=fp8"),
        L("train: 'amp' must be one of 'off', 'bf16', 'fp16'; got 'fp8'.")),
    api("ddp-batch-not-divisible", "engine", "a global batch of 30 on 4 processes",
        lambda: _check_world(100, 30, 4), ValueError,
        L("train: 'batch_size' (30) is the global batch, split over the 4 processes, but 4 does "
          "not divide it; use 28 or 32 (or another multiple of 4).")),
    api("ddp-more-processes-than-samples", "engine", "8 processes for 5 training samples",
        lambda: _check_world(5, 4, 8), ValueError,
        L("torchrun started 8 processes, more than the 5 training samples, so some ranks would "
          "have nothing to train on; start at most 5 processes.")),
    api("ddp-world-size-garbage", "engine", "`WORLD_SIZE=two` in the environment",
        lambda: _with_env({"WORLD_SIZE": "two"}, torchrun_world), ValueError,
        L("the environment variable WORLD_SIZE is 'two', not a number; start mmbss with "
          "torchrun, which sets it.")),
    api("ddp-one-gpu-many-ranks", "engine", "`train.device=cuda:0` for 2 torchrun processes",
        lambda: _with_env({"WORLD_SIZE": "2"}, lambda: launch("cuda:0", 60)), ValueError,
        L("train: 'device' is 'cuda:0', one GPU, but torchrun started 2 processes; use "
          "train.device=cuda (rank r uses GPU LOCAL_RANK) or auto.")),
    api("ddp-compare-under-torchrun", "cli", "`mmbss compare` started by torchrun (2 processes)",
        lambda: _with_env({"WORLD_SIZE": "2", "RANK": "0"}, lambda: _cli_raises(["compare"])),
        ValueError, L("'mmbss compare' runs on one process, but torchrun started 2; only 'mmbss "
                      "train' uses DDP.")),
    cli("optim-name-unknown", "config", "`optim.name=adamw`", train_argv("optim.name=adamw"),
        L("optim: 'name' must be one of 'sgd', 'adam'; got 'adamw' (did you mean 'adam'?).")),
    cli("optim-schedule-unknown", "config", "`optim.schedule=cos`",
        train_argv("optim.schedule=cos"),
        L("optim: 'schedule' must be one of 'step', 'cosine', 'none'; got 'cos' (did you mean "
          "'cosine'?).")),
    cli("optim-lr-zero", "config", "`optim.lr=0`", train_argv("optim.lr=0"),
        L("optim: 'lr' must be a float > 0.0; got 0.0.")),
    cli("optim-lr-nan", "config", "`optim.lr=.nan`", train_argv("optim.lr=.nan"),
        L("optim: 'lr' must be a float > 0.0; got nan.")),
    cli("optim-momentum-one", "config", "`optim.momentum=1`", train_argv("optim.momentum=1"),
        L("optim: 'momentum' must be a float in [0.0, 1.0); got 1.0.")),
    cli("optim-weight-decay-negative", "config", "`optim.weight_decay=-1`",
        train_argv("optim.weight_decay=-1"),
        L("optim: 'weight_decay' must be a float >= 0.0; got -1.0.")),
    cli("optim-step-size-zero", "config", "`optim.step_size=0`", train_argv("optim.step_size=0"),
        L("optim: 'step_size' must be an int >= 1; got 0.")),
    cli("optim-gamma-zero", "config", "`optim.gamma=0`", train_argv("optim.gamma=0"),
        L("optim: 'gamma' must be a float > 0.0; got 0.0.")),

    # -- config: method values --------------------------------------------------------------------
    cli("method-unknown", "config", "`method.name=bss-c`", train_argv("method.name=bss-c"),
        L("mmbss: error: unknown method 'bss-c'; valid names: anti, bss-cl, bss-lb, bss-lb-paper, "
          "bss-lb-ref, joint, random-pacing, uniaux, agm, mmpareto, ogm-ge, pmr (join a sampling "
          "policy and a gradient policy with +). Did you mean 'bss-cl'?")),
    cli("method-correlation-unknown", "config", "`method.correlation=pred`",
        train_argv("method.correlation=pred"),
        L("mmbss: error: method: 'correlation' must be one of 'prediction', 'feature', None; "
          "got 'pred'.")),
    cli("method-information-unknown", "config", "`method.information=grad`",
        train_argv("method.information=grad"),
        L("method: 'information' must be one of 'loss', 'gradient', None; got 'grad' (did you "
          "mean 'gradient'?).")),
    cli("method-no-criterion", "config", "`method.correlation=null` and `information=null`",
        train_argv("method.correlation=null", "method.information=null"),
        L("BalanceScorer: 'correlation' and 'information' cannot both be None; set at least one "
          "(the paper's choice is 'prediction' + 'loss').")),
    cli("method-scoring-unknown", "config", "`method.scoring=offline`",
        train_argv("method.scoring=offline"),
        L("method: 'scoring' must be one of 'exact', 'online'; got 'offline' (did you mean "
          "'online'?).")),
    cli("method-gradient-mode-unknown", "config", "`method.gradient_mode=full`",
        train_argv("method.gradient_mode=full"),
        L("method: 'gradient_mode' must be one of 'heads', 'exact'; got 'full'.")),
    cli("method-exact-gradient-online", "config",
        "`information=gradient`, `gradient_mode=exact`, `scoring=online`",
        train_argv("method.information=gradient", "method.gradient_mode=exact",
                   "method.scoring=online"),
        L("method: gradient_mode='exact' needs scoring='exact' (the per-sample gradient is "
          "computed in the scoring pass); use gradient_mode='heads' for online scoring.")),
    cli("method-pacing-unknown", "config", "`method.pacing=lin` (bss-cl)",
        train_argv("method.name=bss-cl", "method.pacing=lin"),
        L("method: 'pacing' must be one of 'constant', 'geometric', 'linear', 'root', 'step'; "
          "got 'lin' (did you mean 'linear'?).")),
    cli("method-lambda0-zero", "config", "`method.lambda0=0` (bss-cl)",
        train_argv("method.name=bss-cl", "method.lambda0=0"),
        L("method: 'lambda0' must be a float in (0.0, 1.0]; got 0.0.")),
    cli("method-t-grow-zero", "config", "`method.t_grow=0` (bss-cl)",
        train_argv("method.name=bss-cl", "method.t_grow=0"),
        L("method: 't_grow' must be an int >= 1; got 0.")),
    cli("method-warmup-negative", "config", "`method.warmup_epochs=-1`",
        train_argv("method.warmup_epochs=-1"),
        L("method: 'warmup_epochs' must be an int >= 0; got -1.")),
    cli("method-warmup-whole-run", "config", "`method.warmup_epochs=1` with `train.epochs=1`",
        train_argv("method.warmup_epochs=1"),
        L("method: 'warmup_epochs' (1) must be below train.epochs (1), or bss-lb never leaves its "
          "uniform warm-up and never scores; lower method.warmup_epochs or raise train.epochs.")),
    cli("method-warmup-unknown", "config", "`method.warmup=pace` (bss-cl)",
        train_argv("method.name=bss-cl", "method.warmup=pace"),
        L("method: 'warmup' must be one of 'full', 'paced'; got 'pace' (did you mean 'paced'?).")),
    cli("method-warmup-paced-lb", "config", "`method.warmup=paced` with bss-lb",
        train_argv("method.warmup=paced"),
        L("method: warmup='paced' counts the warm-up epochs as pacing time, but bss-lb has no "
          "pacing (it trains on every sample each epoch); use warmup='full' or a curriculum "
          "(bss-cl, anti, random-pacing).")),
    cli("method-self-taught-no-warmup", "config", "`method.self_taught=true` without warm-up",
        train_argv("method.name=bss-cl", "method.self_taught=true"),
        L("method: self_taught trains a teacher for method.warmup_epochs epochs before the "
          "curriculum; set warmup_epochs >= 1.")),
    cli("method-self-taught-paced", "config", "`method.self_taught=true` with `warmup=paced`",
        train_argv("method.name=bss-cl", "method.self_taught=true", "method.warmup_epochs=1",
                   "method.warmup=paced"),
        L("method: self_taught and warmup='paced' are two different warm-ups (a teacher that is "
          "discarded, or paced epochs that are kept); choose one.")),
    cli("method-self-taught-unscored", "config", "`method.self_taught=true` with uniaux",
        train_argv("method.name=uniaux", "method.self_taught=true", "method.warmup_epochs=1",
                   "train.epochs=2"),
        L("method: self_taught has a teacher score the training set, but uniaux uses no scores; "
          "use it with bss-cl, anti or bss-lb.")),
    cli("method-rescore-every-zero", "config", "`method.rescore_every=0` (bss-cl)",
        train_argv("method.name=bss-cl", "method.rescore_every=0"),
        L("method: 'rescore_every' must be an int >= 1 or None; got 0.")),
    cli("method-eps-zero", "config", "`method.eps=0`", train_argv("method.eps=0"),
        L("method: 'eps' must be a float in (0.0, 1.0]; got 0.0.")),
    cli("method-ema-one", "config", "`method.ema=1`", train_argv("method.ema=1"),
        L("method: 'ema' must be a float in [0.0, 1.0); got 1.0.")),
    cli("method-temperature-zero", "config", "`method.temperature=0`",
        train_argv("method.temperature=0"),
        L("method: 'temperature' must be a float > 0.0 or None; got 0.0.")),
    cli("method-unused-option", "config", "`method.correlation=bogus` with `method.name=uniaux`",
        train_argv("method.name=uniaux", "method.correlation=bogus"),
        L("method: 'correlation' must be one of 'prediction', 'feature', None; got 'bogus'.")),
    cli("method-feature-unequal-dims", "config",
        "`method.correlation=feature` with encoders of different widths",
        train_argv("method.correlation=feature",
                   "model.encoder_kw={m0: {hidden: [16]}, m1: {hidden: [8]}}"),
        L("method: correlation='feature' needs equal feature dims, but the encoders give "
          "{'m0': 16, 'm1': 8}; set model.encoder_kw so they match, or use "
          "correlation='prediction'.")),

    # -- data: through the config -----------------------------------------------------------------
    cli("data-unknown", "data", "`data.name=mfeet`", train_argv("data.name=mfeet"),
        L("mmbss: error: unknown dataset 'mfeet'; valid names: cremad, kinetics-sounds, mfeat, "
          "mfeat-corrupt, nvgesture, sarcasm, synthetic, twitter2015, vggsound. Did you mean "
          "'mfeat'?")),
    cli("data-unknown-option", "data", "`data.options={num_sample: 3}` (synthetic)",
        train_argv("data.options={num_sample: 3}"),
        L("dataset 'synthetic' has no option 'num_sample'; valid options: num_samples, "
          "num_classes,")),
    cli("data-val-fraction-zero", "data", "`data.val_fraction=0`",
        train_argv("data.val_fraction=0"),
        L("synthetic: 'val_fraction' must be a float in (0.0, 1.0); got 0.0.")),
    cli("data-fractions-sum", "data", "`data.val_fraction=0.6`, `data.test_fraction=0.5`",
        train_argv("data.val_fraction=0.6", "data.test_fraction=0.5"),
        L("synthetic: 'val_fraction + test_fraction' must be < 1 to leave training samples; got "
          "0.6 + 0.5 = 1.1.")),
    cli("data-split-seed-negative", "data", "`data.split_seed=-5`",
        train_argv("data.split_seed=-5"), L("data: 'split_seed' must be an int >= 0; got -5.")),
    cli("data-test-split-tiny", "data", "`data.test_fraction=0.005` (2 test samples, 3 classes)",
        train_argv("data.test_fraction=0.005"),
        L("data: the test split has 2 sample(s), fewer than the 3 classes, so its metrics would "
          "mean nothing; use more data or raise data.test_fraction.")),
    cli("data-mfeat-one-view", "data", "`data.options={views: [pix]}` (mfeat)",
        train_argv("data.name=mfeat", "data.options={views: [pix]}", "model.encoder_kw={}"),
        L(f"mfeat: 'views' must be {VIEWS_EXPECTED}; got ('pix',).")),

    # -- data: dataset factories ------------------------------------------------------------------
    api("mfeat-repeated-view", "data", "mfeat `views=[pix, pix]`",
        lambda: create_dataset("mfeat", views=["pix", "pix"]), ValueError,
        L(f"mfeat: 'views' must be {VIEWS_EXPECTED}; got ('pix', 'pix').")),
    api("mfeat-unknown-view", "data", "mfeat `views=[pix, fouu]`",
        lambda: create_dataset("mfeat", views=["pix", "fouu"]), ValueError,
        L("mfeat: 'views' must be one of 'fou', 'fac', 'kar', 'pix', 'zer', 'mor'; got 'fouu' "
          "(did you mean 'fou'?).")),
    api("mfeat-views-string", "data", "mfeat `views='pix'` (a string)",
        lambda: create_dataset("mfeat", views="pix"), TypeError,
        L(f"mfeat: 'views' must be {VIEWS_EXPECTED}; got 'pix'.")),
    api("mfeat-views-int", "data", "mfeat `views=5`", lambda: create_dataset("mfeat", views=5),
        TypeError, L(f"mfeat: 'views' must be {VIEWS_EXPECTED}; got 5.")),
    api("mfeat-fraction-string", "data", "mfeat `val_fraction='0.2'`",
        lambda: create_dataset("mfeat", val_fraction="0.2"), TypeError,
        L("mfeat: 'val_fraction' must be a float in (0.0, 1.0); got '0.2'.")),
    api("mfeat-fraction-one", "data", "mfeat `test_fraction=1.0`",
        lambda: create_dataset("mfeat", test_fraction=1.0), ValueError,
        L("mfeat: 'test_fraction' must be a float in (0.0, 1.0); got 1.0.")),
    api("mfeat-empty-split", "data", "mfeat `val_fraction=1e-5` (empty validation split)",
        lambda: create_dataset("mfeat", val_fraction=1e-5), ValueError,
        L("mfeat: the val split of 2000 samples is empty with val_fraction=1e-05 and "
          "test_fraction=0.2; use more samples or other fractions.")),
    api("mfeat-seed-string", "data", "mfeat `seed='a'`",
        lambda: create_dataset("mfeat", seed="a"), TypeError,
        L("mfeat: 'seed' must be an int; got 'a'.")),
    api("mfeat-unknown-option", "data", "mfeat `foo=1`", lambda: create_dataset("mfeat", foo=1),
        TypeError, L("dataset 'mfeat' has no option 'foo'; valid options: views, seed, "
                     "val_fraction, test_fraction.")),
    api("corrupt-view-not-selected", "data", "mfeat-corrupt `corrupt_view='kar'` not in views",
        lambda: create_dataset("mfeat-corrupt", corrupt_view="kar"), ValueError,
        L("mfeat-corrupt: 'corrupt_view' must be one of 'pix', 'fou'; got 'kar'.")),
    api("corrupt-fraction-range", "data", "mfeat-corrupt `corrupt_fraction=1.5`",
        lambda: create_dataset("mfeat-corrupt", corrupt_fraction=1.5), ValueError,
        L("mfeat-corrupt: 'corrupt_fraction' must be a float in [0.0, 1.0]; got 1.5.")),
    api("corrupt-mode-unknown", "data", "mfeat-corrupt `corrupt_mode='swapp'`",
        lambda: create_dataset("mfeat-corrupt", corrupt_mode="swapp"), ValueError,
        L("mfeat-corrupt: 'corrupt_mode' must be one of 'swap', 'noise'; got 'swapp' (did you "
          "mean 'swap'?).")),
    api("synthetic-few-samples", "data", "synthetic `num_samples=5`",
        lambda: create_dataset("synthetic", num_samples=5), ValueError,
        L("synthetic: 'num_samples' must be an int >= 10; got 5.")),
    api("synthetic-one-class", "data", "synthetic `num_classes=1`",
        lambda: create_dataset("synthetic", num_classes=1), ValueError,
        L("synthetic: 'num_classes' must be an int >= 2; got 1.")),
    api("synthetic-one-modality", "data", "synthetic `num_modalities=1`",
        lambda: create_dataset("synthetic", num_modalities=1), ValueError,
        L("synthetic: 'num_modalities' must be an int >= 2; got 1.")),
    api("synthetic-dims-length", "data", "synthetic `dims=[8]` for 2 modalities",
        lambda: create_dataset("synthetic", dims=[8]), TypeError,
        L("synthetic: 'dims' must be an int or a list of 2 ints (one per modality); got [8].")),
    api("synthetic-dims-zero", "data", "synthetic `dims=0`",
        lambda: create_dataset("synthetic", dims=0), ValueError,
        L("synthetic: 'dims' must be an int >= 1; got 0.")),
    api("synthetic-dims-string", "data", "synthetic `dims='8'`",
        lambda: create_dataset("synthetic", dims="8"), TypeError,
        L("synthetic: 'dims' must be an int or a list of 2 ints (one per modality); got '8'.")),
    api("synthetic-easy-fraction", "data", "synthetic `easy_fraction=2`",
        lambda: create_dataset("synthetic", easy_fraction=2), ValueError,
        L("synthetic: 'easy_fraction' must be a float in [0.0, 1.0]; got 2.")),
    api("synthetic-noise-zero", "data", "synthetic `noise=0`",
        lambda: create_dataset("synthetic", noise=0), ValueError,
        L("synthetic: 'noise' must be a float > 0.0; got 0.")),
    api("synthetic-signal-negative", "data", "synthetic `easy_signal=-1`",
        lambda: create_dataset("synthetic", easy_signal=-1), ValueError,
        L("synthetic: 'easy_signal' must be a float >= 0.0; got -1.")),
    api("synthetic-signal-inf", "data", "synthetic `weak_signal=inf`",
        lambda: create_dataset("synthetic", weak_signal=float("inf")), ValueError,
        L("synthetic: 'weak_signal' must be a float >= 0.0; got inf.")),
    api("synthetic-empty-split", "data", "synthetic, 10 samples, `val_fraction=0.01`",
        lambda: create_dataset("synthetic", num_samples=10, num_classes=5, val_fraction=0.01,
                               test_fraction=0.01), ValueError,
        L("synthetic: the val split of 10 samples is empty with val_fraction=0.01 and "
          "test_fraction=0.01; use more samples or other fractions.")),

    # -- data: tensors, splits, corruption --------------------------------------------------------
    api("dataset-no-modality", "data", "`MultiModalTensorDataset({}, labels)`",
        lambda: MultiModalTensorDataset({}, torch.tensor([0])), TypeError,
        L("MultiModalTensorDataset: 'tensors' must be a non-empty dict of name -> Tensor; got "
          "dict.")),
    api("dataset-float-labels", "data", "float labels",
        lambda: MultiModalTensorDataset({"a": torch.zeros(2, 1)}, torch.tensor([0.0, 1.0])),
        TypeError, L("MultiModalTensorDataset: 'labels' must be a 1-D integer Tensor; got "
                     "Tensor(dtype=torch.float32, shape=(2,)).")),
    api("dataset-length-mismatch", "data", "3 rows of features for 2 labels",
        lambda: MultiModalTensorDataset({"a": torch.zeros(3, 1)}, torch.tensor([0, 1])),
        ValueError, L("MultiModalTensorDataset: 'tensors['a']' must have first dimension 2 (the "
                      "number of labels); got shape (3, 1).")),
    api("dataset-name-not-str", "data", "modality named `1`",
        lambda: MultiModalTensorDataset({1: torch.zeros(2, 1)}, torch.tensor([0, 1])), TypeError,
        L("MultiModalTensorDataset: 'tensors' must map str names to Tensors; got 1 -> "
          "Tensor(dtype=torch.float32, shape=(2, 1)).")),
    api("dataset-negative-label", "data", "label -1",
        lambda: MultiModalTensorDataset({"a": torch.zeros(2, 1)}, torch.tensor([0, -1])),
        ValueError, L("MultiModalTensorDataset: 'labels' must be in [0, num_classes); got min "
                      "-1.")),
    api("dataset-num-classes-small", "data", "label 5 with `num_classes=3`",
        lambda: MultiModalTensorDataset({"a": torch.zeros(2, 1)}, torch.tensor([0, 5]),
                                        num_classes=3), ValueError,
        L("MultiModalTensorDataset: 'num_classes' must be an int >= 6; got 3.")),
    api("dataset-index-range", "data", "`dataset[5]` of 2 samples", lambda: dataset2()[5],
        IndexError, L("MultiModalTensorDataset: index 5 is out of range for 2 samples.")),
    api("dataset-batch-mask", "data", "`dataset.batch(bool mask)`",
        lambda: dataset2().batch(torch.tensor([True, False])), TypeError,
        L("MultiModalTensorDataset: 'indices' must be integer positions; got "
          "Tensor(dtype=torch.bool, shape=(2,)) (use mask.nonzero().flatten() for a mask).")),
    api("dataset-batch-range", "data", "`dataset.batch([0, 2])` of 2 samples",
        lambda: dataset2().batch(torch.tensor([0, 2])), IndexError,
        L("MultiModalTensorDataset: batch indices must be in [0, 2); got min 0, max 2.")),
    api("split-float-labels", "data", "`stratified_split` of float labels",
        lambda: stratified_split(np.array([0.5, 1.5]), val_fraction=0.2, test_fraction=0.2,
                                 seed=0), ValueError,
        L("stratified_split: 'labels' must be a 1-D integer array; got dtype float64 and shape "
          "(2,).")),
    api("split-seed-float", "data", "`stratified_split(seed=1.5)`",
        lambda: stratified_split(np.array([0, 1] * 10), val_fraction=0.2, test_fraction=0.2,
                                 seed=1.5), TypeError,
        L("stratified_split: 'seed' must be an int; got 1.5.")),
    api("corrupt-samples-mode", "data", "`corrupt_samples(mode='blur')`",
        lambda: corrupt_samples(np.zeros((4, 2)), np.array([0, 1, 0, 1]), fraction=0.5,
                                mode="blur", seed=0), ValueError,
        L("corrupt_samples: 'mode' must be one of ('swap', 'noise'); got 'blur'.")),
    api("corrupt-swap-one-class", "data", "`corrupt_samples(mode='swap')` with one class",
        lambda: corrupt_samples(np.zeros((4, 2)), np.zeros(4, dtype=int), fraction=0.5,
                                mode="swap", seed=0), ValueError,
        L("corrupt_samples: 'swap' needs at least 2 classes; got 1.")),

    # -- models: through the config ---------------------------------------------------------------
    cli("model-encoder-unknown", "models", "`model.encoder=mpl`", train_argv("model.encoder=mpl"),
        L("build_model: modality 'm0' (encoder 'mpl'): unknown encoder 'mpl'; valid names: "
          "cnn2d, i3d, mlp, resnet18, resnet50, transformer. Did you mean 'mlp'?")),
    cli("model-fusion-unknown", "models", "`model.fusion=concatt`",
        train_argv("model.fusion=concatt"),
        L("unknown fusion 'concatt'; valid names: concat, film, gated, sum. Did you mean "
          "'concat'?")),
    cli("model-encoder-option", "models", "`model.encoder_kw={hiden: [16]}`",
        train_argv("model.encoder_kw={hiden: [16]}"),
        L("build_model: modality 'm0' (encoder 'mlp'): create_encoder('mlp'): unknown option(s) "
          "['hiden']; valid options: ['dropout', 'hidden', 'input_shape', 'norm', 'out_dim'].")),
    cli("model-fusion-option", "models", "`model.fusion_kw={hidden: 3}` with concat",
        train_argv("model.fusion_kw={hidden: 3}"),
        L("create_fusion('concat'): unknown option(s) ['hidden']; valid options: "
          "['feature_dims', 'num_classes'].")),
    cli("model-cnn-on-vectors", "models", "`model.encoder=cnn2d` for vector modalities",
        train_argv("model.encoder=cnn2d", "model.encoder_kw={}"),
        L("build_model: modality 'm0' (encoder 'cnn2d'): CNN2dEncoder: 'input_shape' must be a "
          "tuple of positive ints of length 2 or 3; got (8,).")),
    cli("model-encoder-map-incomplete", "models", "`model.encoder={m0: mlp}` (m1 missing)",
        train_argv("model.encoder={m0: mlp}"),
        L("build_model: 'encoder' has missing ['m1']; expected exactly the keys ['m0', 'm1'].")),
    cli("model-film-modality", "models", "`model.fusion=film`, `fusion_kw={x_film: m5}`",
        train_argv("model.fusion=film", "model.fusion_kw={x_film: m5}"),
        L("FiLMFusion: 'x_film' must be one of 'm0', 'm1'; got 'm5'.")),

    # -- models: build_model, encoders, fusions, MultiModalNet ------------------------------------
    api("build-shapes-list", "models", "`build_model([(4,), (3,)], 3)`",
        lambda: build_model([(4,), (3,)], 3), TypeError,
        L("build_model: 'modality_shapes' must be a dict {modality: shape}; got [(4,), (3,)].")),
    api("build-encoder-int", "models", "`build_model(..., encoder=5)`",
        lambda: build_model({"a": (4,), "b": (3,)}, 3, encoder=5), TypeError,
        L("build_model: 'encoder' must be an encoder name or a dict {modality: name}; got 5.")),
    api("build-encoder-kw-modality", "models", "`encoder_kw={'a': 5}` (not a dict)",
        lambda: build_model({"a": (4,), "b": (3,)}, 3, encoder_kw={"a": 5}), TypeError,
        L("build_model: encoder_kw['a'] must be a dict of options for modality 'a'; got 5.")),
    api("build-encoder-kw-stranger", "models", "`encoder_kw={'c': {...}}`, no modality c",
        lambda: build_model({"a": (4,), "b": (3,)}, 3, encoder_kw={"c": {"hidden": 3}}),
        ValueError, L("build_model: encoder_kw['c'] is a dict, but 'c' is not a modality of this "
                      "model ['a', 'b']; key per-modality options by a modality name.")),
    api("build-one-modality", "models", "`build_model({'a': (4,)}, 3)`",
        lambda: build_model({"a": (4,)}, 3), ValueError,
        L("MultiModalNet: 'encoders' must hold at least 2 modalities (one encoder per modality); "
          "got ['a'].")),
    api("encoder-unknown", "models", "`create_encoder('mpl', (4,))`",
        lambda: create_encoder("mpl", (4,)), ValueError,
        L("unknown encoder 'mpl'; valid names: cnn2d, i3d, mlp, resnet18, resnet50, transformer. "
          "Did you mean 'mlp'?")),
    api("mlp-shape-string", "models", "`create_encoder('mlp', 'abc')`",
        lambda: create_encoder("mlp", "abc"), TypeError,
        L("MLPEncoder: 'input_shape' must be a tuple of positive ints; got 'abc'.")),
    api("mlp-shape-zero", "models", "`create_encoder('mlp', (0,))`",
        lambda: create_encoder("mlp", (0,)), ValueError,
        L("MLPEncoder: 'input_shape' must be a tuple of positive ints; got (0,).")),
    api("mlp-hidden-zero", "models", "mlp `hidden=[0]`",
        lambda: create_encoder("mlp", (4,), hidden=[0]), ValueError,
        L("MLPEncoder: 'hidden' must be a tuple of positive ints; got [0].")),
    api("mlp-hidden-string", "models", "mlp `hidden='16'`",
        lambda: create_encoder("mlp", (4,), hidden="16"), TypeError,
        L("MLPEncoder: 'hidden' must be a tuple of positive ints; got '16'.")),
    api("mlp-dropout-one", "models", "mlp `dropout=1.0`",
        lambda: create_encoder("mlp", (4,), dropout=1.0), ValueError,
        L("MLPEncoder: 'dropout' must be a float in [0.0, 1.0); got 1.0.")),
    api("mlp-norm-int", "models", "mlp `norm=1`", lambda: create_encoder("mlp", (4,), norm=1),
        TypeError, L("MLPEncoder: 'norm' must be a bool; got 1.")),
    api("cnn-even-kernel", "models", "cnn2d `kernel_size=2`",
        lambda: create_encoder("cnn2d", (1, 8, 8), kernel_size=2), ValueError,
        L("CNN2dEncoder: 'kernel_size' must be an odd int >= 1; got 2.")),
    api("cnn-no-channels", "models", "cnn2d `channels=[]`",
        lambda: create_encoder("cnn2d", (1, 8, 8), channels=[]), ValueError,
        L("CNN2dEncoder: 'channels' must be a tuple of positive ints (at least one); got [].")),
    api("resnet-vector-input", "models", "resnet18 on shape `(8,)`",
        lambda: create_encoder("resnet18", (8,)), ValueError,
        L("ResNet18Encoder: 'input_shape' must be a tuple of positive ints of length 3 or 4; got "
          "(8,).")),
    api("resnet-frames-3d", "models", "resnet18 `frames=True` on `(C, H, W)`",
        lambda: create_encoder("resnet18", (1, 8, 8), frames=True), ValueError,
        L("ResNet18Encoder: 'input_shape' must be (T, C, H, W) with frames=True; got (1, 8, 8).")),
    api("fusion-one-modality", "models", "`create_fusion('concat', {'a': 4}, 3)`",
        lambda: create_fusion("concat", {"a": 4}, 3), ValueError,
        L("ConcatFusion: 'feature_dims' must name at least 2 modalities (a fusion combines "
          "modalities); got ['a'].")),
    api("fusion-dims-list", "models", "`create_fusion('concat', [4, 4], 3)`",
        lambda: create_fusion("concat", [4, 4], 3), TypeError,
        L("ConcatFusion: 'feature_dims' must be a dict {modality: dim}; got [4, 4].")),
    api("fusion-one-class", "models", "fusion `num_classes=1`",
        lambda: create_fusion("concat", {"a": 4, "b": 4}, 1), ValueError,
        L("ConcatFusion: 'num_classes' must be an int >= 2; got 1.")),
    api("fusion-reserved-name", "models", "a modality named `fused`",
        lambda: create_fusion("sum", {"a": 4, "fused": 4}, 3), ValueError,
        L("SumFusion: modality names must be non-empty strings without '.' and not 'fused' "
          "(reserved for the fused head); got 'fused'.")),
    api("film-hidden-zero", "models", "film `hidden=0`",
        lambda: create_fusion("film", {"a": 4, "b": 4}, 3, hidden=0), ValueError,
        L("FiLMFusion: 'hidden' must be an int >= 1; got 0.")),
    api("gated-gate-unknown", "models", "gated `x_gate='bb'`",
        lambda: create_fusion("gated", {"a": 4, "b": 4}, 3, x_gate="bb"), ValueError,
        L("GatedFusion: 'x_gate' must be one of 'a', 'b'; got 'bb' (did you mean 'b'?).")),
    api("fusion-forward-missing", "models", "fusion called without modality b",
        lambda: concat()({"a": torch.zeros(2, 4)}), ValueError,
        L("ConcatFusion: the features dict has missing ['b']; expected exactly the keys "
          "['a', 'b'].")),
    api("fusion-forward-width", "models", "fusion given features `[2, 5]` for width 4",
        lambda: concat()({"a": torch.zeros(2, 4), "b": torch.zeros(2, 5)}), ValueError,
        L("ConcatFusion: features['b'] must be a tensor of shape [B, 4]; got (2, 5).")),
    api("net-encoders-list", "models", "`MultiModalNet([...], 3)`",
        lambda: MultiModalNet([nn.Linear(1, 1)], 3), TypeError,
        L("MultiModalNet: 'encoders' must be a dict {modality: nn.Module}; got list.")),
    api("net-encoder-no-out-dim", "models", "an encoder without `out_dim`",
        lambda: MultiModalNet({"a": nn.Linear(1, 1), "b": nn.Linear(1, 1)}, 3), TypeError,
        L("MultiModalNet: encoders['a'] must be an nn.Module with a positive int attribute "
          "'out_dim'; got Linear with out_dim=None.")),
    api("net-fusion-module-options", "models", "a fusion module plus fusion options",
        lambda: MultiModalNet({"a": MLPEncoder((2,)), "b": MLPEncoder((2,))}, 3,
                              fusion=nn.Linear(1, 1), hidden=3), TypeError,
        L("MultiModalNet: fusion options ['hidden'] can only be given with a fusion name, not "
          "with a fusion module.")),
    api("net-fusion-int", "models", "`fusion=5`",
        lambda: build_model({"a": (4,), "b": (3,)}, 3, fusion=5), TypeError,
        L("MultiModalNet: 'fusion' must be a fusion name or an nn.Module; got 5.")),
    api("net-forward-missing", "models", "model called without modality b",
        lambda: net()({"a": torch.zeros(2, 4)}), ValueError,
        L("MultiModalNet: the input dict has missing ['b']; expected exactly the keys "
          "['a', 'b'].")),
    api("net-forward-extra", "models", "model called with an extra modality c",
        lambda: net()({"a": torch.zeros(2, 4), "b": torch.zeros(2, 3), "c": torch.zeros(2, 1)}),
        ValueError, L("MultiModalNet: the input dict has unexpected ['c']; expected exactly the "
                      "keys ['a', 'b'].")),
    api("net-forward-shape", "models", "input a of shape `[2, 5]` for `(4,)`",
        lambda: net()({"a": torch.zeros(2, 5), "b": torch.zeros(2, 3)}), ValueError,
        L("MultiModalNet: input 'a' must have shape [B, 4]; got [2, 5].")),
    api("net-forward-batch", "models", "inputs with batch sizes 2 and 3",
        lambda: net()({"a": torch.zeros(2, 4), "b": torch.zeros(3, 3)}), ValueError,
        L("MultiModalNet: all inputs must have the same batch size; 'b' has 3, expected 2.")),
    api("net-forward-list", "models", "an input that is a list",
        lambda: net()({"a": [0.0], "b": torch.zeros(3, 3)}), TypeError,
        L("MultiModalNet: input 'a' must be a tensor; got list.")),
    api("net-unknown-modality", "models", "`model.encoder_parameters('c')`",
        lambda: net().encoder_parameters("c"), ValueError,
        L("MultiModalNet: unknown modality 'c'; modalities: ['a', 'b'].")),

    # -- core: BalanceScorer ----------------------------------------------------------------------
    api("scorer-correlation-unknown", "core", "`BalanceScorer(correlation='pred')`",
        lambda: BalanceScorer(correlation="pred"), ValueError,
        L("BalanceScorer: 'correlation' must be one of 'prediction', 'feature', None; got "
          "'pred'.")),
    api("scorer-information-unknown", "core", "`BalanceScorer(information='grad')`",
        lambda: BalanceScorer(information="grad"), ValueError,
        L("BalanceScorer: 'information' must be one of 'loss', 'gradient', None; got 'grad' "
          "(did you mean 'gradient'?).")),
    api("scorer-no-criterion", "core", "`BalanceScorer(correlation=None, information=None)`",
        lambda: BalanceScorer(correlation=None, information=None), ValueError,
        L("BalanceScorer: 'correlation' and 'information' cannot both be None;")),
    api("scorer-weight-negative", "core", "`loss_weights={'fused': -1}`",
        lambda: BalanceScorer(loss_weights={"fused": -1}), ValueError,
        L("BalanceScorer: 'loss_weights['fused']' must be a float >= 0.0; got -1.")),
    api("scorer-weight-string", "core", "`loss_weights={'fused': 'a'}`",
        lambda: BalanceScorer(loss_weights={"fused": "a"}), TypeError,
        L("BalanceScorer: 'loss_weights['fused']' must be a float >= 0.0; got 'a'.")),
    api("score-one-modality", "core", "`score()` with one modality",
        lambda: BalanceScorer().score(logits(), {"a": logits()}, LABELS4), ValueError,
        L("unimodal_logits has 1 modality; BSS needs at least 2.")),
    api("score-unimodal-tensor", "core", "`unimodal_logits` a tensor, not a dict",
        lambda: BalanceScorer().score(logits(), logits(), LABELS4), TypeError,
        L("unimodal_logits must be a dict name -> Tensor or a list of Tensors; got Tensor.")),
    api("score-fused-1d", "core", "`fused_logits` of shape `[4]`",
        lambda: BalanceScorer().score(torch.zeros(4), two(), LABELS4), ValueError,
        L("fused_logits must be a Tensor[N, C]; got torch.Size([4]).")),
    api("score-unimodal-shape", "core", "`unimodal_logits['b']` of shape `[4, 2]`",
        lambda: BalanceScorer().score(logits(), {"a": logits(), "b": logits(4, 2)}, LABELS4),
        ValueError, L("unimodal_logits['b'] has shape (4, 2); expected (N, C) = (4, 3) like "
                      "fused_logits.")),
    api("score-labels-float", "core", "float labels",
        lambda: BalanceScorer().score(logits(), two(), LABELS4.float()), ValueError,
        L("labels must hold integer class ids; got dtype torch.float32.")),
    api("score-labels-range", "core", "label 5 with 3 classes",
        lambda: BalanceScorer().score(logits(), two(), torch.tensor([0, 1, 5, 0])), ValueError,
        L("labels must lie in [0, 2] for C=3 classes; got values in [0, 5].")),
    api("score-labels-length", "core", "2 labels for 4 samples",
        lambda: BalanceScorer().score(logits(), two(), torch.tensor([0, 1])), ValueError,
        L("labels must be an integer Tensor[N] with N=4; got (2,).")),
    api("score-nan-logits", "core", "NaN fused logits",
        lambda: BalanceScorer().score(nan(4, 3), two(), LABELS4), ValueError,
        L("fused_logits holds NaN or inf in 4 sample(s); fix the model or data (e.g. a diverged "
          "run) before scoring.")),
    api("score-inf-unimodal", "core", "inf unimodal logits",
        lambda: BalanceScorer().score(logits(), {"a": logits(),
                                                 "b": torch.full((4, 3), float("inf"))}, LABELS4),
        ValueError, L("unimodal_logits['b'] holds NaN or inf in 4 sample(s);")),
    api("score-feature-missing", "core", "`correlation='feature'` without features",
        lambda: BalanceScorer(correlation="feature").score(logits(), two(), LABELS4), ValueError,
        L("BalanceScorer(correlation='feature') needs features: one Tensor[N, D] per modality.")),
    api("score-feature-unequal-dims", "core", "feature similarity on dims 5 and 6",
        lambda: BalanceScorer(correlation="feature").score(
            logits(), two(), LABELS4, features={"a": torch.ones(4, 5), "b": torch.ones(4, 6)}),
        ValueError, L("feature similarity needs equal feature dims, got {'a': (5,), 'b': (6,)}; "
                      "project the features to one size or use correlation='prediction'.")),
    api("score-feature-rows", "core", "features with 3 rows for 4 samples",
        lambda: BalanceScorer(correlation="feature").score(
            logits(), two(), LABELS4, features={"a": torch.ones(3, 5), "b": torch.ones(3, 5)}),
        ValueError, L("features['a'] has 3 rows; expected N=4.")),
    api("score-feature-nan", "core", "NaN features",
        lambda: BalanceScorer(correlation="feature").score(
            logits(), two(), LABELS4, features={"a": nan(4, 5), "b": torch.ones(4, 5)}),
        ValueError, L("features['a'] holds NaN or inf in 4 sample(s);")),
    api("score-gradient-no-inputs", "core", "`information='gradient'` without head_inputs",
        lambda: BalanceScorer(information="gradient").score(logits(), two(), LABELS4), ValueError,
        L("BalanceScorer(information='gradient') needs head_inputs: a dict of each head's input "
          "(modality names and 'fused').")),
    api("score-gradient-no-fused", "core", "head_inputs without 'fused'",
        lambda: BalanceScorer(information="gradient").score(logits(), two(), LABELS4,
                                                            head_inputs=two()), ValueError,
        L("head_inputs lacks 'fused'; got keys ['a', 'b'].")),
    api("combine-missing", "core", "`combine()` without the correlation criterion",
        lambda: BalanceScorer().combine({"loss": torch.zeros(4)}), ValueError,
        L("BalanceScorer.combine: criteria lack ['prediction_similarity']; got keys ['loss'].")),
    api("minmax-2d", "core", "`minmax(zeros(2, 2))`", lambda: minmax(torch.zeros(2, 2)),
        ValueError, L("minmax: expected a 1-D tensor; got shape (2, 2).")),
    api("minmax-nan", "core", "`minmax([1, nan])`",
        lambda: minmax(torch.tensor([1.0, float("nan")])), ValueError,
        L("minmax input holds NaN or inf in 1 sample(s);")),

    # -- core: schedulers -------------------------------------------------------------------------
    api("sched-num-samples-zero", "core", "`LearningBasedScheduler(num_samples=0)`",
        lambda: LearningBasedScheduler(num_samples=0), ValueError,
        L("LearningBasedScheduler: 'num_samples' must be an int >= 1; got 0.")),
    api("sched-num-samples-string", "core", "`num_samples='10'`",
        lambda: LearningBasedScheduler(num_samples="10"), TypeError,
        L("LearningBasedScheduler: 'num_samples' must be an int >= 1; got '10'.")),
    api("sched-num-samples-float", "core", "`CurriculumScheduler(num_samples=10.0)`",
        lambda: CurriculumScheduler(num_samples=10.0), TypeError,
        L("CurriculumScheduler: 'num_samples' must be an int >= 1; got 10.0.")),
    api("sched-seed-negative", "core", "`seed=-1`",
        lambda: CurriculumScheduler(num_samples=10, seed=-1), ValueError,
        L("CurriculumScheduler: 'seed' must be an int >= 0; got -1.")),
    api("sched-warmup-negative", "core", "`warmup_epochs=-1`",
        lambda: CurriculumScheduler(num_samples=10, warmup_epochs=-1), ValueError,
        L("CurriculumScheduler: 'warmup_epochs' must be an int >= 0; got -1.")),
    api("sched-rescore-zero", "core", "`rescore_every=0`",
        lambda: CurriculumScheduler(num_samples=10, rescore_every=0), ValueError,
        L("CurriculumScheduler: 'rescore_every' must be an int >= 1 or None; got 0.")),
    api("sched-ema-one", "core", "`ema=1.0`",
        lambda: CurriculumScheduler(num_samples=10, ema=1.0), ValueError,
        L("CurriculumScheduler: 'ema' must be a float in [0.0, 1.0); got 1.0.")),
    api("sched-min-samples-zero", "core", "`min_samples=0`",
        lambda: CurriculumScheduler(num_samples=10, min_samples=0), ValueError,
        L("CurriculumScheduler: 'min_samples' must be an int >= 1; got 0.")),
    api("sched-pacing-unknown", "core", "`CurriculumScheduler(pacing='lin')`",
        lambda: CurriculumScheduler(num_samples=10, pacing="lin"), ValueError,
        L("unknown pacing 'lin'; valid names: constant, geometric, linear, root, step. Did you "
          "mean 'linear'?")),
    api("sched-step-num-steps", "core", "`pacing='step', num_steps=0`",
        lambda: CurriculumScheduler(num_samples=10, pacing="step", num_steps=0), ValueError,
        L("pacing: 'num_steps' must be an int >= 1; got 0.")),
    api("lb-eps-zero", "core", "`LearningBasedScheduler(eps=0)`", lambda: lb(eps=0), ValueError,
        L("LearningBasedScheduler: 'eps' must be a float in (0.0, 1.0]; got 0.")),
    api("lb-eps-two", "core", "`eps=2`", lambda: lb(eps=2), ValueError,
        L("LearningBasedScheduler: 'eps' must be a float in (0.0, 1.0]; got 2.")),
    api("lb-replacement-string", "core", "`replacement='yes'`", lambda: lb(replacement="yes"),
        TypeError, L("LearningBasedScheduler: 'replacement' must be a bool; got 'yes'.")),
    api("lb-temperature-zero", "core", "`temperature=0`", lambda: lb(temperature=0), ValueError,
        L("LearningBasedScheduler: 'temperature' must be a float > 0.0 or None; got 0.")),
    api("sched-indices-before-update", "core", "`indices(0)` before any `update()`",
        lambda: lb().indices(0), RuntimeError,
        L("LearningBasedScheduler: no scores yet; call update(scores) before indices(0) "
          "(wants_scores(epoch) tells when).")),
    api("sched-scores-before-update", "core", "`.scores` before any `update()`",
        lambda: lb().scores, RuntimeError,
        L("LearningBasedScheduler: no scores yet; call update(scores) before scores")),
    api("sched-order-before-update", "core", "`CurriculumScheduler.order()` before `update()`",
        lambda: CurriculumScheduler(num_samples=4).order(), RuntimeError,
        L("CurriculumScheduler: no scores yet; call update(scores) before order()")),
    api("sched-weights-before-update", "core", "`log_weights()` before `update()`",
        lambda: lb().log_weights(), RuntimeError,
        L("LearningBasedScheduler: no scores yet; call update(scores) before log_weights()")),
    api("sched-update-wrong-length", "core", "`update()` with 5 scores for 4 samples",
        lambda: lb().update(torch.zeros(5)), ValueError,
        L("LearningBasedScheduler.update: 'scores' must be a Tensor of shape (4,); got (5,).")),
    api("sched-update-2d", "core", "`update()` with scores of shape `[4, 1]`",
        lambda: lb().update(torch.zeros(4, 1)), ValueError,
        L("LearningBasedScheduler.update: 'scores' must be a Tensor of shape (4,); got (4, 1).")),
    api("sched-update-nan", "core", "`update()` with a NaN score",
        lambda: lb().update(torch.tensor([0.0, float("nan"), 0.0, 0.0])), ValueError,
        L("LearningBasedScheduler.update: 'scores' holds 1 NaN/inf value(s).")),
    api("lb-update-above-two", "core", "`update()` with a score of 3 (linear weights)",
        lambda: lb().update(torch.tensor([0.0, 3.0, 0.0, 0.0])), ValueError,
        L("LearningBasedScheduler.update: scores must be <= 2 (the range of BalanceScorer.score) "
          "so that 2 + eps - d > 0; got max 3.")),
    api("sched-epoch-negative", "core", "`wants_scores(-1)`", lambda: lb().wants_scores(-1),
        ValueError, L("LearningBasedScheduler: 'epoch' must be an int >= 0; got -1.")),
    api("sched-epoch-float", "core", "`epoch_size(1.5)`", lambda: lb().epoch_size(1.5),
        TypeError, L("LearningBasedScheduler: 'epoch' must be an int >= 0; got 1.5.")),
    api("sched-state-missing-keys", "core", "`load_state_dict({'scores': None})`",
        lambda: lb().load_state_dict({"scores": None}), KeyError,
        L("LearningBasedScheduler.load_state_dict: expected keys ['num_samples', 'scheduler', "
          "'scores', 'seed']; missing ['num_samples', 'scheduler', 'seed'], unexpected [].")),
    api("sched-state-other-class", "core", "a CurriculumScheduler's state into an LB scheduler",
        lambda: lb().load_state_dict(lb_state(scheduler="CurriculumScheduler")), ValueError,
        L("LearningBasedScheduler.load_state_dict: the state is a CurriculumScheduler's; load it "
          "into a CurriculumScheduler.")),
    api("sched-state-other-size", "core", "`load_state_dict()` of a 5-sample scheduler",
        lambda: lb().load_state_dict(lb_state(num_samples=5)), ValueError,
        L("LearningBasedScheduler.load_state_dict: state has num_samples=5, this scheduler has "
          "4; build it with the same num_samples.")),
    api("sched-state-other-seed", "core", "`load_state_dict()` of a seed-3 scheduler",
        lambda: lb().load_state_dict(lb_state(seed=3)), ValueError,
        L("LearningBasedScheduler.load_state_dict: state has seed=3, this scheduler has 0; build "
          "it with the same seed.")),
    api("sched-state-scores-shape", "core", "a state with 7 scores for 4 samples",
        lambda: lb().load_state_dict(lb_state(scores=torch.zeros(7))), ValueError,
        L("LearningBasedScheduler.load_state_dict: 'scores' must be a Tensor of shape (4,); got "
          "(7,).")),
    api("sched-state-scores-nan", "core", "a state whose scores hold NaN",
        lambda: lb().load_state_dict(lb_state(scores=nan(4))), ValueError,
        L("LearningBasedScheduler.load_state_dict: 'scores' holds NaN/inf.")),

    # -- core: sampler ----------------------------------------------------------------------------
    api("sampler-replicas-zero", "core", "`BalanceSampler(num_replicas=0)`",
        lambda: BalanceSampler(lb(), num_replicas=0), ValueError,
        L("BalanceSampler: 'num_replicas' must be an int >= 1; got 0.")),
    api("sampler-rank-too-big", "core", "`rank=2` with `num_replicas=2`",
        lambda: BalanceSampler(lb(), num_replicas=2, rank=2), ValueError,
        L("BalanceSampler: 'rank' must be an int in [0, 1] (num_replicas=2); got 2.")),
    api("sampler-rank-negative", "core", "`rank=-1`",
        lambda: BalanceSampler(lb(), num_replicas=2, rank=-1), ValueError,
        L("BalanceSampler: 'rank' must be an int >= 0; got -1.")),
    api("sampler-drop-last-string", "core", "`drop_last='no'`",
        lambda: BalanceSampler(lb(), drop_last="no"), TypeError,
        L("BalanceSampler: 'drop_last' must be a bool; got 'no'.")),
    api("sampler-epoch-negative", "core", "`set_epoch(-1)`",
        lambda: BalanceSampler(lb(), num_replicas=1, rank=0).set_epoch(-1), ValueError,
        L("BalanceSampler: 'epoch' must be an int >= 0; got -1.")),
    api("sampler-before-scores", "core", "iterating before the scheduler has scores",
        lambda: list(BalanceSampler(lb(), num_replicas=1, rank=0)), RuntimeError,
        L("LearningBasedScheduler: no scores yet; call update(scores) before indices(0)")),
    api("sampler-drop-last-too-few", "core", "`drop_last=True`, 4 samples over 8 ranks",
        lambda: list(BalanceSampler(lb_scored(SCORES4), num_replicas=8, rank=0, drop_last=True)),
        ValueError, L("BalanceSampler: the epoch has 4 sample(s), fewer than num_replicas=8; use "
                      "drop_last=False or a larger subset (e.g. min_samples on the scheduler).")),
    api("sampler-state-extra-key", "core", "`load_state_dict({'epoch': 0, 'x': 1})`",
        lambda: BalanceSampler(lb(), num_replicas=1, rank=0).load_state_dict(
            {"epoch": 0, "x": 1}), KeyError,
        L("BalanceSampler.load_state_dict: expected keys ['epoch']; got ['epoch', 'x'].")),
    api("shard-replicas-zero", "core", "`shard(seq, 0, 0)`",
        lambda: shard(torch.arange(4), 0, 0), ValueError,
        L("shard: 'num_replicas' must be an int >= 1; got 0.")),
    api("shard-rank-range", "core", "`shard(seq, 2, 2)`",
        lambda: shard(torch.arange(4), 2, 2), ValueError,
        L("shard: 'rank' must be an int in [0, 1]; got 2.")),

    # -- core: online tracker ---------------------------------------------------------------------
    api("tracker-size-zero", "core", "`OnlineScoreTracker(0)`", lambda: OnlineScoreTracker(0),
        ValueError, L("OnlineScoreTracker: 'num_samples' must be an int >= 1; got 0.")),
    api("tracker-unseen-unknown", "core", "`unseen='zero'`",
        lambda: OnlineScoreTracker(4, unseen="zero"), ValueError,
        L("OnlineScoreTracker: 'unseen' must be one of 'mean', 'error'; got 'zero' (did you mean "
          "'error'?).")),
    api("tracker-index-range", "core", "`record()` of index 7 in a 4-sample tracker",
        lambda: OnlineScoreTracker(4).record(torch.tensor([0, 7]),
                                             {"loss": torch.tensor([1.0, 2.0])}), ValueError,
        L("OnlineScoreTracker.record: indices must lie in [0, 3]; got [0, 7].")),
    api("tracker-count-mismatch", "core", "`record()` of 3 values for 2 indices",
        lambda: OnlineScoreTracker(4).record(torch.tensor([0, 1]),
                                             {"loss": torch.tensor([1.0, 2.0, 3.0])}), ValueError,
        L("OnlineScoreTracker.record: criterion 'loss' has 3 values for 2 indices.")),
    api("tracker-nan", "core", "`record()` of a NaN criterion",
        lambda: OnlineScoreTracker(4).record(torch.tensor([0, 1]),
                                             {"loss": torch.tensor([1.0, float("nan")])}),
        ValueError, L("OnlineScoreTracker.record: criterion 'loss' holds NaN/inf.")),
    api("tracker-float-indices", "core", "`record()` with float indices",
        lambda: OnlineScoreTracker(4).record(torch.tensor([0.5, 1.7]),
                                             {"loss": torch.tensor([1.0, 2.0])}), TypeError,
        L("OnlineScoreTracker.record: 'indices' must be integer sample indices (e.g. "
          "batch['index']); got dtype torch.float32.")),
    api("tracker-other-criteria", "core", "`record()` of 'gradient' after 'loss'",
        lambda: tracker_seen_half("mean").record(torch.tensor([2]),
                                                 {"gradient": torch.tensor([1.0])}), ValueError,
        L("OnlineScoreTracker.record: 'criteria' must hold the same criteria at every call "
          "(['loss']); got ['gradient'].")),
    api("tracker-no-criteria", "core", "`record()` of an empty criteria dict",
        lambda: OnlineScoreTracker(4).record(torch.tensor([0]), {}), ValueError,
        L("OnlineScoreTracker.record: 'criteria' must hold the same criteria at every call (at "
          "least one); got [].")),
    api("tracker-nothing-recorded", "core", "`criteria()` before any `record()`",
        lambda: OnlineScoreTracker(4).criteria(), RuntimeError,
        L("OnlineScoreTracker: no sample recorded yet; train a warm-up epoch or run an exact "
          "scoring pass first.")),
    api("tracker-unseen-error", "core", "`unseen='error'` with 2 of 4 samples seen",
        lambda: tracker_seen_half("error").criteria(), RuntimeError,
        L("OnlineScoreTracker: 2 of 4 samples were never seen (unseen='error').")),
    api("tracker-state-keys", "core", "`load_state_dict({'seen': ...})` without values",
        lambda: OnlineScoreTracker(4).load_state_dict({"seen": torch.zeros(4, dtype=torch.bool)}),
        KeyError, L("OnlineScoreTracker.load_state_dict: expected keys ['count', 'seen', 'step', "
                    "'values'] (or the older ['seen', 'values']); got ['seen'].")),
    api("tracker-state-size", "core", "`load_state_dict()` of a 5-sample tracker",
        lambda: OnlineScoreTracker(4).load_state_dict(
            {"seen": torch.zeros(5, dtype=torch.bool), "values": {}}), ValueError,
        L("OnlineScoreTracker.load_state_dict: every tensor of the state must have shape (4,) "
          "(this tracker's N); got [(5,), (5,)].")),

    # -- core: pacing, weighted permutation, registry ---------------------------------------------
    api("pacing-unknown", "core", "`pacing.get('sqrt')`", lambda: pacing.get("sqrt"), ValueError,
        L("unknown pacing 'sqrt'; valid names: constant, geometric, linear, root, step.")),
    api("pacing-lambda0-range", "core", "`pacing.get('root', lambda0=1.5)`",
        lambda: pacing.get("root", lambda0=1.5), ValueError,
        L("pacing: 'lambda0' must be a float in (0.0, 1.0]; got 1.5.")),
    api("pacing-lambda0-string", "core", "`lambda0='0.1'`",
        lambda: pacing.get("root", lambda0="0.1"), TypeError,
        L("pacing: 'lambda0' must be a float in (0.0, 1.0]; got '0.1'.")),
    api("pacing-t-grow-zero", "core", "`pacing.get('linear', t_grow=0)`",
        lambda: pacing.get("linear", t_grow=0), ValueError,
        L("pacing: 't_grow' must be an int >= 1; got 0.")),
    api("pacing-epoch-negative", "core", "`pacing.get('root')(-1)`",
        lambda: pacing.get("root")(-1), ValueError,
        L("pacing: 'epoch' must be an int >= 0; got -1.")),
    api("pacing-epoch-float", "core", "`pacing.get('root')(1.0)`",
        lambda: pacing.get("root")(1.0), TypeError,
        L("pacing: 'epoch' must be an int >= 0; got 1.0.")),
    api("permutation-no-weights", "core", "`weighted_permutation()`",
        lambda: weighted_permutation(), ValueError,
        L("weighted_permutation: pass exactly one of 'weights' and 'log_weights'.")),
    api("permutation-both-weights", "core", "both `weights` and `log_weights`",
        lambda: weighted_permutation(torch.ones(2), log_weights=torch.zeros(2)), ValueError,
        L("weighted_permutation: pass exactly one of 'weights' and 'log_weights'.")),
    api("permutation-2d", "core", "`weighted_permutation(ones(2, 2))`",
        lambda: weighted_permutation(torch.ones(2, 2)), ValueError,
        L("weighted_permutation: 'weights' must be a 1-D Tensor; got torch.Size([2, 2]).")),
    api("permutation-empty", "core", "`weighted_permutation(ones(0))`",
        lambda: weighted_permutation(torch.ones(0)), ValueError,
        L("weighted_permutation: 'weights' is empty; there is nothing to order.")),
    api("permutation-nan", "core", "a NaN weight",
        lambda: weighted_permutation(torch.tensor([1.0, float("nan")])), ValueError,
        L("weighted_permutation: 'weights' holds 1 NaN value(s); weights must be finite and "
          ">= 0.")),
    api("permutation-negative", "core", "a negative weight",
        lambda: weighted_permutation(torch.tensor([1.0, -1.0])), ValueError,
        L("weighted_permutation: 'weights' must be finite and >= 0; got 1 negative and 0 "
          "infinite value(s).")),
    api("permutation-inf", "core", "an infinite weight",
        lambda: weighted_permutation(torch.tensor([1.0, float("inf")])), ValueError,
        L("weighted_permutation: 'weights' must be finite and >= 0; got 0 negative and 1 "
          "infinite value(s).")),
    api("permutation-all-zero", "core", "all weights zero",
        lambda: weighted_permutation(torch.zeros(3)), ValueError,
        L("weighted_permutation: all weights are zero; at least one must be > 0.")),
    api("permutation-log-inf", "core", "`log_weights` holding +inf",
        lambda: weighted_permutation(log_weights=torch.tensor([0.0, float("inf")])), ValueError,
        L("weighted_permutation: 'log_weights' holds 1 NaN or +inf value(s); use finite values "
          "(-inf for a zero weight).")),
    api("draws-negative", "core", "`weighted_draws(w, -1)`",
        lambda: weighted_draws(torch.ones(2), -1), ValueError,
        L("weighted_draws: 'num_draws' must be an int >= 0; got -1.")),
    api("registry-twice", "core", "registering one name twice", registry_twice, ValueError,
        L("colour 'red' is already registered; pick another name.")),

    # -- engine: run directories and resume -------------------------------------------------------
    cli("out-is-file", "engine", "`mmbss train --out` naming a file", train_argv(out="{tmp}/f"),
        r"mmbss: error: '.*/f' is a file, not a folder; choose another --out\.",
        setup=write("f", "x")),
    cli("out-under-file", "engine", "`--out` inside a file (`f/run`)",
        train_argv(out="{tmp}/f/run"),
        r"cannot create '.*/f/run': '.*/f' is a file, not a folder; choose another --out\.",
        setup=write("f", "x")),
    cli("out-foreign-folder", "engine", "`--out` a non-empty folder mmbss did not make",
        train_argv(out="{tmp}/mine"),
        r"'.*/mine' is not empty and was not made by mmbss as a run; mmbss will not delete it\. "
        r"Choose another --out\.", setup=write("mine/notes.txt", "keep me")),
    cli("out-holds-run", "engine", "`--out` holds a run, no `--overwrite`",
        train_argv(out="{tmp}/old"),
        r"'.*/old' already holds a run; pass --overwrite to replace it or --resume to continue "
        r"it\.", setup=fake_run("old")),
    cli("resume-and-overwrite", "engine", "`mmbss train --resume --overwrite`",
        train_argv(extra=("--resume", "--overwrite")),
        r"--resume and --overwrite contradict each other: --resume continues the run in '.*/run', "
        r"--overwrite deletes it\. Pass only one\."),
    cli("resume-nothing", "engine", "`--resume` of a folder that holds no run",
        train_argv(out="{tmp}/fresh", extra=("--resume",)),
        r"cannot resume: '.*/fresh' holds no run; start the run without --resume \(or check the "
        r"path\)\."),
    cli("resume-foreign-folder", "engine", "`--resume` of a folder mmbss did not make",
        train_argv(out="{tmp}/mine", extra=("--resume",)),
        r"cannot resume: '.*/mine' was not made by mmbss as a run; start the run without --resume",
        setup=write("mine/notes.txt", "keep me")),
    cli("resume-fixed-key-changed", "engine", "`--resume` with `train.batch_size` changed",
        resume_argv("train.batch_size=8"),
        r"cannot resume '.*/old': the config differs on keys that cannot change on resume:\n  "
        r"train\.batch_size: 16 -> 8\n\(only optim\.lr, train\.epochs, train\.eval_batch_size, "
        r"train\.export_scores, train\.num_workers, train\.checkpoint_every, train\.ddp_timeout, "
        r"train\.eval_test, train\.loggers may change; resume with the same config, or start a "
        r"new run\)",
        setup=trained_run("old")),
    cli("resume-fewer-epochs", "engine", "`--resume` of a 2-epoch run with `train.epochs=1`",
        resume_argv("train.epochs=1"),
        r"cannot resume '.*/old': train\.epochs: 1 is below the 2 epochs already trained; give "
        r"train\.epochs >= 2\.", setup=trained_run("old")),
    cli("resume-finished-change", "engine", "`--resume` of a finished run with a new `optim.lr`",
        resume_argv("optim.lr=0.1"),
        r"cannot resume '.*/old': the run has finished all 2 epochs, so the changed optim\.lr "
        r"would not take effect; raise train\.epochs to continue training, or start a new run\.",
        setup=trained_run("old")),
    cli("resume-junk-checkpoint", "engine", "`--resume` with a junk `last.pt`",
        train_argv(out="{tmp}/old", extra=("--resume",)),
        r"no usable resume checkpoint: checkpoint '.*/old/checkpoints/last\.pt' is not a "
        r"checkpoint \(not a file written by torch\.save\)\. Start the run again with "
        r"--overwrite\.", setup=fake_run("old", files={"checkpoints/last.pt": b"not a checkpoint"})),
    cli("resume-foreign-checkpoint", "engine", "`--resume` with a `last.pt` not written by mmbss",
        train_argv(out="{tmp}/old", extra=("--resume",)),
        r"no usable resume checkpoint: checkpoint '.*/old/checkpoints/last\.pt' was not written "
        r"by mmbss \(no 'format: mmbss-checkpoint' header\)\. Start the run again with "
        r"--overwrite\.", setup=fake_run("old", files={"checkpoints/last.pt": {"model": {}}})),
    api("load-checkpoint-missing", "engine", "`load_checkpoint()` of a missing file",
        lambda tmp: load_checkpoint(tmp / "none.pt"), FileNotFoundError,
        r"checkpoint '.*/none\.pt' does not exist\."),
    api("load-checkpoint-kind", "engine", "`load_checkpoint(last.pt, kind='best')`",
        lambda tmp: load_checkpoint(copy_trained(tmp) / "checkpoints" / "last.pt", kind="best"),
        ValueError, r"checkpoint '.*/checkpoints/last\.pt' is a 'resume' checkpoint, not a 'best' "
        r"one\."),
    cli("diverged", "engine", "`optim.lr=1.0e+30` (the loss becomes NaN)",
        train_argv("optim.lr=1.0e+30"),
        r"mmbss: error: the loss became (nan|inf) at epoch 0, step \d+ \(global step \d+\); "
        r"training stopped and no epoch finished, so there is no checkpoint \(lower optim\.lr or "
        r"check the data\)\.", code=1),

    # -- engine: score ----------------------------------------------------------------------------
    cli("score-not-a-run", "engine", "`mmbss score` of a folder without config.yaml",
        ("score", "{tmp}/empty"),
        r"'.*/empty' has no config\.yaml; is it a run directory written by 'mmbss train'\?",
        setup=mkdir("empty")),
    cli("score-bad-config", "engine", "`mmbss score` of a run whose config.yaml is not YAML",
        ("score", "{tmp}/run"),
        r"config file '.*/run/config\.yaml' is not valid YAML: while parsing a flow sequence",
        setup=write("run/config.yaml", "train: [1\n")),
    cli("score-no-checkpoint", "engine", "`mmbss score` of a run without `best.pt`",
        ("score", "{tmp}/run"),
        r"checkpoint '.*/run/checkpoints/best\.pt' does not exist; train the run first\.",
        setup=fake_run("run")),
    cli("score-out-exists", "engine", "`mmbss score` when the CSV exists, no `--overwrite`",
        ("score", "{tmp}/run"),
        r"'.*/run/scores/best\.csv' already exists; pass --overwrite to replace it or give another "
        r"--out\.", setup=trained_run("run", lambda run: write("scores/best.csv", "x")(run))),
    cli("score-out-folder", "engine", "`mmbss score --out` naming a folder",
        ("score", "{tmp}/run", "--out", "{tmp}/run/scores"),
        r"'.*/run/scores' is a folder; give a CSV file name\.", setup=trained_run("run")),
    cli("score-junk-checkpoint", "engine", "`mmbss score` with a junk `best.pt`",
        ("score", "{tmp}/run"),
        r"checkpoint '.*/run/checkpoints/best\.pt' is not a checkpoint \(not a file written by "
        r"torch\.save\)\.",
        setup=fake_run("run", files={"checkpoints/best.pt": b"not a checkpoint"})),
    cli("score-empty-checkpoint", "engine", "`mmbss score` with an empty `best.pt`",
        ("score", "{tmp}/run"),
        r"checkpoint '.*/run/checkpoints/best\.pt' is torn or not a checkpoint \(EOFError: the "
        r"file ends early\)\.", setup=fake_run("run", files={"checkpoints/best.pt": b""})),
    cli("score-foreign-checkpoint", "engine", "`mmbss score` of a `.pt` not written by mmbss",
        ("score", "{tmp}/run"),
        r"checkpoint '.*/run/checkpoints/best\.pt' was not written by mmbss \(no 'format: "
        r"mmbss-checkpoint' header\)\.",
        setup=fake_run("run", files={"checkpoints/best.pt": {"model": {}}})),
    cli("score-pickled-object", "engine", "`mmbss score` of a `.pt` holding a Python object",
        ("score", "{tmp}/run"),
        r"checkpoint '.*/run/checkpoints/best\.pt' holds Python objects other than tensors, numbers "
        r"and plain containers \(it may carry code\); mmbss never runs code from a checkpoint and "
        r"refuses it\. Use checkpoints written by mmbss\.",
        setup=fake_run("run", files={"checkpoints/best.pt": {"format": "mmbss-checkpoint",
                                                             "path": Path("x")}})),
    cli("score-edited-checkpoint", "engine", "`mmbss score` of a `best.pt` edited after writing",
        ("score", "{tmp}/run"),
        r"checkpoint '.*/run/checkpoints/best\.pt' fails its checksum \(the file was changed or "
        r"damaged after it was written\)\.",
        setup=trained_run("run", edit_best(lambda raw: raw["payload"].update(epoch=99)))),
    cli("score-old-format", "engine", "`mmbss score` of a checkpoint of format version 1",
        ("score", "{tmp}/run"),
        r"checkpoint '.*/run/checkpoints/best\.pt' has format version 1; this mmbss reads version "
        r"3\. Start a new run\.",
        setup=trained_run("run", edit_best(lambda raw: raw.update(version=1)))),

    # -- engine: report ---------------------------------------------------------------------------
    cli("report-not-a-run", "engine", "`mmbss report` of a folder without metrics.jsonl",
        ("report", "{tmp}/empty"),
        r"run directory '.*/empty' has no metrics\.jsonl \('.*/empty/metrics\.jsonl' not found\); "
        r"run 'mmbss train' first", setup=mkdir("empty")),
    cli("report-html-not-a-run", "engine", "`mmbss report --html` of a folder that is neither a run "
        "nor a comparison", ("report", "{tmp}", "--html", "{tmp}/r.html"),
        L("is neither a run directory (no metrics.jsonl) nor a comparison directory (no runs/); "
          "give a folder written by 'mmbss train' or 'mmbss compare'.")),
    cli("report-bad-json", "engine", "metrics.jsonl with a line that is not JSON",
        ("report", "{tmp}/run"),
        r"'.*/run/metrics\.jsonl' line 2 is not valid JSON \(Expecting value\); expected one JSON "
        r"object per epoch", setup=metrics_run("run", '{"epoch": 0}\nnot json\n')),
    cli("report-empty-metrics", "engine", "an empty metrics.jsonl", ("report", "{tmp}/run"),
        r"'.*/run/metrics\.jsonl' is empty; expected one JSON line per epoch",
        setup=metrics_run("run", "")),
    cli("report-bad-epoch", "engine", "metrics.jsonl line `{\"epoch\": -1}`",
        ("report", "{tmp}/run"),
        r"'.*/run/metrics\.jsonl' line 1 must be a JSON object with an int 'epoch' >= 0; got "
        r"'\{\"epoch\": -1\}'", setup=metrics_run("run", '{"epoch": -1}\n')),
    cli("report-scores-no-d", "engine", "a scores CSV without the `d` column",
        ("report", "{tmp}/run"),
        r"scores file '.*/run/scores/epoch_000\.csv' has no 'd' column or no rows; expected header "
        r"index,label,<criteria\.\.\.>,d,seen\[,corrupted\] and one row per sample",
        setup=metrics_run("run", '{"epoch": 0}\n', {"scores/epoch_000.csv": "index,label\n0,1\n"})),
    cli("report-scores-text", "engine", "a scores CSV with `d` = `abc`", ("report", "{tmp}/run"),
        r"scores file '.*/run/scores/epoch_000\.csv' has a non-numeric value \(could not convert "
        r"string to float: 'abc'\)",
        setup=metrics_run("run", '{"epoch": 0}\n',
                          {"scores/epoch_000.csv": "index,label,d\n0,1,abc\n"})),
    cli("report-bad-summary", "engine", "a summary.json that is not JSON",
        ("report", "{tmp}/run"), r"'.*/run/summary\.json' is not valid JSON",
        setup=metrics_run("run", '{"epoch": 0}\n', {"summary.json": "{"})),
    cli("report-comparison-empty", "engine", "`mmbss report` of a comparison with no runs",
        ("report", "{tmp}/cmp"),
        r"'.*/cmp/runs' holds no <method>/seed<k>/metrics\.jsonl; run 'mmbss compare' first",
        setup=mkdir("cmp/runs")),

    # -- engine: compare --------------------------------------------------------------------------
    cli("compare-no-methods", "engine", "`compare.methods=[]`",
        compare_argv("--set", "compare.methods=[]"),
        L("mmbss: error: compare.methods is empty; list at least one method (e.g. [uniaux, "
          "bss-cl]).")),
    cli("compare-duplicate-methods", "engine", "`--methods uniaux uniaux`",
        compare_argv("--methods", "uniaux", "uniaux"),
        L("compare.methods has two entries labelled 'uniaux'; give one a 'label'.")),
    cli("compare-duplicate-labels", "engine", "two entries with `label: a`",
        compare_argv("--set", "compare.methods=[{name: bss-cl, label: a}, "
                     "{name: uniaux, label: a}]"),
        L("compare.methods has two entries labelled 'a'; give one a 'label'.")),
    cli("compare-entry-no-name", "engine", "a `compare.methods` entry `{label: x}`",
        compare_argv("--set", "compare.methods=[{label: x}]"),
        L("compare.methods entries must be a method name or a mapping with 'name'; got "
          "{'label': 'x'}.")),
    cli("compare-entry-number", "engine", "a `compare.methods` entry `5`",
        compare_argv("--set", "compare.methods=[5]"),
        L("compare.methods entries must be a method name or a mapping with 'name'; got 5.")),
    cli("compare-entry-unknown-method", "engine", "`--methods bss-c`",
        compare_argv("--methods", "bss-c"),
        L("unknown method 'bss-c'; valid names: anti, bss-cl, bss-lb, bss-lb-paper, bss-lb-ref, "
          "joint, random-pacing, uniaux, agm, mmpareto, ogm-ge, pmr (join a sampling policy and a "
          "gradient policy with +). Did you mean 'bss-cl'?")),
    cli("compare-label-path", "engine", "an entry `{name: uniaux, label: ../x}`",
        compare_argv("--set", "compare.methods=[{name: uniaux, label: ../x}]"),
        L("compare.methods: 'label' must be a name usable as one folder name (no '/', '\\', "
          "leading '.' or '..'); got '../x'.")),
    cli("compare-label-empty", "engine", "an entry `{name: uniaux, label: ''}`",
        compare_argv("--set", "compare.methods=[{name: uniaux, label: ''}]"),
        L("compare.methods: 'label' must be a name usable as one folder name (no '/', '\\', "
          "leading '.' or '..'); got ''.")),
    cli("compare-baseline-missing", "engine", "`--baseline bss-cl` not among `--methods uniaux`",
        compare_argv("--methods", "uniaux", "--baseline", "bss-cl"),
        L("compare.baseline 'bss-cl' is not one of the methods ['uniaux'].")),
    cli("compare-duplicate-seeds", "engine", "`--seeds 0 0`",
        compare_argv("--methods", "uniaux", "--seeds", "0", "0"),
        L("compare.seeds lists a seed twice: [0, 0]; each seed is one run.")),
    cli("compare-negative-seed", "engine", "`--seeds -1`",
        compare_argv("--methods", "uniaux", "--seeds", "-1"),
        L("compare.seeds must be a non-empty list of ints >= 0; got [-1].")),
    cli("compare-no-seeds", "engine", "`compare.seeds=[]`",
        compare_argv("--set", "compare.seeds=[]"),
        L("compare.seeds must be a non-empty list of ints >= 0; got [].")),
    cli("compare-seed-bool", "engine", "`compare.seeds=[true]`",
        compare_argv("--set", "compare.seeds=[true]"),
        L("compare.seeds must be a non-empty list of ints >= 0; got [True].")),
    cli("compare-jobs-zero", "engine", "`--jobs 0`",
        compare_argv("--methods", "uniaux", "--seeds", "0", "--jobs", "0"),
        L("compare: 'jobs' must be an int >= 1; got 0.")),
    cli("compare-resume-and-overwrite", "engine", "`mmbss compare --resume --overwrite`",
        compare_argv("--resume", "--overwrite"),
        r"--resume and --overwrite contradict each other: --resume continues the comparison in "
        r"'.*/cmp', --overwrite deletes it\. Pass only one\."),
    cli("compare-out-is-file", "engine", "`mmbss compare --out` naming a file",
        compare_argv("--methods", "uniaux", "--seeds", "0", out="{tmp}/f"),
        r"'.*/f' is a file, not a folder; choose another --out\.", setup=write("f", "x")),
    cli("compare-out-foreign", "engine", "`compare --out` a non-empty folder mmbss did not make",
        compare_argv("--methods", "uniaux", "--seeds", "0", out="{tmp}/mine"),
        r"'.*/mine' is not empty and was not made by mmbss as a comparison; mmbss will not delete "
        r"it\. Choose another --out\.", setup=write("mine/notes.txt", "keep me")),
    cli("compare-resume-foreign", "engine", "`compare --resume` of a folder mmbss did not make",
        compare_argv("--methods", "uniaux", "--seeds", "0", "--resume", out="{tmp}/mine"),
        r"cannot resume: '.*/mine' was not made by mmbss as a comparison\.",
        setup=write("mine/notes.txt", "keep me")),
    cli("compare-resume-changed", "engine", "`compare --resume`, a finished run, other batch size",
        ("compare", "--config", "{tmp}/old/config.yaml", "--quiet", "--out", "{tmp}/cmp",
         "--methods", "bss-lb", "--seeds", "0", "--resume", "--set", "train.batch_size=8"),
        r"cannot resume '.*/cmp/runs/bss-lb/seed0': the config differs on keys that cannot change "
        r"on resume:\n  train\.batch_size: 16 -> 8\n", setup=finished_compare_run),

    # --- core, data and models: fixed after the first catalogue
    api("sched-pacing-option-unknown", "core",
        "`CurriculumScheduler(pacing='root', num_steps=3)` (an option of 'step' only)",
        lambda: CurriculumScheduler(num_samples=10, pacing="root", num_steps=3), ValueError,
        L("pacing 'root' has no option 'num_steps'; its options: lambda0, t_grow.")),
    api("sched-update-list", "core", "`update([0., 0, 0, 0])` (a list, not a Tensor)",
        lambda: lb().update([0.0, 0, 0, 0]), TypeError,
        L("LearningBasedScheduler.update: 'scores' must be a Tensor of shape (4,); got list.")),
    api("sched-state-scores-above-two", "core", "a state with a score of 3 (linear LB weights)",
        lambda: lb().load_state_dict(lb_state(scores=torch.tensor([0.0, 3.0, 0.0, 0.0]))),
        ValueError,
        L("LearningBasedScheduler.load_state_dict: scores must be <= 2 (the range of "
          "BalanceScorer.score) so that 2 + eps - d > 0; got max 3.")),
    api("sampler-scheduler-none", "core", "`BalanceSampler(None)`",
        lambda: BalanceSampler(None), TypeError,
        L("BalanceSampler: 'scheduler' must be an mmbss scheduler (with indices() and "
          "epoch_size()); got None.")),
    api("shard-sequence-list", "core", "`shard([1, 2, 3], 2, 0)` (a list, not a Tensor)",
        lambda: shard([1, 2, 3], 2, 0), TypeError,
        L("shard: 'sequence' must be a 1-D integer Tensor of sample indices (e.g. "
          "torch.arange(N)); got list.")),
    api("tracker-criteria-list", "core", "`record()` of a list of tensors, not a dict",
        lambda: OnlineScoreTracker(4).record(torch.tensor([0, 1]), [torch.tensor([1.0, 2.0])]),
        TypeError,
        L("OnlineScoreTracker.record: 'criteria' must be a dict name -> Tensor[B] (e.g. "
          "BalanceScorer.criteria(...)); got list.")),
    api("scorer-weights-list", "core", "`BalanceScorer(loss_weights=[1, 2])`",
        lambda: BalanceScorer(loss_weights=[1, 2]), TypeError,
        L("BalanceScorer: 'loss_weights' must be a dict head -> float (keys 'fused', 'unimodal' "
          "or a modality name) or None; got [1, 2].")),
    api("score-feature-keys", "core", "`features` keyed `x`, `y` for modalities `a`, `b`",
        lambda: BalanceScorer(correlation="feature").score(
            logits(), two(), LABELS4, features={"x": torch.ones(4, 5), "y": torch.ones(4, 5)}),
        ValueError,
        L("features has missing ['a', 'b'] and unexpected ['x', 'y']; expected exactly the keys "
          "['a', 'b'] (the modalities of unimodal_logits).")),
    api("permutation-list", "core", "`weighted_permutation([1.0, 2.0])` (a list)",
        lambda: weighted_permutation([1.0, 2.0]), TypeError,
        L("weighted_permutation: 'weights' must be a 1-D Tensor; got list.")),
    api("synthetic-classes-above-samples", "data", "synthetic `num_samples=10, num_classes=20`",
        lambda: create_dataset("synthetic", num_samples=10, num_classes=20), ValueError,
        L("synthetic: 'num_classes' must be an int <= num_samples (10) so that every class has "
          "a sample; got 20. Raise num_samples or lower num_classes.")),
    api("dataset-bool-labels", "data", "bool labels `[True, False]`",
        lambda: MultiModalTensorDataset({"a": torch.zeros(2, 1)}, torch.tensor([True, False])),
        TypeError, L("MultiModalTensorDataset: 'labels' must be a 1-D integer Tensor; got "
                     "Tensor(dtype=torch.bool, shape=(2,)).")),
    api("corrupt-samples-fraction", "data", "`corrupt_samples(fraction=2)`",
        lambda: corrupt_samples(np.zeros((4, 2)), np.array([0, 1, 0, 1]), fraction=2,
                                mode="swap", seed=0), ValueError,
        L("corrupt_samples: 'fraction' must be a float in [0.0, 1.0]; got 2.")),
    api("build-fusion-kw-list", "models", "`build_model(..., fusion_kw=[1])`",
        lambda: build_model({"a": (4,), "b": (3,)}, 3, fusion_kw=[1]), TypeError,
        L("build_model: 'fusion_kw' must be a dict or None; got [1].")),
    api("net-forward-int-input", "models", "input a an int64 tensor",
        lambda: net()({"a": torch.zeros(2, 4, dtype=torch.int64), "b": torch.zeros(2, 3)}),
        TypeError, L("MultiModalNet: input 'a' must be a floating-point tensor; got "
                     "torch.int64.")),
    # --- config, cli and engine: fixed after the first catalogue
    cli("config-section-not-str", "config", "a YAML section named by a number (`1: {a: 2}`)",
        ("train", "--config", "{tmp}/c.yaml"),
        r"config file '.*c\.yaml': config section names must be strings; got 1 \(int\); valid "
        r"sections: data, model, optim, train, method, compare\.", setup=write("c.yaml", "1: {a: 2}\n")),
    cli("config-key-not-str", "config", "a YAML key named by a number (`train: {1: 2}`)",
        ("train", "--config", "{tmp}/c.yaml"),
        r"config file '.*c\.yaml': config keys must be strings; got 1 in section 'train'\.",
        setup=write("c.yaml", "train: {1: 2}\n")),
    api("overrides-not-a-list", "config", "`load_config(None, 'train.epochs=3')` (a string)",
        lambda: load_config(None, "train.epochs=3"), TypeError,
        L("'overrides' must be a list of 'key=value' strings; got 'train.epochs=3'.")),
    cli("data-options-reserved", "config", "`data.options` giving `seed`",
        train_argv("data.options={num_samples: 300, num_classes: 3, dims: 8, seed: 3}"),
        L("data.options: 'seed' is set by data.split_seed, data.val_fraction and "
          "data.test_fraction; remove it from data.options.")),
    cli("train-device-cuda-word", "config", "`train.device=cuda:x`",
        train_argv("train.device=cuda:x"),
        L("train: 'device' must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got 'cuda:x'.")),
    cli("compare-empty-baseline", "engine", "`--baseline ''`",
        compare_argv("--baseline", ""),
        L("compare.baseline '' is not one of the methods")),
    cli("compare-entry-bad-option", "engine", "an entry `{name: bss-cl, t_grow: 0}`",
        compare_argv("--set", "compare.methods=[uniaux, {name: bss-cl, t_grow: 0}]"),
        L("compare.methods[1] (bss-cl): method: 't_grow' must be an int >= 1; got 0.")),
    cli("compare-entry-unknown-key", "engine", "an entry `{name: bss-cl, foo: 1}`",
        compare_argv("--set", "compare.methods=[uniaux, {name: bss-cl, foo: 1}]"),
        L("compare.methods[1] (bss-cl): unknown config key 'method.foo'")),
    cli("score-unknown-checkpoint-name", "engine", "`mmbss score RUN --checkpoint middle`",
        ("score", "{tmp}/run", "--checkpoint", "middle"),
        L("--checkpoint must be 'best', 'last' or the path of a checkpoint file; got 'middle', "
          "which is no file."), setup=trained_run("run")),
    cli("score-checkpoint-folder", "engine", "`mmbss score RUN --checkpoint <a folder>`",
        ("score", "{tmp}/run", "--checkpoint", "{tmp}/run/checkpoints"),
        r"--checkpoint '.*/run/checkpoints' is a folder, not a checkpoint file; give 'best', "
        r"'last' or the path of a \.pt file\.", setup=trained_run("run")),
    cli("score-other-model", "engine", "`mmbss score` of a checkpoint of another model",
        ("score", "{tmp}/run"),
        r"best\.pt' does not fit the model of '.*/run/config\.yaml' \(was it written by another "
        r"run\?\): size mismatch for encoders\.m0\.", setup=trained_run("run", lambda run: (
            run / "config.yaml").write_text((run / "config.yaml").read_text().replace(
                "hidden:\n    - 16", "hidden:\n    - 24")))),
    cli("report-out-file", "engine", "`mmbss report RUN --out <a file>`",
        ("report", "{tmp}/run", "--out", "{tmp}/run/config.yaml"),
        r"'.*/run/config\.yaml' is a file, not a folder; choose another --out\.",
        setup=trained_run("run")),
    # --- Engine v2: datasets, loaders, methods
    cli("data-name-missing-file", "data", "`data.name=nowhere/ds.py:make` (no such file)",
        train_argv("data.name=nowhere/ds.py:make"),
        L("data.name 'nowhere/ds.py:make': the file 'nowhere/ds.py' does not exist; the form is "
          "'package.module:function' or 'path/to/file.py:function'.")),
    cli("data-name-missing-module", "data", "`data.name=nosuchpkg.data:make` (no such module)",
        train_argv("data.name=nosuchpkg.data:make"),
        L("data.name 'nosuchpkg.data:make': no module 'nosuchpkg' can be imported; the form is")),
    cli("data-name-missing-function", "data", "`data.name=<file>.py:make`, the file has no `make`",
        train_argv("data.name={tmp}/ds_other.py:make"),
        r"data\.name '.*/ds_other\.py:make': '.*/ds_other\.py' has no function 'make'; its functions: other\.",
        setup=write("ds_other.py", "def other():\n    pass\n")),
    api("data-name-no-function", "data", "`create_dataset('ds_other.py:')` (nothing after the colon)",
        lambda: create_dataset("ds_other.py:"), ValueError,
        L("data.name 'ds_other.py:' names no function; the form is 'package.module:function'")),
    cli("data-factory-not-a-bundle", "data", "a user factory returning a list",
        train_argv("data.name={tmp}/ds_list.py:make"),
        r"dataset factory '.*/ds_list\.py:make' returned a list, not a mmbss\.data\.DataBundle; return "
        r"DataBundle\(train=\.\.\., val=\.\.\., test=\.\.\., num_classes=\.\.\., "
        r"modality_shapes=\.\.\.\)\.",
        setup=write("ds_list.py", "def make(**options):\n    return [1]\n")),
    cli("data-fixed-split-fraction", "data", "`data.test_fraction` for a factory without one",
        train_argv("data.name={tmp}/ds_fixed.py:make", "data.options={}", "data.test_fraction=0.3"),
        r"data\.test_fraction: dataset '.*/ds_fixed\.py:make' has no option 'test_fraction' \(its "
        r"splits are fixed\); remove data\.test_fraction from the config\.",
        setup=write("ds_fixed.py", "from mmbss.data import create_dataset\n\n\ndef make(seed=0):\n"
                    "    return create_dataset('synthetic', seed=seed, num_samples=300)\n")),
    cli("train-num-workers-negative", "config", "`train.num_workers=-1`",
        train_argv("train.num_workers=-1"),
        L("train: 'num_workers' must be an int >= 0; got -1.")),
    cli("method-two-sampling-policies", "config", "`method.name=bss-lb+bss-cl`",
        train_argv("method.name=bss-lb+bss-cl"),
        L("method: 'bss-lb+bss-cl' combines the sampling policies 'bss-lb', 'bss-cl'; a method has "
          "one (combine it with a gradient policy: agm, mmpareto, ogm-ge, pmr).")),
    cli("method-two-gradient-policies", "config", "`method.name=bss-lb+ogm-ge+mmpareto`",
        train_argv("method.name=bss-lb+ogm-ge+mmpareto"),
        L("method: 'bss-lb+ogm-ge+mmpareto' combines the gradient policies 'ogm-ge', 'mmpareto'; a "
          "method has at most one (each published method acts alone on the gradients). Compare "
          "them as separate methods, e.g. bss-lb+ogm-ge and bss-lb+mmpareto.")),
    cli("method-gradient-alpha-zero", "config", "`method.options={ogm-ge: {alpha: 0}}`",
        train_argv("method.name=bss-lb+ogm-ge", "method.options={ogm-ge: {alpha: 0}}"),
        L("mmbss: error: ogm-ge: 'alpha' must be a float > 0.0; got 0.")),
    cli("method-gradient-window-outside", "config", "an AGM window starting after the last epoch",
        train_argv("method.name=agm", "method.options={agm: {start_epoch: 40, end_epoch: 60}}"),
        L("agm: the modulation window starts at epoch 40, but training has 1 epoch (0..0); set "
          "agm start_epoch below 1.")),
    cli("method-gradient-joint", "config", "`method.name=joint+mmpareto` (no unimodal loss)",
        train_argv("method.name=joint+mmpareto"),
        L("mmpareto needs a multimodal and a unimodal loss on every encoder, but 'joint' trains "
          "with fused weight 1.0 and unimodal weight 0.0 on the encoders")),
    cli("method-preset-unknown", "config", "`method.name=bss-lb-papr` (a preset misspelt)",
        train_argv("method.name=bss-lb-papr"),
        L("Did you mean 'bss-lb-paper'?")),
    cli("method-preset-conflict", "config", "`method.name=bss-lb-paper` with `method.ema=0.3`",
        train_argv("method.name=bss-lb-paper", "method.ema=0.3"),
        L("method: the preset 'bss-lb-paper' sets ema=0.4, but the config sets method.ema=0.3. A "
          "preset fixes its values")),
    cli("method-options-not-chosen", "config", "`method.options={ogm-ge: {alpha: 1}}` for bss-lb",
        train_argv("method.options={ogm-ge: {alpha: 1}}"),
        L("method.options: 'ogm-ge' is not a gradient policy of 'bss-lb'; give options only for "
          "none.")),
    api("collate-missing-key", "data", "a sample dict without `label`",
        lambda: collate_samples([{"modalities": {"a": torch.zeros(2)}, "index": 3}]), ValueError,
        L("collate_samples: a sample (index 3) lacks the key(s) ['label']; each sample must be")),
    api("collate-modalities-differ", "data", "samples with different modality sets",
        lambda: collate_samples([{"modalities": {"a": torch.zeros(2)}, "label": 0, "index": 0},
                                 {"modalities": {"b": torch.zeros(2)}, "label": 0, "index": 1}]),
        ValueError, L("collate_samples: sample index 1 has the modalities ['b'], sample index 0 "
                      "['a']; every sample needs the same ones.")),
    api("collate-not-a-dict", "data", "a sample that is a tuple",
        lambda: collate_samples([(torch.zeros(2), 0)]), TypeError,
        L("collate_samples: sample 0 of the batch is a tuple, not a dict")),
    api("score-dataset-index-outside", "core", "a batch whose `index` is outside the dataset",
        lambda: score_dataset(_TwoHeads(), [_batch([0, 5])], BalanceScorer(), num_samples=2),
        ValueError, L("a batch holds sample index 5, outside [0, 1] (the dataset has 2 samples); "
                      "a sample's 'index' must be its position in its split.")),
    api("score-dataset-partial", "core", "a loader that covers 1 of 2 samples",
        lambda: score_dataset(_TwoHeads(), [_batch([1])], BalanceScorer(), num_samples=2),
        ValueError, L("score_dataset: the loader yielded 1 of 2 samples; score with a loader over "
                      "the whole set")),
    api("score-dataset-not-a-module", "core", "a plain function as the model",
        lambda: score_dataset(lambda x: x, [_batch([0, 1])], BalanceScorer(), num_samples=2),
        TypeError, L("'model' must be a torch.nn.Module; got function.")),
    api("score-dataset-batch-lacks-index", "core", "batches without `index`",
        lambda: score_dataset(_TwoHeads(), [{"modalities": {}, "label": torch.zeros(1)}],
                              BalanceScorer(), num_samples=1),
        ValueError, L("a batch lacks the key(s) ['index']; samples must be dicts")),
    api("score-dataset-model-output", "core", "a model returning one tensor",
        lambda: score_dataset(_OneTensor(), [_batch([0, 1])], BalanceScorer(), num_samples=2),
        TypeError, L("the model must return an object with 'fused' and 'unimodal' attributes or a "
                     "tuple")),
    api("bundle-train-eval-length", "data", "`DataBundle(train_eval=...)` of another length",
        lambda: DataBundle(train=dataset2(), val=dataset2(), test=dataset2(), num_classes=3,
                           modality_shapes=dataset2().modality_shapes,
                           train_eval=MultiModalTensorDataset({"a": torch.zeros(1, 2)},
                                                              torch.tensor([0]), num_classes=3)),
        ValueError, L("DataBundle: 'train_eval' must hold the training samples with the evaluation "
                      "transforms")),
    # --- messages no row pinned before (tests/test_messages_pinned.py keeps it so)
    api("score-dataset-no-batch", "core", "a loader that yields nothing",
        lambda: score_dataset(_TwoHeads(), [], BalanceScorer(), num_samples=2), ValueError,
        L("the loader yielded no batch; expected batches covering 2 samples.")),
    api("score-dataset-no-size", "core", "a plain list of batches without `num_samples`",
        lambda: score_dataset(_TwoHeads(), [_batch([0])], BalanceScorer()), TypeError,
        L("pass num_samples= when the loader has no 'dataset' attribute.")),
    api("score-dataset-batch-not-dict", "core", "batches that are lists",
        lambda: score_dataset(_TwoHeads(), [[1, 2]], BalanceScorer(), num_samples=2), TypeError,
        L("a batch must be a collated sample dict with keys 'modalities', 'label' and 'index'; "
          "got list (use collate_fn=mmbss.data.collate_samples).")),
    api("collate-empty", "data", "`collate_samples([])`", lambda: collate_samples([]), ValueError,
        L("collate_samples: got an empty batch.")),
    api("synthetic-class-without-train-sample", "data", "synthetic `num_samples=12, num_classes=6`",
        lambda: create_dataset("synthetic", num_samples=12, num_classes=6), ValueError,
        L("use more samples per class, fewer classes or smaller fractions.")),
    api("dataset-empty", "data", "a `MultiModalTensorDataset` of 0 samples",
        lambda: MultiModalTensorDataset({"a": torch.zeros(0, 2)}, torch.zeros(0, dtype=torch.long),
                                        num_classes=3), ValueError,
        L("the dataset has no samples ('labels' has length 0); give at least one sample.")),
    api("checkpoint-no-payload", "engine", "an mmbss header whose payload is a number",
        lambda tmp: (torch.save({"format": "mmbss-checkpoint", "version": 3, "kind": "resume",
                                 "sha256": "", "payload": 3}, tmp / "c.pt"),
                     load_checkpoint(tmp / "c.pt")), ValueError, r"c\.pt' has no payload\."),
    api("checkpoint-missing-keys", "engine", "a checksummed resume payload holding only `model`",
        lambda tmp: (torch.save({"format": "mmbss-checkpoint", "version": 3, "kind": "resume",
                                 "sha256": payload_digest({"model": {}}),
                                 "payload": {"model": {}}}, tmp / "c.pt"),
                     load_checkpoint(tmp / "c.pt")), ValueError,
        r"c\.pt' is not an mmbss resume checkpoint: missing keys \['best', 'config', 'epoch', "),
    api("resume-folder-empty", "engine", "`load_resume` of a folder without checkpoints",
        lambda tmp: load_resume(tmp), FileNotFoundError,
        r"holds no resume checkpoint \(last\.pt or previous\.pt\)\."),
    api("resume-non-finite-only", "engine", "the only resume checkpoint holds NaN weights",
        lambda tmp: (_nan_checkpoint(tmp), load_resume(tmp)), ValueError,
        r"no usable resume checkpoint: checkpoint '.*last\.pt' holds non-finite weights\. Start "
        r"the run again with --overwrite\."),
    api("checkpoint-payload-object", "engine", "a payload holding a Python set",
        lambda: payload_digest({"model": {1, 2}}), TypeError,
        L("checkpoint payloads hold tensors, numbers, strings and plain containers only; got set.")),
    api("eval-loader-partial", "engine", "an evaluation loader that skips samples",
        lambda: collect_eval_outputs(_TwoHeads(), _Loader([_batch([0])], 2), torch.device("cpu")),
        ValueError, L("the evaluation loader yielded 1 of 2 samples; every sample must be "
                      "evaluated.")),
    api("out-no-permission", "engine", "`--out` in a folder without write permission",
        _no_permission, PermissionError,
        r"cannot create '.*/x': no permission to write in '.*'; choose a folder you can write to\."),
    api("method-state-other-policies", "engine", "a method state of other gradient policies",
        lambda: create_method(tiny_config("bss-lb")).load_state_dict({"ogm-ge": {}}), KeyError,
        L("Method.load_state_dict: the state holds the gradient policies ['ogm-ge'], this method "
          "[]")),
    api("gradient-policy-state-not-empty", "engine", "a state for a policy that keeps none",
        lambda: GradientPolicy().load_state_dict({"steps": 3}), KeyError,
        L("gradient-policy.load_state_dict: expected an empty state; got keys ['steps'].")),
    cli("data-name-module-taken", "data", "a factory file named like an installed module (`yaml.py`)",
        train_argv("data.name={tmp}/yaml.py:make"),
        r"data\.name '.*/yaml\.py:make': the module name 'yaml' is already taken \(by an "
        r"installed package or the Python library\); rename '.*/yaml\.py'\.",
        setup=write("yaml.py", "def make():\n    pass\n")),
    # --- the paper datasets: mmbss prepare, the cache loaders; experiment trackers
    cli("prepare-unknown-dataset", "cli", "`mmbss prepare cremd`",
        ("prepare", "cremd", "--src", "{tmp}", "--out", "{tmp}/c"),
        L("unknown prepared dataset 'cremd'; valid names: cremad, kinetics-sounds, nvgesture, "
          "sarcasm, twitter2015, vggsound. Did you mean 'cremad'?")),
    cli("prepare-no-src", "data", "`--src` a folder that does not exist",
        ("prepare", "cremad", "--src", "{tmp}/nope", "--out", "{tmp}/c"),
        r"mmbss prepare cremad: the source folder '.*/nope' does not exist; --src must be the "
        r"dataset as unpacked:"),
    cli("prepare-wrong-src", "data", "`--src` a folder without the dataset's layout",
        ("prepare", "cremad", "--src", "{tmp}/raw", "--out", "{tmp}/c"),
        r"'.*/raw' has no AudioWAV folder; --src must be the CREMA-D folder\. Expected layout:",
        setup=mkdir("raw")),
    cli("prepare-no-split-files", "data", "CREMA-D without the OGM-GE split files",
        ("prepare", "cremad", "--src", "{tmp}/raw", "--out", "{tmp}/c"),
        r"The split files are not part of CREMA-D: take data/CREMAD/train\.csv and test\.csv from "
        r"the OGM-GE repository", setup=mkdir("raw/AudioWAV")),
    cli("prepare-bad-param", "cli", "`--param secs=3`",
        ("prepare", "cremad", "--src", "{tmp}", "--out", "{tmp}/c", "--param", "secs=3"),
        L("mmbss prepare cremad: no parameter 'secs'; its parameters (--param NAME=VALUE): "
          "sample_rate=22050, seconds=20.0,")),
    cli("prepare-param-form", "cli", "`--param seconds`",
        ("prepare", "cremad", "--src", "{tmp}", "--out", "{tmp}/c", "--param", "seconds"),
        L("mmbss prepare: '--param' must be KEY=VALUE, e.g. seconds=3; got 'seconds'.")),
    cli("prepare-max-skipped-form", "cli", "`--max-skipped lots`",
        ("prepare", "cremad", "--src", "{tmp}", "--out", "{tmp}/c", "--max-skipped", "lots"),
        L("mmbss prepare: '--max-skipped' must be a count (e.g. 10) or a percentage (e.g. 1%); "
          "got 'lots'.")),
    cli("prepare-out-not-a-cache", "data", "`--out` a folder of other files",
        ("prepare", "cremad", "--src", "{tmp}/raw", "--out", "{tmp}/mine"),
        r"'.*/mine' is not empty and holds no mmbss cache; choose an empty or new --out folder\.",
        setup=lambda tmp: (mkdir("raw/AudioWAV")(tmp), write("raw/annotations/train.csv", "")(tmp),
                           write("raw/annotations/test.csv", "")(tmp),
                           write("mine/notes.txt", "mine")(tmp))),
    cli("data-root-unset", "data", "`data.name=cremad` without `data.root`",
        train_argv("data.name=cremad", "data.options={}"),
        L("dataset 'cremad': 'root' is not set; set data.root to the folder 'mmbss prepare cremad "
          "--out' wrote.")),
    cli("data-root-raw-folder", "data", "`data.root` the raw download instead of the cache",
        train_argv("data.name=cremad", "data.options={}", "data.root={tmp}/raw"),
        r"dataset 'cremad': '.*/raw' has no cache\.json, so it is not a prepared cache \(is it "
        r"the raw download\?\); run 'mmbss prepare cremad --src RAW_DIR --out .*/raw' and point "
        r"data\.root at the --out folder\.", setup=mkdir("raw/AudioWAV")),
    cli("data-root-not-read", "data", "`data.root` for a dataset that reads no files",
        train_argv("data.root={tmp}"),
        L("data.root: dataset 'synthetic' has no option 'root' (it reads no files); remove "
          "data.root from the config.")),
    cli("data-root-twice", "config", "`data.root` and `data.options.root` both set",
        train_argv("data.name=cremad", "data.options={root: a}", "data.root=b"),
        L("data.root ('b') and data.options.root ('a') are both set; keep one of them.")),
    cli("train-logger-unknown", "config", "`train.loggers=[wandb]`",
        train_argv("train.loggers=[wandb]"),
        L("train.loggers: unknown logger 'wandb'; valid names: tensorboard, mlflow.")),
]


def _without_cuda(fn: Callable[[], object]) -> object:
    with mock.patch("torch.cuda.is_available", return_value=False):
        return fn()


# ------------------------------------------------------------------------------------ running
def prepare_cli(case: Case, tmp: Path) -> list[str]:
    """Write the tiny config and the row's files under ``tmp``; return its argv."""
    (tmp / "tiny.yaml").write_text(_dump(tiny_config(epochs=1)))
    if case.setup is not None:
        case.setup(tmp)
    return [a.replace("{tmp}", str(tmp)) for a in case.trigger]


def run_cli(argv: list[str]) -> int:
    """``mmbss.cli.main.main(argv)``; argparse's ``SystemExit`` becomes its exit status."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1


def call(fn: Callable[..., object], tmp: Path) -> object:
    """Call an API row's trigger, with ``tmp`` when it takes an argument."""
    return fn(tmp) if inspect.signature(fn).parameters else fn()


# -------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_its_message(case: Case, request, capsys) -> None:
    if isinstance(case.trigger, tuple):
        argv = prepare_cli(case, request.getfixturevalue("tmp_path"))
        capsys.readouterr()
        status = run_cli(argv)
        err = capsys.readouterr().err
        assert status == case.expect, err
        assert "Traceback" not in err
        assert re.search(case.match, err), err
    else:
        args = [request.getfixturevalue("tmp_path")] if inspect.signature(
            case.trigger).parameters else []
        with pytest.raises(case.expect, match=case.match) as info:
            case.trigger(*args)
        # one exception family (DESIGN rule 3); KeyError: a state dict's keys, OSError: files
        assert isinstance(info.value, (MmbssError, KeyError, OSError)), type(info.value)


def test_catalogue_is_well_formed() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in ids)
    assert {c.area for c in CASES} == set(AREAS)
    assert len(CASES) >= 70
    for c in CASES:
        if isinstance(c.trigger, tuple):
            assert isinstance(c.expect, int) and c.expect in (1, 2), c.id
        else:
            assert isinstance(c.expect, type) and issubclass(c.expect, Exception), c.id
            assert c.setup is None, c.id


def _catalogue_script():
    spec = importlib.util.spec_from_file_location(
        "bad_input_catalogue", ROOT / "scripts" / "bad_input_catalogue.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_doc_is_up_to_date(capsys) -> None:
    status = _catalogue_script().main(["--check"], cases_module=sys.modules[__name__])
    assert status == 0, capsys.readouterr().err


def test_doc_has_a_row_per_case() -> None:
    text = (ROOT / "docs" / "BAD_INPUT.md").read_text(encoding="utf-8")
    row = re.compile(rf"^\| ([a-z0-9-]+) \| ({'|'.join(AREAS)}) \| .+ \|$", re.MULTILINE)
    ids = [m.group(1) for m in row.finditer(text)]
    assert len(ids) >= 60
    assert ids == [c.id for c in CASES]
