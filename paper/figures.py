"""Regenerate every figure and table of the paper, and the paper itself, from result files.

``python -m paper.figures``, run from the repository root of a checkout (``paper`` is not
installed), reads only committed results in ``results/`` (nothing is re-run):

- ``results/compare.csv`` and ``results/compare_heldout.csv``: the peer comparison (log10
  hypervolume gap of mobo, BoTorch, Optuna's samplers and Sobol on the toy suite) on the
  development seeds and on the held-out seeds, side by side as
  :mod:`benchmarks.compare_report` reports them; the held-out file, which its command
  appends to run by run, as git's index holds it (or ``--heldout PATH`` as it is on disk);
  mobo against Sobol alone (Figure 5) is the development seeds' mobo and Sobol rows;
- ``results/speed.csv``: proposal time of mobo and BoTorch;
- ``results/speed_kernels.csv`` if present, else the tables of
  ``speed_kernels.md``: hypervolume time against moocore, EHVI throughput against BoTorch;
- ``results/speed_trainer.json``: the distillation trainer against the Hugging
  Face Trainer (the latest measurement per device and size, as
  :mod:`benchmarks.speed_trainer_report` reports them);
- a distillation journal, ``results/distill_budget<B>.jsonl``: the one with the
  most finished trials (ties: the larger budget ``B``), or ``--journal``; it is only read
  (:meth:`mobo.Study.read`), so a run still writing it can be plotted;
- ``results/distill_reference.json``: the teacher's and the baseline student's
  exact match and parameter count; ``results/distill_task.json``: the task's sizes
  (``python -m benchmarks.distill_task``);
- ``results/distill_diagnosis.json``: the replay of the committed distillation journals
  by ``benchmarks/distill_diagnosis.py`` (why the search piled into 1-layer students), for
  the section :mod:`paper.diagnosis` writes;
- ``results/distill_recheck.json``, ``results/distill_recheck_gpu.json`` and
  ``results/distill_recheck_epyc*.json``: a sample of each held-out comparison's trials
  trained again on one machine (``python -m benchmarks.distill_recheck``), when present;
- ``results/distill_compare_epyc/distill_compare.csv`` (as staged in git): mobo's runs made
  again with the exploration share 0.5 in the environment of some of the 2-core
  comparison's runs, beside the peers' runs of those seeds, copied from it where they
  reproduce there and made there otherwise; ``results/distill_compare_epyc_explore070/``
  the same with mobo's runs made with the share 0.7 and the peers' copied from it;
  ``results/distill_compare_onemachine_explore070/`` likewise in the one-machine
  environment, the peers' copied from ``results/distill_compare_onemachine_explore/``;
  ``results/distill_compare_onemachine_five_seeds/`` mobo's and TPE's runs of those seeds
  (copied) with two more held-out seeds made there;
- ``results/distill_compare_onemachine/distill_compare.csv`` and
  ``results/distill_compare_onemachine_explore/distill_compare.csv`` (as staged in git):
  mobo and its peers on held-out seeds, made start to finish on one machine, mobo with the
  task's former default and with the exploration share 0.5, and
  ``results/distill_compare_onemachine_explore_first/distill_compare.csv``: mobo's runs of
  the latter folder's seeds with the exploration share as first adopted, set beside them;
- ``results/distill_standin/*/`` and ``results/distill_dev/*/``: the development runs of
  the distillation search's settings, for the section :mod:`paper.trust_region` writes;
- ``results/distill_budget200.jsonl``, ``results/distill_budget200_trust_region.jsonl``,
  ``results/distill_budget200_explore.jsonl``, ``results/distill_budget200_face.jsonl`` and
  ``results/distill_budget200_share070.jsonl`` (all but the first as staged in git), and the
  pair on one H200 (``results/distill_gpu_h200_budget200*.jsonl``): the 200-trial search
  before and after, for :mod:`paper.before_after`;
- ``results/distill_compare.csv`` and ``results/distill_compare_gpu/distill_compare.csv``
  (as staged in git) and their fixed reference: the held-out comparison on the
  distillation task on the 2-core CPU machine and on one H200, for
  :mod:`paper.heldout_distill`.

It writes PNG figures and markdown tables into ``paper/figures/`` and fills the named
placeholders (``{{name}}``) of ``paper/paper.template.md`` into ``paper/paper.md``, so that
every number in the paper comes from a result file (or from the targets declared below).
Figures are saved without timestamps or software versions: a second run gives the same
bytes. ``--rerun`` first re-runs the one cheap benchmark, proposal speed (minutes, see
``benchmarks/README.md``), and overwrites its result files; the peer comparisons (hours),
the kernel benchmark and the distillation searches are never re-run here.

Bad input (a missing result file, a table that cannot be found) ends the command with one
``error: ...`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from matplotlib.figure import Figure

from benchmarks import compare_report as peers_report
from benchmarks.compare import mann_whitney_p, parse_args, read_rows
from benchmarks.distill_compare import read_reference
from benchmarks.fit_subset import cell as fit_subset_cell
from benchmarks.fit_subset import read_rows as read_fit_subset
from benchmarks.provenance import relative
from benchmarks.speed import TARGETS as SPEED_TARGETS
from benchmarks.speed_trainer_report import load as load_trainer_speed
from benchmarks.speed_trainer_report import reported as reported_trainer_rows
from benchmarks.speed_trainer_report import speedups as trainer_speedup_values
from benchmarks.wall_time import run_wall_time
from mobo.plot import (
    Importance,
    classify,
    hypervolume_trace,
    parameter_importance,
    plot_hypervolume,
    plot_importance,
    plot_pareto,
    save_figure,
)
from mobo.study import Study
from mobo.trial import Trial
from paper.before_after import (
    BEFORE,
    EXPLORE,
    FACE,
    FINAL,
    GPU_AFTER,
    GPU_BEFORE,
    before_after_section,
)
from paper.diagnosis import diagnosis_section
from paper.heldout_distill import (
    band_draws_words,
    bandcheck_words,
    former_code_words,
    heldout_distill_section,
    lead_words,
    more_seeds_words,
    one_environment_words,
    recheck_by_seed,
    recheck_words,
    reproducibility_limitation,
    rerun_words,
    smallband_words,
    staged_rows,
    target_verdicts,
    verdict_words,
)
from paper.trust_region import trust_region_section

__all__ = ["MdTable", "build", "find_distill_journal", "main", "markdown_tables", "render"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
GPU_COMPARISON = "distill_compare_gpu"  # the held-out distillation comparison on one H200
# mobo and TPE on held-out seeds, start to finish on one CPU machine with one thread each
ONE_MACHINE_COMPARISON = "distill_compare_onemachine"
# mobo with the trust region and the exploration share, and its peers, the same way
ONE_MACHINE_EXPLORE = "distill_compare_onemachine_explore"
# mobo's runs of that folder's seeds with the exploration share as first adopted
ONE_MACHINE_EXPLORE_FIRST = "distill_compare_onemachine_explore_first"
# mobo's runs made again with the share 0.5 in the environment of some of the 2-core
# comparison's runs (results/distill_compare), beside its peers' runs of those seeds
EPYC_RERUN = "distill_compare_epyc"
# mobo's held-out runs in that environment made again with the share 0.7, the peers' copied
EPYC_EXPLORE070 = "distill_compare_epyc_explore070"
# mobo's held-out runs with the share 0.7 in the one-machine environment, the peers copied
# from ONE_MACHINE_EXPLORE
ONE_MACHINE_EXPLORE070 = "distill_compare_onemachine_explore070"
ONE_MACHINE_FIVE_SEEDS = "distill_compare_onemachine_five_seeds"
# what mobo's runs of the held-out folders were made with, as the paper's sentences name it
# (tests/paper/test_figures.py holds CURRENT_SHARE to distill.task.STUDY_OPTIONS)
FORMER_SHARE = "the exploration share 0.5 (the task's recommendation before the share 0.7)"
CURRENT_SHARE = "the exploration share 0.7 (the task's recommendation now)"
PAPER_DIR = Path(__file__).resolve().parent
TEMPLATE = PAPER_DIR / "paper.template.md"

# The targets the results are judged against (the proposal-time ones are
# benchmarks.speed.TARGETS, judged by that benchmark's report too).
TARGETS = {
    "hv_vs_moocore": 2.0,  # mobo hypervolume time / moocore's, at most
    "trainer_vs_hf": 1.3,  # distill.train throughput / the Hugging Face Trainer's, at least
}

METHOD_NAMES = {
    "mobo": "mobo (exact EHVI)",
    "botorch": "BoTorch qLogNEHVI",
    "gp": "Optuna GPSampler",
    "tpe": "Optuna TPE",
    "nsga2": "Optuna NSGA-II",
    "sobol": "Sobol",
    "mobo_in_study": "mobo, in a running study",
}
METHOD_STYLE: dict[str, dict[str, Any]] = {
    "mobo": {"color": "#1f77b4", "marker": "o", "ls": "-"},
    "mobo_in_study": {"color": "#17becf", "marker": "s", "ls": "-"},
    "botorch": {"color": "#ff7f0e", "marker": "^", "ls": "-"},
    "gp": {"color": "#2ca02c", "marker": "v", "ls": "-"},
    "tpe": {"color": "#9467bd", "marker": "D", "ls": "-"},
    "nsga2": {"color": "#8c564b", "marker": "P", "ls": "-"},
    "sobol": {"color": "0.45", "marker": "x", "ls": "--"},
}
_JOURNAL_NAME = re.compile(r"distill_budget(\d+)\.jsonl$")
_PLACEHOLDER = re.compile(r"\{\{([a-z0-9_]+)\}\}")


class InputError(Exception):
    """A result file is missing or does not hold what the paper needs."""


# ---------------------------------------------------------------------------- markdown
@dataclass(frozen=True)
class MdTable:
    """One markdown table: the heading it sits under, its header cells and its rows."""

    heading: str
    header: list[str]
    rows: list[list[str]]

    def find(self, predicate: Callable[[str], bool]) -> list[int]:
        """Indices of the header cells (lower-cased) for which ``predicate`` holds."""
        return [k for k, h in enumerate(self.header) if predicate(h.lower())]


_SEPARATOR = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    return [c.strip().replace("**", "").replace("`", "").strip() for c in inner.split("|")]


def markdown_tables(text: str) -> list[MdTable]:
    """Every pipe table of a markdown text, with the nearest heading above it."""
    lines = text.splitlines()
    tables: list[MdTable] = []
    heading = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif (line.lstrip().startswith("|") and i + 1 < len(lines)
              and _SEPARATOR.match(lines[i + 1].strip())):
            header = _cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            tables.append(MdTable(heading, header, rows))
            continue
        i += 1
    return tables


def _number(cell: str, where: str) -> float:
    """A table cell as a number: thousands separators, bold and a trailing x or unit go."""
    text = cell.replace(",", "").replace("**", "").strip()
    match = re.match(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", text)
    if not match:
        raise InputError(f"{where}: expected a number, got {cell!r}")
    return float(match.group(0))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise InputError(f"{relative(path)}: missing") from None


# ---------------------------------------------------------------------------- inputs
def find_distill_journal(results: Path) -> Path:
    """The distillation journal in ``results`` with the most finished trials.

    Ties go to the larger budget in the name (``distill_budget<B>.jsonl``), so a bigger
    run takes over as soon as it has finished as many trials as the smaller one.
    """
    best: tuple[int, int, Path] | None = None
    for path in sorted(results.glob("distill_budget*.jsonl")):
        match = _JOURNAL_NAME.search(path.name)
        if not match:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a run still writing may leave a torn line
                finished = sum(t.done for t in Study.read(path).trials)
        except ValueError:
            continue  # not a study journal (yet): an empty file just created, say
        key = (finished, int(match.group(1)), path)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None:
        raise InputError(f"{relative(results)}: no distillation journal distill_budget<B>.jsonl")
    return best[2]


def distill_reference_models(path: Path) -> dict[str, dict[str, Any]]:
    """Teacher and baseline student (exact, f1, num_parameters, description) from
    distill_reference.json (written by ``python -m benchmarks.distill_reference``)."""
    try:
        data = json.loads(_read(path))
        found: dict[str, dict[str, Any]] = {}
        for key in ("teacher", "baseline"):
            entry = data[key]
            found[key] = {name: float(entry[name]) for name in ("exact", "f1", "num_parameters")}
        p = data["baseline"]["params"]
        found["baseline"]["description"] = (f"{p['init']} init, {int(p['n_layers'])} layers, "
                                            f"{int(p['n_heads'])} heads")
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{relative(path)}: expected the teacher's and the baseline's exact, f1 "
                         f"and num_parameters (and the baseline's params): "
                         f"{type(e).__name__}: {e}") from None
    return found


def distill_diagnosis(path: Path, journal: Path) -> tuple[dict[str, str], dict[str, str],
                                                         Figure]:
    """The diagnosis section's values, tables and figure from distill_diagnosis.json
    (written by ``python -m benchmarks.distill_diagnosis``), for ``journal`` when the file
    diagnoses it."""
    try:
        return diagnosis_section(json.loads(_read(path)), relative(journal))
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise InputError(f"{relative(path)}: not a diagnosis the paper can report: "
                         f"{type(e).__name__}: {e}") from None


def distill_task_facts(path: Path) -> dict[str, str]:
    """The task's dev set and per-trial training set sizes, each a count and a note, from
    distill_task.json (written by ``python -m benchmarks.distill_task``)."""
    try:
        task = json.loads(_read(path))
        epochs = int(task["trial"]["epochs"])
        return {
            "dev_n": f"{int(task['dev_questions']):,}",
            "dev_note": f"{int(task['dev_answerable'])} answerable, "
                        f"{int(task['dev_unanswerable'])} unanswerable",
            "train_n": f"{int(task['trial']['train_questions']):,}",
            "train_note": "one epoch" if epochs == 1 else f"{epochs} epochs",
        }
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{relative(path)}: expected the dev questions (answerable, "
                         f"unanswerable) and the trial's questions and epochs: "
                         f"{type(e).__name__}: {e}") from None


def _quality_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise InputError(f"{relative(path)}: missing")
    rows = read_rows(path)
    if not rows:
        raise InputError(f"{relative(path)}: no rows")
    return rows


def _speed_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise InputError(f"{relative(path)}: missing")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    need = {"problem", "d", "m", "n_obs", "method", "seed", "total_s"}
    if not rows or not need <= set(rows[0]):
        raise InputError(f"{relative(path)}: expected rows with columns {sorted(need)}")
    for r in rows:
        r["n_obs"] = int(r["n_obs"])
        for k in ("fit_s", "acquisition_s", "total_s"):
            r[k] = float(r[k])
    return rows


@dataclass(frozen=True)
class KernelSpeed:
    """Hypervolume time vs moocore and EHVI throughput vs BoTorch, per number of objectives."""

    hv: list[dict[str, float]]  # objectives, points, mobo_ms, moocore_ms
    # objectives, mobo (best per call), mobo_reused, botorch, tails (the special functions
    # alone: the floor of an exact kernel's cost, benchmarks/speed_kernels.py)
    ehvi: list[dict[str, float]]
    source: str


def _kernel_tables(tables: Sequence[MdTable], where: str) -> tuple[list, list]:
    hv: list[dict[str, float]] = []
    ehvi: list[dict[str, float]] = []
    for t in tables:
        objectives = t.find(lambda h: h in ("objectives", "m"))
        if not objectives:
            continue
        mobo_ms = t.find(lambda h: h.startswith("mobo") and "ms" in h)
        moocore_ms = t.find(lambda h: h.startswith("moocore") and "ms" in h)
        points = t.find(lambda h: h == "points")
        if mobo_ms and moocore_ms and points and not hv:
            for row in t.rows:
                hv.append({"objectives": _number(row[objectives[0]], where),
                           "points": _number(row[points[0]], where),
                           "mobo_ms": _number(row[mobo_ms[0]], where),
                           "moocore_ms": _number(row[moocore_ms[0]], where)})
        per_call = t.find(lambda h: h.startswith("mobo") and "thread" in h
                          and "reused" not in h)
        reused = t.find(lambda h: h.startswith("mobo") and "reused" in h)
        botorch = t.find(lambda h: h.startswith("botorch") and "thread" in h)
        tails = t.find(lambda h: h.startswith("gaussian tails"))
        if per_call and botorch and tails and not ehvi:
            for row in t.rows:
                best = max(_number(row[k], where) for k in per_call)
                ehvi.append({
                    "objectives": _number(row[objectives[0]], where),
                    "mobo": best,
                    "mobo_reused": max([best] + [_number(row[k], where) for k in reused]),
                    "botorch": max(_number(row[k], where) for k in botorch),
                    "tails": _number(row[tails[0]], where),
                })
    return hv, ehvi


def kernel_speed(results: Path) -> KernelSpeed:
    """Kernel timings from speed_kernels.csv when it holds them, else speed_kernels.md."""
    csv_path = results / "speed_kernels.csv"
    md_path = results / "speed_kernels.md"
    if csv_path.exists():
        with csv_path.open(newline="") as f:
            raw = list(csv.reader(f))
        if raw:
            table = MdTable("", [h.strip() for h in raw[0]], [list(r) for r in raw[1:] if r])
            hv, ehvi = _kernel_tables([table], relative(csv_path))
            if hv and ehvi:
                return KernelSpeed(hv, ehvi, relative(csv_path))
    hv, ehvi = _kernel_tables(markdown_tables(_read(md_path)), relative(md_path))
    if not hv or not ehvi:
        raise InputError(f"{relative(md_path)}: no hypervolume table (objectives, points, mobo "
                         "(ms), moocore (ms)) or no EHVI throughput table (objectives, mobo "
                         "and BoTorch thread columns, Gaussian tails alone)")
    return KernelSpeed(hv, ehvi, relative(md_path))


def trainer_speedups(path: Path) -> tuple[list[float], list[float], bool]:
    """The reported trainer speed-ups, (on CPU, on a GPU), from speed_trainer.json: the
    latest measurement per kind of device and training-set size; and whether a reported
    GPU measurement carries no commit (copied in by hand before results were stamped)."""
    if not path.exists():
        raise InputError(f"{relative(path)}: missing")
    try:
        data = load_trainer_speed(path)
        cpu, gpu = trainer_speedup_values(data)
        unstamped = any(not m.get("commit") for m in reported_trainer_rows(data["measurements"])
                        if m["device_type"] != "cpu")
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{relative(path)}: {' '.join(str(e).split())}") from None
    return cpu, gpu, unstamped


# ---------------------------------------------------------------------------- statistics
def _quantiles(values: Sequence[float]) -> tuple[float, float, float]:
    # numpy's default (linear) percentiles, as benchmarks/compare.py computes them
    q25, q50, q75 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(q50), float(q25), float(q75)


def _gap_summary(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, int],
                                                            tuple[float, float, float, int]]:
    """(problem, method, n_evals) -> (median, 25th, 75th percentile, number of seeds)."""
    groups: dict[tuple[str, str, int], list[float]] = {}
    for r in rows:
        groups.setdefault((r["problem"], r["method"], r["n_evals"]), []).append(r["log10_gap"])
    return {k: (*_quantiles(v), len(v)) for k, v in groups.items()}


def _ordered(values: Sequence[str], order: Sequence[str]) -> list[str]:
    known = [v for v in order if v in values]
    return known + sorted(v for v in set(values) if v not in order)


# ---------------------------------------------------------------------------- formatting
def _params_m(n: float) -> str:
    return f"{n / 1e6:.2f}M"


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def _thousands(x: float) -> str:
    return f"{x:,.0f}"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]],
              align: Sequence[str] | None = None) -> str:
    align = align or ["---"] * len(header)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


# ---------------------------------------------------------------------------- figures
def _gap_figure(summary: Mapping[tuple[str, str, int], tuple[float, float, float, int]],
                problems: Sequence[str], methods: Sequence[str], title: str) -> Figure:
    ncols = len(problems)
    fig = Figure(figsize=(3.3 * ncols + 0.6, 3.6), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    for ax, prob in zip(axes, problems, strict=True):
        _gap_axes(ax, summary, prob, methods, prob)
    axes[0].set_ylabel("log10 hypervolume gap (lower is better)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=7, frameon=False)
    fig.suptitle(title + " (lines: median over seeds; bands: 25th-75th percentile)",
                 fontsize=9)
    return fig


def _gap_axes(ax: Any, summary: Mapping[tuple[str, str, int], tuple[float, float, float, int]],
              prob: str, methods: Sequence[str], label: str) -> None:
    """One problem's median gap and interquartile band per method, against evaluations."""
    seeds = set()
    for method in methods:
        keys = sorted(k for k in summary if k[0] == prob and k[1] == method)
        if not keys:
            continue
        x = np.array([k[2] for k in keys])
        med = np.array([summary[k][0] for k in keys])
        lo = np.array([summary[k][1] for k in keys])
        hi = np.array([summary[k][2] for k in keys])
        seeds |= {summary[k][3] for k in keys}
        style = METHOD_STYLE.get(method, {"color": "black", "marker": ".", "ls": "-"})
        ax.plot(x, med, label=METHOD_NAMES.get(method, method), lw=1.3, ms=4, **style)
        ax.fill_between(x, lo, hi, color=style["color"], alpha=0.15, lw=0)
    if not seeds:
        ax.text(0.5, 0.5, "not run yet", ha="center", va="center", transform=ax.transAxes,
                fontsize=8, color="0.4")
        ax.set_yticks([])
    n_text = "/".join(str(s) for s in sorted(seeds)) or "0"
    ax.set_title(f"{label} ({n_text} seeds)", fontsize=9)
    ax.set_xticks(sorted({k[2] for k in summary if k[0] == prob}))
    ax.set_xlabel("evaluations")
    ax.grid(True, lw=0.3, alpha=0.5)


