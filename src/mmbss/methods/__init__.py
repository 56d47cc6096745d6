"""Training methods: joint, uniaux, bss-cl, bss-lb, anti, random-pacing (SPEC §3–§6)."""

from .base import METHODS, Method, create_method, list_methods, weighted_loss
from .bss import make_scorer

__all__ = ["METHODS", "Method", "create_method", "list_methods", "weighted_loss", "make_scorer"]
