"""The paper's before/after of the 200-trial distillation search (section 4.6).

Two journals of ``python -m mobo.run --budget 200`` on the embedded default task: the run
made before the trust region (``results/distill_budget200.jsonl``) and the rerun with the
trust region (``results/distill_budget200_trust_region.jsonl``, possibly still partial: the
table gives its trial count); and the same pair on one H200
(``results/distill_gpu_h200_budget200.jsonl`` and
``results/distill_gpu_h200_budget200_trust_region.jsonl``, the latter with the settings the
task recommended then); and the run with the trust region and the exploration share as
first adopted, its good trials the credible ones
(``results/distill_budget200_explore.jsonl``, made on one 2-core machine with one torch
thread), set beside the same run before; and the run with the share's good trials at face
value, the task's setting until the share 0.7 (``results/distill_budget200_face.jsonl``, the
same machine and teacher, possibly still partial), set beside the run with the share as
first adopted; and the run with the task's current recommendation, the share 0.7
(``results/distill_budget200_share070.jsonl``, made on another 2-core machine, possibly
still partial), set beside the run before every change of the distillation search.
A rerun is read as git's
index holds it
(:func:`benchmarks.compare_report.staged_text`), as the held-out toy comparison is: its
run appends to it while the paper is made, and the committed paper must be what the
committed journal gives. All are scored with the fixed reference
of :mod:`benchmarks.distill_compare` -- the always-no-answer exact match and the teacher's
parameter count -- not with each run's own inferred reference, so their hypervolumes are
comparable; the functions are that module's, as in its reports.
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from benchmarks.compare_report import staged_text
from benchmarks.distill_compare import (
    SIZE_BANDS,
    above_share,
    best_within,
    journal_rows,
    run_hypervolume,
)
from benchmarks.provenance import relative
from mobo.pareto import is_nondominated
from mobo.study import Study

BEFORE = "distill_budget200.jsonl"
AFTER = "distill_budget200_trust_region.jsonl"
# the same pair on one H200: the run before the trust region, and the rerun with the
# settings the task recommended then (results/distill_compare_gpu/machine.json: how it ran)
GPU_BEFORE = "distill_gpu_h200_budget200.jsonl"
GPU_AFTER = "distill_gpu_h200_budget200_trust_region.jsonl"
# the run with the trust region and the exploration share as first adopted
EXPLORE = "distill_budget200_explore.jsonl"
# the same command with the share's good trials at face value (the task's setting since),
# on the same machine and teacher as EXPLORE
FACE = "distill_budget200_face.jsonl"
# the same command with the task's current recommendation (the trust region, its
# recombinations and the exploration share 0.7), set beside BEFORE
FINAL = "distill_budget200_share070.jsonl"
CHECKPOINTS = (25, 50, 100, 200)


def settings(study: Study) -> str:
    """The proposer settings a journal's header records, in words."""
    parts = [f"trust region {study.trust_region:g}" if study.trust_region else "global search"]
    if study.explore:
        parts.append(f"exploration share {study.explore:g}")
    if study.threshold_model:
        parts.append("threshold model")
    if study.warp and study.warp != "none":
        parts.append(f"{study.warp} warp")
    known = [o.name for o in study.objectives if o.known is not None]
    parts.append(f"`{', '.join(known)}` known" if known else "every objective modelled")
    return ", ".join(parts)


def run_summary(journal: Path, reference: Mapping[str, float]) -> dict[str, Any]:
    """What the table shows of one run: counts, shares, hypervolumes, best in bands."""
    study = Study.read(journal)
    rows = journal_rows(journal)
    finished = [t for t in study.trials if t.status in ("completed", "failed")]
    model = [t for t, r in zip(finished, rows, strict=True) if r["source"] == "model"]
    return {
        "path": journal,
        "settings": settings(study),
        "trials": len(rows),
        "model": len(model),
        "share": above_share(rows, reference),
        "one_layer": (sum(t.params["n_layers"] == 1 for t in model) / len(model)
                      if model else math.nan),
        "pretrained": (sum(t.params.get("init") == "pretrained" for t in model) / len(model)
                       if model else math.nan),
        "hv": {c: run_hypervolume(rows[:c], reference) for c in CHECKPOINTS
               if len(rows) >= c},
        "best": {b: best_within(rows, reference, b) for b in SIZE_BANDS},
        "rows": rows,
        # the initial design's configurations and scores, in the order they were asked
        "initial": [(t.params, r["exact"]) for t, r in zip(finished, rows, strict=True)
                    if r["source"] == "initial"],
    }


