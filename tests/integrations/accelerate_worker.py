"""Run under torchrun (2 CPU processes, gloo) by tests/integrations/test_accelerate.py: the
Accelerate loop of examples/accelerate_bss.py, a curriculum with exact scoring and a
learning-based order with online scoring, 3 epochs each with a checkpoint per epoch, then each
resumed from its epoch-0 checkpoint. Every process writes what it trained on to
OUT/<run>/rank<r>.pt (per epoch: the batches' sample indices, the loader's length, the scores,
the weights they came from); process 0 adds single.pt, the scores of a single-process pass with
those weights."""

import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import accelerate_bss as ex  # noqa: E402

from mmbss import BalanceScorer, score_dataset  # noqa: E402
from mmbss.data import collate_samples  # noqa: E402

N, EPOCHS = 200, 3


def run(out: Path, name: str, method: str, scoring: str, resume: str | None = None) -> None:
    accelerator = Accelerator(cpu=True)
    epochs = {}

    def on_epoch_start(epoch, model, loader, scheduler, scores):
        epochs[epoch] = {"batches": [], "len": len(loader), "epoch_size": scheduler.epoch_size(epoch),
                         "scored": scores is not None, "scores": scheduler.scores.clone(),
                         "weights": {k: v.detach().clone() for k, v in
                                     accelerator.unwrap_model(model).state_dict().items()}
                         if scores is not None else None}

    def on_batch(epoch, batch):
        epochs[epoch]["batches"].append(batch["index"].tolist())

    ex.train(accelerator, epochs=EPOCHS, method=method, scoring=scoring, num_samples=N,
          ckpt_dir=str(out / f"{name}-ckpt"), resume_from=resume, on_epoch_start=on_epoch_start,
          on_batch=on_batch)
    (out / name).mkdir(parents=True, exist_ok=True)
    torch.save(epochs, out / name / f"rank{accelerator.process_index}.pt")
    if accelerator.is_main_process:
        single_process_scores(out / name, epochs)
    accelerator.wait_for_everyone()


def single_process_scores(folder: Path, epochs: dict) -> None:
    data, _, train_eval = ex.load_data(N)
    dims = {m: int(torch.tensor(s).prod()) for m, s in data.modality_shapes.items()}
    loader = DataLoader(train_eval, batch_size=64, collate_fn=collate_samples)
    single = {}
    for e, log in epochs.items():
        if log["scored"]:
            model = ex.TwoViewNet(dims, data.num_classes)
            model.load_state_dict(log["weights"])
            single[e] = score_dataset(model, loader, BalanceScorer(), gather=False)
    torch.save(single, folder / "single.pt")


def main(out: str) -> None:
    out = Path(out)
    for name, method, scoring in [("cl", "cl", "exact"), ("lb", "lb", "online")]:
        run(out, name, method, scoring)
        run(out, f"{name}-resumed", method, scoring, resume=str(out / f"{name}-ckpt" / "epoch_0"))


if __name__ == "__main__":
    main(sys.argv[1])
