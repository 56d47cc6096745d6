"""Building a run from its config: data, model, optimiser, LR schedule, method, scheduler,
sampler and loaders, with every check that needs them (before any directory is made).

:func:`build_run` is what :func:`mmbss.engine.trainer.train` starts with; :func:`check_configs`
validates the runs of a comparison, building each distinct data/model setup once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import torch

from ..core._rng import mix_seed
from ..core._validation import check_choice, check_float, check_int
from ..core.errors import InvalidValueError
from ..core.samplers import BalanceSampler
from ..core.tracking import OnlineScoreTracker
from .config import Config, config_to_dict
from .distributed import Launch
from .loaders import Batches, eval_loader, train_loader

__all__ = ["Run", "build_run", "build_data", "check_configs"]


@dataclass
class Run:
    """Everything one training run holds (built by :func:`build_run`)."""
    cfg: Config
    bundle: object
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    lr_schedule: object
    method: object
    scheduler: object
    sampler: BalanceSampler
    loaders: dict  # "train" (the BSS order), "train_eval" (scoring), "val", "test"
    tracker: OnlineScoreTracker | None
    device: torch.device
    labels: torch.Tensor | None = None  # of the training samples, read when first needed
    where: Launch = Launch()  # world size and rank (one process unless started by torchrun)
    train_model: torch.nn.Module | None = None  # what the training step calls (DDP / compiled)
    batches: Batches | None = None  # the train loader's batch sampler
    scaler: object = None  # torch.amp.GradScaler with train.amp = fp16

    def sizes(self, split: str) -> int:
        """The number of samples of a split (``train_eval``: the training split)."""
        return len(getattr(self.bundle, split))


def build_run(cfg: Config, where: Launch | None = None) -> Run:
    """Build data, model, optimiser, LR schedule, method, scheduler, sampler and loaders from
    ``cfg``, for this process of ``where`` (default: one process on ``train.device``)."""
    from ..methods import create_method
    from ..models import build_model

    t = cfg.train
    _check_train(t)
    if where is None:
        where = Launch(device=torch.device("cuda" if t.device == "auto" and torch.cuda.is_available()
                                           else ("cpu" if t.device == "auto" else t.device)))
    device = where.device
    bundle = build_data(cfg)
    torch.manual_seed(mix_seed(t.seed, "init"))
    model = build_model(bundle.modality_shapes, bundle.num_classes, encoder=cfg.model.encoder,
                        fusion=cfg.model.fusion, encoder_kw=cfg.model.encoder_kw,
                        fusion_kw=cfg.model.fusion_kw).to(device)
    if t.channels_last:
        volumes = sorted({m for m, enc in model.encoders.items()
                          if any(p.dim() == 5 for p in enc.parameters())})
        if volumes:
            raise InvalidValueError(f"train.channels_last applies to 2-D convolutions, but the "
                                    f"encoder of {', '.join(map(repr, volumes))} has 3-D ones "
                                    f"(e.g. i3d); set train.channels_last to false.")
        model = model.to(memory_format=torch.channels_last)
    optimizer, lr_schedule = _optimiser(cfg, model)
    _check_splits(bundle, cfg)
    _check_world(len(bundle.train), t.batch_size, where.world)
    method = create_method(cfg)
    scheduler = _method_scheduler(cfg, method, model, len(bundle.train))
    n = len(bundle.train)
    sampler = BalanceSampler(scheduler, num_replicas=1, rank=0)  # the whole sequence, every rank
    batches = Batches(sampler, t.batch_size, where.world, where.rank,
                      tag_seed=t.seed if getattr(bundle.train, "augment", False) else None)
    io = {"num_workers": t.num_workers, "device": device, "seed": t.seed}
    loaders = {"train": train_loader(bundle.train, batches, **io),
               **{split: eval_loader(_shard(getattr(bundle, split), where), t.eval_batch_size, **io)
                  for split in ("train_eval", "val", "test")}}
    tracker = OnlineScoreTracker(n) if method.scorer is not None and method.scoring == "online" else None
    train_model = model
    if where.distributed:
        from torch.nn.parallel import DistributedDataParallel

        if device.type == "cuda":  # BatchNorm statistics over the global batch, as one process
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        train_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if t.compile:
        train_model = torch.compile(train_model)
    scaler = torch.amp.GradScaler(device.type) if t.amp == "fp16" else None
    return Run(cfg, bundle, model, optimizer, lr_schedule, method, scheduler, sampler, loaders,
               tracker, device, where=where, train_model=train_model, batches=batches, scaler=scaler)


def _shard(dataset, where: Launch):
    """This rank's contiguous part of an evaluation split (the whole split on one process)."""
    if not where.distributed:
        return dataset
    from torch.utils.data import Subset

    part = torch.arange(len(dataset)).tensor_split(where.world)[where.rank]
    return Subset(dataset, part.tolist())


