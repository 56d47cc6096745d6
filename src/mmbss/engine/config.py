"""Typed, layered run configuration (DESIGN rule 8): dataclasses <- YAML <- ``--set key=value``.

Unknown keys and values of the wrong type are rejected by their dotted key name; the resolved
config is saved as ``config.yaml`` in the run directory and inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import InvalidTypeError, InvalidValueError

log = logging.getLogger(__name__)

__all__ = ["Config", "DataConfig", "ModelConfig", "OptimConfig", "TrainConfig", "MethodConfig",
           "CompareConfig", "load_config", "apply_overrides", "changes_since", "config_to_dict",
           "config_from_dict", "diff_configs", "resume_changes", "RESUMABLE_KEYS", "ConfigError"]

RESUMABLE_KEYS = ("optim.lr", "train.epochs", "train.eval_batch_size", "train.export_scores",
                  "train.num_workers", "train.checkpoint_every", "train.ddp_timeout",
                  "train.eval_test", "train.loggers")
"""Config keys that ``--resume`` may change (recorded in ``resume_changes.jsonl``): a new
``optim.lr`` rescales the learning-rate schedule from the resumed epoch on; a larger
``train.epochs`` extends a run (not with ``optim.schedule: cosine``, whose length it sets)."""


class ConfigError(InvalidValueError):
    """A config file or ``--set`` override is invalid; the message names the key."""


@dataclass
class DataConfig:
    """Which dataset and split. ``name``: a registered dataset or a factory
    ``"package.module:function"`` / ``"path/to/file.py:function"``; ``options`` go to the
    factory (e.g. ``views``); ``val_fraction`` / ``test_fraction``: None = the dataset's default
    (only for datasets that carve that split); ``root``: the folder a dataset reads (a paper
    dataset's cache written by ``mmbss prepare``)."""
    name: str = "mfeat"
    root: str | None = None
    split_seed: int = 0
    val_fraction: float | None = None
    test_fraction: float | None = None
    options: dict = field(default_factory=dict)


@dataclass
class ModelConfig:
    """Encoders and fusion; ``encoder="auto"``: mlp for vectors, cnn2d for images."""
    encoder: str | dict = "auto"
    fusion: str = "concat"
    encoder_kw: dict = field(default_factory=dict)
    fusion_kw: dict = field(default_factory=dict)


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule (reference: SGD 0.01, momentum 0.9, wd 1e-4, StepLR)."""
    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "step"
    step_size: int = 70
    gamma: float = 0.1


@dataclass
class TrainConfig:
    """The loop: epochs, batch size, seed, loss weights, prediction rule, device."""
    epochs: int = 30
    batch_size: int = 32
    eval_batch_size: int = 1024
    num_workers: int = 0
    seed: int = 0
    fused_weight: float = 1.0
    unimodal_weight: float = 1.0
    predict: str = "sum"
    device: str = "cpu"
    select_metric: str = "acc"
    export_scores: bool = True
    checkpoint_every: int | None = None  # also save the resume state every N steps (mid-epoch)
    amp: str = "off"                     # "off", "bf16" or "fp16" (autocast; GradScaler for fp16)
    channels_last: bool = False          # channels-last memory format for 4-D inputs (CNNs)
    compile: bool = False                # torch.compile the model for training
    ddp_timeout: float = 600.0           # seconds a rank waits for the others before failing
    eval_test: str = "every"             # "every" epoch, or "best": only at a new best val epoch
    loggers: list = field(default_factory=list)  # experiment trackers: tensorboard, mlflow


@dataclass
class MethodConfig:
    """The method and every BSS option (defaults reproduce the reference code, SPEC §3–§5).

    ``name`` is a sampling policy, optionally joined by ``+`` with gradient policies
    (``"bss-lb+ogm-ge"``), whose typed options go in ``options: {policy: {option: value}}``."""
    name: str = "bss-lb"
    correlation: str | None = "prediction"
    information: str | None = "loss"
    scoring: str = "exact"
    gradient_mode: str = "heads"      # information=gradient: "heads" (closed form) or "exact"
    pacing: str = "root"
    lambda0: float = 0.1
    t_grow: int = 40
    warmup_epochs: int = 0
    warmup: str = "full"               # curricula: "full" epochs, or "paced" (counted as pacing time)
    self_taught: bool = False          # warm-up trains a teacher that scores; then a fresh model
    rescore_every: int | None = None   # None: once (bss-cl), every epoch (bss-lb)
    eps: float = 0.01
    ema: float = 0.0
    replacement: bool = False
    temperature: float | None = None
    options: dict = field(default_factory=dict)  # per gradient policy: {name: {option: value}}


@dataclass
class CompareConfig:
    """``mmbss compare``: methods x seeds. A method entry is a name or a mapping with ``name``,
    an optional ``label`` and any ``method.*`` overrides (e.g. ``{name: bss-cl, warmup_epochs: 3}``)."""
    methods: list = field(default_factory=lambda: ["uniaux", "bss-cl", "bss-lb"])
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    baseline: str | None = None


@dataclass
class Config:
    """A whole run: ``data``, ``model``, ``optim``, ``train``, ``method`` (and ``compare``) sections."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)


def config_to_dict(cfg: Config) -> dict:
    """Plain nested dict of ``cfg`` (what ``config.yaml`` holds)."""
    return dataclasses.asdict(cfg)


def config_from_dict(raw: dict | None, base: Config | None = None) -> Config:
    """Layer ``raw`` (nested dict) over ``base`` (default: the defaults), checking keys and types."""
    cfg = base if base is not None else Config()
    if raw is None:
        return cfg
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping of sections; got {type(raw).__name__}.")
    for section, values in raw.items():
        if not isinstance(section, str):
            raise ConfigError(f"config section names must be strings; got {section!r} "
                              f"({type(section).__name__}); valid sections: "
                              f"{', '.join(f.name for f in dataclasses.fields(Config))}.")
        _check_key(section, [f.name for f in dataclasses.fields(Config)], "")
        if not isinstance(values, dict):
            raise ConfigError(f"config section '{section}' must be a mapping; got {values!r}.")
        for key, value in values.items():
            if not isinstance(key, str):
                raise ConfigError(f"config keys must be strings; got {key!r} in section "
                                  f"'{section}'.")
            _set(cfg, f"{section}.{key}", value)
    return cfg


def load_config(path: str | Path | None, overrides: list[str] = ()) -> Config:
    """Read a YAML file (optional) and apply ``key=value`` overrides (``train.epochs=5``)."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            what = "is a folder, not a file" if p.is_dir() else "does not exist"
            raise ConfigError(f"config file '{p}' {what}; see configs/ for examples.")
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"config file '{p}' is not a text file (it is not UTF-8); give a "
                              f"YAML config such as configs/mfeat-demo.yaml.") from None
        except OSError as e:
            raise ConfigError(f"config file '{p}' cannot be read: {e.strerror or e}.") from None
        if "\x00" in text:
            raise ConfigError(f"config file '{p}' is a binary file, not YAML; give a YAML config "
                              f"such as configs/mfeat-demo.yaml.")
        try:
            raw = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
        except yaml.YAMLError as e:
            raise ConfigError(f"config file '{p}' is not valid YAML: {e}") from None
        if raw is None:
            log.warning("config file '%s' is empty, so the built-in defaults are used%s", p,
                        " with the --set values" if overrides else "")
        try:
            cfg = config_from_dict(raw)
        except ConfigError as e:
            raise ConfigError(f"config file '{p}': {e}") from None
    else:
        cfg = Config()
    return apply_overrides(cfg, overrides)


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys (it would silently keep the last one)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given on line {seen[key] + 1}); "
                    f"keep one of them", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply ``section.key=value`` strings; values are parsed as YAML (``0.1``, ``[a, b]``, ``null``)."""
    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
        raise InvalidTypeError(f"'overrides' must be a list of 'key=value' strings; got {overrides!r}.")
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value (e.g. train.epochs=5); got {item!r}.")
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        _set(cfg, key.strip(), value)
    return cfg


def diff_configs(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested config dicts, as 'key: a -> b' lines."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k, "<missing>"), b.get(k, "<missing>")
        if isinstance(va, dict) and isinstance(vb, dict) and k not in ("options", "encoder_kw", "fusion_kw"):
            out += diff_configs(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: {va!r} -> {vb!r}")
    return out


def resume_changes(saved: dict, cfg: Config, *, trained_epochs: int) -> list[str]:
    """The changes of ``cfg`` against the config ``saved`` in a resume checkpoint, as
    'key: old -> new' lines, when all of them may change on resume (:data:`RESUMABLE_KEYS`).

    Raises:
        ConfigError: a key outside :data:`RESUMABLE_KEYS` differs, ``train.epochs`` is below the
            epochs already trained or changes under a cosine schedule, or the run has finished and
            a change could not take effect.
    """
    diffs = diff_configs(_plain(saved), _plain(config_to_dict(cfg)))
    refused = [d for d in diffs if d.split(":", 1)[0] not in RESUMABLE_KEYS]
    if refused:
        raise ConfigError("the config differs on keys that cannot change on resume:\n  "
                          + "\n  ".join(refused) + f"\n(only {', '.join(RESUMABLE_KEYS)} may change; "
                          "resume with the same config, or start a new run)")
    changed = {d.split(":", 1)[0] for d in diffs}
    epochs = cfg.train.epochs
    if "train.epochs" in changed and cfg.optim.schedule == "cosine":
        raise ConfigError("train.epochs cannot change on resume with optim.schedule: cosine (the "
                          "schedule's length is train.epochs); start a new run.")
    if epochs < trained_epochs:
        raise ConfigError(f"train.epochs: {epochs} is below the {trained_epochs} epochs already "
                          f"trained; give train.epochs >= {trained_epochs}.")
    if "optim.lr" in changed and epochs == trained_epochs:
        raise ConfigError(f"the run has finished all {epochs} epochs, so the changed optim.lr "
                          f"would not take effect; raise train.epochs to continue training, or "
                          f"start a new run.")
    return diffs


def _plain(d: dict) -> dict:
    """Tuples as lists, as a YAML round trip gives them (so the two sources compare equal)."""
    import json

    return json.loads(json.dumps(d))


def changes_since(run_dir: str | Path, cfg: Config) -> list[str]:
    """Keys on which ``cfg`` differs from the ``config.yaml`` saved in ``run_dir`` (see
    :func:`diff_configs`); empty when the run can be continued or reused as is."""
    saved = load_config(Path(run_dir) / "config.yaml")
    return diff_configs(_plain(config_to_dict(saved)), _plain(config_to_dict(cfg)))


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _check_key(key: str, valid: list[str], where: str) -> None:
    if key not in valid:
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f" Did you mean '{where}{close[0]}'?" if close else ""
        raise ConfigError(f"unknown config key '{where}{key}'; valid keys here: "
                          f"{', '.join(where + v for v in valid)}.{hint}")


def _set(cfg: Config, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    if len(parts) != 2:
        raise ConfigError(f"config keys have the form section.key (e.g. train.epochs); got '{dotted}'.")
    section, key = parts
    _check_key(section, [f.name for f in dataclasses.fields(Config)], "")
    obj = getattr(cfg, section)
    fields = {f.name: f for f in dataclasses.fields(obj)}
    _check_key(key, list(fields), f"{section}.")
    hint = typing.get_type_hints(type(obj))[key]
    setattr(obj, key, _coerce(dotted, value, hint))


def _coerce(key: str, value: Any, hint: Any) -> Any:
    if hint is Any:
        return value
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if len(options) > 1:
        for option in options:
            try:
                return _coerce(key, value, option)
            except ConfigError:
                pass
        names = " or ".join("null" if o is type(None) else o.__name__ for o in options)
        raise ConfigError(f"config key '{key}' must be of type {names}; got {value!r} "
                          f"({type(value).__name__}).")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
    if hint is dict and value is None:
        return {}
    ok = isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    if not ok:
        name = hint.__name__ if isinstance(hint, type) else str(hint)
        raise ConfigError(f"config key '{key}' must be of type {name}; got {value!r} "
                          f"({type(value).__name__}).")
    return value

