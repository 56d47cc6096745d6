"""BSS in a Lightning run: a LightningModule with the SPEC §1 outputs, BSSCallback, BSSDataModule.

The model (two MLP encoders, a unimodal head each, a fused head) trains on the embedded mfeat
data (views pix + fou) on the CPU, on one process or several (``devices=2``, DDP over gloo).
Run: python examples/lightning_bss.py [epochs] [devices] [cl|lb] [exact|online]
"""

import sys

import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import Subset

from mmbss import BalanceScorer, CurriculumScheduler, LearningBasedScheduler
from mmbss.data import collate_samples, create_dataset
from mmbss.integrations.lightning import BSSCallback, BSSDataModule


class TwoViewNet(L.LightningModule):
    def __init__(self, dims: dict, num_classes: int, hidden: int = 64, lr: float = 0.05):
        super().__init__()
        self.enc = nn.ModuleDict({m: nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU())
                                  for m, d in dims.items()})
        self.heads = nn.ModuleDict({m: nn.Linear(hidden, num_classes) for m in dims})
        self.fused = nn.Linear(hidden * len(dims), num_classes)
        self.lr = lr

    def forward(self, x: dict):  # exact scoring calls this on batch["modalities"]
        feats = {m: self.enc[m](x[m]) for m in self.enc}
        return self.fused(torch.cat(list(feats.values()), 1)), {m: self.heads[m](f) for m, f in feats.items()}

    def training_step(self, batch, batch_idx):
        fused, unimodal = self(batch["modalities"])
        y = batch["label"]
        loss = F.cross_entropy(fused, y) + sum(F.cross_entropy(z, y) for z in unimodal.values())
        return {"loss": loss, "fused": fused, "unimodal": unimodal}  # online scoring reads the logits

    def validation_step(self, batch, batch_idx):
        fused, unimodal = self(batch["modalities"])
        acc = ((fused + sum(unimodal.values())).argmax(1) == batch["label"]).float().mean()
        self.log("val_acc", acc, sync_dist=True, batch_size=batch["label"].numel())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)


def load_data(num_samples: int | None = None, seed: int = 0):
    """The mfeat bundle and its training set (with and without augmentation), cut to its first
    ``num_samples`` samples when given (they keep their index, their position)."""
    data = create_dataset("mfeat", views=("pix", "fou"), seed=seed)
    train, train_eval = data.train, data.train_eval
    if num_samples is not None:
        train, train_eval = Subset(train, range(num_samples)), Subset(train_eval, range(num_samples))
    return data, train, train_eval


def make_scheduler(method: str, num_samples: int, seed: int = 0):
    if method == "cl":  # balanced samples first, the subset growing to the whole set in 3 epochs
        return CurriculumScheduler(num_samples=num_samples, pacing="root", lambda0=0.3, t_grow=3, seed=seed)
    return LearningBasedScheduler(num_samples=num_samples, eps=0.01, seed=seed)


def build(*, epochs: int = 3, method: str = "cl", scoring: str = "exact", devices: int = 1,
          strategy: str = "auto", num_samples: int | None = None, seed: int = 0, validate: bool = True,
          ckpt_dir: str | None = None, callbacks=(), num_workers: int = 0):
    """(trainer, model, datamodule, bss) of one run; ``trainer.fit(model, datamodule=...)``."""
    torch.manual_seed(seed)
    data, train, train_eval = load_data(num_samples, seed)
    dims = {m: int(torch.tensor(s).prod()) for m, s in data.modality_shapes.items()}
    model = TwoViewNet(dims, data.num_classes)
    bss = BSSCallback(make_scheduler(method, len(train), seed), BalanceScorer(), scoring=scoring)
    datamodule = BSSDataModule(bss, train, batch_size=32, eval_train=train_eval,
                               val=data.val if validate else None, collate_fn=collate_samples,
                               num_workers=num_workers)
    saving = [ModelCheckpoint(dirpath=ckpt_dir, filename="{epoch}", save_top_k=-1)] if ckpt_dir else []
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=devices, strategy=strategy,
                        callbacks=[bss, *saving, *callbacks],
                        use_distributed_sampler=False,        # the BalanceSampler shards itself
                        reload_dataloaders_every_n_epochs=1,  # a new subset/order every epoch
                        enable_checkpointing=bool(ckpt_dir), limit_val_batches=1.0 if validate else 0,
                        logger=False, enable_progress_bar=False, enable_model_summary=False)
    return trainer, model, datamodule, bss


def main(epochs: int = 3, devices: int = 1, method: str = "cl", scoring: str = "exact") -> float:
    trainer, model, datamodule, bss = build(epochs=epochs, method=method, scoring=scoring, devices=devices,
                                            strategy="ddp" if devices > 1 else "auto")
    trainer.fit(model, datamodule=datamodule)
    acc = float(trainer.callback_metrics["val_acc"])
    if trainer.is_global_zero:
        print(f"BSS-{method.upper()} ({scoring} scoring), {epochs} epochs: val accuracy {acc:.4f}")
    return acc


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 3, int(args[1]) if len(args) > 1 else 1,
         args[2] if len(args) > 2 else "cl", args[3] if len(args) > 3 else "exact")
