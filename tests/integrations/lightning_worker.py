"""Run by tests/integrations/test_lightning.py as ``python lightning_worker.py OUT``: every
Lightning run of the tests in one launch (the test process itself never imports Lightning,
whose import costs seconds per process). It writes:

* ``OUT/bad.json``: the message of every bad input, from one-process Trainers;
* ``OUT/spawn/``: strategy "ddp_spawn" (2 CPU ranks): a learning-based order with exact scoring
  every epoch (no loader workers: a spawned rank spawns its workers too, seconds each);
* ``OUT/cl/``, ``OUT/lb/``: strategy "ddp" (Lightning starts rank 1 by re-running this script):
  a curriculum with exact scoring (one loader worker) and a learning-based order with online
  scoring and validation, 3 epochs each with a checkpoint per epoch; ``OUT/cl-resumed/``,
  ``OUT/lb-resumed/``: each resumed from its epoch-0 checkpoint.

Each run folder holds ``rank<r>.pt`` (per epoch: the batches' sample indices, the loader's length,
the scores, the weights they came from) and ``single.pt`` (the scores of a single-process pass
with those weights). The runs are built by examples/lightning_bss.py.
"""

import json
import os
import sys
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import lightning_bss as ex  # noqa: E402

from mmbss import BalanceScorer, CurriculumScheduler, LearningBasedScheduler, score_dataset  # noqa: E402
from mmbss.data import collate_samples  # noqa: E402
from mmbss.integrations.lightning import BSSCallback, BSSDataModule  # noqa: E402

N, EPOCHS = 200, 3


