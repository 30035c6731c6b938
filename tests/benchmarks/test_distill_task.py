"""benchmarks.distill_task: the embedded task's facts, counted from the code."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.distill_task import measure

RESULTS = Path(__file__).resolve().parents[2] / "results"


def test_the_committed_facts_are_what_the_task_gives() -> None:
    committed = json.loads((RESULTS / "distill_task.json").read_text())
    fresh = measure(seed=0)
    assert {k: v for k, v in committed.items() if k not in ("command", "commit", "dirty")} == fresh
    # the threshold is the share of unanswerable dev questions, the teacher's steps whole
    # batches per epoch
    assert fresh["always_no_answer_exact"] == 100 * fresh["dev_unanswerable"] / fresh[
        "dev_questions"]
    assert fresh["dev_answerable"] + fresh["dev_unanswerable"] == fresh["dev_questions"]
    recipe = fresh["teacher_recipe"]
    assert fresh["teacher_steps"] == recipe["epochs"] * -(-fresh["train_features"]
                                                          // recipe["train_batch_size"])
