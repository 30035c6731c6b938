"""The embedded distillation task's data and budgets, counted from the code: one JSON file.

Builds the synthetic SQuAD-2.0-format task that ``python -m mobo.run`` optimises by default
(:class:`distill.objective.DistillationTask`, seed 0), tokenises its training questions as
the teacher's fine-tuning does, and writes what the reports say about the task: question
and feature counts, the features' token lengths, the dev set's answerable and unanswerable
questions (the ``exact`` threshold is the share of unanswerable ones), each trial's budget
and the teacher's fine-tuning recipe with its number of steps. Nothing is trained; it takes
seconds::

    python -m benchmarks.distill_task          # writes results/distill_task.json

``results/distill.md`` (``python -m benchmarks.distill_report``) and the paper
(``python -m paper.figures``) read the file.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.provenance import FILES, command_line, stamp_fields
from distill.data import build_features, load_squad, load_tokenizer
from distill.objective import TEACHER_RECIPE, DistillationTask, no_answer_exact

__all__ = ["main", "measure"]

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "distill_task.json"


def measure(seed: int = 0) -> dict[str, Any]:
    """The facts of the embedded task with ``seed`` (see the module docstring)."""
    with tempfile.TemporaryDirectory() as cache:
        task = DistillationTask(cache_dir=cache, seed=seed, verbose=False)
    n_train, n_dev = task.synthetic_size
    train, dev = load_squad("synthetic", seed=task.seed, n_train=n_train, n_dev=n_dev)
    base = task.base
    features = build_features(train, load_tokenizer(), max_length=base.max_seq_length,
                              doc_stride=base.doc_stride)
    lengths = np.asarray(features.lengths)
    unanswerable = sum(1 for ex in dev if not ex["answers"]["text"])
    batch, epochs = int(TEACHER_RECIPE["train_batch_size"]), int(TEACHER_RECIPE["epochs"])
    return {
        "data": "synthetic",
        "seed": task.seed,
        "train_questions": len(train),
        "train_features": len(features),
        "train_feature_tokens": {"mean": float(lengths.mean()), "max": int(lengths.max())},
        "dev_questions": len(dev),
        "dev_answerable": len(dev) - unanswerable,
        "dev_unanswerable": unanswerable,
        "always_no_answer_exact": no_answer_exact(dev),
        "trial": {"train_questions": base.n_train_examples, "epochs": base.epochs,
                  "max_seq_length": base.max_seq_length, "doc_stride": base.doc_stride},
        "teacher_recipe": dict(TEACHER_RECIPE),
        # the teacher trains on every training feature: whole batches per epoch, the last
        # one short
        "teacher_steps": epochs * math.ceil(len(features) / batch),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(prog="python -m benchmarks.distill_task",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0, help="the task's seed (default 0)")
    ap.add_argument("--out", type=Path, default=OUT,
                    help="where to write the JSON (default results/distill_task.json)")
    a = ap.parse_args(argv)
    facts = {"command": command_line("benchmarks.distill_task", argv),
             **stamp_fields(FILES["distill_task.json"]), **measure(a.seed)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(facts, indent=2) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