def _check_world(n: int, batch_size: int, world: int) -> None:
    """Under torchrun: every rank needs samples, and the global batch must split evenly."""
    if world <= 1:
        return
    if world > n:
        raise InvalidValueError(f"torchrun started {world} processes, more than the {n} training "
                                f"samples, so some ranks would have nothing to train on; start at "
                                f"most {n} processes.")
    if batch_size % world:
        lower, upper = batch_size - batch_size % world, batch_size + world - batch_size % world
        valid = [b for b in (lower, upper) if world <= b <= n]
        raise InvalidValueError(f"train: 'batch_size' ({batch_size}) is the global batch, split over "
                                f"the {world} processes, but {world} does not divide it; use "
                                f"{' or '.join(map(str, valid))} (or another multiple of {world}).")


def check_configs(cfgs: list[Config], built: dict | None = None) -> None:
    """Validate several runs (e.g. the methods of a comparison) before any starts: each distinct
    data/model/optimiser setup is built once, and every method is checked against it.

    Args:
        cfgs: the run configs. built: a cache of built setups to share between calls.
    """
    from ..methods import create_method

    built = {} if built is None else built
    for cfg in cfgs:
        setup = {k: v for k, v in config_to_dict(cfg).items() if k not in ("method", "compare")}
        key = json.dumps(setup, sort_keys=True, default=repr)
        if key not in built:
            built[key] = build_run(cfg)
        else:
            run = built[key]
            _method_scheduler(cfg, create_method(cfg), run.model, len(run.bundle.train))


def _method_scheduler(cfg: Config, method, model, n: int):
    """The method's scheduler for N training samples, after the checks that need the model."""
    t = cfg.train
    _check_feature_dims(method, model)
    if cfg.method.self_taught and method.scorer is None:
        raise InvalidValueError(f"method: self_taught has a teacher score the training set, but "
                                f"{method.name} uses no scores; use it with bss-cl, anti or bss-lb.")
    scheduler = method.make_scheduler(num_samples=n, seed=t.seed, min_samples=min(t.batch_size, n))
    if 0 < scheduler.warmup_epochs >= t.epochs:
        raise InvalidValueError(f"method: 'warmup_epochs' ({scheduler.warmup_epochs}) must be below "
                         f"train.epochs ({t.epochs}), or {method.name} never leaves its uniform "
                         f"warm-up{' and never scores' if method.scorer is not None else ''}; "
                                f"lower method.warmup_epochs or raise train.epochs.")
    return scheduler


def build_data(cfg: Config):
    """The :class:`mmbss.data.DataBundle` of ``cfg.data``: the dataset's own options plus the
    split options it declares (``seed`` from ``split_seed``; ``val_fraction`` /
    ``test_fraction`` when set, else the dataset's defaults)."""
    from ..data import create_dataset
    from ..data.bundle import DATASETS, factory_options, load_factory

    d = cfg.data
    check_int("data", "split_seed", d.split_seed, low=0)
    reserved = sorted({"seed", "val_fraction", "test_fraction"} & set(d.options))
    if reserved:
        raise InvalidValueError(f"data.options: {', '.join(map(repr, reserved))} "
                                f"{'is' if len(reserved) == 1 else 'are'} set by data.split_seed, "
                                f"data.val_fraction and data.test_fraction; remove "
                                f"{'it' if len(reserved) == 1 else 'them'} from data.options.")
    if d.root is not None and "root" in d.options:
        raise InvalidValueError(f"data.root ({d.root!r}) and data.options.root "
                                f"({d.options['root']!r}) are both set; keep one of them.")
    factory = DATASETS.get(d.name) if d.name in DATASETS or ":" not in str(d.name) else \
        load_factory(d.name)
    accepted = factory_options(factory)
    split = {}
    for key, value, default in (("seed", d.split_seed, 0), ("val_fraction", d.val_fraction, None),
                                ("test_fraction", d.test_fraction, None), ("root", d.root, None)):
        if accepted is None or key in accepted:
            if value is not None:
                split[key] = value
        elif value != default:
            name = "split_seed" if key == "seed" else key
            why = "it reads no files" if key == "root" else "its splits are fixed"
            raise InvalidValueError(f"data.{name}: dataset {d.name!r} has no option {key!r} ({why}"
                                    f"); remove data.{name} from the config.")
    return create_dataset(d.name, **split, **d.options)


