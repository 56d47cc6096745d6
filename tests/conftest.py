"""Shared test helpers: a tiny, fast synthetic run config."""

from __future__ import annotations

from mmbss.engine import Config


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