def _peers_figure(sets: Sequence[tuple[str, Mapping[tuple[str, str, int],
                                                    tuple[float, float, float, int]]]],
                  problems: Sequence[str], methods: Sequence[str]) -> Figure:
    """One row of panels per seed set (held-out first), one panel per problem."""
    ncols = len(problems)
    fig = Figure(figsize=(3.3 * ncols + 0.6, 3.2 * len(sets) + 0.4), layout="constrained")
    grid = fig.subplots(len(sets), ncols, squeeze=False)
    for axes, (name, summary) in zip(grid, sets, strict=True):
        for ax, prob in zip(axes, problems, strict=True):
            _gap_axes(ax, summary, prob, methods, f"{prob}, {name}")
        axes[0].set_ylabel(f"log10 HV gap, {name} seeds")
    handles, labels = [], []
    for ax in grid.flat:  # the legend from the panel that shows the most methods
        h, lab = ax.get_legend_handles_labels()
        if len(lab) > len(labels):
            handles, labels = h, lab
    fig.legend(handles, labels, loc="outside right center", fontsize=7, frameon=False)
    fig.suptitle("Log10 hypervolume gap against peers, lower is better (lines: median over "
                 "seeds; bands: 25th-75th percentile)", fontsize=9)
    return fig


def _speed_figure(rows: Sequence[Mapping[str, Any]]) -> Figure:
    problems = list(dict.fromkeys(r["problem"] for r in rows))
    fig = Figure(figsize=(3.4 * len(problems) + 1.8, 3.5), layout="constrained")
    axes = fig.subplots(1, len(problems), squeeze=False)[0]
    for ax, prob in zip(axes, problems, strict=True):
        sel = [r for r in rows if r["problem"] == prob]
        d, m = sel[0]["d"], sel[0]["m"]
        for method in _ordered([r["method"] for r in sel], ["mobo", "mobo_in_study",
                                                             "botorch"]):
            sizes = sorted({r["n_obs"] for r in sel if r["method"] == method})
            times = [[r["total_s"] for r in sel if r["method"] == method and r["n_obs"] == n]
                     for n in sizes]
            med = np.array([np.median(t) for t in times])
            err = np.array([[med[k] - min(t), max(t) - med[k]] for k, t in enumerate(times)]).T
            style = METHOD_STYLE.get(method, {"color": "black", "marker": ".", "ls": "-"})
            ax.errorbar(sizes, med, yerr=err, label=METHOD_NAMES.get(method, method), lw=1.3,
                        ms=4, capsize=2, **style)
        ax.set_yscale("log")
        ax.set_title(f"{prob} (d = {d}, {m} objectives)", fontsize=9)
        ax.set_xlabel("observations")
        ax.grid(True, which="both", lw=0.3, alpha=0.5)
    axes[0].set_ylabel("seconds per proposal (fit + acquisition)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=7, frameon=False)
    fig.suptitle("Proposal time (median over seeds; bars: min-max)", fontsize=9)
    return fig


def _log_floor(ax: Any, values: Sequence[float]) -> None:
    # bars on a log axis must start at a round power of ten, or their heights mislead
    low = 10 ** math.floor(math.log10(min(values)))
    ax.set_ylim(low, max(values) * 3)


def _kernel_figure(ks: KernelSpeed) -> Figure:
    fig = Figure(figsize=(7.6, 3.4), layout="constrained")
    ax_hv, ax_ehvi = fig.subplots(1, 2)
    width = 0.38
    x = np.arange(len(ks.hv))
    ax_hv.bar(x - width / 2, [r["mobo_ms"] for r in ks.hv], width, color="#1f77b4",
              label="mobo")
    ax_hv.bar(x + width / 2, [r["moocore_ms"] for r in ks.hv], width, color="0.55",
              label="moocore (C)")
    ax_hv.set_xticks(x, [f"{int(r['objectives'])} objectives\n{int(r['points']):,} points"
                         for r in ks.hv], fontsize=8)
    for k, r in enumerate(ks.hv):
        ax_hv.annotate(f"{r['mobo_ms'] / r['moocore_ms']:.2f}x", (k - width / 2, r["mobo_ms"]),
                       ha="center", va="bottom", fontsize=7)
    ax_hv.set_yscale("log")
    _log_floor(ax_hv, [r[k] for r in ks.hv for k in ("mobo_ms", "moocore_ms")])
    ax_hv.set_ylabel("milliseconds per call")
    ax_hv.set_title("Hypervolume (lower is better)", fontsize=9)
    ax_hv.legend(fontsize=7)
    x = np.arange(len(ks.ehvi))
    third = 0.27
    ax_ehvi.bar(x - third, [r["mobo"] for r in ks.ehvi], third, color="#1f77b4",
                label="mobo")
    ax_ehvi.bar(x, [r["botorch"] for r in ks.ehvi], third, color="#ff7f0e",
                label="BoTorch analytic EHVI")
    ax_ehvi.bar(x + third, [r["tails"] for r in ks.ehvi], third, color="0.55",
                label="special functions alone")
    for k, r in enumerate(ks.ehvi):
        ax_ehvi.annotate(f"{r['mobo'] / r['botorch']:.1f}x",
                         (k - third, r["mobo"]), ha="center", va="bottom",
                         fontsize=7)
        ax_ehvi.annotate(f"{r['tails'] / r['botorch']:.1f}x",
                         (k + third, r["tails"]), ha="center", va="bottom",
                         fontsize=7)
    ax_ehvi.set_yscale("log")
    _log_floor(ax_ehvi, [r[k] for r in ks.ehvi for k in ("mobo", "botorch", "tails")])
    ax_ehvi.set_xticks(x, [f"{int(r['objectives'])} objectives" for r in ks.ehvi], fontsize=8)
    ax_ehvi.set_ylabel("candidates per second (best thread count)")
    ax_ehvi.set_title("EHVI throughput, 50-point front (higher is better)", fontsize=9)
    ax_ehvi.legend(fontsize=7, loc="lower left")
    for ax in (ax_hv, ax_ehvi):
        ax.grid(True, axis="y", which="both", lw=0.3, alpha=0.5)
    fig.suptitle(f"Kernel speed on 2 CPU cores (from {ks.source})", fontsize=9)
    return fig


# ---------------------------------------------------------------------------- sections
def _quality_section(rows: Sequence[Mapping[str, Any]], prefix: str,
                     reference_method: str | None,
                     missed: list[str]) -> tuple[dict[str, str], str, Figure]:
    """Values, a markdown table (last checkpoint) and the figure of one quality CSV.

    Targets (mobo's median gap at the last checkpoint no worse than ``reference_method``'s
    and better than every other method's) that are not met are appended to ``missed``.
    """
    summary = _gap_summary(rows)
    problems = list(dict.fromkeys(r["problem"] for r in rows))
    methods = _ordered([r["method"] for r in rows], list(METHOD_STYLE))
    last = max(r["n_evals"] for r in rows)
    seeds = sorted({summary[k][3] for k in summary})
    table_rows = []
    verdicts = []
    met = n_targets = 0
    compared = []
    for prob in problems:
        cells = {m: summary.get((prob, m, last)) for m in methods}
        row = [prob]
        for m in methods:
            c = cells[m]
            row.append("" if c is None else f"{c[0]:.3f} [{c[1]:.3f}, {c[2]:.3f}]")
        table_rows.append(row)
        ours = cells.get("mobo")
        others = [m for m in methods if m not in ("mobo", reference_method)
                  and cells.get(m) is not None]
        if ours is None or not (others or cells.get(reference_method or "") is not None):
            verdicts.append(f"- {prob}: no comparison after {last} evaluations yet (only "
                            f"{_join([METHOD_NAMES.get(m, m) for m in methods if cells[m]])}).")
            continue
        compared.append(prob)
        parts = []
        if reference_method and cells.get(reference_method) is not None:
            theirs = cells[reference_method][0]  # type: ignore[index]
            ok = ours[0] <= theirs
            # how far the medians' order is from seed-to-seed noise (two-sided U test)
            pval = mann_whitney_p([r["log10_gap"] for r in rows if r["problem"] == prob
                                    and r["method"] == "mobo" and r["n_evals"] == last],
                                   [r["log10_gap"] for r in rows if r["problem"] == prob
                                    and r["method"] == reference_method
                                    and r["n_evals"] == last])
            parts.append(f"{'no worse than' if ok else 'worse than'} "
                         f"{METHOD_NAMES[reference_method]} ({ours[0]:.3f} vs {theirs:.3f}, "
                         f"Mann-Whitney p = {pval:.2f})")
            met += ok
            n_targets += 1
            if not ok:
                missed.append(f"{prob}: mobo's median log10 gap after {last} evaluations is "
                              f"worse than {METHOD_NAMES[reference_method]}'s ({ours[0]:.3f} "
                              f"vs {theirs:.3f}, {_rel_name(prefix)}; Mann-Whitney p = "
                              f"{pval:.2f}"
                              + (", a difference within seed-to-seed noise" if pval > 0.1
                                 else "") + ")")
        worse_than = [m for m in others if cells[m][0] <= ours[0]]  # type: ignore[index]
        if others:
            parts.append("better than " + _join([METHOD_NAMES[m] for m in others])
                         if not worse_than else
                         "not better than " + _join([METHOD_NAMES[m] for m in worse_than]))
            met += not worse_than
            n_targets += 1
        if worse_than:
            missed.append(f"{prob}: mobo's median log10 gap after {last} evaluations is not "
                          f"better than {_join([METHOD_NAMES[m] for m in worse_than])}'s "
                          f"({_rel_name(prefix)})")
        verdicts.append(f"- {prob}: " + "; ".join(parts) + ".")
    header = ["problem"] + [f"{METHOD_NAMES.get(m, m)}" for m in methods]
    table = (f"Median [25th, 75th percentile] log10 hypervolume gap after {last} evaluations "
             f"(lower is better); seeds per cell: {_join([str(s) for s in seeds])}.\n\n"
             + _md_table(header, table_rows))
    values = {
        f"{prefix}_problems": _join(compared),
        f"{prefix}_n_problems": str(len(compared)),
        f"{prefix}_seeds": _join([str(s) for s in seeds]),
        f"{prefix}_methods": _join([METHOD_NAMES.get(m, m) for m in methods]),
        f"{prefix}_budget": str(last),
        f"{prefix}_checkpoints": _join([str(c) for c in sorted({r["n_evals"] for r in rows})]),
        f"{prefix}_verdicts": "\n".join(verdicts),
        f"{prefix}_targets_met": f"{met} of {n_targets}",
        f"{prefix}_all_met": "yes" if met == n_targets else "no",
        f"{prefix}_table": table,
    }
    fig = _gap_figure(summary, problems, methods,
                      f"Log10 hypervolume gap ({_rel_name(prefix)})")
    return values, table, fig


@dataclass(frozen=True)
class PeerRuns:
    """The peer comparison's two seed sets, as :mod:`benchmarks.compare_report` reads them,
    with every checkpoint's rows of each (for the figure)."""

    heldout: peers_report.SeedSet
    development: peers_report.SeedSet
    heldout_rows: list[dict[str, Any]]
    development_rows: list[dict[str, Any]]
    plan: peers_report.Plan


def peer_runs(results: Path, heldout: Path | None = None) -> PeerRuns:
    """The development seeds from ``results/compare.csv``; the held-out seeds from
    ``results/compare_heldout.csv`` as git's index holds it (a file git does not track: no
    held-out run yet), or from ``heldout`` as it is on disk."""
    plan = peers_report.default_plan()
    dev_path = results / "compare.csv"
    dev_rows = _quality_rows(dev_path)
    if heldout is None:
        path = results / "compare_heldout.csv"
        held_rows = peers_report.parse_text(peers_report.staged_text(path))
        source = f"{relative(path)} as staged in git"
    else:
        held_rows = peers_report.parse_text(_read(heldout))
        source = relative(heldout)
    held_seeds = peers_report.HELDOUT_SEEDS
    dev_seeds = peers_report.development_seeds()
    return PeerRuns(
        peers_report.seed_set("held-out", held_seeds, source, held_rows, plan.budget),
        peers_report.seed_set("development", dev_seeds, relative(dev_path), dev_rows, plan.budget),
        [r for r in held_rows if r["seed"] in held_seeds],
        [r for r in dev_rows if r["seed"] in dev_seeds], plan)


def _peer_row(runs: PeerRuns, prob: str, method: str, first: bool) -> list[str]:
    row = [prob if first else "", METHOD_NAMES.get(method, method)]
    for s in (runs.heldout, runs.development):
        vals = s.values((prob, method))
        p = None if method == "mobo" else peers_report.one_sided_p(
            s.values((prob, "mobo")), vals)
        row += [peers_report.cell_text(vals), str(len(vals)), peers_report.p_text(p)]
    return row


def _peer_table(runs: PeerRuns) -> str:
    held, dev = runs.heldout, runs.development
    span = peers_report.span
    rows = [_peer_row(runs, prob, m, k == 0) for prob in runs.plan.problems
            for k, m in enumerate(runs.plan.methods)]
    header = ["problem", "method", f"held-out {span(held.seeds)}", "n", "p",
              f"development {span(dev.seeds)}", "n", "p"]
    return (f"Log10 hypervolume gap after {runs.plan.budget} evaluations (lower is better): "
            "median [25th, 75th percentile] over seeds, n seeds, and p, the one-sided "
            "Mann-Whitney U test's p-value that mobo's gaps are lower than the method's. "
            f"Held-out seeds {span(held.seeds)} first; development seeds {span(dev.seeds)}, "
            "on which mobo's defaults were chosen, beside them.\n\n"
            + _md_table(header, rows, ["---", "---", "---", "---:", "---:", "---", "---:",
                                       "---:"]))


def _verdict_words(found: Sequence[peers_report.Verdict], n_mobo: int, n_planned: int) -> str:
    """One seed set's verdicts on one problem, in words."""
    if not n_mobo:
        return "not judged yet (no runs of mobo)"
    parts = [] if n_mobo == n_planned else [f"from {n_mobo} of mobo's {n_planned} seeds so far"]
    for v in found:
        name = METHOD_NAMES.get(v.peer, v.peer)
        if not v.judged:
            parts.append(f"not judged against {name} (no runs yet)")
        elif v.peer == peers_report.REFERENCE_PEER:
            word = "no worse than" if v.outcome == "met" else "worse than"
            parts.append(f"{word} {name} ({v.mobo:.3f} vs {v.theirs:.3f}, "
                         f"{peers_report.p_phrase(v.p)})")
    others = [v for v in found if v.judged and v.peer != peers_report.REFERENCE_PEER]
    better = [METHOD_NAMES.get(v.peer, v.peer) for v in others if v.outcome == "met"]
    worse = [METHOD_NAMES.get(v.peer, v.peer) for v in others if v.outcome != "met"]
    if better:
        parts.append(f"better than {_join(better)}")
    if worse:
        parts.append(f"not better than {_join(worse)}")
    return "; ".join(parts)


def _met_words(found: Sequence[peers_report.Verdict]) -> str:
    judged = [v for v in found if v.judged]
    if not judged:
        return "no target is judged yet"
    met = sum(v.outcome == "met" for v in judged)
    rest = len(found) - len(judged)
    return (f"{met} of the {len(judged)} targets judged are met"
            + (f" ({rest} not judged yet)" if rest else ""))


def _missed_words(found: Sequence[peers_report.Verdict]) -> str:
    """The missed verdicts grouped by peer, e.g. "missed: no worse than BoTorch qLogNEHVI
    on dtlz2_m3 and c2dtlz2, one-sided Mann-Whitney p = 0.500 to 0.730"; "" when none."""
    missed = [v for v in found if v.judged and v.outcome == "MISSED"]
    parts = []
    for peer in dict.fromkeys(v.peer for v in missed):
        mine = [v for v in missed if v.peer == peer]
        target = "no worse than" if peer == peers_report.REFERENCE_PEER else "better than"
        ps = sorted(v.p for v in mine if v.p is not None)
        part = f"{target} {METHOD_NAMES.get(peer, peer)} on {_join([v.problem for v in mine])}"
        if len(ps) == 1:
            part += f", one-sided Mann-Whitney {peers_report.p_phrase(ps[0])}"
        elif ps:
            part += (f", one-sided Mann-Whitney p = {peers_report.p_text(ps[0])} to "
                     f"{peers_report.p_text(ps[-1])}")
        parts.append(part)
    return f"missed: {'; '.join(parts)}" if parts else ""


def _differ_words(held: Sequence[peers_report.Verdict],
                  dev: Sequence[peers_report.Verdict]) -> str:
    both = sum(h.judged and d.judged for h, d in zip(held, dev, strict=True))
    pairs = peers_report.differences(held, dev)
    if not both:
        return "No target is judged on both seed sets yet, so none can differ between them."
    if not pairs:
        return f"The {both} targets judged on both seed sets have the same verdict on each."
    lines = [f"{len(pairs)} of the {both} targets judged on both seed sets have a different "
             "verdict on each:", ""]
    for h, d in pairs:
        lines.append(f"- {h.problem} against {METHOD_NAMES.get(h.peer, h.peer)}: "
                     f"{d.outcome} on the development seeds ({d.mobo:.3f} vs {d.theirs:.3f}, "
                     f"{peers_report.p_phrase(d.p)}), {h.outcome} on the held-out seeds "
                     f"({h.mobo:.3f} vs {h.theirs:.3f}, {peers_report.p_phrase(h.p)}).")
    return "\n".join(lines)


def _early_words(runs: PeerRuns) -> str:
    """A paragraph: the targets judged after each checkpoint before the budget, per seed
    set, with the problems and peers of the misses (benchmarks.compare_report's section)."""
    early = peers_report.early_seed_sets(runs.heldout_rows, runs.development_rows,
                                         runs.heldout, runs.development, runs.plan)
    if not early:
        return ""
    parts = []
    for c, *sets in early:
        said = []
        for s in sets:
            judged, missed = peers_report.judged_and_missed(s, runs.plan)
            if not judged:
                continue
            peers: dict[str, list[str]] = {}
            for v in missed:
                peers.setdefault(v.problem, []).append(METHOD_NAMES.get(v.peer, v.peer))
            where = "; ".join(f"{p} against {_join(ms)}" for p, ms in peers.items())
            said.append(f"on the {s.name} seeds {len(judged) - len(missed)} of {len(judged)}"
                        + (f" (missed: {where})" if where else ""))
        if said:
            parts.append(f"after {c} evaluations, {'; '.join(said)}")
    if not parts:
        return ""
    return ("The same targets after the earlier checkpoints (`results/compare.md`, Verdicts at "
            "the earlier checkpoints) are met " + "; ".join(parts) + ".")


def _partial_words(cov: peers_report.Coverage, n: int) -> str:
    """How far a partial held-out rerun of ``n`` seeds per cell has got, in a few words:
    the seeds every cell has where they all have the same, else the complete cells, how
    many seeds the others have and how many have none."""
    groups = peers_report.partial_groups(cov)
    if not cov.complete and not cov.missing and len(groups) == 1:
        got = groups[0][0]
        return f"{len(got)} of its {n} seeds ({peers_report.span(got)}) in every cell"
    words = [f"{len(cov.complete)} of {cov.n_cells} cells complete"]
    if cov.partial:
        counts = sorted({len(got) for _, got in cov.partial})
        have = (str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}")
        words.append(f"{len(cov.partial)} with {have} of {n} seeds")
    if cov.missing:
        words.append(f"{len(cov.missing)} not run yet")
    return ", ".join(words)


def _heldout_coverage(runs: PeerRuns) -> dict[str, str]:
    """The held-out run's coverage in words, for the section and the summaries."""
    held = runs.heldout
    cov = peers_report.coverage(held, runs.plan)
    seeds = peers_report.span(held.seeds)
    n, total = len(held.seeds), cov.n_cells
    if not cov.complete and not cov.partial:
        return {
            "peers_heldout_status": "no held-out run is in the results yet",
            "peers_heldout_coverage": f"The held-out rerun has no results yet: none of the "
            f"{total} planned (problem, method) cells has a run in {held.source}, so no "
            "held-out verdict is judged.",
            "peers_heldout_limitation": f"No held-out run (seeds {seeds}) is in the results "
            "yet: every verdict rests on the development seeds, on which mobo's defaults "
            "were chosen.",
        }
    partial = []
    for got, cells in peers_report.partial_groups(cov):
        where = ("every cell" if len(cells) == total else "; ".join(
            f"{p} ({ms})" for p, ms in peers_report.by_problem(
                cells, runs.plan, METHOD_NAMES).items()))
        partial.append(f"{len(got)} of {n} (seeds {peers_report.span(got)}) in {where}")
    missing: dict[str, list[str]] = {}
    for p, m in cov.missing:
        missing.setdefault(p, []).append(METHOD_NAMES.get(m, m))
    complete = not cov.partial and not cov.missing
    words = [f"The held-out rerun is {'complete' if complete else 'partial'} ({held.source}): "
             f"{len(cov.complete)} of the {total} planned (problem, method) cells have all "
             f"{n} held-out seeds."]
    if partial:
        words.append(f"Fewer seeds so far: {'; '.join(partial)}.")
    if missing:
        named = [f"{p} ({'every method' if len(ms) == len(runs.plan.methods) else _join(ms)})"
                 for p, ms in missing.items()]
        words.append(f"No run yet: {'; '.join(named)}.")
    status = ("the held-out rerun is complete" if complete else
              f"the held-out rerun is partial so far: {_partial_words(cov, n)}")
    return {
        "peers_heldout_status": status,
        "peers_heldout_coverage": " ".join(words),
        "peers_heldout_limitation": "" if complete else
        f"The held-out rerun (seeds {seeds}) is partial: {len(cov.complete)} of {total} "
        "(problem, method) cells complete; the verdicts it cannot judge rest on the "
        "development seeds alone.",
    }


def _peers_section(runs: PeerRuns, missed: list[str]
                   ) -> tuple[dict[str, str], str, Figure]:
    """Values, the side-by-side table and the figure of the peer comparison."""
    plan = runs.plan
    held_v = peers_report.verdicts(runs.heldout, plan)
    dev_v = peers_report.verdicts(runs.development, plan)
    lines = []
    for prob in plan.problems:
        h = _verdict_words([v for v in held_v if v.problem == prob],
                           len(runs.heldout.values((prob, "mobo"))), len(runs.heldout.seeds))
        d = _verdict_words([v for v in dev_v if v.problem == prob],
                           len(runs.development.values((prob, "mobo"))),
                           len(runs.development.seeds))
        lines.append(f"- {prob}: held-out seeds: {h}; development seeds: {d}.")
    for found, s in ((held_v, runs.heldout), (dev_v, runs.development)):
        for v in found:
            if v.outcome == "MISSED":
                target = ("worse than" if v.peer == peers_report.REFERENCE_PEER
                          else "not better than")
                missed.append(f"{v.problem}, {s.name} seeds: mobo's median log10 gap after "
                              f"{plan.budget} evaluations is {target} "
                              f"{METHOD_NAMES.get(v.peer, v.peer)}'s ({v.mobo:.3f} vs "
                              f"{v.theirs:.3f}, one-sided Mann-Whitney "
                              f"{peers_report.p_phrase(v.p)}; {s.source})")
    dev_judged = [v for v in dev_v if v.judged]
    dev_met = sum(v.outcome == "met" for v in dev_judged)
    dev_seed_counts = sorted({len(g) for g in runs.development.gaps.values()})
    c2 = runs.heldout.values(("c2dtlz2", "mobo"))
    cov = peers_report.coverage(runs.heldout, plan)
    held_seeds = peers_report.span(runs.heldout.seeds)
    if not cov.complete and not cov.partial:
        held_summary = f"on the held-out seeds ({held_seeds}) there are no results yet"
    else:
        done = ("a complete rerun" if not cov.partial and not cov.missing else
                f"a partial rerun so far, {_partial_words(cov, len(runs.heldout.seeds))}")
        missed_words = _missed_words(held_v)
        held_summary = (f"on the held-out seeds ({held_seeds}) that no choice saw, {done}, "
                        f"{_met_words(held_v)}" + (f" ({missed_words})" if missed_words else ""))
    values = {
        "peers_table": _peer_table(runs),
        "peers_verdicts": "\n".join(lines),
        "peers_differ": _differ_words(held_v, dev_v),
        "peers_early": _early_words(runs),
        "peers_targets_met": _met_words(dev_v),
        "peers_heldout_targets_met": _met_words(held_v),
        "peers_heldout_summary": held_summary,
        "peers_all_met": "yes" if dev_judged and dev_met == len(dev_judged) else "no",
        "peers_budget": str(plan.budget),
        "peers_checkpoints": _join([str(c) for c in sorted(
            {r["n_evals"] for r in runs.development_rows + runs.heldout_rows})]),
        "peers_seeds": _join([str(n) for n in dev_seed_counts]),
        "peers_dev_seeds": peers_report.span(runs.development.seeds),
        "peers_heldout_seeds": peers_report.span(runs.heldout.seeds),
        "peers_heldout_n": str(len(runs.heldout.seeds)),
        "peers_c2dtlz2_heldout": "Section 4.2 reports it on the held-out seeds as well"
        if c2 else "the held-out seeds have no run of it yet",
        **_heldout_coverage(runs),
    }
    methods = list(plan.methods)
    sets = [("held-out", _gap_summary(runs.heldout_rows)),
            ("development", _gap_summary(runs.development_rows))]
    return values, values["peers_table"], _peers_figure(sets, plan.problems, methods)


def _rel_name(prefix: str) -> str:
    return {"peers": "compare.csv", "sobol": "compare.csv"}.get(prefix, prefix)


def fit_subset_words(rows: Sequence[Mapping[str, Any]], source: str) -> str:
    """One sentence from benchmarks.fit_subset's rows: per problem, at the largest number of
    evaluations both variants reached, the median log10 gaps with the subset and with every
    fit on all observations, the Mann-Whitney p, and the seconds per evaluation. Pure."""
    if not rows:
        return (f"No long study has been run yet (`python -m benchmarks.fit_subset`, "
                f"`{source}`).")
    parts = []
    for prob in dict.fromkeys(r["problem"] for r in rows):
        sizes = sorted({r["n_evals"] for r in rows if r["problem"] == prob}, reverse=True)
        found = next(((n, c) for n in sizes if (c := fit_subset_cell(rows, prob, n))), None)
        if found is None:
            continue
        n, c = found
        gap = {v: float(np.median(g)) for v, g in c["gaps"].items()}
        sec = c["seconds"]
        parts.append(f"{prob}, {len(c['gaps']['subset'])} and {len(c['gaps']['full'])} seeds, "
                     f"after {n} evaluations: {gap['subset']:.3f} with the subset and "
                     f"{gap['full']:.3f} without (two-sided Mann-Whitney p = {c['p']:.2f}), "
                     f"{sec['subset']:.2f} s and {sec['full']:.2f} s per evaluation past the "
                     "subset's size")
    if not parts:
        return f"No problem of `{source}` has runs of both variants yet."
    return ("Whether the subset costs quality, in studies run past it (`" + source
            + "`, median log10 hypervolume gaps, lower is better): " + "; ".join(parts) + ".")


def _speed_section(rows: Sequence[Mapping[str, Any]],
                   missed: list[str]) -> tuple[dict[str, str], str]:
    keys = list(dict.fromkeys((r["problem"], r["d"], r["m"], r["n_obs"]) for r in rows))
    table_rows = []
    ratios: list[float] = []
    values: dict[str, str] = {}
    verdicts = []
    for prob, d, m, n in keys:
        med = {}
        for method in ("mobo", "mobo_in_study", "botorch"):
            sel = [r["total_s"] for r in rows if (r["problem"], r["n_obs"], r["method"])
                   == (prob, n, method)]
            if sel:
                med[method] = float(np.median(sel))
        n_seeds = len([r for r in rows if (r["problem"], r["n_obs"], r["method"])
                       == (prob, n, "mobo")])
        ratio = med["botorch"] / med["mobo"] if {"mobo", "botorch"} <= set(med) else math.nan
        ratio_in = (med["botorch"] / med["mobo_in_study"]
                    if {"mobo_in_study", "botorch"} <= set(med) else math.nan)
        table_rows.append([prob, str(d), str(m), str(n),
                           *(f"{med[k]:.3f}" if k in med else "" for k in
                             ("mobo", "mobo_in_study", "botorch")),
                           f"{ratio:.1f}x", f"{ratio_in:.1f}x"])
        if n == max(k[3] for k in keys if k[0] == prob):
            # the abstract's ratios: at the largest size measured
            ratios.append(ratio)
        # each target at its own size (benchmarks.speed.TARGETS); a size not run is not judged
        parts = []
        for at, what, bound in SPEED_TARGETS:
            if at != n:
                continue
            if what == "ratio" and not math.isnan(ratio):
                ok = ratio >= bound
                parts.append(f"BoTorch takes {ratio:.1f} times as long as a fresh mobo "
                             f"proposal (target at least {bound:g}: "
                             f"{'met' if ok else 'missed'})")
                if not ok:
                    missed.append(f"proposal time on {prob} at {n} observations: BoTorch / "
                                  f"mobo {ratio:.1f}, target at least {bound:g}")
            if what == "in_study" and "mobo_in_study" in med:
                t = med["mobo_in_study"]
                ok = t <= bound
                parts.append(f"a proposal in a running study takes {t:.3f} s (target at "
                             f"most {bound:g} s: {'met' if ok else 'missed'})")
                if not ok:
                    missed.append(f"proposal time in a running study on {prob} at {n} "
                                  f"observations: {t:.3f} s, target at most {bound:g} s")
        if parts:
            verdicts.append(f"- {prob} (d = {d}, {m} objectives) at {n} observations: "
                            + "; ".join(parts) + ".")
        values["speed_seeds"] = str(n_seeds)
    header = ["problem", "d", "m", "observations", "mobo (s)", "mobo in study (s)",
              "BoTorch (s)", "BoTorch / mobo", "BoTorch / mobo in study"]
    table = ("Median wall time of one proposal (GP fit + acquisition optimisation), seconds, "
             "on 2 CPU cores; in study: the mean of a window of consecutive proposals "
             "(`benchmarks.speed.IN_STUDY_WINDOW`).\n\n" + _md_table(header, table_rows))
    values["speed_verdicts"] = "\n".join(verdicts)
    values["speed_ratio_min"] = f"{min(ratios):.1f}"
    values["speed_ratio_max"] = f"{max(ratios):.1f}"
    values["speed_largest_n"] = str(max(k[3] for k in keys))
    values["speed_table"] = table
    return values, table


def _kernel_section(ks: KernelSpeed, missed: list[str]) -> tuple[dict[str, str], str]:
    rows = []
    values: dict[str, str] = {"kernel_source": ks.source}
    for r in ks.hv:
        m = int(r["objectives"])
        ratio = r["mobo_ms"] / r["moocore_ms"]
        rows.append([f"hypervolume, {m} objectives, {int(r['points']):,} points",
                     f"{r['mobo_ms']:.3f} ms", f"{r['moocore_ms']:.3f} ms (moocore)",
                     f"{ratio:.2f} (target at most {TARGETS['hv_vs_moocore']:g})"])
        values[f"kernel_hv{m}_ratio"] = f"{ratio:.2f}"
        values[f"kernel_hv{m}_points"] = f"{int(r['points']):,}"
    for r in ks.ehvi:
        m = int(r["objectives"])
        # the result file's own ratio: a whole call, decomposition included, on both sides
        ratio = r["mobo"] / r["botorch"]
        rows.append([f"EHVI, {m} objectives, 50-point front",
                     f"{_thousands(r['mobo'])} candidates/s",
                     f"{_thousands(r['botorch'])} candidates/s (BoTorch)",
                     f"{ratio:.1f} (no target)"])
        values[f"kernel_ehvi{m}_ratio"] = f"{ratio:.1f}"
        values[f"kernel_ehvi{m}_mobo"] = _thousands(r["mobo"])
        values[f"kernel_ehvi{m}_reused"] = _thousands(r["mobo_reused"])
        values[f"kernel_ehvi{m}_reused_ratio"] = f"{r['mobo_reused'] / r['botorch']:.1f}"
        values[f"kernel_ehvi{m}_botorch"] = _thousands(r["botorch"])
        values[f"kernel_ehvi{m}_tails"] = _thousands(r["tails"])
        values[f"kernel_ehvi{m}_tails_ratio"] = f"{r['tails'] / r['botorch']:.1f}"
        values[f"kernel_ehvi{m}_share"] = f"{100 * r['mobo_reused'] / r['tails']:.0f}%"
        rows.append([f"its special functions alone, {m} objectives",
                     f"{_thousands(r['tails'])} candidates/s",
                     f"{_thousands(r['botorch'])} candidates/s (BoTorch)",
                     f"{r['tails'] / r['botorch']:.1f} (a bound for exact kernels)"])
    for r in ks.hv:
        ratio = r["mobo_ms"] / r["moocore_ms"]
        if ratio > TARGETS["hv_vs_moocore"]:
            missed.append(f"hypervolume with {int(r['objectives'])} objectives: "
                          f"{ratio:.2f} times moocore's time, target at most "
                          f"{TARGETS['hv_vs_moocore']:g}")
    hv_ok = all(r["mobo_ms"] / r["moocore_ms"] <= TARGETS["hv_vs_moocore"] for r in ks.hv)
    values["kernel_hv_verdict"] = "met" if hv_ok else "missed"
    values["kernel_target_hv"] = f"{TARGETS['hv_vs_moocore']:g}"
    table = (f"Steady-state kernel speed on 2 CPU cores (best thread count per side), from "
             f"{ks.source}.\n\n" + _md_table(["kernel", "mobo", "peer", "ratio"], rows))
    values["kernel_table"] = table
    return values, table


def _distill_section(study: Study, journal: Path, refs: Mapping[str, Mapping[str, Any]],
                     importance: Importance) -> tuple[dict[str, str], str]:
    names = [o.name for o in study.objectives]
    if names != ["exact", "num_parameters"]:
        raise InputError(f"{relative(journal)}: expected the objectives exact and num_parameters, "
                         f"got {names}")
    exact_obj = study.objectives[0]
    view = classify(study)
    front = sorted(view.front, key=lambda t: t.values["num_parameters"])  # type: ignore[index]
    if not front:
        raise InputError(f"{relative(journal)}: no completed trial beats the exact threshold yet")
    finished = [t for t in study.trials if t.done]
    completed = [t for t in study.trials if t.status == "completed"]
    match = _JOURNAL_NAME.search(journal.name)
    budget = int(match.group(1)) if match else None
    teacher, baseline = refs["teacher"], refs["baseline"]

    def v(t: Trial, key: str) -> float:
        return float(t.values[key])  # type: ignore[index, arg-type]

    best = max(front, key=lambda t: v(t, "exact"))
    smallest = front[0]
    rows = []
    for t in front:
        p = t.params
        rows.append([str(t.number), t.source, _fmt(v(t, "exact")),
                     _fmt(v(t, "f1")) if t.values.get("f1") is not None else "",  # type: ignore
                     _thousands(v(t, "num_parameters")), str(p.get("n_layers", "")),
                     str(p.get("n_heads", "")), str(p.get("init", "")),
                     str(p.get("layer_choice", "")),
                     f"{p['learning_rate']:.2g}" if "learning_rate" in p else ""])
    table = (f"Pareto front of {relative(journal)} (synthetic task; exact maximised, "
             "num_parameters minimised; trials beating the exact threshold only).\n\n"
             + _md_table(["trial", "source", "exact", "f1", "num_parameters", "n_layers",
                          "n_heads", "init", "layers kept", "learning rate"], rows,
                         ["---:", "---", "---:", "---:", "---:", "---:", "---:", "---", "---",
                          "---:"]))
    # hypervolume after the initial design and at the end, the study's own reference
    n, hv, order = hypervolume_trace(study)
    design = [k for k, t in enumerate(order) if t.source == "sobol"]
    hv_design = hv[design[-1]] if design else 0.0
    durations = [t.duration for t in finished if t.duration is not None]
    # the run's wall time as results/distill.md defines it (benchmarks/wall_time.py): first
    # trial start to last trial end per segment, the time stopped before a resume not
    # counted; the journal holds no preparation time, so none is added
    wall_min = run_wall_time(study).minutes
    model_asks = [t.timings["ask"] for t in study.trials
                  if t.source == "model" and "ask" in t.timings]
    ref = study.ref_point or {}
    top = {}
    for j, obj in enumerate(importance.objectives):
        order_j = np.argsort(-importance.shares[j], kind="stable")[:3]
        top[obj] = _join([f"{importance.parameters[k]} ({importance.shares[j, k]:.2f})"
                          for k in order_j])
    status = (f"all {budget} trials of the budget finished" if budget is not None
              and len(finished) >= budget else
              f"a partial run: {len(finished)} of {budget} trials finished so far"
              if budget is not None else f"{len(finished)} trials finished")
    values = {
        "distill_journal": relative(journal),
        "distill_status": status,
        "distill_finished": str(len(finished)),
        "distill_completed": str(len(completed)),
        "distill_failed": str(sum(t.status == "failed" for t in study.trials)),
        "distill_n_initial": str(study.n_initial),
        "distill_n_model": str(sum(t.source == "model" for t in finished)),
        "distill_dim": str(study.space.dim),
        "distill_n_params": str(len(study.space.params)),
        "distill_threshold": _fmt(float(exact_obj.threshold or math.nan)),
        "distill_ref_params": _params_m(ref.get("num_parameters", math.nan)),
        "distill_above": str(len(view.front) + len(view.dominated)),
        "distill_front_size": str(len(front)),
        "distill_front_model": str(sum(t.source == "model" for t in front)),
        "distill_best_trial": str(best.number),
        "distill_best_exact": _fmt(v(best, "exact")),
        "distill_best_params": _params_m(v(best, "num_parameters")),
        "distill_best_gap_teacher": _fmt(float(teacher["exact"]) - v(best, "exact"), 1),
        "distill_best_size_pct":
            f"{100 * v(best, 'num_parameters') / teacher['num_parameters']:.0f}",
        "distill_small_trial": str(smallest.number),
        "distill_small_exact": _fmt(v(smallest, "exact")),
        "distill_small_params": _params_m(v(smallest, "num_parameters")),
        "distill_small_vs_baseline_pct":
            f"{100 * (1 - v(smallest, 'num_parameters') / baseline['num_parameters']):.0f}",
        "teacher_exact": _fmt(float(teacher["exact"])),
        "teacher_params": _params_m(float(teacher["num_parameters"])),
        "baseline_exact": _fmt(float(baseline["exact"])),
        "baseline_params": _params_m(float(baseline["num_parameters"])),
        "baseline_description": str(baseline["description"]),
        "baseline_phrase": _baseline_phrase(baseline, exact_obj.threshold, smallest),
        "importance_check": _importance_check(importance),
        "distill_hv_design": f"{hv_design:.4g}",
        "distill_hv_final": f"{(hv[-1] if len(hv) else 0.0):.4g}",
        "distill_median_trial_s": f"{np.median(durations):.1f}" if durations else "n/a",
        "distill_wall_min": f"{wall_min:.1f}",
        "distill_model_ask_s": f"{np.median(model_asks):.2f}" if model_asks else "n/a",
        "distill_importance_n": str(importance.n_trials),
        "distill_top_exact": top.get("exact", ""),
        "distill_top_params": top.get("num_parameters", ""),
        "distill_front_table": table,
    }
    return values, table


def _coverage(peers: Sequence[Mapping[str, Any]], values: Mapping[str, str]) -> dict[str, str]:
    """How much of the planned peer comparison the results cover, in words."""
    planned = parse_args([])  # the full benchmark: the command's defaults
    methods: dict[str, set[str]] = {}
    for r in peers:
        methods.setdefault(r["problem"], set()).add(r["method"])
    # a problem counts as compared once mobo and at least one peer have run on it
    problems = [p for p, ms in methods.items() if "mobo" in ms and len(ms) > 1]
    missing = [p for p in planned.problems if p not in problems]
    seeds: dict[tuple[str, str], set[int]] = {}
    for r in peers:
        if r["problem"] in problems:
            seeds.setdefault((r["problem"], r["method"]), set()).add(r["seed"])
    n_seeds = len(planned.seeds)
    dev = f"development seeds ({peers_report.span(planned.seeds)})"
    # per method, the problems where it has fewer seeds than planned
    short: dict[str, list[str]] = {}
    for (prob, method), got in sorted(seeds.items()):
        if len(got) < n_seeds:
            short.setdefault(method, []).append(f"{prob} ({len(got)})")
    complete = [m for m in _ordered(sorted({m for _, m in seeds}), list(METHOD_STYLE))
                if m not in short]
    parts = [f"{len(problems)} of the {len(planned.problems)} planned problems "
             f"({_join(problems)})" if missing else
             f"all {len(problems)} planned problems ({_join(problems)})"]
    if not short:
        parts.append(f"all {n_seeds} planned {dev}")
    else:
        have = (f"all {n_seeds} planned {dev} for {_join(complete)}" if complete else
                f"fewer than the {n_seeds} planned {dev}")
        fewer = "; ".join(f"{m} has fewer on {_join(ps)}" for m, ps in short.items())
        parts.append(f"{have} ({fewer})")
    coverage = " with ".join(parts)
    if missing:
        rest = (f"the other problems ({_join(missing)}) have not been compared with the "
                "peers yet")
    else:
        rest = "every planned problem has been compared with the peers"
    if values["peers_all_met"] == "yes":
        summary = (f"mobo's median hypervolume gap after {values['peers_budget']} evaluations "
                   f"is no worse than BoTorch qLogNEHVI's and better than every other peer's "
                   f"on each of them")
    else:
        summary = (f"of mobo's quality targets there (no worse than BoTorch qLogNEHVI, better "
                   f"than every other peer, per problem) {values['peers_targets_met']}")
    return {"peers_coverage": coverage, "peers_rest": rest, "peers_summary": summary,
            "peers_missing": _join(missing) or "none"}


def _baseline_phrase(baseline: Mapping[str, Any], threshold: float | None,
                     smallest: Trial) -> str:
    small = float(smallest.values["num_parameters"])  # type: ignore[index, arg-type]
    pct = 100 * (1 - small / float(baseline["num_parameters"]))
    # a baseline within 0.005 EM of the threshold (the 2-decimal precision the paper prints)
    # has learned nothing beyond answering "no answer", and being smaller than it means little
    if threshold is not None and float(baseline["exact"]) <= threshold + 0.005:
        return ('scores no better than always answering "no answer" within this task\'s '
                "training budget: a general encoder with a fresh question-answering head does "
                "not learn the task from so few questions. That the smallest front student "
                f"is {pct:.0f}% smaller than the baseline therefore says little; the teacher "
                "is the meaningful reference here")
    return (f"reaches {float(baseline['exact']):.2f} EM; the smallest front student is "
            f"{pct:.0f}% {'smaller' if pct >= 0 else 'larger'} than it")


def _importance_check(importance: Importance) -> str:
    """Whether the fit ranks n_layers and n_heads first for num_parameters, in words."""
    if "num_parameters" not in importance.objectives or not {"n_layers", "n_heads"} <= set(
            importance.parameters):
        return "the check does not apply to this search space"
    j = importance.objectives.index("num_parameters")
    top = {importance.parameters[k]
           for k in np.argsort(-importance.shares[j], kind="stable")[:2]}
    if top == {"n_layers", "n_heads"}:
        return "the fitted model ranks these two first"
    return ("the fitted model does not rank these two first, a sign that this few trials "
            "leave the fit close to its prior")


# ---------------------------------------------------------------------------- the paper
def render(template: str, values: Mapping[str, str]) -> str:
    """Fill every ``{{name}}`` of ``template``; an unknown name is an error, not a blank."""
    missing = sorted({m for m in _PLACEHOLDER.findall(template) if m not in values})
    if missing:
        raise InputError(f"{relative(TEMPLATE)}: no value for placeholder(s) {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def build(results: Path, journal: Path | None, out: Path, paper: Path,
          template: Path = TEMPLATE, heldout: Path | None = None) -> list[Path]:
    """Write every figure, table and the paper; returns the paths written. ``heldout``: the
    held-out seeds' CSV as it is on disk (default: results/compare_heldout.csv as git's index
    holds it)."""
    if journal is None:
        journal = find_distill_journal(results)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            study = Study.read(journal)
        except ValueError as e:
            raise InputError(str(e)) from None
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    refs = distill_reference_models(results / "distill_reference.json")
    task = distill_task_facts(results / "distill_task.json")
    runs = peer_runs(results, heldout)
    sobol = [r for r in runs.development_rows if r["method"] in ("mobo", "sobol")]
    speed = _speed_rows(results / "speed.csv")
    kernels = kernel_speed(results)
    speedups, gpu_speedups, gpu_unstamped = trainer_speedups(results / "speed_trainer.json")
    importance = parameter_importance(study)

    values: dict[str, str] = {}
    tables: dict[str, str] = {}
    figures: dict[str, Figure] = {}
    v, tables["table_distill_front"] = _distill_section(study, journal, refs, importance)
    values.update(v)
    for key in ("dev", "train"):
        values[f"distill_{key}_n"] = task[f"{key}_n"]
        values[f"distill_{key}_note"] = task[f"{key}_note"]
    references = {f"teacher ({refs['teacher']['exact']:.2f} EM)": refs["teacher"],
                  f"baseline ({refs['baseline']['exact']:.2f} EM)": refs["baseline"]}
    figures["distill_pareto"] = plot_pareto(
        study, references=references,
        title=f"Distillation on the synthetic task: {values['distill_finished']} trials "
              f"({relative(journal)})")
    figures["distill_hypervolume"] = plot_hypervolume(study)
    figures["distill_importance"] = plot_importance(importance)
    v, diagnosis_tables, figures["distill_diagnosis"] = distill_diagnosis(
        results / "distill_diagnosis.json", journal)
    values.update(v)
    tables.update(diagnosis_tables)
    try:
        v, trust_tables = trust_region_section(results)
    except (ValueError, KeyError, OSError) as e:
        raise InputError(f"trust region section: {e}") from None
    values.update(v)
    tables.update(trust_tables)
    try:
        v, ba_tables, figures["distill_before_after"] = before_after_section(results, ROOT)
        v_gpu, ba_gpu, figures["distill_before_after_gpu"] = before_after_section(
            results, ROOT, GPU_BEFORE, GPU_AFTER, prefix="gpu_")
        v_explore, ba_explore, figures["distill_before_after_explore"] = before_after_section(
            results, ROOT, BEFORE, EXPLORE, prefix="explore_")
        v_face, ba_face, figures["distill_before_after_face"] = before_after_section(
            results, ROOT, EXPLORE, FACE, prefix="face_")
        v_final, ba_final, figures["distill_before_after_final"] = before_after_section(
            results, ROOT, BEFORE, FINAL, prefix="final_")
    except (ValueError, KeyError, OSError) as e:
        raise InputError(f"before/after section: {e}") from None
    values.update(v, **v_gpu, **v_explore, **v_face, **v_final)
    tables.update(ba_tables, **ba_gpu, **ba_explore, **ba_face, **ba_final)
    try:
        v, hd_tables, figures["distill_heldout"] = heldout_distill_section(results)
        v_gpu, hd_gpu, figures["distill_heldout_gpu"] = heldout_distill_section(
            results / GPU_COMPARISON, key="heldout_distill_gpu")
    except (ValueError, KeyError, OSError) as e:
        raise InputError(f"held-out distillation section: {e}") from None
    values.update(v, **v_gpu)
    tables.update(hd_tables, **hd_gpu)
    try:
        values["heldout_distill_recheck"] = recheck_words(results / "distill_recheck.json")
        values["heldout_distill_gpu_recheck"] = recheck_words(
            results / "distill_recheck_gpu.json")
        values["reproducibility_limitation"] = reproducibility_limitation([
            ("the CPU comparison's", results / "distill_recheck.json"),
            ("the H200 comparison's", results / "distill_recheck_gpu.json")])
    except (ValueError, KeyError, TypeError, OSError) as e:
        raise InputError(f"results/distill_recheck[_gpu].json: {e}") from None
    try:
        values["heldout_distill_epyc_recheck"] = recheck_words(
            results / "distill_recheck_epyc.json")
        values["heldout_distill_epyc_recheck_seeds"] = recheck_by_seed(
            results / "distill_recheck_epyc.json", read_reference(results)["exact"])
        for seed in (10, 11):
            values[f"heldout_distill_epyc_seed{seed}_recheck"] = recheck_words(
                results / f"distill_recheck_epyc_seed{seed}.json", opening=False)
        values["heldout_distill_epyc"] = rerun_words(results, results / EPYC_RERUN, results,
                                                     code=FORMER_SHARE)
    except (ValueError, KeyError, TypeError, OSError) as e:
        raise InputError(f"results/{EPYC_RERUN}/, results/distill_recheck_epyc.json: {e}"
                         ) from None
    for key, name in (("heldout_distill_onemachine", ONE_MACHINE_COMPARISON),
                      ("heldout_distill_onemachine_explore", ONE_MACHINE_EXPLORE)):
        try:
            values[key] = one_environment_words(results, results / name)
        except (ValueError, KeyError, OSError) as e:
            raise InputError(f"results/{name}/: {e}") from None
    try:
        values["heldout_distill_lead"] = lead_words(
            results, [results / ONE_MACHINE_EXPLORE, results / EPYC_RERUN],
            code="mobo with " + FORMER_SHARE)
    except (ValueError, KeyError, OSError) as e:
        raise InputError(f"results/{ONE_MACHINE_EXPLORE}/, results/{EPYC_RERUN}/: {e}"
                         ) from None
    try:
        values["heldout_distill_epyc_explore070"] = rerun_words(
            results, results / EPYC_EXPLORE070, results / EPYC_RERUN, code=CURRENT_SHARE)
        values["heldout_distill_onemachine_explore070"] = rerun_words(
            results, results / ONE_MACHINE_EXPLORE070, results / ONE_MACHINE_EXPLORE,
            code=CURRENT_SHARE, shared_cache=True)
        values["heldout_distill_onemachine_five_seeds"] = more_seeds_words(
            results, results / ONE_MACHINE_FIVE_SEEDS, results / EPYC_EXPLORE070)
        values["heldout_distill_explore070_lead"] = lead_words(
            results, [results / EPYC_EXPLORE070, results / ONE_MACHINE_EXPLORE070],
            code="mobo with " + CURRENT_SHARE)
        rows = staged_rows(results / EPYC_EXPLORE070)
        # a results folder without the comparison (nothing staged) has no reference either
        verdicts = (target_verdicts(rows, read_reference(results / EPYC_EXPLORE070)) if rows
                    else [])
        values["distill_band_draws"] = (band_draws_words(
            rows, read_reference(results / EPYC_EXPLORE070),
            f"results/{EPYC_EXPLORE070}/distill_compare.csv") if rows else "")
        values["abstract_distill_verdicts"] = verdict_words(
            f"results/{EPYC_EXPLORE070}", verdicts,
            sorted({r["seed"] for r in rows if r["method"] == "mobo"}),
            code="mobo with " + CURRENT_SHARE)
        # the targets missed with the current defaults join the limitations' list
        distill_missed = [
            f"distillation task, held-out seeds, mobo with {CURRENT_SHARE}, "
            f"results/{EPYC_EXPLORE070}/distill_compare.csv as staged in git: {v}"
            for v, ok in verdicts if not ok]
    except (ValueError, KeyError, OSError) as e:
        raise InputError(f"results/{EPYC_EXPLORE070}/, results/{ONE_MACHINE_EXPLORE070}/: "
                         f"{e}") from None
    # the judged comparison's band check, and the five-seed one-machine folder's
    for key in ("distill_bandcheck", "distill_bandcheck_onemachine"):
        bandcheck = results / f"{key}.json"
        try:
            values[key] = (
                bandcheck_words(json.loads(bandcheck.read_text()), f"results/{key}.md")
                if bandcheck.is_file() else
                "No band best of this folder has been trained again yet "
                "(`python -m benchmarks.distill_bandcheck`).")
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"results/{key}.json: {e}") from None
    # the development runs' smallest size band
    smallband = results / "distill_smallband.json"
    try:
        values["distill_smallband"] = (
            smallband_words(json.loads(smallband.read_text()), "results/distill_smallband.md")
            if smallband.is_file() else
            "The smallest band's report has not been made yet "
            "(`python -m benchmarks.distill_smallband`).")
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise InputError(f"results/distill_smallband.json: {e}") from None
    try:
        values["heldout_distill_onemachine_explore_first"] = former_code_words(
            results, results / ONE_MACHINE_EXPLORE_FIRST, results / ONE_MACHINE_EXPLORE)
    except (ValueError, KeyError, OSError) as e:
        raise InputError(f"results/{ONE_MACHINE_EXPLORE_FIRST}/: {e}") from None
    missed: list[str] = []
    v, tables["table_quality_peers"], figures["quality_peers"] = _peers_section(runs, missed)
    values.update(v)
    v, tables["table_quality_sobol"], figures["quality_vs_sobol"] = _quality_section(
        sobol, "sobol", None, missed)
    values.update(v)
    v, tables["table_speed"] = _speed_section(speed, missed)
    values.update(v)
    values["fit_subset"] = fit_subset_words(read_fit_subset(results / "fit_subset.csv"),
                                            "results/fit_subset.md")
    figures["speed_proposal"] = _speed_figure(speed)
    v, tables["table_kernels"] = _kernel_section(kernels, missed)
    values.update(v)
    figures["speed_kernels"] = _kernel_figure(kernels)
    values.update(_coverage(runs.development_rows, values))
    values["trainer_speedups"] = _join([f"{s:.2f}x" for s in speedups]) or "(not measured)"
    target = TARGETS["trainer_vs_hf"]
    values["trainer_target"] = f"{target:g}"
    if gpu_speedups:
        met = min(gpu_speedups) >= target
        values["trainer_gpu"] = (f"measured at {_join([f'{s:.2f}x' for s in gpu_speedups])} "
                                 f"({'met' if met else 'missed'})")
        values["trainer_gpu_limitation"] = (
            "The trainer's GPU speed-up comes from one benchmark run on one GPU "
            "(results/speed_trainer.md)"
            + (", made before results recorded their commit, so whether the trainer has "
               "changed since cannot be checked (results/provenance.md lists it as "
               "unrecorded); it awaits a rerun on a GPU." if gpu_unstamped else "."))
        if not met:
            missed.append(f"trainer throughput on a GPU: {min(gpu_speedups):.2f} times the "
                          f"Hugging Face Trainer's, target at least {target:g}")
    else:
        values["trainer_gpu"] = "not measured yet (no CUDA device was available)"
        values["trainer_gpu_limitation"] = (
            "The trainer's speed target is for a GPU, where it is not measured yet (no CUDA "
            "device was available).")
    missed.extend(distill_missed)
    values["missed_targets"] = "\n".join(f"  - {m}." for m in missed) or "  - none."
    importance_rows = [[importance.parameters[k]]
                       + [f"{importance.shares[j, k]:.3f}"
                          for j in range(len(importance.objectives))]
                       for k in importance.order()]
    tables["table_distill_importance"] = (
        f"Parameter importance for {relative(journal)}: {importance.method}.\n\n"
        + _md_table(["parameter", *importance.objectives], importance_rows,
                    ["---"] + ["---:"] * len(importance.objectives)))
    values["distill_importance_table"] = tables["table_distill_importance"]

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in figures.items():
        written.append(save_figure(fig, out / f"{name}.png"))
    for name, text in tables.items():
        path = out / f"{name}.md"
        path.write_text(text + "\n")
        written.append(path)
    values["figures"] = Path(os.path.relpath(out, paper.parent)).as_posix()
    text = render(_read(template), values)
    paper.parent.mkdir(parents=True, exist_ok=True)
    paper.write_text(text)
    written.append(paper)
    return written


