"""``results/distill.md``, generated: the distillation task's measured numbers.

Reads, from the results folder (``results/`` by default):

- ``distill_task.json`` (``python -m benchmarks.distill_task``): the task's data and
  budgets, the teacher's recipe and its number of steps;
- ``distill_reference.json`` (``python -m benchmarks.distill_reference``): the teacher's
  and the baseline student's dev metrics and sizes;
- ``distill_facts.json``: measurements taken once by hand (teacher preparations, single
  students, what ``/usr/bin/time`` reported for a run, the machines and commands), each
  with the commit that first recorded it;
- the study journals that ``distill_facts.json`` names (``distill_budget*.jsonl``,
  ``distill_gpu_*.jsonl``): every count, trial time, proposal time, hypervolume and Pareto
  front below is computed from them, and every run's wall time by the one definition of
  :mod:`benchmarks.wall_time`.

It writes the report and nothing else; nothing is trained or re-run::

    python -m benchmarks.distill_report            # rewrites results/distill.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.wall_time import WallTime, run_wall_time
from mobo.plot import classify, hypervolume_trace
from mobo.study import Study
from mobo.trial import Trial

__all__ = ["Inputs", "RunSummary", "design_rows", "load_inputs", "main", "markdown",
           "summarise"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"

# The project's targets for the embedded task, as the report judges them.
TARGET_PREPARATION_S = 300.0  # teacher preparation from a cold cache, on 2 CPU cores
TARGET_MEDIAN_TRIAL_S = 30.0  # median trial on 2 CPU cores
# run wall time, minutes, by (device, budget)
TARGET_WALL_MIN: dict[tuple[str, int], float] = {("cpu", 20): 15.0, ("cpu", 200): 120.0,
                                                ("cuda", 200): 15.0}
# a student more than this many EM above the threshold has learned the task
_LEARNED = 10.0
# a score within this of the threshold is "no better than always answering no answer" (the
# precision the report prints)
_TIE = 0.005


class InputError(Exception):
    """A result file is missing or does not hold what the report needs."""


@dataclasses.dataclass(frozen=True)
class Inputs:
    """Everything the report is made from."""

    task: Mapping[str, Any]
    reference: Mapping[str, Any]
    facts: Mapping[str, Any]
    studies: Mapping[str, Study]  # journal path as named in the facts -> its study
    paths: Mapping[str, Path]  # journal path as named in the facts -> the file read


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: missing") from None
    except ValueError as e:
        raise InputError(f"{path}: not JSON: {e}") from None


def _read_study(path: Path) -> Study:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a run still writing may leave a torn last line
        try:
            return Study.read(path)
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: {e}") from None


def load_inputs(results: Path = RESULTS) -> Inputs:
    """The three JSON files of ``results`` and the journals the facts name, read from
    ``results`` by their file names."""
    facts = _json(results / "distill_facts.json")
    studies, paths = {}, {}
    for run in facts.get("runs", []):
        name = run["journal"]
        path = results / Path(name).name
        studies[name], paths[name] = _read_study(path), path
    return Inputs(_json(results / "distill_task.json"),
                  _json(results / "distill_reference.json"), facts, studies, paths)


# ---------------------------------------------------------------------------- formatting
def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _s(x: float | None) -> str:
    """Seconds as the hand-written tables gave them: whole above 100, else one decimal."""
    if x is None:
        return "-"
    return f"{x:,.0f} s" if abs(x) >= 100 or float(x).is_integer() else f"{x:.1f} s"


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _m(x: float) -> str:
    return f"{x / 1e6:.1f}M"


def _sci(x: float, digits: int = 4) -> str:
    """4.232e8 style."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    exp = math.floor(math.log10(abs(x)))
    mant = f"{x / 10 ** exp:.{digits - 1}f}"
    if mant.startswith("10"):
        exp += 1
        mant = f"{x / 10 ** exp:.{digits - 1}f}"
    return f"{mant}e{exp}"


