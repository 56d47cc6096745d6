"""Training methods (SPEC §3–§6): sampling policies joint, uniaux, bss-cl, bss-lb, anti,
random-pacing, composable with gradient policies (``ogm-ge``: ``"bss-lb+ogm-ge"``).

Registration is eager: importing this package registers every built-in policy, so
:func:`list_methods` and the registries give the same names whatever was imported first.
"""

from . import agm, baselines, bss, gradients, mmpareto, pmr, presets  # noqa: F401  (register the built-in policies)
from .base import (
    GRADIENT_POLICIES,
    METHODS,
    EpochContext,
    GradientPolicy,
    Method,
    SamplingPolicy,
    check_method_options,
    create_method,
    list_gradient_policies,
    list_methods,
    weighted_loss,
)
from .bss import make_scorer

__all__ = ["METHODS", "GRADIENT_POLICIES", "EpochContext", "Method", "SamplingPolicy", "GradientPolicy",
           "create_method", "check_method_options", "list_methods", "list_gradient_policies",
           "weighted_loss", "make_scorer"]