def shared_design(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """How the two runs scored the configurations their initial designs share, in words.

    Two runs of the same task and seed draw the same initial design; where they ran on
    different machines, the same configuration may train to a different student. The
    configurations asked at the same place of both designs with the same parameters are
    compared by exact match (a failed trial's is missing and is not compared). Returns a
    clause starting with "; " for the paper's sentence, or "" where they share none.
    """
    pairs = [(a, b) for (pa, a), (pb, b) in zip(before["initial"], after["initial"],
                                                 strict=False)
             if pa == pb and a is not None and b is not None]
    if not pairs:
        return ""
    diff = np.abs(np.array([a - b for a, b in pairs], dtype=float))
    same = int((diff == 0).sum())
    if same == len(pairs):
        return (f"; the {len(pairs)} configurations their initial designs share scored the "
                "same exact match in both, so the two machines train the same students")
    return (f"; of the {len(pairs)} configurations their initial designs share, {same} "
            f"scored the same exact match in both and the others differ by up to "
            f"{diff.max():.2f} EM (median {np.median(diff[diff > 0]):.2f}), so the two "
            "columns are also two draws of the task")


def _pct(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.0%}"


def _num(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None or math.isnan(v) else format(v, spec)


def table(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """The markdown table, one row per measure."""
    lines = ["| | before | after |", "|---|---:|---:|"]

    def row(label: str, f: Any) -> None:
        lines.append(f"| {label} | {f(before)} | {f(after)} |")

    row("proposer", lambda s: s["settings"])
    row("finished trials", lambda s: str(s["trials"]))
    row("model proposals", lambda s: str(s["model"]))
    row("model proposals above the no-answer threshold", lambda s: _pct(s["share"]))
    row("model proposals with one layer", lambda s: _pct(s["one_layer"]))
    row("model proposals with `init=pretrained`", lambda s: _pct(s["pretrained"]))
    for c in CHECKPOINTS:
        row(f"hypervolume after {c} trials", lambda s, c=c: _num(s["hv"].get(c)))
    for b in SIZE_BANDS:
        row(f"best exact match within {b:.0%} of the teacher's size",
            lambda s, b=b: _num(s["best"][b]))
    return "\n".join(lines)


def figure(before: Mapping[str, Any], after: Mapping[str, Any],
           reference: Mapping[str, float]) -> Figure:
    """Left: hypervolume (fixed reference) after each finished trial; right: every
    completed trial of both runs and each run's front above the threshold."""
    fig = Figure(figsize=(10, 4))
    ax_hv, ax_pts = fig.subplots(1, 2)
    teacher = float(reference["num_parameters"])
    for s, colour, label in ((before, "tab:grey", "before"), (after, "tab:blue", "after")):
        rows = s["rows"]
        n = np.arange(1, len(rows) + 1)
        ax_hv.step(n, [run_hypervolume(rows[:k], reference) for k in n], where="post",
                   color=colour, label=f"{label} ({len(rows)} trials)")
        done = [r for r in rows if r["status"] == "completed"]
        size = np.array([r["num_parameters"] / teacher for r in done])
        exact = np.array([r["exact"] for r in done])
        ax_pts.scatter(size, exact, s=9, color=colour, alpha=0.45, label=label)
        keep = exact > reference["exact"]
        if keep.any():
            Y = np.column_stack([-exact[keep], size[keep]])
            front = Y[is_nondominated(Y)]
            front = front[np.argsort(front[:, 1])]
            ax_pts.step(front[:, 1], -front[:, 0], where="post", color=colour, lw=1.5)
    ax_hv.set_xlabel("finished trials")
    ax_hv.set_ylabel("hypervolume (EM points x teacher size)")
    ax_hv.legend(loc="lower right", fontsize=8)
    ax_pts.axhline(reference["exact"], color="k", ls="--", lw=0.8)
    ax_pts.set_xlabel("parameters / teacher's")
    ax_pts.set_ylabel("exact match")
    ax_pts.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def fixed_reference(results: Path) -> dict[str, float]:
    """The always-no-answer exact match and the teacher's parameter count, from
    ``distill_reference.json`` (``python -m benchmarks.distill_reference``)."""
    ref = json.loads((results / "distill_reference.json").read_text())
    return {"exact": float(ref["always_no_answer_exact"]),
            "num_parameters": float(ref["teacher"]["num_parameters"])}


def before_after_section(results: Path, root: Path, before_name: str = BEFORE,
                         after_name: str = AFTER, prefix: str = ""
                         ) -> tuple[dict[str, str], dict[str, str], Figure]:
    """(values, tables, figure) for the template: the journals' paths, the after run's
    coverage, how the two runs scored their shared initial design
    (:func:`shared_design`), ``table_<prefix>before_after`` and the figure, for the pair of
    journals ``before_name`` and ``after_name`` in ``results`` (by default the 2-core CPU
    runs; the values' names start with ``prefix``)."""
    reference = fixed_reference(results)
    before = run_summary(results / before_name, reference)
    after_path = results / after_name
    text = staged_text(after_path)
    if text is None:
        raise ValueError(f"{after_path}: missing, or not staged in git (python -m mobo.run "
                         f"--budget 200 --storage {after_name}, then git add it)")
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / after_name
        copy.write_text(text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a torn last line of a run still writing
            after = run_summary(copy, reference)
    after["path"] = after_path
    paths = (relative(before["path"], root), relative(after["path"], root))
    coverage = ("complete" if after["trials"] >= 200 else
                f"partial: {after['trials']} of its 200 trials so far")
    text = (f"The 200-trial search before (`{paths[0]}`) and after (`{paths[1]}`, "
            f"{coverage}), scored with the fixed reference (the always-no-answer exact "
            "match, the teacher's parameter count); hypervolume in EM points times the "
            "teacher's size.\n\n" + table(before, after))
    values = {f"{prefix}before_journal": paths[0], f"{prefix}after_journal": paths[1],
              f"{prefix}after_trials": str(after["trials"]),
              f"{prefix}after_coverage": coverage, f"{prefix}before_after_table": text,
              f"{prefix}black_box": shared_design(before, after)}
    return values, {f"table_{prefix}before_after": text}, figure(before, after, reference)


