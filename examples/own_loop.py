"""BSS inside a plain PyTorch loop: only the core (scorer, scheduler, sampler) from mmbss.

The model is written here (two MLP encoders, a unimodal head each, a fused head) to show that
BSS needs nothing from the mmbss trainer. Run: python examples/own_loop.py [epochs]
"""

import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mmbss import BalanceSampler, BalanceScorer, LearningBasedScheduler, score_dataset
from mmbss.data import collate_samples, create_dataset


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


def main(epochs: int = 5) -> float:
    torch.manual_seed(0)
    data = create_dataset("mfeat", views=("pix", "fou"), seed=0)
    train, test = data.train, data.test
    dims = {m: int(torch.tensor(s).prod()) for m, s in data.modality_shapes.items()}
    model = TwoViewNet(dims, data.num_classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    scorer = BalanceScorer(correlation="prediction", information="loss")   # the paper's S + L
    sched = LearningBasedScheduler(num_samples=len(train), eps=0.01, seed=0)
    sampler = BalanceSampler(sched)
    loader = DataLoader(train, batch_size=32, sampler=sampler, collate_fn=collate_samples)
    scoring = DataLoader(data.train_eval, batch_size=512, collate_fn=collate_samples)  # no augmentation
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        if sched.wants_scores(epoch):                   # eval mode, no autograd, mode restored
            sched.update(score_dataset(model, scoring, scorer))              # d in [0, 2]
        for batch in loader:
            fused, unimodal = model(batch["modalities"])
            y = batch["label"]
            loss = F.cross_entropy(fused, y) + sum(F.cross_entropy(z, y) for z in unimodal.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        batch = next(iter(DataLoader(test, batch_size=len(test), collate_fn=collate_samples)))
        fused, unimodal = model(batch["modalities"])
        acc = float(((fused + sum(unimodal.values())).argmax(1) == batch["label"]).float().mean())
    print(f"test accuracy after {epochs} epochs: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