# ---------------------------------------------------------------------------- --rerun
# The cheap benchmarks: (description, command, outputs to move from the scratch folder into
# results/; none when the command writes them there itself). A command that resumes from an
# output (as benchmarks.compare does) runs into the scratch folder, so that the committed
# files are replaced only when it succeeds.
def _rerun_commands(tmp: Path, results: Path) -> list[tuple[str, list[str], list[str]]]:
    py = sys.executable
    return [
        ("proposal speed vs BoTorch",
         [py, "-m", "benchmarks.speed", "--sizes", "50", "100", "200", "1000", "--repeats", "3",
          "--out", str(results / "speed")],
         []),
    ]


def rerun(results: Path, run: Callable[[list[str]], int] | None = None) -> None:
    """Re-run the cheap benchmarks, replacing their result files in ``results``."""
    if run is None:
        def run(cmd: list[str]) -> int:
            return subprocess.run(cmd, cwd=ROOT).returncode
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for description, cmd, outputs in _rerun_commands(tmp, results):
            print(f"re-running {description}: {' '.join(cmd[1:])}", file=sys.stderr)
            code = run(cmd)
            if code != 0:
                raise RuntimeError(f"{' '.join(cmd[1:3])} failed with exit status {code}")
            for name in outputs:
                shutil.copyfile(tmp / name, results / name)