def _check_feature_dims(method, model) -> None:
    """Feature similarity needs equal encoder output sizes: say so before any epoch is trained."""
    if method.scorer is None or method.scorer.correlation != "feature":
        return
    dims = {m: getattr(enc, "out_dim", None) for m, enc in model.encoders.items()}
    if len(set(dims.values())) != 1:
        raise InvalidValueError(f"method: correlation='feature' needs equal feature dims, but the encoders "
                                f"give {dims}; set model.encoder_kw so they match, or use "
                                f"correlation='prediction'.")


def _check_splits(bundle, cfg: Config) -> None:
    """Refuse splits too small to train on or to select a model with."""
    hints = {"train": "lower data.val_fraction and data.test_fraction",
             "val": "raise data.val_fraction", "test": "raise data.test_fraction"}
    for name, hint in hints.items():
        n = len(getattr(bundle, name))
        if n < bundle.num_classes:
            raise InvalidValueError(f"data: the {name} split has {n} sample(s), fewer than the "
                             f"{bundle.num_classes} classes, so its metrics would mean nothing; "
                                    f"use more data or {hint}.")
    n = len(bundle.train)
    if cfg.train.batch_size > n:
        raise InvalidValueError(f"train: 'batch_size' ({cfg.train.batch_size}) is larger than the "
                         f"training split ({n} samples), so every epoch would be one batch; set "
                                f"train.batch_size to at most {n}.")


def _check_train(t) -> None:
    from ..core._validation import check_bool

    check_choice("train", "predict", t.predict, ("sum", "fused", "unimodal"))
    check_int("train", "checkpoint_every", t.checkpoint_every, low=1, allow_none=True)
    check_choice("train", "amp", t.amp, ("off", "bf16", "fp16"))
    check_choice("train", "eval_test", t.eval_test, ("every", "best"))
    from .loggers import check_loggers

    check_loggers(t.loggers)
    check_bool("train", "channels_last", t.channels_last)
    check_bool("train", "compile", t.compile)
    check_float("train", "ddp_timeout", t.ddp_timeout, low=0.0, low_open=True)
    check_choice("train", "select_metric", t.select_metric, ("acc", "macro_f1", "map"))
    for name in ("epochs", "batch_size", "eval_batch_size"):
        check_int("train", name, getattr(t, name), low=1)
    check_int("train", "num_workers", t.num_workers, low=0)
    check_int("train", "seed", t.seed, low=0)
    check_float("train", "fused_weight", t.fused_weight, low=0.0)
    check_float("train", "unimodal_weight", t.unimodal_weight, low=0.0)
    if t.fused_weight == 0 and t.unimodal_weight == 0:
        raise InvalidValueError("train: 'fused_weight' and 'unimodal_weight' are both 0; nothing would be "
                                "trained.")
    if not re.fullmatch(r"cpu|auto|cuda(:\d+)?", t.device):
        raise InvalidValueError(f"train: 'device' must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got {t.device!r}.")
    if t.device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidValueError(f"train: 'device' is {t.device!r} but no CUDA device is available; use "
                                f"'cpu' or 'auto'.")
    if t.device.startswith("cuda:") and int(t.device[5:]) >= torch.cuda.device_count():
        raise InvalidValueError(f"train: 'device' is {t.device!r} but this machine has "
                                f"{torch.cuda.device_count()} CUDA device(s); use cuda:0 .. "
                                f"cuda:{torch.cuda.device_count() - 1}.")


def _optimiser(cfg: Config, model: torch.nn.Module):
    o = cfg.optim
    check_choice("optim", "name", o.name, ("sgd", "adam"))
    check_choice("optim", "schedule", o.schedule, ("step", "cosine", "none"))
    check_float("optim", "lr", o.lr, low=0.0, low_open=True)
    check_float("optim", "momentum", o.momentum, low=0.0, high=1.0, high_open=True)
    check_float("optim", "weight_decay", o.weight_decay, low=0.0)
    check_int("optim", "step_size", o.step_size, low=1)
    check_float("optim", "gamma", o.gamma, low=0.0, low_open=True)
    if o.name == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    if o.schedule == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=o.step_size, gamma=o.gamma)
    elif o.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.train.epochs))
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched
