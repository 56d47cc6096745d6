"""BSS in an Accelerate loop: prepare_bss_loader, rescore, record_step and BSSState from mmbss.

The model (two MLP encoders, a unimodal head each, a fused head) trains on the embedded mfeat
data (views pix + fou) on the CPU. On two processes, start it with torchrun (``accelerate
launch --num_processes 2 --cpu`` starts only one):

    torchrun --standalone --nproc_per_node 2 examples/accelerate_bss.py [epochs] [cl|lb] [exact|online]
"""

import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from accelerate import Accelerator
from torch.utils.data import DataLoader, Subset

from mmbss import (
    BalanceSampler,
    BalanceScorer,
    CurriculumScheduler,
    LearningBasedScheduler,
    OnlineScoreTracker,
)
from mmbss.data import collate_samples, create_dataset
from mmbss.integrations.accelerate import BSSState, prepare_bss_loader, record_step, rescore


class TwoViewNet(nn.Module):
    def __init__(self, dims: dict, num_classes: int, hidden: int = 64):
        super().__init__()
        self.enc = nn.ModuleDict({m: nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU())
                                  for m, d in dims.items()})
        self.heads = nn.ModuleDict({m: nn.Linear(hidden, num_classes) for m in dims})
        self.fused = nn.Linear(hidden * len(dims), num_classes)

    def forward(self, x: dict):
        feats = {m: self.enc[m](x[m]) for m in self.enc}
        return self.fused(torch.cat(list(feats.values()), 1)), {m: self.heads[m](f) for m, f in feats.items()}


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


def train(accelerator: Accelerator, *, epochs: int = 3, method: str = "cl", scoring: str = "exact",
          num_samples: int | None = None, seed: int = 0, ckpt_dir: str | None = None,
          resume_from: str | None = None, on_epoch_start=None, on_batch=None):
    """Train one run; saves ``ckpt_dir/epoch_<e>`` after every epoch, continues from
    ``resume_from``. ``on_epoch_start(epoch, model, loader, scheduler, scores)`` (``scores``:
    the epoch's fresh scores or None) and ``on_batch(epoch, batch)`` let a caller watch.
    Returns (model, data)."""
    torch.manual_seed(seed)
    data, train_set, train_eval = load_data(num_samples, seed)
    dims = {m: int(torch.tensor(s).prod()) for m, s in data.modality_shapes.items()}
    model = TwoViewNet(dims, data.num_classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model, opt = accelerator.prepare(model, opt)

    scorer = BalanceScorer()                                         # the paper's S + L
    scheduler = make_scheduler(method, len(train_set), seed)
    tracker = OnlineScoreTracker(len(train_set)) if scoring == "online" else None
    sampler = BalanceSampler(scheduler, num_replicas=accelerator.num_processes, rank=accelerator.process_index)
    loader = prepare_bss_loader(accelerator, train_set, sampler, batch_size=32, collate_fn=collate_samples)
    state = BSSState(scheduler, loader, tracker)                     # scores, records, next epoch
    accelerator.register_for_checkpointing(state)
    if resume_from:
        accelerator.load_state(resume_from)
    for epoch in range(state.next_epoch, epochs):
        scores = rescore(accelerator, epoch, scheduler, scorer, model=model, eval_dataset=train_eval,
                         tracker=tracker, collate_fn=collate_samples)  # gathered over the processes
        loader.set_epoch(epoch)                                      # not Accelerate's counter
        if on_epoch_start:
            on_epoch_start(epoch, model, loader, scheduler, scores)
        model.train()
        for batch in loader:
            fused, unimodal = model(batch["modalities"])
            y = batch["label"]
            loss = F.cross_entropy(fused, y) + sum(F.cross_entropy(z, y) for z in unimodal.values())
            accelerator.backward(loss)
            opt.step()
            opt.zero_grad()
            if tracker is not None:
                record_step(tracker, scorer, batch, (fused, unimodal))   # online scoring
            if on_batch:
                on_batch(epoch, batch)
        if ckpt_dir:
            accelerator.save_state(f"{ckpt_dir}/epoch_{epoch}")
    return model, data


def main(epochs: int = 3, method: str = "cl", scoring: str = "exact") -> float:
    accelerator = Accelerator(cpu=True)
    model, data = train(accelerator, epochs=epochs, method=method, scoring=scoring)
    model = accelerator.unwrap_model(model).eval()
    with torch.no_grad():
        batch = next(iter(DataLoader(data.test, batch_size=len(data.test), collate_fn=collate_samples)))
        fused, unimodal = model(batch["modalities"])
        acc = float(((fused + sum(unimodal.values())).argmax(1) == batch["label"]).float().mean())
    if accelerator.is_main_process:
        print(f"BSS-{method.upper()} ({scoring} scoring), {epochs} epochs on {accelerator.num_processes} "
              f"process(es): test accuracy {acc:.4f}")
    return acc


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 3, args[1] if len(args) > 1 else "cl", args[2] if len(args) > 2 else "exact")
