"""The ``transformer`` text encoder on a tiny BERT saved locally: offline, pooling, gradients."""

from __future__ import annotations

import ast
import json
import shutil
import socket
import sys
from pathlib import Path

import pytest
import torch

import mmbss
from mmbss.models import build_model, create_encoder

from ..text_model import HIDDEN, make_tiny_bert


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="module")
def tokens(bert):
    """Two sentences as the ``[B, 2, L]`` int64 input (ids, mask) with L = 12."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(bert, local_files_only=True)
    enc = tok(["the cat sat on the mat", "i love dogs"], padding="max_length", max_length=12,
              truncation=True, return_tensors="pt")
    return torch.stack([enc["input_ids"], enc["attention_mask"]], dim=1)


def test_helper_writes_a_model_and_a_tokenizer(bert, tokens):
    names = {p.name for p in bert.iterdir()}
    assert {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"} <= names
    assert tokens.dtype == torch.int64 and tokens.shape == (2, 2, 12)
    assert tokens[0, 0, :8].tolist() == [2, 5, 7, 9, 10, 5, 11, 3]  # [CLS] the cat ... [SEP]
    assert tokens[1, 1].tolist() == [1] * 6 + [0] * 6  # "i love dog ##s" + [CLS]/[SEP]


def test_cls_pooling_offline(bert, tokens, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the text encoder tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    enc = create_encoder("transformer", (2, 12), path=bert)
    assert enc.float_input is False and enc.out_dim == HIDDEN and enc.pooling == "cls"
    assert enc.path == str(bert)
    enc.eval()
    with torch.no_grad():
        out = enc(tokens)
        hidden = enc.model(input_ids=tokens[:, 0], attention_mask=tokens[:, 1]).last_hidden_state
    assert out.shape == (2, HIDDEN)
    torch.testing.assert_close(out, hidden[:, 0])


def test_mean_pooling_ignores_padded_positions(bert, tokens):
    enc = create_encoder("transformer", (2, 12), path=str(bert), pooling="mean").eval()
    changed = tokens.clone()
    changed[:, 0][tokens[:, 1] == 0] = 7  # other ids where the mask is 0
    with torch.no_grad():
        out, out_changed = enc(tokens), enc(changed)
        hidden = enc.model(input_ids=tokens[:, 0], attention_mask=tokens[:, 1]).last_hidden_state
    torch.testing.assert_close(out, out_changed)
    n = int(tokens[1, 1].sum())
    torch.testing.assert_close(out[1], hidden[1, :n].mean(dim=0))
    # a shorter padding (L = 9) gives the same features: L may vary between batches
    assert enc.variable_axes == (1,)
    with torch.no_grad():
        torch.testing.assert_close(enc(tokens[:, :, :9]), out, rtol=1e-4, atol=1e-5)


def test_gradient_flows_into_the_transformer(bert, tokens):
    enc = create_encoder("transformer", (2, 12), path=bert, pooling="mean")
    enc(tokens).pow(2).sum().backward()
    # every trainable parameter gets a gradient (DDP needs it): the unused pooler is frozen
    trainable = [n for n, p in enc.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("model.") for n in trainable)
    assert not any(".pooler." in n for n in trainable)
    assert [n for n, p in enc.named_parameters() if p.requires_grad and p.grad is None] == []
    assert enc.model.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_build_model_text_and_resnet50_forward_backward(bert, tokens):
    torch.manual_seed(0)
    model = build_model({"text": (2, 12), "image": (3, 32, 32)}, 3,
                        encoder={"text": "transformer", "image": "resnet50"},
                        encoder_kw={"text": {"path": bert}, "image": {"small_input": True}})
    out = model({"text": tokens, "image": torch.randn(2, 3, 32, 32)})
    assert out.fused.shape == (2, 3) and out.features["text"].shape == (2, HIDDEN)
    assert out.features["image"].shape == (2, 2048)
    (out.fused.sum() + sum(z.sum() for z in out.unimodal.values())).backward()
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []
    assert model.encoders["image"].conv1.weight.grad is not None


def test_transformers_is_imported_only_inside_functions():
    """``import mmbss.models`` must not import transformers: every import of it in src/mmbss
    sits in a function body (the encoder's constructor)."""
    src = Path(mmbss.__file__).parent
    found = []
    for path in sorted(src.rglob("*.py")):
        text = path.read_text()
        if "transformers" not in text:
            continue
        tree = ast.parse(text)
        nested = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                  for n in ast.walk(f)}
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] == "transformers" for n in names):
                found.append((path.name, id(node) in nested))
    assert ("text.py", True) in found
    assert [name for name, inside in found if not inside] == []