# ---------------------------------------------------------------------------- command line
class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m paper.figures``: returns the exit status (0, 1 if a re-run fails, 2)."""
    p = _Parser(prog="python -m paper.figures",
                description="Regenerate the paper's figures and tables from the committed "
                "result files, and fill paper/paper.md from paper/paper.template.md.")
    p.add_argument("--journal", default=None, metavar="PATH",
                   help="distillation journal (default: the distill_budget<B>.jsonl in "
                   "results/ with the most finished trials)")
    p.add_argument("--results", default=str(RESULTS), metavar="DIR",
                   help="folder of result files (default results)")
    p.add_argument("--out", default=str(PAPER_DIR / "figures"), metavar="DIR",
                   help="folder for figures and tables (default paper/figures)")
    p.add_argument("--paper", default=str(PAPER_DIR / "paper.md"), metavar="PATH",
                   help="the paper to write (default paper/paper.md)")
    p.add_argument("--heldout", default=None, metavar="CSV",
                   help="the held-out seeds' CSV of the peer comparison, read as it is on "
                   "disk (default: results/compare_heldout.csv as git's index holds it; a "
                   "file git does not track: no held-out run yet)")
    p.add_argument("--rerun", action="store_true",
                   help="first re-run the cheap benchmark (proposal speed; minutes, see "
                   "benchmarks/README.md) and overwrite its result files")
    try:
        args = p.parse_args(argv)
        results = Path(args.results)
        if not results.is_dir():
            raise _UsageError(f"--results: {results} is not a folder")
        journal = Path(args.journal) if args.journal else None
        if journal is not None and not journal.is_file():
            raise _UsageError(f"--journal: {journal} is not a file")
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise _UsageError(f"--out: {out} exists and is not a folder")
        if args.rerun:
            rerun(results)
        heldout = Path(args.heldout) if args.heldout else None
        if heldout is not None and not heldout.is_file():
            raise _UsageError(f"--heldout: {heldout} is not a file")
        written = build(results, journal, out, Path(args.paper), heldout=heldout)
    except (_UsageError, InputError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path in written:
        print(relative(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