def _dur(seconds: float) -> str:
    """A run's wall time: seconds below 10 minutes, else minutes."""
    if seconds < 600:
        return f"{seconds:.0f} s ({seconds / 60:.1f} min)"
    return f"{seconds / 60:.1f} min"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _range(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else \
        f"{fmt.format(lo)}-{fmt.format(hi)}"


def _table(header: Sequence[str], align: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
            + ["| " + " | ".join(r) + " |" for r in rows])


def _recorded(entry: Mapping[str, Any]) -> str:
    r = entry.get("recorded")
    return f"{r['date']}, commit {r['commit']}" if r else ""


def _e(x: float) -> str:
    """3e-4 rather than 0.0003."""
    if x == 0 or abs(x) >= 1e-3:
        return f"{x:g}"
    mant, exp = f"{x:.1e}".split("e")
    return f"{mant.rstrip('0').rstrip('.')}e{int(exp)}"


def _lr(x: float) -> str:
    return f"{x:.2g}"


# ---------------------------------------------------------------------------- journals
def _v(t: Trial, key: str) -> float:
    return float(t.values[key])  # type: ignore[index, arg-type]


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What the report says about one run, computed from its journal."""

    journal: str
    study: Study
    wall: WallTime
    budget: int | None
    completed: list[Trial]
    failed: list[Trial]
    abandoned: list[Trial]
    sources: dict[str, int]  # finished trials by source
    durations: list[float]  # finished trials' durations, seconds
    above: int  # completed trials above the exact threshold
    threshold: float | None
    front: list[Trial]  # above the threshold, non-dominated, by size
    hv: list[float]  # after each finished trial
    hv_order: list[Trial]  # the finished trials in the order they finished
    model_asks: list[list[float]]  # model proposal times, seconds, per segment
    design: dict[int, int]  # trial number -> the initial design's row it evaluates

    @property
    def finished(self) -> int:
        return len(self.completed) + len(self.failed)

    @property
    def median_trial_s(self) -> float:
        return float(statistics.median(self.durations))

    def hv_after(self, n_finished: int) -> float:
        return self.hv[n_finished - 1] if 0 < n_finished <= len(self.hv) else 0.0

    def hv_reached(self) -> Trial | None:
        """The finished trial after which the final hypervolume was first reached."""
        if not self.hv or self.hv[-1] <= 0:
            return None
        k = next(k for k, h in enumerate(self.hv) if h == self.hv[-1])
        return self.hv_order[k]


def design_rows(path: Path) -> dict[int, int]:
    """Trial number -> the initial design's row it evaluates, from the journal's asks."""
    rows: dict[int, int] = {}
    for line in Path(path).read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a torn last line
        if event.get("event") == "ask" and "design_index" in event:
            rows[int(event["number"])] = int(event["design_index"])
    return rows


def _budget(journal: str) -> int | None:
    """B of a journal named ``..._budget<B>...``."""
    stem = Path(journal).stem
    digits = stem.split("budget")[-1].split("_")[0] if "budget" in stem else ""
    return int(digits) if digits.isdigit() else None


def summarise(journal: str, study: Study,
              preparation_s: Sequence[float | None] | None = None,
              design: Mapping[int, int] | None = None,
              resumed_before: Sequence[int] = ()) -> RunSummary:
    """The journal's counts, times, hypervolume and front, and the run's wall time.

    ``design``: trial number -> initial-design row (:func:`design_rows` of the journal).
    ``resumed_before``: trials that began a segment without a mark in the journal
    (:func:`benchmarks.wall_time.segments`).
    """
    wall = run_wall_time(study, preparation_s, resumed_before)
    trials = study.trials
    completed = [t for t in trials if t.status == "completed"]
    failed = [t for t in trials if t.status == "failed"]
    abandoned = [t for t in trials if t.status == "abandoned"]
    finished = [t for t in trials if t.done]
    sources: dict[str, int] = {}
    for t in finished:
        sources[t.source] = sources.get(t.source, 0) + 1
    threshold = study.objectives[0].threshold
    above = sum(1 for t in completed if threshold is not None and _v(t, "exact") > threshold)
    front = sorted(classify(study).front, key=lambda t: _v(t, "num_parameters"))
    if study.ref_point is not None:
        _, hv, order = hypervolume_trace(study)
        hv_list, hv_order = [float(h) for h in hv], list(order)
    else:
        hv_list, hv_order = [], []
    asks = [[float(t.timings["ask"]) for t in seg.trials
             if t.source == "model" and "ask" in t.timings] for seg in wall.segments]
    return RunSummary(journal, study, wall, _budget(journal), completed, failed, abandoned,
                      sources, [float(t.duration) for t in finished if t.duration is not None],
                      above, threshold, front, hv_list, hv_order, asks, dict(design or {}))


# ---------------------------------------------------------------------------- sections
def _teacher_dev(inputs: Inputs, key: str) -> dict[str, float]:
    t = inputs.facts["teachers"][key]
    if t.get("dev") is not None:
        return {k: float(v) for k, v in t["dev"].items()}
    ref = inputs.reference["teacher"]
    return {"exact": float(ref["exact"]), "f1": float(ref["f1"]),
            "NoAns_exact": float(ref["NoAns_exact"])}


def _intro(inputs: Inputs) -> list[str]:
    task, facts = inputs.task, inputs.facts
    return [
        "# Distillation black box: measured numbers (synthetic task)",
        "",
        "Generated by `python -m benchmarks.distill_report` from `results/distill_task.json`, "
        "`results/distill_reference.json`, `results/distill_facts.json` and the journals "
        "named below; do not edit by hand.",
        "",
        f"All numbers below are from the **synthetic** SQuAD-2.0-format task "
        f"(`distill.synthetic.synthetic_squad`, seed {task['seed']}). Counts, trial times, "
        "proposal times, hypervolumes and fronts are computed from the runs' journals. What "
        "was measured once by hand (teacher preparations, single students, what "
        "`/usr/bin/time` reported for a run) is kept in `results/distill_facts.json` with the "
        "machine, the command and the commit that first recorded it; on the CPU that is "
        f"{facts['cpu_machine']}, and each figure says how busy the machine was. CPU seconds "
        "are given beside wall times where they were recorded.",
        "",
        "The real study's shape (the seed's 6-layer, 12-head, hidden-768 baseline student at "
        "384 tokens), its measured training throughput and the projected cost of the seed's "
        "full study are in `results/seed_shape.md`, written by `python -m "
        "benchmarks.seed_shape` from `results/seed_shape.json`.",
    ]


def _wall_definition(runs: Sequence[RunSummary], facts_runs: Sequence[Mapping[str, Any]]
                     ) -> list[str]:
    rows = []
    for s, f in zip(runs, facts_runs, strict=True):
        segs = s.wall.segments
        parts = " + ".join(f"{seg.seconds / 60:.1f}" for seg in segs)
        trials = (f"{parts} min" if len(segs) > 1 else _dur(s.wall.trials_s))
        prep = f.get("segments") or [{}]
        preps = [p.get("preparation_s") for p in prep]
        if s.wall.preparation_s is not None:
            prep_text = f"{_s(s.wall.preparation_s)} (measured)"
        elif any(p is not None for p in preps):
            prep_text = ("segment " + ", ".join(
                f"{k + 1}: {_s(p) if p is not None else 'not measured'}"
                for k, p in enumerate(preps)) + "; not added")
        else:
            prep_text = "not measured"
        target = TARGET_WALL_MIN.get((f["device"], s.budget or -1))
        verdict = "-" if target is None or s.finished < (s.budget or 0) else (
            f"{target:g} min: {'met' if s.wall.minutes <= target else 'missed'}")
        rows.append([f"`{Path(s.journal).name}`", f["device"].upper() if f["device"] == "cpu"
                     else "GPU", f"{s.finished}" + (f" of {s.budget}" if s.budget else ""),
                     str(len(segs)), trials, prep_text, f"**{_dur(s.wall.seconds)}**",
                     verdict])
    return [
        "## Run wall time",
        "",
        "One definition, used by this report and the paper (`benchmarks/wall_time.py`): a "
        "run's wall time is the time from its first trial's start to its last trial's end, "
        "as the journal's event times record them. A run that was stopped and resumed counts "
        "each segment that way and adds them up (the journal marks the resume where it "
        "records the trial that was running as abandoned); the time between segments, when "
        "no process ran the study, does not count. Preparation before the first trial "
        "(fine-tuning the teacher, its logits, the dev evaluation) is not in a journal: it is "
        "added only where it was measured for every segment (`results/distill_facts.json`), "
        "and given separately otherwise.",
        "",
        *_table(["journal", "device", "trials finished", "segments",
                 "first trial start to last trial end", "preparation", "run wall time",
                 "target"],
                ["---", "---", "---:", "---:", "---:", "---", "---:", "---"], rows),
    ]


_TASK_COMMAND = "python -m benchmarks.distill_task"


def _task_section(inputs: Inputs) -> list[str]:
    t = inputs.task
    tok = t["train_feature_tokens"]
    trial = t["trial"]
    epochs = "one epoch" if trial["epochs"] == 1 else f"{trial['epochs']} epochs"
    return [
        "## Task",
        "",
        f"From `results/distill_task.json` (`{t.get('command', _TASK_COMMAND)}`).",
        "",
        *_table(["quantity", "value"], ["---", "---:"], [
            ["training questions / features",
             f"{_n(t['train_questions'])} / {_n(t['train_features'])} (mean "
             f"{tok['mean']:.1f} tokens, max {tok['max']})"],
            ["dev questions", f"{_n(t['dev_questions'])} ({t['dev_answerable']} answerable, "
                              f"{t['dev_unanswerable']} unanswerable)"],
            ["training questions per trial (fixed by the task)",
             f"{_n(trial['train_questions'])} ({epochs})"],
            ["always-no-answer EM (the `exact` threshold)",
             f"**{t['always_no_answer_exact']:.2f}**"],
        ]),
    ]


def _recipe_text(task: Mapping[str, Any]) -> str:
    r = task["teacher_recipe"]
    drops = [r.get(k, 0.0) for k in ("dropout", "attention_dropout", "qa_dropout")]
    dropout = ("**no dropout** (hidden, attention and QA-head dropout 0)" if not any(drops)
               else f"dropout {_join([f'{d:g}' for d in drops])}")
    return (f"{r['epochs']} epochs over the {_n(task['train_questions'])} training questions "
            f"({task['teacher_steps']} steps), lr {_e(r['learning_rate'])}, batch "
            f"{r['train_batch_size']}, warm-up {r['warm_up_steps']} steps, weight decay "
            f"{r['weight_decay']:g}, {dropout}")


def _prep_cell(p: Mapping[str, Any]) -> str:
    wall, cpu = p.get("preparation_wall_s"), p.get("preparation_cpu_s")
    if wall is None:
        return "-"
    if p.get("preparation_scope") == "to the first trial":
        return f"**{_s(wall)}** to the first trial" if p is not None else _s(wall)
    return f"{_s(wall)} / {_s(cpu)}"


def _teacher_section(inputs: Inputs, runs: Mapping[str, RunSummary],
                     comparison: list[str], diffs: Mapping[str, list[float]]) -> list[str]:
    facts, task = inputs.facts, inputs.task
    teachers = facts["teachers"]
    rows = []
    seen: set[str] = set()
    for p in facts["teacher_preparations"]:
        key = p["teacher"]
        t = teachers[key]
        dev = _teacher_dev(inputs, key)
        sep = "; " if t["recipe"].endswith(")") else " ("
        label = (f"{t['recipe']}{sep}{t['status']}{')' if sep == ' (' else ''}"
                 if key not in seen else f"same {t['short']} recipe, same teacher")
        if key == "in_use" and key not in seen:
            label = f"**{label}**"
        seen.add(key)
        rows.append([label, _f(dev["exact"]), _f(dev["f1"]), _f(dev["NoAns_exact"]),
                     _s(p.get("finetune_wall_s")),
                     _s(p.get("finetune_cpu_s")) if p.get("finetune_cpu_s") is not None
                     else "not recorded", _prep_cell(p), p["machine"], _recorded(p)])
    preps = facts["teacher_preparations"]
    lines = [
        "## Teacher (MiniLM-L6 general encoder fine-tuned for QA, cached after the first run)",
        "",
        f"Recipe in use (`objective.TEACHER_RECIPE`): {_recipe_text(task)}. \"Preparation\" "
        f"is fine-tuning + teacher logits on the {_n(task['trial']['train_questions'])} "
        "trial questions + dev evaluation, from a cold cache; where a row says \"to the first "
        "trial\", it is the time from launching `mobo.run` to its first trial's start.",
        "",
        *_table(["recipe", "dev EM", "dev F1", "NoAns EM", "fine-tune wall", "fine-tune CPU",
                 "preparation wall / CPU", "machine", "recorded"],
                ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---", "---"], rows),
        "",
        "Teacher fine-tuning is deterministic on CPU: every run of a recipe gave the metrics "
        "of its row; only the times moved with the load.",
    ]
    for p in preps:
        parts = [f"fine-tuning {_s(p['finetune_wall_s'])}"]
        if p.get("logits_s") is not None:
            parts.append(f"logits {_s(p['logits_s'])}")
        if p.get("dev_eval_s") is not None:
            parts.append(f"dev evaluation {_s(p['dev_eval_s'])}")
        if len(parts) == 1 or p.get("preparation_scope") == "to the first trial":
            continue
        run = runs.get(p.get("run", ""))
        first = ""
        if run is not None and run.wall.preparation_s is not None:
            first = f"; its first trial started {_s(run.wall.preparation_s)} after launch"
        where = (f"the teacher phase of the run of `{Path(p['run']).name}`" if p.get("run")
                 else f"a preparation measured while the machine was {p['machine']}")
        missed = ("" if p["preparation_wall_s"] is None
                  or p["preparation_wall_s"] <= TARGET_PREPARATION_S
                  else f"; it missed the {TARGET_PREPARATION_S / 60:g}-minute target")
        lines += ["", f"The {teachers[p['teacher']]['short']} row with "
                      f"{_s(p['preparation_wall_s'])} is {where} ({_join(parts)}{first}){missed}."]
    # dropout: steps per second with and without it
    earlier = next(p for p in preps if p["teacher"] == "earlier"
                   and p.get("preparation_wall_s") is not None)
    steps = facts["teacher_steps_without_dropout"]
    n_steps = steps["last_step"] - steps["first_step"] + 1
    with_dropout = earlier["finetune_wall_s"] / task["teacher_steps"]
    without = steps["seconds"] / n_steps
    in_use, old = _teacher_dev(inputs, "in_use"), _teacher_dev(inputs, "earlier")
    lines += [
        "",
        f"**Why no dropout.** Drawing the dropout masks is a large share of a CPU training "
        f"step for this model: the earlier recipe (dropout 0.1) ran {task['teacher_steps']} "
        f"steps in {_s(earlier['finetune_wall_s'])} on the {earlier['machine'].split(' (')[0]} "
        f"machine, {with_dropout:.2f} s per step; without dropout, steps "
        f"{steps['first_step']}-{steps['last_step']} of the "
        f"{teachers[steps['teacher']]['short']} teacher in the run of "
        f"`{Path(steps['run']).name}` took {_s(steps['seconds'])} with "
        f"{steps['machine']}, {without:.2f} s per step ({100 * (1 - without / with_dropout):.0f}% "
        f"less). Without dropout the teacher also scores higher on the dev set "
        f"({in_use['exact']:.2f} against {old['exact']:.2f} after the same 3 epochs).",
    ]
    learned = [k for k, e in enumerate(diffs.get("earlier", []))
               if e > float(task["always_no_answer_exact"]) + _LEARNED]
    d2 = [diffs["two_epoch"][k] for k in learned] if "two_epoch" in diffs else []
    d3 = [diffs["in_use"][k] for k in learned] if "in_use" in diffs else []
    if d2:
        lines += [
            "",
            f"**Why 3 epochs, not 2.** The 2-epoch teacher is strong "
            f"({_teacher_dev(inputs, 'two_epoch')['exact']:.2f} EM) and prepares faster, but "
            "the students built from its layers are worse: on the configurations below whose "
            f"students learned the task (more than {_LEARNED:g} EM above the threshold with "
            f"the earlier teacher), its students scored {_join([f'{d:+.1f}' for d in d2])} EM "
            "against the earlier teacher's"
            + (f", the 3-epoch no-dropout teacher's {_join([f'{d:+.1f}' for d in d3])}."
               if d3 else "."),
        ]
    # the preparation target, from the run that measured it on the idle machine
    cold = [p for p in preps if p["teacher"] == "in_use"
            and p.get("preparation_scope") == "to the first trial"]
    if cold:
        best = min(cold, key=lambda p: p["preparation_wall_s"])
        others = [p["preparation_wall_s"] for p in preps if p["teacher"] == "in_use"
                  and p is not best and p.get("preparation_wall_s") is not None]
        ok = best["preparation_wall_s"] <= TARGET_PREPARATION_S
        lines += [
            "",
            f"**Target (preparation at most {TARGET_PREPARATION_S / 60:g} minutes): "
            f"{'met' if ok else 'missed'}** on the {best['machine'].split(' (')[0]} machine: "
            f"in the run of `{Path(best['run']).name}` the process started, generated the "
            f"data, fine-tuned the teacher ({_s(best['finetune_wall_s'])} wall, "
            f"{_s(best['finetune_cpu_s'])} CPU, "
            f"{best['finetune_wall_s'] / task['teacher_steps']:.2f} s per step), computed its "
            f"logits on the {_n(task['trial']['train_questions'])} trial questions "
            f"({_s(best.get('logits_s'))}), evaluated it on the dev set and started its first "
            f"trial **{_s(best['preparation_wall_s'])}** after launch. With other work on the "
            f"machine it takes longer ({_join([_s(x) for x in others])} in the rows above).",
        ]
    warm = facts["warm_cache_load_s"]
    inference = facts["teacher_inference_s_per_question"]
    lines += [
        "",
        f"A warm cache loads everything in {'about ' if warm.get('approximate') else ''}"
        f"{_s(warm['seconds'])}. Teacher inference per dev question: "
        + _join([f"{i['seconds']:g} s ({teachers[i['teacher']]['short']} teacher, the "
                 f"machine {i['machine']})" for i in inference]) + ".",
        "",
        *comparison,
    ]
    return lines


def _comparison(inputs: Inputs, runs: Sequence[RunSummary],
                facts_runs: Sequence[Mapping[str, Any]]) -> tuple[list[str],
                                                                   dict[str, list[float]]]:
    """Students of the same design points under each teacher, from the CPU journals."""
    by_teacher: dict[str, list[RunSummary]] = {}
    for s, f in zip(runs, facts_runs, strict=True):
        if f["device"] == "cpu":
            by_teacher.setdefault(f["teacher"], []).append(s)
    order = [k for k in ("earlier", "two_epoch", "in_use") if k in by_teacher]
    if len(order) < 2:
        return [], {}

    def design(s: RunSummary) -> dict[int, Trial]:
        return {s.design[t.number]: t for t in s.completed
                if t.source == "sobol" and t.number in s.design}

    points: dict[str, dict[int, Trial]] = {}
    for key in order:
        merged: dict[int, Trial] = {}
        for s in by_teacher[key]:
            for i, t in design(s).items():
                merged.setdefault(i, t)
        points[key] = merged
    n = 20
    threshold = float(inputs.task["always_no_answer_exact"])
    compared = [k for k in order if k != "in_use"]
    rows, diffs = [], {k: [] for k in order}
    shown = 0
    considered = [i for i in range(n) if all(i in points[k] for k in compared)]
    for i in considered:
        first = points[compared[0]][i]
        p = first.params
        if p.get("init") != "teacher":
            continue
        if not any(_v(points[k][i], "exact") > threshold for k in compared):
            continue
        shown += 1
        cells = []
        for k in order:
            t = points[k].get(i)
            cells.append(_f(_v(t, "exact")) if t is not None else "not run")
            if k == "earlier" and t is not None:
                diffs[k].append(_v(t, "exact"))
            elif t is not None and i in points["earlier"]:
                diffs[k].append(_v(t, "exact") - _v(points["earlier"][i], "exact"))
        rows.append([str(i), f"{p['init']}, {p['layer_choice']}", str(p["n_layers"]),
                     str(p["n_heads"]), f"{p['learning_rate']:.1e}", f"{p['dropout']:.2f}",
                     *cells])
    teachers = inputs.facts["teachers"]
    names = {k: f"{teachers[k]['short']} teacher ({_teacher_dev(inputs, k)['exact']:.2f})"
             for k in order}
    journals = {k: _join([f"`{Path(s.journal).name}`" for s in by_teacher[k]]) for k in order}
    lines = [
        "### Students of the same configurations under each teacher",
        "",
        f"Exact match on the dev set of the first {n} Sobol points of seed "
        f"{inputs.task['seed']}, which every CPU run evaluates in the same order, as the "
        "journals record them: "
        + _join([f"{journals[k]} ({teachers[k]['short']} teacher)" for k in order])
        + ". Shown: every teacher-initialised configuration that beat the threshold with "
        + " or ".join([f"the {teachers[k]['short']}" for k in compared])
        + f" teacher; the other {len(considered) - shown} stayed at or below it with "
        + ("both" if len(compared) == 2 else "each") + ".",
        "",
        *_table(["design point", "init, layers kept", "n_layers", "n_heads", "learning rate",
                 "dropout", *(names[k] for k in order)],
                ["---:", "---", "---:", "---:", "---:", "---:", *(["---:"] * len(order))],
                rows),
    ]
    for k, d in diffs.items():
        if d and k != "earlier":
            lines += ["", f"Against the earlier teacher's students, the {teachers[k]['short']} "
                          f"teacher's differ by {_join([f'{x:+.2f}' for x in d])} EM (in the "
                          "order of the table)."]
    for r in inputs.facts.get("repeat_runs", []):
        t = points.get(r["teacher"], {}).get(r["design_index"])
        same = t is not None and abs(_v(t, "exact") - r["exact"]) < _TIE
        who = f"{teachers[r['teacher']]['short']} teacher"
        text = (f"Design point {r['design_index']} with the {who} was also {r['note']}: "
                f"{r['exact']:.2f}")
        if t is not None:
            text += ", the same result" if same else f" (the journal: {_v(t, 'exact'):.2f})"
        lines += ["", text + "."]
    base = inputs.reference["baseline"]
    load = inputs.reference.get("measured_on", {}).get("load_average")
    collapsed = float(base["exact"]) <= threshold + _TIE
    lines += [
        "",
        f"The baseline student with the teacher in use (`results/distill_reference.json`): "
        f"exact {float(base['exact']):.2f}, f1 {float(base['f1']):.2f}, "
        f"{_n(base['num_parameters'])} parameters"
        + (" (no better than always answering \"no answer\", as with the earlier teacher)"
           if collapsed else "")
        + f"; its trial took {_s(float(base['seconds']))}"
        + (f", the machine's load average {'/'.join(f'{x:.2f}' for x in load)} when it "
           "finished." if load else "."),
    ]
    return lines, diffs


def _spaced(k: int, depth: int = 6) -> list[int]:
    return [math.floor((i + 1) * depth / k) - 1 for i in range(k)]


def _students_section(inputs: Inputs) -> list[str]:
    s = inputs.facts["earlier_teacher_students"]
    teacher = _teacher_dev(inputs, s["teacher"])
    teacher_params = float(inputs.reference["teacher"]["num_parameters"])
    idle_inference = [i for i in inputs.facts["teacher_inference_s_per_question"]
                      if i["teacher"] == s["teacher"] and i["machine"] == "idle"]
    rows = []
    for r in s["rows"]:
        label = f"**baseline**: {r['student'].split(': ', 1)[1]}" if r.get("baseline") \
            else r["student"]
        rows.append([label, _f(r["exact"]), _f(r["f1"]), _n(r["num_parameters"]),
                     f"{r['inference_s_per_question']:.4f}", f"{r['trial_wall_s']:.1f} s",
                     f"{r['trial_cpu_s']:.1f} s", _s(r["loaded_wall_s"])])
    rows.append([f"{inputs.facts['teachers'][s['teacher']]['short']} teacher (for reference)",
                 _f(teacher["exact"]), _f(teacher["f1"]), _n(teacher_params),
                 f"{idle_inference[0]['seconds']:.4f}" if idle_inference else "-", "-", "-",
                 "-"])
    students = s["rows"]
    idle = [r["trial_wall_s"] for r in students]
    loaded = [r["loaded_wall_s"] for r in students]
    fastest = min(students, key=lambda r: r["trial_wall_s"])
    slowest = max(students, key=lambda r: r["trial_wall_s"])
    med = statistics.median(idle)
    threshold = float(inputs.task["always_no_answer_exact"])
    best = max(students, key=lambda r: r["exact"])
    three = [r["exact"] for r in students if r["n_layers"] == 3]
    collapsed = [r for r in students if r["exact"] <= threshold + _TIE]
    layers = [r for r in students if r["n_layers"] == 3 and "heads" in r["student"]
              and "lr " not in r["student"] and "(random)" not in r["student"]]
    variants = s.get("variants", [])
    spaced = ", ".join(f"{k} → {_spaced(k)}" for k in (3, 4, 1))
    trial = inputs.task["trial"]

    def layers_word(n: int) -> str:
        return f"{n} layer" + ("s" if n != 1 else "")

    return [
        f"## Students with the {inputs.facts['teachers'][s['teacher']]['short']} teacher "
        f"(one trial each, {_n(trial['train_questions'])} training questions, one epoch)",
        "",
        f"Everything in this section was measured with the **"
        f"{inputs.facts['teachers'][s['teacher']]['name']}**, {teacher['exact']:.2f} EM; it "
        "has not been rerun with the teacher in use.",
        "",
        f"Common settings: {s['common_settings']}. `spaced` keeps teacher layers "
        f"floor((i+1)·6/k)−1: {spaced}.",
        "",
        *_table(["student", "exact", "f1", "num_parameters", "inference s/question",
                 "trial wall", "trial CPU", "wall, loaded run"],
                ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"], rows),
        "",
        f"Each configuration ran twice: once while the machine was {s['loaded']['machine']} "
        f"(the last column; recorded {_recorded(s['loaded'])}) and once while it was "
        f"{s['idle']['machine']} (the \"trial wall\" and \"trial CPU\" columns and the "
        f"inference times; recorded {_recorded(s['idle'])}); exact and f1 were identical in "
        "both runs "
        f"(trials are deterministic on CPU). **Median trial wall time on the idle machine: "
        f"{_s(med)}** (target at most {_s(TARGET_MEDIAN_TRIAL_S)}: "
        f"{'met' if med <= TARGET_MEDIAN_TRIAL_S else 'missed'}), from "
        f"{_s(fastest['trial_wall_s'])} ({layers_word(fastest['n_layers'])}) to "
        f"{_s(slowest['trial_wall_s'])} ({layers_word(slowest['n_layers'])}); on the shared "
        f"machine the median was {_s(statistics.median(loaded))}. A trial is build + one "
        f"epoch over the {_n(trial['train_questions'])} questions + dev evaluation of the "
        f"{_n(inputs.task['dev_questions'])} questions.",
        "",
        "What the table shows:",
        "",
        f"- A trade-off between the threshold ({threshold:.2f}) and the teacher "
        f"({teacher['exact']:.2f}): a {best['n_layers']}-layer teacher-initialised student "
        f"keeps {best['exact']:.1f} EM at "
        f"{100 * best['num_parameters'] / teacher_params:.0f}% of the teacher's size, and "
        f"3-layer students land between {min(three):.1f} and {max(three):.1f} EM depending on "
        "the learning rate and which layers are kept.",
        "- Which layers are kept matters: with 3 layers of 12 heads at the common learning "
        "rate, " + _join([f"{r['student'].split(', ')[1]} reached {r['exact']:.2f}"
                          for r in layers]
                         + [f"{v['layers']} reached {v['exact']:.2f} "
                            f"({_s(v['trial_wall_s'])} wall; {_recorded(v)})"
                            for v in variants]) + ".",
        "- No better than always answering \"no answer\" within this budget: "
        + _join([("the semi-pretrained baseline (the original study's initialisation)"
                  if r.get("baseline") else f"the student with {r['student'].split(', ', 1)[1]}")
                 for r in collapsed])
        + ". A fresh QA head on a general encoder does not learn the task from "
        f"{_n(trial['train_questions'])} questions.",
        "- `inference_time` is seconds of forward passes per dev question (all of its "
        "windows), eval batch size as configured, float32 on 2 CPU threads.",
    ]


def _front_table(s: RunSummary, with_wall: bool) -> list[str]:
    rows = []
    for t in sorted(s.front, key=lambda t: -_v(t, "exact")):
        p = t.params
        f1 = t.values.get("f1") if t.values else None  # type: ignore[union-attr]
        rows.append([str(t.number), t.source, _f(_v(t, "exact")),
                     _f(float(f1)) if f1 is not None else "-",
                     _n(_v(t, "num_parameters")), str(p.get("n_layers", "")),
                     str(p.get("n_heads", "")), str(p.get("init", "")),
                     str(p.get("layer_choice", "")),
                     _lr(p["learning_rate"]) if "learning_rate" in p else "",
                     f"{p['dropout']:.3f}" if "dropout" in p else ""]
                    + ([_s(t.duration)] if with_wall else []))
    header = ["trial", "source", "exact", "f1", "num_parameters", "n_layers", "n_heads",
              "init", "layers kept", "learning rate", "dropout"]
    align = ["---:", "---", "---:", "---:", "---:", "---:", "---:", "---", "---", "---:", "---:"]
    if with_wall:
        header.append("trial wall")
        align.append("---:")
    return _table(header, align, rows)


def _run_section(inputs: Inputs, s: RunSummary, f: Mapping[str, Any],
                 cpu_runs: Mapping[str, RunSummary]) -> list[str]:
    facts = inputs.facts
    teacher_key = f["teacher"]
    teacher = _teacher_dev(inputs, teacher_key)
    teacher_name = facts["teachers"][teacher_key]["name"]
    cmd = facts["commands"][f["command"]]
    study = s.study
    segs = s.wall.segments
    seg_facts = list(f.get("segments") or [{}])
    lines = [
        f"## {f['title']}",
        "",
        f"Journal: `{s.journal}` ({_recorded(f)}). Command: `{_inline(cmd['lines'])}`. "
        f"Machine: {f['machine']}. Cache: {f.get('cache', 'not recorded')}. Teacher: the "
        f"{teacher_name}, dev EM {teacher['exact']:.2f}.",
        "",
    ]
    # wall time, segment by segment
    if len(segs) > 1:
        seg_text = []
        for k, seg in enumerate(segs):
            sf = seg_facts[k] if k < len(seg_facts) else {}
            bits = [f"{len(seg.ended)} trials ended (trials {seg.ended[0].number}-"
                    f"{seg.ended[-1].number}) in {_dur(seg.seconds)}"
                    if seg.ended else "no trial ended"]
            if sf.get("preparation_s") is not None:
                bits.append(f"preparation {_s(sf['preparation_s'])} before its first trial")
            if sf.get("trainer"):
                bits.append(f"trainer: {sf['trainer']}")
            running = [t for t in seg.trials if t.status == "abandoned" and t not in seg.ended]
            for t in running:
                again = [u for u in study.trials if u.source == "requeue"
                         and u.params == t.params and u.number > t.number]
                stop = f"stopped by `{sf['stopped_by']}`" if sf.get("stopped_by") else "stopped"
                bits.append(f"then the process was {stop} while trial {t.number} ran (recorded "
                            f"abandoned, asked again as trial "
                            f"{again[0].number if again else '?'})")
            seg_text.append(f"- Segment {k + 1}: " + "; ".join(bits) + ".")
        lines += seg_text
    prep = s.wall.preparation_s
    target = TARGET_WALL_MIN.get((f["device"], s.budget or -1))
    verdict = ""
    if target is not None and s.finished >= (s.budget or 0):
        verdict = (f" (target: {target:g} minutes: "
                   f"{'met' if s.wall.minutes <= target else 'missed'})")
    lines.append(
        f"- **Run wall time {_dur(s.wall.seconds)}**{verdict}: "
        + (f"{_dur(s.wall.trials_s)} from the first trial's start to the last trial's end"
           if len(segs) == 1 else
           f"{' + '.join(f'{seg.seconds / 60:.1f}' for seg in segs)} min over "
           f"{len(segs)} segments")
        + (f", plus the measured preparation ({_s(prep)} from launch to the first trial)"
           if prep is not None else ", preparation not included (not measured for every "
           "segment)" if any(x.get("preparation_s") is not None for x in seg_facts)
           else ", preparation not measured")
        + ".")
    proc = f.get("process") or {}
    if proc.get("user_cpu_s") is not None:
        lines.append(
            f"- CPU ({proc.get('tool', 'reported')}): {_s(proc['user_cpu_s'])} user + "
            f"{_s(proc.get('system_cpu_s'))} system"
            + (f", {proc['peak_resident_gb']:g} GB peak resident memory"
               if proc.get("peak_resident_gb") is not None else "") + ".")
    for k, sf in enumerate(seg_facts):
        if sf.get("process", {}).get("user_cpu_s") is not None:
            lines.append(f"- CPU of segment {k + 1}'s process: "
                         f"{_s(sf['process']['user_cpu_s'])} user.")
    for k, sf in enumerate(seg_facts):
        bits = []
        for key, word in (("teacher_finetune_wall_s", "fine-tuning"),
                          ("teacher_finetune_s", "fine-tuning"),
                          ("teacher_logits_s", "logits"),
                          ("teacher_dev_eval_s", "dev evaluation")):
            if sf.get(key) is not None:
                extra = (f" ({_s(sf['teacher_finetune_cpu_s'])} CPU)"
                         if key == "teacher_finetune_wall_s"
                         and sf.get("teacher_finetune_cpu_s") is not None else "")
                extra += (f" ({sf['teacher_steps']} steps)" if key == "teacher_finetune_s"
                          and sf.get("teacher_steps") else "")
                bits.append(f"{word} {_s(sf[key])}{extra}")
        if sf.get("teacher_dev_exact") is not None:
            bits.append(f"teacher dev EM {sf['teacher_dev_exact']:.2f}")
        if bits:
            where = f" (segment {k + 1})" if len(seg_facts) > 1 else ""
            lines.append(f"- Teacher preparation{where}: {_join(bits)}.")
    # trials
    src = s.sources
    design = study.n_initial
    dim = study.space.dim
    parts = [f"{src.get('sobol', 0)} Sobol", f"{src.get('model', 0)} model proposals"]
    if src.get("requeue"):
        parts.append(f"{src['requeue']} re-asked after an abandoned trial")
    design_note = (f"the initial design is {design} Sobol points for the {dim}-dimensional "
                   "encoded space")
    if s.budget is not None and design > s.budget:
        design_note += ", more than the budget"
    lines.append(
        f"- {s.finished} trials finished: {len(s.completed)} completed, {len(s.failed)} "
        f"failed, {len(s.abandoned)} abandoned and asked again; {_join(parts)} "
        f"({design_note}).")
    for t in s.failed:
        p = t.params
        lines.append(f"- Trial {t.number} failed: `{t.error}` (learning rate "
                     f"{_lr(p['learning_rate'])}, beta_1 {p.get('beta_1', float('nan')):.4g}); "
                     "recorded, and the study went on.")
    if s.durations:
        d = 2 if s.median_trial_s < 10 else 1
        lines.append(
            f"- **Median trial {s.median_trial_s:.{d}f} s** ({min(s.durations):.{d}f} s to "
            f"{max(s.durations):.{d}f} s; sum {sum(s.durations) / 60:.1f} min)."
            + (f" {s.above} of {len(s.completed)} completed trials beat the threshold "
               f"({s.threshold:.2f})." if s.threshold is not None else ""))
    for k, sf in enumerate(seg_facts):
        n_shared = sf.get("shared_trials")
        if n_shared and k < len(segs):
            shared = [float(t.duration) for t in segs[k].ended[:n_shared]
                      if t.duration is not None]
            lines.append(f"- The first {n_shared} trials of segment {k + 1} "
                         f"{sf.get('shared_note', 'shared the machine')} "
                         f"({_range(shared, '{:.0f}')} s each).")
    asks = [a for seg in s.model_asks for a in seg]
    if asks:
        firsts = [seg[0] for seg in s.model_asks if seg]
        rest = [a for seg in s.model_asks for a in seg[1:]]
        compiled = any(sf.get("numba_cache_empty") for sf in seg_facts)
        text = ("- Model proposals: the first of "
                + ("each segment" if len(firsts) > 1 else "the run")
                + f" took {_join([f'{a:.1f} s' for a in firsts])} (the first GP fit"
                + (", and numba compiling the EHVI kernels into an empty cache" if compiled
                   else "") + ")")
        if rest:
            text += (f", the others {_range(rest, '{:.2f}')} s (median "
                     f"{statistics.median(rest):.2f} s)")
        lines.append(text + ".")
    if s.hv:
        ref = study.ref_point or {}
        checkpoints = [f"{_sci(s.hv_after(src.get('sobol', 0)))} after the initial design"]
        if len(segs) > 1:
            ended = 0
            for k, seg in enumerate(segs[:-1]):
                ended += sum(1 for t in seg.ended if t.done)
                checkpoints.append(f"{_sci(s.hv_after(ended))} at the end of segment {k + 1}")
        reached = s.hv_reached()
        checkpoints.append(f"**{_sci(s.hv[-1])}** at the end"
                           + (f" (reached with trial {reached.number})" if reached else ""))
        lines.append(
            f"- Hypervolume (reference as the journal records it: exact "
            f"{ref.get('exact', float('nan')):.2f}, num_parameters "
            f"{ref.get('num_parameters', float('nan')):,.1f} inferred from the design): "
            f"{_join(checkpoints)}.")
    elif study.ref_point is None:
        lines.append("- No reference point: the initial design never completed, so the run "
                     "inferred none and printed no hypervolume.")
    if f.get("note"):
        lines.append(f"- {f['note']}")
    # comparisons with the CPU run of the same budget, for a GPU run
    if f["device"] != "cpu":
        same = [c for c in cpu_runs.values() if c.budget == s.budget and c.finished >= (
            c.budget or 0)]
        if same and s.durations:
            c = same[0]
            lines.append(
                f"- Against the 2-CPU-core run of `{Path(c.journal).name}`: median trial "
                f"{s.median_trial_s:.2f} s against {c.median_trial_s:.1f} s"
                + (f"; final hypervolume {_sci(s.hv[-1])} against {_sci(c.hv[-1])} (GPU "
                   "training in bf16 is not bit-reproducible, so the two runs are different "
                   "draws of the same search)" if s.hv and c.hv else "") + ".")
        if s.budget and s.finished < s.budget and s.durations:
            mean = sum(s.durations) / len(s.durations)
            lines.append(f"- At {mean:.1f} s per trial (the mean of these {s.finished}), "
                         f"{s.budget} trials would have taken about "
                         f"{mean * s.budget / 60:.0f} minutes.")
    if s.front:
        best = max(s.front, key=lambda t: _v(t, "exact"))
        small = s.front[0]
        teacher_params = float(inputs.reference["teacher"]["num_parameters"])
        model_front = sum(t.source == "model" for t in s.front)
        lines += [
            "",
            f"Pareto front (exact maximised, num_parameters minimised; threshold "
            f"{s.threshold:.2f}; {model_front} of its {len(s.front)} students from model "
            "proposals):",
            "",
            *_front_table(s, with_wall=True),
            "",
            f"From {_v(small, 'exact'):.2f} EM at {_m(_v(small, 'num_parameters'))} "
            f"parameters (trial {small.number}) to {_v(best, 'exact'):.2f} EM at "
            f"{_m(_v(best, 'num_parameters'))} (trial {best.number}): "
            f"{teacher['exact'] - _v(best, 'exact'):.1f} EM below the teacher "
            f"({teacher['exact']:.2f}) at "
            f"{100 * _v(best, 'num_parameters') / teacher_params:.0f}% of its size.",
        ]
    elif s.completed:
        lines += ["", "No completed trial beat the threshold."]
    return lines


def _inline(lines: Sequence[str]) -> str:
    return " ".join(line.rstrip("\\").strip() for line in lines)


def _commands(facts: Mapping[str, Any]) -> list[str]:
    lines = ["## Commands", "", "```"]
    for k, (key, c) in enumerate(facts["commands"].items()):
        if k:
            lines.append("")
        lines.append(f"# {key}: {c['about']}")
        lines += list(c["lines"])
    lines.append("```")
    return lines


def _summary(inputs: Inputs, f: Mapping[str, Any]) -> RunSummary:
    study = inputs.studies[f["journal"]]
    preps = [seg.get("preparation_s") for seg in f.get("segments") or []]
    # a stop between two trials leaves no mark in the journal: the facts name the trial
    # that began the next segment
    resumed = [int(k) for k in f.get("resumed_before_trials") or []]
    try:
        found = len(run_wall_time(study, resumed_before=resumed).segments)
    except ValueError as e:
        raise InputError(f"results/distill_facts.json: {f['journal']}: {e}") from None
    if len(preps) != found:
        raise InputError(f"results/distill_facts.json: {f['journal']} has {found} "
                         f"segment(s), the facts {len(preps)}")
    s = summarise(f["journal"], study, preps, design_rows(inputs.paths[f["journal"]]),
                  resumed)
    if f.get("budget") is not None:
        s = dataclasses.replace(s, budget=int(f["budget"]))
    return s


def markdown(inputs: Inputs) -> str:
    """The whole report."""
    facts_runs = list(inputs.facts["runs"])
    runs = [_summary(inputs, f) for f in facts_runs]
    by_journal = {s.journal: s for s in runs}
    cpu_runs = {s.journal: s for s, f in zip(runs, facts_runs, strict=True)
                if f["device"] == "cpu"}
    comparison, diffs = _comparison(inputs, runs, facts_runs)
    lines = [
        *_intro(inputs), "",
        *_wall_definition(runs, facts_runs), "",
        *_task_section(inputs), "",
        *_teacher_section(inputs, by_journal, comparison, diffs), "",
        *_students_section(inputs),
    ]
    for s, f in zip(runs, facts_runs, strict=True):
        lines += ["", *_run_section(inputs, s, f, cpu_runs)]
    lines += ["", *_commands(inputs.facts)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.distill_report",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS,
                    help="folder of the result files (default results)")
    ap.add_argument("--out", type=Path, default=None,
                    help="report to write (default: distill.md in the results folder)")
    a = ap.parse_args(argv)
    try:
        text = markdown(load_inputs(a.results))
    except (InputError, KeyError, TypeError, ValueError) as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    out = a.out or a.results / "distill.md"
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