class Recorder(L.Callback):
    """Per epoch: the index of every sample of every batch, the loader's length, the scores the
    epoch's sequence came from and (when the epoch was scored) the weights they came from."""

    def __init__(self, bss, out: Path):
        self.bss, self.out, self.epochs = bss, out, {}

    def on_train_epoch_start(self, trainer, pl_module):
        e, sched = trainer.current_epoch, self.bss.scheduler
        scored = self.bss.scored_epoch == e
        self.epochs[e] = {"batches": [], "len": len(trainer.train_dataloader),
                          "num_training_batches": trainer.num_training_batches,
                          "epoch_size": sched.epoch_size(e), "scored": scored,
                          "scores": sched.scores.clone(),
                          "weights": {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
                          if scored else None}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.epochs[trainer.current_epoch]["batches"].append(batch["index"].tolist())

    def on_train_end(self, trainer, pl_module):
        self.out.mkdir(parents=True, exist_ok=True)
        torch.save(self.epochs, self.out / f"rank{trainer.global_rank}.pt")


def fit(out: Path, name: str, strategy: str, method: str, scoring: str, resume: str | None = None,
        num_workers: int = 0, validate: bool = False) -> None:
    trainer, model, dm, bss = ex.build(epochs=EPOCHS, method=method, scoring=scoring, devices=2,
                                       strategy=strategy, num_samples=N, validate=validate,
                                       ckpt_dir=str(out / f"{name}-ckpt"), num_workers=num_workers)
    trainer.callbacks.append(Recorder(bss, out / name))
    trainer.fit(model, datamodule=dm, ckpt_path=resume)


def single_process_scores(folder: Path) -> None:
    """single.pt: for every scored epoch of rank 0, one process's pass with its weights."""
    data, _, train_eval = ex.load_data(N)
    dims = {m: int(torch.tensor(s).prod()) for m, s in data.modality_shapes.items()}
    loader = DataLoader(train_eval, batch_size=64, collate_fn=collate_samples)
    single = {}
    for e, log in torch.load(folder / "rank0.pt").items():
        if log["scored"]:
            model = ex.TwoViewNet(dims, data.num_classes)
            model.load_state_dict(log["weights"])
            single[e] = score_dataset(model, loader, BalanceScorer(), gather=False)
    torch.save(single, folder / "single.pt")


# -- bad inputs ------------------------------------------------------------------------------------

class FusedOnly(ex.TwoViewNet):
    def forward(self, x):
        return super().forward(x)[0]


class LossOnly(ex.TwoViewNet):
    def training_step(self, batch, batch_idx):
        return super().training_step(batch, batch_idx)["loss"]


class OwnLoader(ex.TwoViewNet):
    def train_dataloader(self):
        return DataLoader(ex.load_data(64)[1], batch_size=32)


def net(cls=ex.TwoViewNet):
    torch.manual_seed(0)
    return cls({"pix": 240, "fou": 76}, 10, hidden=8)


def small(scoring="exact", n=64, method="cl"):
    _, train, train_eval = ex.load_data(n)
    bss = BSSCallback(ex.make_scheduler(method, n), BalanceScorer(), scoring=scoring)
    return bss, BSSDataModule(bss, train, batch_size=32, eval_train=train_eval)


def trainer(bss, **kw):
    opts = dict(accelerator="cpu", devices=1, max_epochs=1, callbacks=[bss], logger=False,
                enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                use_distributed_sampler=False, reload_dataloaders_every_n_epochs=1,
                limit_val_batches=0)
    return L.Trainer(**{**opts, **kw})


def bad_inputs(out: Path) -> None:
    """bad.json: case -> [exception type, message] (or "no error")."""
    def attempt(case, fn):
        try:
            fn()
            got[case] = "no error"
        except Exception as e:  # noqa: BLE001  (the test pins type and message)
            got[case] = [type(e).__name__, e.args[0] if isinstance(e, KeyError) else str(e)]

    got: dict = {}
    bss, dm = small()
    attempt("distributed-sampler", lambda: bss.setup(
        L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False,
                  reload_dataloaders_every_n_epochs=1), net(), "fit"))
    attempt("no-distributed-sampler", lambda: bss.setup(
        L.Trainer(accelerator="cpu", devices=2, strategy="ddp", use_distributed_sampler=False,
                  reload_dataloaders_every_n_epochs=1, logger=False), net(), "fit"))
    bss, dm = small()
    attempt("no-reload", lambda: trainer(bss, reload_dataloaders_every_n_epochs=0).fit(net(), datamodule=dm))
    bss, dm = small("online")
    attempt("online-loss-only", lambda: trainer(bss).fit(net(LossOnly), datamodule=dm))
    bss, dm = small()
    attempt("exact-fused-only", lambda: trainer(bss).fit(net(FusedOnly), datamodule=dm))
    bss, dm = small()
    attempt("own-loader", lambda: trainer(bss).fit(net(OwnLoader)))
    bss, dm = small()
    attempt("not-attached", lambda: bss.train_dataloader(dm.train, batch_size=8))
    bss.setup(trainer(bss), net(), "fit")
    attempt("dataset-size", lambda: bss.train_dataloader(ex.load_data(50)[1], batch_size=8))
    attempt("scheduler-type", lambda: BSSCallback(BalanceScorer()))
    attempt("scorer-type", lambda: BSSCallback(LearningBasedScheduler(num_samples=4), "S+L"))
    attempt("datamodule-bss", lambda: BSSDataModule(CurriculumScheduler(num_samples=4), dm.train,
                                                    batch_size=8))
    attempt("state-keys", lambda: bss.load_state_dict({"scheduler": {}}))
    attempt("state-scoring", lambda: small("online")[0].load_state_dict(bss.state_dict()))
    # a fine one-process run: online LB, 2 epochs, its state through a Lightning checkpoint
    bss, dm = small("online", method="lb")
    t = trainer(bss, max_epochs=2)
    t.fit(net(), datamodule=dm)
    t.save_checkpoint(out / "one.ckpt")
    again = small("online", method="lb")[0]
    again.load_state_dict(torch.load(out / "one.ckpt", weights_only=False)["callbacks"]["BSSCallback"])
    got["one-device"] = [bss.scored_epoch, t.current_epoch, bool(bss.tracker.seen.all()),
                         bool(torch.equal(again.scheduler.scores, bss.scheduler.scores)),
                         again.scored_epoch]
    (out / "bad.json").write_text(json.dumps(got, indent=1))


def main(out: str) -> None:
    out = Path(out)
    # Lightning's ddp launcher re-runs this script for rank 1 with LOCAL_RANK set: only the
    # process the test started runs the one-process checks and the spawned run
    if "LOCAL_RANK" not in os.environ:
        bad_inputs(out)
        fit(out, "spawn", "ddp_spawn", "lb", "exact")
        os.environ.pop("MASTER_PORT", None)  # (set by the spawn launcher) ddp picks a new one
        single_process_scores(out / "spawn")
    # (with validation, ModelCheckpoint saves at the end of validation, before the epoch ends)
    for name, method, scoring, workers, val in [("cl", "cl", "exact", 1, False),
                                                ("lb", "lb", "online", 0, True)]:
        fit(out, name, "ddp", method, scoring, num_workers=workers, validate=val)
        fit(out, f"{name}-resumed", "ddp", method, scoring, num_workers=workers, validate=val,
            resume=str(out / f"{name}-ckpt" / "epoch=0.ckpt"))
        if os.environ.get("LOCAL_RANK") == "0":
            single_process_scores(out / name)


if __name__ == "__main__":
    main(sys.argv[1])
