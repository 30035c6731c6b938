"""Every knob of one distillation trial, and the search spaces over them.

:class:`DistillConfig` is the single description of a trial: the 17 parameters of the
multimetric-BO BERT distillation study (learning rate, Adam betas and epsilon, weight
decay, warm-up steps, batch sizes, the distillation weight ``alpha_ce`` and temperature,
depth, heads kept by pruning, pruning seed, initializer range, three dropouts) plus the
choices the task fixes (initialisation, which teacher layers, which heads, training
budget, sequence windowing, seed, device). It validates itself, prints as a table and
round-trips through JSON.

:func:`seed_space` is the original study's 17-parameter space (plus the ``init``
categorical) for real SQuAD 2.0 runs; :func:`embedded_space` narrows the ranges to a
MiniLM-sized 6-layer teacher trained on a CPU budget and adds the teacher-layer choice.
Both take the teacher's shape, so a value the teacher rules out (more heads than it has)
is never proposed; :func:`describe_space` prints a space for a run's header.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobo.space import Categorical, Float, Int, Space

INITS = ("pretrained", "teacher")
LAYER_CHOICES = ("spaced", "first")
HEAD_CHOICES = ("random", "importance")

# The 17 parameters searched by the original study, in its order.
SEARCHED = (
    "learning_rate",
    "beta_1",
    "beta_2",
    "adam_epsilon",
    "weight_decay",
    "warm_up_steps",
    "train_batch_size",
    "eval_batch_size",
    "alpha_ce",
    "temperature",
    "n_layers",
    "n_heads",
    "pruning_seed",
    "initializer_range",
    "dropout",
    "attention_dropout",
    "qa_dropout",
)


@dataclass
class DistillConfig:
    """One trial's full configuration (validated on construction).

    ``n_train_examples`` of ``None`` trains on every training question; ``device`` of
    ``None`` means CUDA when available, else CPU.
    """

    # optimiser
    learning_rate: float = 5e-5
    beta_1: float = 0.9
    beta_2: float = 0.999
    adam_epsilon: float = 1e-8
    weight_decay: float = 1e-4
    warm_up_steps: int = 0
    train_batch_size: int = 16
    eval_batch_size: int = 32
    # distillation
    alpha_ce: float = 0.5
    temperature: float = 2.0
    # student architecture
    n_layers: int = 6
    n_heads: int = 12
    pruning_seed: int = 1
    initializer_range: float = 0.02
    dropout: float = 0.1
    attention_dropout: float = 0.1
    qa_dropout: float = 0.1
    init: str = "teacher"
    layer_choice: str = "spaced"
    head_choice: str = "random"
    # budget and data windowing
    epochs: int = 1
    n_train_examples: int | None = None
    max_seq_length: int = 384
    doc_stride: int = 128
    seed: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first offending field; coerce ints from floats."""

        def real(name: str, low: float, high: float, *, low_open: bool = False,
                 high_open: bool = False) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValueError(f"{name}: expected a number, got {v!r}")
            v = float(v)
            if not math.isfinite(v):
                raise ValueError(f"{name}: must be finite, got {v!r}")
            bad_low = v <= low if low_open else v < low
            bad_high = v >= high if high_open else v > high
            if bad_low or bad_high:
                lo = "(" if low_open else "["
                hi = ")" if high_open else "]"
                raise ValueError(f"{name}: {v!r} outside {lo}{low}, {high}{hi}")
            setattr(self, name, v)

        def integer(name: str, low: int, *, optional: bool = False) -> None:
            v = getattr(self, name)
            if v is None and optional:
                return
            if isinstance(v, bool) or not isinstance(v, int | float) or (
                isinstance(v, float) and not v.is_integer()
            ):
                raise ValueError(f"{name}: expected an integer, got {v!r}")
            v = int(v)
            if v < low:
                raise ValueError(f"{name}: must be >= {low}, got {v}")
            setattr(self, name, v)

        def choice(name: str, choices: tuple[str, ...]) -> None:
            v = getattr(self, name)
            if v not in choices:
                raise ValueError(f"{name}: {v!r} is not one of {list(choices)}")

        real("learning_rate", 0.0, math.inf, low_open=True, high_open=True)
        real("beta_1", 0.0, 1.0, high_open=True)
        real("beta_2", 0.0, 1.0, high_open=True)
        real("adam_epsilon", 0.0, math.inf, low_open=True, high_open=True)
        real("weight_decay", 0.0, math.inf, high_open=True)
        integer("warm_up_steps", 0)
        integer("train_batch_size", 1)
        integer("eval_batch_size", 1)
        real("alpha_ce", 0.0, 1.0)
        real("temperature", 0.0, math.inf, low_open=True, high_open=True)
        integer("n_layers", 1)
        integer("n_heads", 1)
        integer("pruning_seed", 0)
        real("initializer_range", 0.0, math.inf, high_open=True)
        real("dropout", 0.0, 1.0)
        real("attention_dropout", 0.0, 1.0)
        real("qa_dropout", 0.0, 1.0)
        choice("init", INITS)
        choice("layer_choice", LAYER_CHOICES)
        choice("head_choice", HEAD_CHOICES)
        integer("epochs", 1)
        integer("n_train_examples", 1, optional=True)
        integer("max_seq_length", 16)
        integer("doc_stride", 1)
        if self.doc_stride >= self.max_seq_length:
            raise ValueError(
                f"doc_stride: {self.doc_stride} must be smaller than max_seq_length "
                f"({self.max_seq_length})"
            )
        integer("seed", 0)
        if self.device is not None and not (
            isinstance(self.device, str)
            and (self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:"))
        ):
            raise ValueError(
                f"device: expected None, 'cpu', 'cuda' or 'cuda:N', got {self.device!r}"
            )

    # ---- conversion -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DistillConfig:
        """Build from a mapping; an unknown key raises ``ValueError`` naming it."""
        names = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in names:
                raise ValueError(f"{key}: not a DistillConfig field")
        return cls(**dict(d))

    def replace(self, **changes: Any) -> DistillConfig:
        """A validated copy with some fields changed (unknown names raise ``ValueError``)."""
        d = self.to_dict()
        d.update(changes)
        return DistillConfig.from_dict(d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DistillConfig:
        d = json.loads(text)
        if not isinstance(d, dict):
            raise ValueError("DistillConfig JSON must be an object")
        return cls.from_dict(d)

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> DistillConfig:
        return cls.from_json(Path(path).read_text())

    def __str__(self) -> str:
        width = max(len(f.name) for f in dataclasses.fields(self))
        lines = ["DistillConfig("]
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            text = f"{v:.4g}" if isinstance(v, float) else repr(v)
            mark = "*" if f.name in SEARCHED else " "
            lines.append(f"  {mark} {f.name:<{width}} = {text}")
        lines.append(")")
        return "\n".join(lines)


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return value


def seed_space(max_heads: int = 12) -> Space:
    """The original study's 17-parameter space, plus ``init``, for real SQuAD 2.0 runs.

    Ranges as published by the study (SigOpt, 2020) for a BERT-base teacher; ``n_heads``
    runs to ``max_heads``, the fewest heads the students' sources have (12 for BERT-base
    and DistilBERT), since pruning can only remove heads. Depth has no such limit: layers
    beyond a source's depth start from random weights. ``pretrained`` is listed first
    because it is the only sensible initialisation for a DistilBERT-sized student on real
    data.
    """
    max_heads = _positive("max_heads", max_heads)
    return Space(
        [
            Float("learning_rate", 2e-6, 0.1, log=True),
            Float("beta_1", 0.7, 0.9999),
            Float("beta_2", 0.7, 0.9999),
            Float("adam_epsilon", 1e-10, 1e-5, log=True),
            Float("weight_decay", 1e-7, 1e-2, log=True),
            Int("warm_up_steps", 0, 100),
            Int("train_batch_size", 4, 32),
            Int("eval_batch_size", 4, 32),
            Float("alpha_ce", 0.0, 1.0),
            Int("temperature", 1, 10),
            Int("n_layers", 1, 20),
            Int("n_heads", 1, max_heads),
            Int("pruning_seed", 1, 100),
            Float("initializer_range", 0.0, 1.0),
            Float("dropout", 0.0, 1.0),
            Float("attention_dropout", 0.0, 1.0),
            Float("qa_dropout", 0.0, 1.0),
            Categorical("init", ["pretrained", "teacher"]),
        ]
    )


def embedded_space(max_heads: int = 12, max_layers: int = 6) -> Space:
    """The same 17 parameters plus ``init`` and ``layer_choice``, sized for the embedded task.

    The teacher is MiniLM-L6 (6 layers, 12 heads of size 32; ``max_layers`` and
    ``max_heads`` give another teacher's depth and heads) and a trial trains on a fixed
    number of questions on 2 CPU cores, so: at most the teacher's depth, learning
    rates a small encoder can use within a few hundred steps, warm-up within one
    epoch of steps, and dropouts below 0.5 (above that a 1,000-question budget learns
    nothing). The training budget is the task's, not searched.
    """
    max_heads = _positive("max_heads", max_heads)
    max_layers = _positive("max_layers", max_layers)
    return Space(
        [
            Float("learning_rate", 1e-5, 1e-2, log=True),
            Float("beta_1", 0.7, 0.9999),
            Float("beta_2", 0.7, 0.9999),
            Float("adam_epsilon", 1e-10, 1e-5, log=True),
            Float("weight_decay", 1e-7, 1e-2, log=True),
            Int("warm_up_steps", 0, 50),
            Int("train_batch_size", 4, 32),
            Int("eval_batch_size", 4, 32),
            Float("alpha_ce", 0.0, 1.0),
            Int("temperature", 1, 10),
            Int("n_layers", 1, max_layers),
            Int("n_heads", 1, max_heads),
            Int("pruning_seed", 1, 100),
            Float("initializer_range", 0.0, 0.2),
            Float("dropout", 0.0, 0.5),
            Float("attention_dropout", 0.0, 0.5),
            Float("qa_dropout", 0.0, 0.5),
            Categorical("init", ["teacher", "pretrained"]),
            Categorical("layer_choice", ["spaced", "first"]),
        ]
    )


def describe_space(space: Space) -> str:
    """One line per parameter (name, kind, range or choices), for a run's header."""
    width = max(len(n) for n in space.names)
    lines = []
    for p in space.params:
        if isinstance(p, Categorical):
            what = "choice  " + " | ".join(str(c) for c in p.choices)
        else:
            kind = "float" if isinstance(p, Float) else "int"
            scale = ", log" if p.log else ""
            low, high = (f"{p.low:.4g}", f"{p.high:.4g}") if isinstance(p, Float) else (
                str(p.low), str(p.high))
            what = f"{kind:<6}  [{low}, {high}]{scale}"
        lines.append(f"  {p.name:<{width}}  {what}")
    return "\n".join(lines)
