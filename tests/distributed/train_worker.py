"""``mmbss train`` under torchrun, recording each rank's training batches (run by the DDP tests).

    torchrun ... train_worker.py LOG_DIR <mmbss train arguments>

Writes LOG_DIR/batches-rank<r>.json (every training step's sample indices on this rank).
Environment: KILL_AT_STEP=n (with KILL_RANK, default 1) SIGKILLs that rank at its n-th optimiser
step; HANG_AT_STEP=n makes it sleep there instead (a hung rank).
"""

import json
import os
import signal
import sys
import time

import torch

from mmbss.engine import trainer

rank = int(os.environ.get("RANK", "0"))
steps: list = []
_inputs = trainer._inputs


def logged(run, batch, split):
    if split == "train":
        steps.append(batch["index"].tolist())
    return _inputs(run, batch, split)


trainer._inputs = logged
fault = {k: int(os.environ.get(k, "0")) for k in ("KILL_AT_STEP", "HANG_AT_STEP")}
if any(fault.values()) and rank == int(os.environ.get("KILL_RANK", "1")):
    step, calls = torch.optim.SGD.step, [0]

    def faulty(self, *a, **k):
        calls[0] += 1
        if calls[0] == fault["KILL_AT_STEP"]:
            os.kill(os.getpid(), signal.SIGKILL)
        if calls[0] == fault["HANG_AT_STEP"]:
            time.sleep(3600)
        return step(self, *a, **k)

    torch.optim.SGD.step = faulty

from mmbss.cli.main import main  # noqa: E402

code = main(sys.argv[2:])
with open(os.path.join(sys.argv[1], f"batches-rank{rank}.json"), "w") as f:
    json.dump(steps, f)
sys.exit(code)
