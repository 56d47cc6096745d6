"""PNG plots of one training run and of a methods × seeds comparison (dpi 120).

Files read (written by the trainer; see DESIGN.md, "Run directory"):

* ``run/metrics.jsonl`` - one JSON object per epoch::

      {"epoch": 0, "lr": 0.01, "subset_fraction": 0.186, "scored": true,
       "train": {"loss": 1.9, "acc": 0.41, "samples": 223, "steps": 7},
       "val": {"loss": 1.2, "acc": 0.6, "macro_f1": 0.58, "map": 0.7,
               "modality_acc": {"pix": 0.55, "fou": 0.31}, "unimodal_gap": 0.24,
               "agreement": 0.4},
       "test": {...same keys as val...}, "time": {"train": 0.8, "scoring": 0.1, "eval": 0.2}}

  A repeated epoch (a resumed run) keeps its last line; a missing key is drawn as a gap.
* ``run/scores/epoch_003.csv`` (optional) - one row per training sample, header
  ``index,label,<criteria...>,d,seen[,corrupted]``; ``d`` in [0, 2], ``seen``/``corrupted`` 0/1.
* ``run/summary.json`` (optional) - ``{"method", "seed", "dataset", "best_epoch", "test", ...}``.
* ``cmp/runs/<method>/seed<k>/`` - one run directory per method and seed; ``cmp/results.csv``
  (optional, one row per run with a ``method`` column) fixes the order of the methods.

Figures are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, never through
``pyplot``: no global state changes (the backend of an interactive session, pyplot's list of open
figures), nothing needs closing, and matplotlib is imported only when a plot is made.

Examples:
    >>> paths = plot_run("runs/mfeat-bss-cl")  # doctest: +SKIP
    >>> [p.name for p in paths]  # doctest: +SKIP
    ['learning_curves.png', 'modality_accuracy.png', 'score_histograms.png', 'pacing.png']
"""

from .comparison import plot_comparison
from .run import plot_run

__all__ = ["plot_run", "plot_comparison"]
