"""distill: the black box mobo tunes — BERT students distilled for SQuAD 2.0 QA.

Knows nothing of Gaussian processes: it turns a configuration into metrics
(``exact``, ``f1``, ``num_parameters``, ``inference_time``). ``distill.load_student(folder)``
reads a kept student back as ``(model, tokenizer)``; ``python -m distill.answer`` asks it
a question.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_student"]


def __getattr__(name: str) -> Any:
    # load_student needs torch and transformers; importing them only when it is asked
    # for keeps ``import distill.config`` (the search spaces) light
    if name == "load_student":
        from distill.students import load_student

        return load_student
    raise AttributeError(f"module 'distill' has no attribute {name!r}")
