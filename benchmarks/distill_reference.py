"""Headline numbers of the embedded distillation task, for figures: one JSON file.

Prepares the task (fine-tunes and caches the teacher on a cold cache), then trains the
baseline student of the original study -- the semi-pretrained 6-layer, 12-head student --
once, and writes the always-no-answer EM (the ``exact`` threshold), the teacher's and the
baseline's dev metrics and sizes, the teacher recipe and where it was measured::

    python -m benchmarks.distill_reference --out results/distill_reference.json

Schema (percentages as SQuAD's evaluation prints them, sizes in trainable parameters)::

    {"task": {"data", "seed", "train_questions", "dev_questions", "trial_train_questions"},
     "always_no_answer_exact": float,
     "teacher": {"exact", "f1", "HasAns_exact", "NoAns_exact", "num_parameters"},
     "baseline": {"exact", "f1", "num_parameters", "inference_time", "seconds", "params"},
     "teacher_recipe": {... distill.objective.TEACHER_RECIPE ...},
     "measured_on": {"device", "torch_threads", "cpu", "date", "load_average"},
     "command": str, "commit": str | None, "dirty": bool}

``seconds`` (the baseline trial's wall time) and ``inference_time`` depend on what else
the machine runs: ``load_average`` is ``/proc/loadavg``'s 1/5/15-minute figures when the
baseline finished (``null`` where unavailable).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.provenance import FILES, command_line, cpu_name, stamp_fields
from distill.objective import TEACHER_RECIPE, DistillationTask

# The checkout's results/ folder (benchmarks is not installed: this file lies in the checkout).
RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"

# The original study's baseline: a DistilBERT-shaped student (here the teacher's 6 layers
# and 12 heads) initialised from the general encoder, with the settings of the student
# table in results/distill.md.
BASELINE: dict[str, Any] = {
    "learning_rate": 1e-4,
    "beta_1": 0.9,
    "beta_2": 0.999,
    "adam_epsilon": 1e-8,
    "weight_decay": 1e-4,
    "warm_up_steps": 10,
    "train_batch_size": 16,
    "eval_batch_size": 32,
    "alpha_ce": 0.5,
    "temperature": 2,
    "n_layers": 6,
    "n_heads": 12,
    "pruning_seed": 1,
    "initializer_range": 0.02,
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "qa_dropout": 0.1,
    "init": "pretrained",
    "layer_choice": "first",
}

_SPLITS = ("exact", "f1", "HasAns_exact", "NoAns_exact")


def _load_average() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def reference(task: DistillationTask) -> dict[str, Any]:
    """The headline numbers of ``task`` (prepares it and trains the baseline once)."""
    task.prepare()
    teacher = task.teacher_metrics
    t0 = time.perf_counter()
    baseline = task(BASELINE)
    seconds = time.perf_counter() - t0
    load = _load_average()
    train_q, dev_q = task.synthetic_size
    return {
        "task": {
            "data": task.data,
            "seed": task.seed,
            "train_questions": train_q,
            "dev_questions": dev_q,
            "trial_train_questions": task.base.n_train_examples,
        },
        "always_no_answer_exact": task.no_answer_em,
        "teacher": {
            **{k: float(teacher[k]) for k in _SPLITS},
            "num_parameters": task.teacher_num_parameters,
        },
        "baseline": {
            "exact": baseline["exact"],
            "f1": baseline["f1"],
            "num_parameters": int(baseline["num_parameters"]),
            "inference_time": baseline["inference_time"],
            "seconds": seconds,
            "params": dict(BASELINE),
        },
        "teacher_recipe": dict(TEACHER_RECIPE),
        "measured_on": {
            "device": "cpu",
            "torch_threads": torch.get_num_threads(),
            "cpu": cpu_name(),
            "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "load_average": load,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "distill_reference.json",
                        help="where to write the JSON (default results/distill_reference.json)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache folder (default $MOBO_CACHE or ~/.cache/mobo)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = DistillationTask(cache_dir=args.cache, device="cpu")
    result = {**reference(task), "command": command_line("benchmarks.distill_reference"),
              **stamp_fields(FILES["distill_reference.json"])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
