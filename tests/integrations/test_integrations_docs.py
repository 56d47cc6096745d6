"""docs/integrations.md: the recipes make the examples' integration calls, and the page names
the settings. (tests/test_docs.py runs the page's code blocks.)"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)

# lines that must read as in the examples (the settings and the integration's calls)
SAME = ("use_distributed_sampler", "reload_dataloaders_every_n_epochs", "BalanceSampler(",
        "prepare_bss_loader(", "BSSState(", "register_for_checkpointing", "rescore(",
        "tracker=tracker", "set_epoch(", "load_state(", "save_state(", "def forward",
        "def training_step", "return {", "scorer = ")


def test_the_recipes_make_the_examples_calls():
    doc = (ROOT / "docs" / "integrations.md").read_text()
    examples = "\n".join((ROOT / "examples" / f"{n}_bss.py").read_text() for n in ("lightning", "accelerate"))
    blocks = BLOCK.findall(doc)
    assert len(blocks) == 3
    code = "\n".join(blocks)
    for name in ("BSSCallback(", "BSSDataModule(", "prepare_bss_loader(", "rescore(", "record_step(",
                 "BSSState("):
        assert name in code, name
    checked = [ln.strip() for ln in code.splitlines() if any(k in ln for k in SAME)]
    assert len(checked) >= 14
    for line in checked:
        assert line in examples, line


def test_the_pitfalls_name_the_settings():
    doc = (ROOT / "docs" / "integrations.md").read_text()
    for needle in ("Trainer(use_distributed_sampler=False)", "reload_dataloaders_every_n_epochs=1",
                   "num_workers > 0", "torchrun --nproc_per_node 2",
                   "accelerate launch --num_processes 2 --cpu"):
        assert needle in doc, needle
