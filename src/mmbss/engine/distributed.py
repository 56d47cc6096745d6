"""``mmbss train`` under ``torchrun``: the process group, the device of each rank, and running a
step on rank 0 while the other ranks wait for its result (or its error).

torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; :func:`launch` reads them, initialises
``torch.distributed`` (gloo on the CPU, nccl on CUDA) with the run's timeout, and returns a
:class:`Launch`. One process (no torchrun, or ``--nproc_per_node=1``) gets a :class:`Launch`
with ``world = 1`` and no process group, so the same code serves both.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..core.errors import InvalidValueError

__all__ = ["Launch", "launch", "torchrun_world", "on_main", "shutdown"]


@dataclass(frozen=True)
class Launch:
    """Where this process stands: ``world`` processes, this one ``rank`` (``local_rank`` on its
    node), training on ``device``. ``main`` is rank 0, the only one that writes files."""
    world: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def torchrun_world() -> int:
    """The ``WORLD_SIZE`` torchrun set (1 when not started by torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise InvalidValueError(f"the environment variable WORLD_SIZE is "
                                f"{os.environ['WORLD_SIZE']!r}, not a number; start mmbss with "
                                f"torchrun, which sets it.") from None


def launch(device: str, timeout_s: float) -> Launch:
    """The :class:`Launch` of this process for ``train.device`` (``cpu``, ``cuda``, ``cuda:N``,
    ``auto``); initialises the process group under torchrun (if not already initialised).

    Under torchrun every rank uses CUDA device ``LOCAL_RANK`` (``train.device`` ``cuda`` or
    ``auto`` with CUDA) or the CPU; ``cuda:N`` names one device and so cannot serve several ranks.
    """
    world = torchrun_world()
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if world <= 1:
        return Launch(device=torch.device("cuda" if device == "auto" and cuda else
                                          ("cpu" if device == "auto" else device)))
    if device.startswith("cuda:"):
        raise InvalidValueError(f"train: 'device' is {device!r}, one GPU, but torchrun started {world} "
                                f"processes; use train.device=cuda (rank r uses GPU LOCAL_RANK) or "
                                f"auto.")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        if local >= torch.cuda.device_count():
            raise InvalidValueError(f"torchrun started local rank {local}, but this node has "
                                    f"{torch.cuda.device_count()} CUDA device(s); start at most "
                                    f"{torch.cuda.device_count()} processes per node.")
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo",
                                timeout=datetime.timedelta(seconds=timeout_s))
    return Launch(world=dist.get_world_size(), rank=dist.get_rank(), local_rank=local,
                  device=torch.device("cuda", local) if cuda else torch.device("cpu"))


def on_main(where: Launch, fn, *args, **kwargs):
    """Run ``fn`` on rank 0 only and give its result to every rank; an exception on rank 0 is
    raised on every rank (same type where possible, same message), so no rank waits forever."""
    if not where.distributed:
        return fn(*args, **kwargs)
    box: list = [None]
    if where.main:
        try:
            box[0] = ("ok", fn(*args, **kwargs))
        except Exception as e:  # noqa: BLE001 - re-raised below, on every rank
            box[0] = ("error", e)
    dist.broadcast_object_list(box, src=0)
    status, value = box[0]
    if status == "error":
        raise value
    return value


def shutdown(barrier: bool = True) -> None:
    """Destroy the process group (if any) at the end of a run; with ``barrier`` every rank
    first waits for the others (a rank tearing gloo down alone can abort the process)."""
    if dist.is_available() and dist.is_initialized():
        if barrier and dist.get_world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()
