"""Where the teacher, the students' encoder and the tokenizer come from: folders or hub names.

A model source is either a local folder (``config.json`` and weights, as written by
``save_pretrained``) or a Hugging Face hub name such as ``deepset/bert-base-uncased-squad2``
that is already in the local Hugging Face cache. Hub names are resolved offline only
(``local_files_only``): a trial never reaches the network, and a name missing from the
cache is a one-line ``ValueError`` that says how to fetch it on a connected machine.

The cache is the one ``huggingface_hub`` uses (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``,
else ``~/.cache/huggingface/hub``), read when a name is resolved rather than when the
module is imported, so that a changed environment is honoured.

Also here: the shape of a BERT or DistilBERT checkpoint read from its configuration alone
(depth, heads, width, vocabulary), which sizes the search space before any weights load,
and the check that a teacher and an encoder share one vocabulary (the teacher's logits
and the student's inputs are over the same token ids).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
from huggingface_hub.utils import validate_repo_id

__all__ = [
    "ModelShape",
    "check_same_vocabulary",
    "has_tokenizer",
    "hub_cache_dir",
    "model_shape",
    "resolve_source",
]

# Model families whose weights map onto the BERT layout the students use.
MODEL_TYPES = ("bert", "distilbert")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache as the environment names it now."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def resolve_source(source: str | os.PathLike, role: str) -> Path:
    """The local folder of ``source``: itself when it is a folder, else its cached snapshot.

    ``role`` ("teacher", "encoder", "tokenizer") names the source in errors. Never touches
    the network.
    """
    text = str(source)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ValueError(f"{role}: {text} is a file, expected a model folder or a hub name")
    try:
        validate_repo_id(text)
    except HFValidationError:
        raise ValueError(f"{role}: {text} is neither a folder nor a Hugging Face hub name"
                         ) from None
    cache = hub_cache_dir()
    try:
        folder = Path(snapshot_download(text, cache_dir=cache, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        raise ValueError(
            f"{role}: {text} is not a folder and not in the local Hugging Face cache "
            f"({cache}); on a connected machine run `hf download {text}` (or "
            f"`huggingface-cli download {text}`) and copy the cache here"
        ) from None
    if not (folder / "config.json").is_file() and role != "tokenizer":
        raise ValueError(f"{role}: the cached snapshot of {text} ({folder}) has no config.json")
    return folder


def has_tokenizer(folder: Path) -> bool:
    """Whether a model folder ships its own tokenizer files."""
    return any((folder / name).is_file() for name in _TOKENIZER_FILES)


@dataclass(frozen=True)
class ModelShape:
    """What the search space and the vocabulary check need to know of a checkpoint."""

    model_type: str
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int  # heads per layer (the fewest, for a checkpoint pruned unevenly)


def _read_json(path: Path, role: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{role}: cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{role}: {path} is not a JSON object")
    return data


def model_shape(folder: Path, role: str) -> ModelShape:
    """Shape of the BERT or DistilBERT checkpoint in ``folder``, from its JSON files alone.

    A folder written by ``distill.models.save_qa_model`` (with ``heads.json``) reports the
    heads it really has, which pruning may have made fewer than its configuration's.
    """
    config = _read_json(folder / "config.json", role)
    kind = config.get("model_type")
    # DistilBERT names the same dimensions differently; the defaults are each class's own
    if kind == "bert":
        keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")
        defaults = (30522, 768, 12, 12)
    elif kind == "distilbert":
        keys = ("vocab_size", "dim", "n_layers", "n_heads")
        defaults = (30522, 768, 6, 12)
    else:
        raise ValueError(f"{role}: {folder} is a {kind!r} model, expected one of "
                         f"{list(MODEL_TYPES)}")
    vocab, hidden, layers, heads = (int(config.get(k, d)) for k, d in zip(keys, defaults,
                                                                          strict=True))
    meta = folder / "heads.json"
    if meta.is_file():
        per_layer = _read_json(meta, role).get("heads_per_layer") or [heads]
        heads = min(int(n) for n in per_layer)
    return ModelShape(model_type=kind, vocab_size=vocab, hidden_size=hidden,
                      num_layers=layers, num_heads=heads)


def _tokenizer_vocab(folder: Path) -> dict[str, int]:
    # transformers is heavy and distill.task imports this module on every mobo run; it is
    # needed only when both sources ship a tokenizer
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return dict(tok.get_vocab())


def check_same_vocabulary(teacher: Path, encoder: Path) -> None:
    """Raise ``ValueError`` unless ``teacher`` and ``encoder`` read the same token ids.

    Their configurations must give the same vocabulary size and, when both folders ship a
    tokenizer, the two tokenizers must map every token to the same id.
    """
    a, b = model_shape(teacher, "teacher"), model_shape(encoder, "encoder")
    if a.vocab_size != b.vocab_size:
        raise ValueError(f"encoder: vocabulary of {b.vocab_size} tokens ({encoder}) differs "
                         f"from the teacher's {a.vocab_size} ({teacher}); students must read "
                         "the teacher's token ids")
    if teacher.resolve() == encoder.resolve():
        return
    if has_tokenizer(teacher) and has_tokenizer(encoder):
        va, vb = _tokenizer_vocab(teacher), _tokenizer_vocab(encoder)
        if va != vb:
            differ = sorted(set(va.items()) ^ set(vb.items()))
            raise ValueError(f"encoder: tokenizer of {encoder} differs from the teacher's "
                             f"({len(differ)} token/id pairs, e.g. {differ[0]!r}); students "
                             "must read the teacher's token ids")
