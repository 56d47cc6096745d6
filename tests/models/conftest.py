"""Fixtures for the models tests.

The tests here run small convolutions (ResNet-18 on 8x8 to 32x32 inputs). With several intra-op
threads on a busy 2-core machine, OpenMP oversubscription made this folder take 8-22 s; with one
thread it takes about 7 s every time. Only the thread count changes, and it is restored after.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_intra_op_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
