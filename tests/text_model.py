"""Test helper: a tiny BERT model and its tokenizer saved in a folder, for offline text tests.

``make_tiny_bert(folder)`` writes what ``save_pretrained`` writes for a 1-layer BERT of width 16
(``config.json``, ``model.safetensors``) and a matching WordPiece tokenizer (``vocab.txt``,
``tokenizer.json``, ``tokenizer_config.json``, ...) into ``folder``, so that
``AutoModel.from_pretrained(folder, local_files_only=True)`` and
``AutoTokenizer.from_pretrained(folder, local_files_only=True)`` work without a network. The
weights are the same on every call (seeded in a forked RNG: the caller's RNG is untouched).

Import it from a test with ``from ..text_model import make_tiny_bert`` (tests/<area>/) or
``from .text_model import make_tiny_bert`` (tests/).
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

# 5 special tokens, then words and single letters (WordPiece falls back to letters)
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "is", "red", "blue", "good", "bad",
         "movie", "film", "very", "not", "and", "it", "was", "i", "like", "love", "hate", "."]
VOCAB = SPECIAL + WORDS + [c for c in string.ascii_lowercase if c not in WORDS] \
    + [f"##{c}" for c in string.ascii_lowercase]
HIDDEN = 16


def make_tiny_bert(folder) -> Path:
    """Save a tiny BERT (hidden size 16, 1 layer, 2 heads) and its tokenizer in ``folder``.

    Returns:
        ``Path(folder)``, holding config.json, model.safetensors and the tokenizer files.
    """
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=HIDDEN, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                        pad_token_id=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BertModel(config)
    model.save_pretrained(folder)
    # positional: the vocab file is `vocab_file` in transformers 4 and `vocab` in 5
    tokenizer = BertTokenizerFast(str(vocab), do_lower_case=True, model_max_length=64)
    tokenizer.save_pretrained(folder)
    return folder