def test_missing_transformers_names_the_extra(bert, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers fails
    with pytest.raises(ValueError, match=r"TransformerTextEncoder: the 'transformer' encoder "
                                         r"needs the Python package 'transformers'; install it "
                                         r"with: pip install 'mmbss\[text\]'\."):
        create_encoder("transformer", (2, 12), path=bert)


SAVED = (r"nothing is downloaded: save a model there first, e.g. "
         r"AutoModel.from_pretrained\(name\).save_pretrained\(folder\), which writes config.json "
         r"and model.safetensors \(and its tokenizer with "
         r"AutoTokenizer...save_pretrained\(folder\)\)\.")


@pytest.mark.parametrize(
    ("shape", "kw", "exc", "match"),
    [
        ((2, 12), {}, ValueError,
         r"TransformerTextEncoder: 'path' is required: the local folder of a pretrained model; "
         + SAVED),
        ((2, 12), {"path": "{tmp}/absent"}, ValueError,
         r"TransformerTextEncoder: the model folder '.*absent' does not exist; " + SAVED),
        ((2, 12), {"path": "{tmp}"}, ValueError,
         r"TransformerTextEncoder: the model folder '.*' has no config.json; " + SAVED),
        ((2, 12), {"path": 3}, TypeError,
         r"TransformerTextEncoder: 'path' must be the path of a local model folder; got 3\."),
        ((3, 12), {"path": "{tmp}"}, ValueError,
         r"TransformerTextEncoder: 'input_shape' must be \(2, L\) \(token ids and attention "
         r"mask of L positions\); got \(3, 12\)\."),
        ((12,), {"path": "{tmp}"}, ValueError,
         r"TransformerTextEncoder: 'input_shape' must be a tuple of positive ints of length 2"),
        ((2, 12), {"path": "{tmp}", "pooling": "max"}, ValueError,
         r"TransformerTextEncoder: 'pooling' must be one of 'cls', 'mean'; got 'max'\."),
    ],
)
def test_bad_text_encoder_arguments(tmp_path, shape, kw, exc, match):
    kw = {k: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) and k == "path" else v
          for k, v in kw.items()}
    with pytest.raises(exc, match=match):
        create_encoder("transformer", shape, **kw)


def test_a_folder_without_weights_cannot_be_loaded(bert, tmp_path):
    shutil.copy(bert / "config.json", tmp_path / "config.json")
    json.loads((tmp_path / "config.json").read_text())
    with pytest.raises(ValueError, match=r"TransformerTextEncoder: the model in '.*' cannot be "
                                         r"loaded offline: "):
        create_encoder("transformer", (2, 12), path=tmp_path)


def test_bad_inputs_in_forward(bert, tokens):
    enc = create_encoder("transformer", (2, 12), path=bert)
    with pytest.raises(TypeError, match=r"TransformerTextEncoder: the input must be an integer "
                                        r"tensor \[B, 2, L\] \(token ids, attention mask\); got "
                                        r"torch.float32\."):
        enc(tokens.float())
    with pytest.raises(ValueError, match=r"TransformerTextEncoder: the input must have shape "
                                         r"\[B, 2, L\] \(token ids, attention mask\); got "
                                         r"\[2, 12\]\."):
        enc(tokens[:, 0])
