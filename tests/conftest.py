"""Shared test helpers: a tiny, fast synthetic run config; the distributed tests' xdist group."""

from __future__ import annotations

import contextlib

import pytest
import torch

from mmbss.engine import Config

# Test modules that start process groups (torchrun, Lightning DDP). `make test` runs the suite
# on 2 xdist workers with --dist loadgroup: these all go to one worker, one launch at a time
# (two launches at once would race for ports and cores), while the other worker runs the rest.
DISTRIBUTED = {"test_core_distributed.py", "test_samplers_distributed.py", "test_engine_ddp.py",
               "test_methods_ddp.py", "test_accelerate.py", "test_lightning.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in DISTRIBUTED:
            item.add_marker(pytest.mark.xdist_group("distributed"))


def tiny_config(method: str = "bss-lb", epochs: int = 3, **method_kw) -> Config:
    cfg = Config()
    cfg.data.name = "synthetic"
    cfg.data.options = {"num_samples": 300, "num_classes": 3, "dims": 8}
    cfg.model.encoder = "mlp"
    cfg.model.encoder_kw = {"hidden": [16]}
    cfg.optim.lr = 0.05
    cfg.optim.schedule = "cosine"
    cfg.train.epochs = epochs
    cfg.train.batch_size = 16
    cfg.method.name = method
    cfg.method.t_grow = 3
    for k, v in method_kw.items():
        setattr(cfg.method, k, v)
    return cfg


@contextlib.contextmanager
def interrupted_at_step(n: int):
    """The block's training is interrupted (KeyboardInterrupt, as a kill) at the n-th optimiser
    step; the block must raise it."""
    original, calls = torch.optim.SGD.step, [0]

    def killed(self, *a, **k):
        calls[0] += 1
        if calls[0] == n:
            raise KeyboardInterrupt("simulated kill")
        return original(self, *a, **k)

    torch.optim.SGD.step = killed
    try:
        with pytest.raises(KeyboardInterrupt):
            yield
    finally:
        torch.optim.SGD.step = original


@contextlib.contextmanager
def interrupted_before_training():
    """The block's run is interrupted as its next epoch starts training; the block must raise."""
    import mmbss.engine.trainer as trainer

    original = trainer._train_epoch

    def killed(*a, **k):
        raise KeyboardInterrupt("simulated kill")

    trainer._train_epoch = killed
    try:
        with pytest.raises(KeyboardInterrupt):
            yield
    finally:
        trainer._train_epoch = original
