"""Where each method's proposals go on the distillation task, and how often they pay.

The held-out comparison (:mod:`benchmarks.distill_compare`) scores runs by hypervolume and
by the share of post-initial trials that beat the always-no-answer exact match. This
report splits that share by the student's shape, so that a pile-up (the smallest students
of a depth, or an initialisation that collapses to no-answer) shows as a row of trials
that rarely beat the threshold:

- by depth: post-initial trials per ``n_layers``, as ``above / tried``;
- by width and initialisation: trials with ``init=pretrained``, and those initialised from
  the teacher split by ``n_heads`` (1-2, 3-6, 7 or more);
- by learning rate, in half-decade bands (below 1e-4, to 3e-4, to 1e-3, above);
- by size, in the comparison's size bands (:data:`benchmarks.distill_compare.SIZE_BANDS`:
  at most 60% of the teacher's parameter count, above 60% to 70%, above 70% to 80%,
  above 80%): how many draws each method spent in a band bounds how good its best student
  there can be, which the comparison reports per band (a trial without a recorded
  parameter count, such as a failed one, is in no size band).

A last table says where each run's hypervolume comes from: the share of it (after the
run's first ``budget`` finished trials, initial design included, as the comparison
measures it) that is lost when the trials of one group (students of 1-3 layers, of 7 or
more heads, or of one learning-rate band) are left out, median over the runs. A method
whose proposals never reach a group can lose nothing there; a large share lost is a group
the method's front depends on.

Where mobo ran with an exploration share (``Study(explore=...)``: some proposals drawn from
a density of the trials that beat the threshold instead of maximising EHVI) or the front
extension (``Proposer(extend=...)``: some proposals maximising EHVI only below the front's
smallest student), the first three tables also split its post-initial trials into ``mobo
(EHVI)``, ``mobo (explore)`` and ``mobo (extend)`` rows (those of the kinds the runs
have), read from the journal (such a proposal's ``timings`` have an ``explore`` or an
``extend`` entry).

Counted are the post-initial trials (``source == "model"``) among a run's first ``budget``
finished trials, failed ones included (a failed trial does not beat the threshold), over
the held-out seeds of every comparison folder given; the threshold is the folder's fixed
reference (``distill_compare/reference.json``). Nothing is trained: the per-run files are
read as they are.

Usage::

    python -m benchmarks.distill_where       # the eight held-out comparison folders
    python -m benchmarks.distill_where --folders DIR [DIR ...] --out FILE.md
    python -m benchmarks.distill_where --folders results/distill_dev/X --seeds 0 1 --out F.md
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.distill_compare import (
    DEFAULT_SEEDS,
    NAME,
    SIZE_BANDS,
    _run_files,
    read_reference,
    records,
    run_hypervolume,
    run_path,
)
from benchmarks.provenance import relative
from mobo import Study

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
DEFAULT_FOLDERS = (RESULTS, RESULTS / "distill_compare_gpu",
                   RESULTS / "distill_compare_onemachine",
                   RESULTS / "distill_compare_onemachine_explore",
                   RESULTS / "distill_compare_onemachine_explore_first",
                   RESULTS / "distill_compare_epyc",
                   RESULTS / "distill_compare_epyc_explore070",
                   RESULTS / "distill_compare_onemachine_explore070")
DEFAULT_OUT = RESULTS / "distill_where.md"
BUDGET = 100
DEPTHS = (1, 2, 3, 4, 5, 6)
# (label, lowest, highest) heads of a teacher-initialised student
WIDTHS: tuple[tuple[str, int, int], ...] = (("1-2", 1, 2), ("3-6", 3, 6), (">= 7", 7, 10**6))
# (label, lowest, below) learning rate: half-decade bands over the space's range
RATES: tuple[tuple[str, float, float], ...] = (
    ("< 1e-4", 0.0, 1e-4), ("1e-4 to 3e-4", 1e-4, 3e-4), ("3e-4 to 1e-3", 3e-4, 1e-3),
    (">= 1e-3", 1e-3, float("inf")))

# (label, above, at most) a student's parameter count as a share of the teacher's
SIZES: tuple[tuple[str, float, float], ...] = tuple(
    (f"<= {hi:.0%}" if lo == 0.0 else f"{lo:.0%} to {hi:.0%}", lo, hi)
    for lo, hi in zip((0.0, *SIZE_BANDS[:-1]), SIZE_BANDS, strict=True)
) + ((f"> {SIZE_BANDS[-1]:.0%}", SIZE_BANDS[-1], float("inf")),)

Tally = dict[str, list[int]]  # group -> [above, tried]


def is_above(rec: Mapping[str, Any], threshold: float) -> bool:
    """Whether a finished trial beat the threshold (a failed one never does)."""
    vals = rec.get("values") or {}
    return rec["status"] == "completed" and vals.get("exact") is not None \
        and float(vals["exact"]) > threshold


def groups(params: Mapping[str, Any]) -> list[str]:
    """The groups a trial's parameters fall in: its depth, and its width-or-init group."""
    out = [f"L{int(params['n_layers'])}"]
    if params.get("init") == "pretrained":
        out.append("pretrained")
    else:
        heads = int(params["n_heads"])
        out += [f"heads {label}" for label, lo, hi in WIDTHS if lo <= heads <= hi]
    if "learning_rate" in params:
        rate = float(params["learning_rate"])
        out += [f"lr {label}" for label, lo, below in RATES if lo <= rate < below]
    return out


def size_group(rec: Mapping[str, Any], teacher: float) -> list[str]:
    """The size band of a finished trial (one of :data:`SIZES`), by its recorded parameter
    count against the teacher's; none when it has no count."""
    count = (rec.get("values") or {}).get("num_parameters")
    if count is None:
        return []
    share = float(count) / teacher
    return [f"size {label}" for label, lo, hi in SIZES if lo < share <= hi]


def _needs(params: Mapping[str, Any]) -> list[str]:
    """The groups of the hypervolume table a trial belongs to."""
    out = []
    if int(params["n_layers"]) <= 3:
        out.append("1-3 layers")
    if int(params["n_heads"]) >= 7:
        out.append(">= 7 heads")
    return out + [g for g in groups(params) if g.startswith("lr ")]


NEEDS = ("1-3 layers", ">= 7 heads", *(f"lr {label}" for label, _, _ in RATES))


def hypervolume_needs(run: Sequence[Mapping[str, Any]], reference: Mapping[str, float],
                      budget: int = BUDGET) -> tuple[float, dict[str, float]]:
    """(hypervolume of the run's first ``budget`` finished trials, group -> the share of it
    lost without the group's trials). A run of no hypervolume loses nothing."""
    recs = list(run[:budget])
    # the fields run_hypervolume reads from a comparison row
    rows = [{"status": r["status"],
             "exact": (r.get("values") or {}).get("exact"),
             "num_parameters": (r.get("values") or {}).get("num_parameters")} for r in recs]
    total = run_hypervolume(rows, reference)
    member = [_needs(r["params"]) for r in recs]  # once per trial, not once per group
    lost = {}
    for g in NEEDS:
        kept = [row for row, m in zip(rows, member, strict=True) if g not in m]
        lost[g] = (total - run_hypervolume(kept, reference)) / total if total > 0 else 0.0
    return total, lost


def tally(runs: Sequence[Sequence[Mapping[str, Any]]], threshold: float,
          budget: int = BUDGET, teacher: float | None = None) -> Tally:
    """Above/tried counts per group over the post-initial trials of ``runs``; with the
    teacher's parameter count, per size band too."""
    out: Tally = {}
    for rs in runs:
        for rec in rs[:budget]:
            if rec["source"] != "model":
                continue
            up = is_above(rec, threshold)
            size = size_group(rec, teacher) if teacher else []
            for g in [*groups(rec["params"]), *size, "all"]:
                cell = out.setdefault(g, [0, 0])
                cell[0] += up
                cell[1] += 1
    return out


Needs = dict[str, list[tuple[float, dict[str, float]]]]  # method -> per run


# the kinds of proposal a mobo journal marks in a trial's timings; any other is EHVI's own
MARKED_KINDS = ("explore", "extend")


def proposal_kinds(journal: Path) -> list[str]:
    """Per finished trial of a mobo journal, in the order of its per-run records
    (:func:`benchmarks.distill_compare.mobo_records`): the kind of proposal it was, the
    first of :data:`MARKED_KINDS` its timings carry, else ``"EHVI"`` (the initial design's
    trials carry none either)."""
    return [next((k for k in MARKED_KINDS if k in t.timings), "EHVI")
            for t in Study.read(journal).trials if t.status in ("completed", "failed")]


def only(run: Sequence[Mapping[str, Any]], keep: Sequence[bool]) -> list[dict[str, Any]]:
    """``run`` with the post-initial trials not in ``keep`` relabelled so that
    :func:`tally` skips them (the others, and the trial numbering, unchanged)."""
    return [dict(r, source="skipped") if r["source"] == "model" and not k else dict(r)
            for r, k in zip(run, keep, strict=True)]


def folder_tallies(folder: Path, seeds: Sequence[int] = DEFAULT_SEEDS,
                   budget: int = BUDGET) -> tuple[float, dict[str, tuple[Tally, int]], Needs]:
    """(threshold, method -> (tally, runs counted), method -> per run
    :func:`hypervolume_needs`) for one comparison folder.

    Raises:
        FileNotFoundError: ``folder`` holds no comparison (no reference.json).
    """
    reference = read_reference(folder)
    threshold = reference["exact"]
    teacher = float(reference["num_parameters"])
    by_method: dict[str, list[list[dict[str, Any]]]] = {}
    for m, s in _run_files(folder):  # in the comparison's method order
        if s in seeds:
            by_method.setdefault(m, []).append(records(folder, m, s))
    tallies = {m: (tally(rs, threshold, budget, teacher), len(rs))
               for m, rs in by_method.items()}
    mobo_seeds = [s for m, s in _run_files(folder) if m == "mobo" and s in seeds]
    kinds = [proposal_kinds(run_path(folder, "mobo", s)) for s in mobo_seeds]
    present = [k for k in MARKED_KINDS if any(k in ks for ks in kinds)]
    if present:
        runs = by_method["mobo"]
        split = {f"mobo ({k})": [only(r, [x == k for x in ks])
                                 for r, ks in zip(runs, kinds, strict=True)]
                 for k in ("EHVI", *present)}
        tallies = {k: v for m, v in tallies.items() for k, v in (
            [(m, v)] + ([(n, (tally(rs, threshold, budget, teacher), len(rs)))
                         for n, rs in split.items()] if m == "mobo" else []))}
    return threshold, tallies, {m: [hypervolume_needs(r, reference, budget) for r in rs]
                                for m, rs in by_method.items()}


def _cell(t: Tally, group: str) -> str:
    above, tried = t.get(group, (0, 0))
    return f"{above}/{tried}" if tried else "-"


def _share(t: Tally) -> str:
    above, tried = t.get("all", (0, 0))
    return f"{above / tried:.0%}" if tried else "-"


def folder_section(folder: Path, threshold: float,
                   tallies: Mapping[str, tuple[Tally, int]], needs: Needs) -> list[str]:
    """The five tables of one folder, as markdown lines."""
    head = ["method", "runs", "post-initial above / tried", "share"]
    depth = ["| " + " | ".join(head + [f"{d} layer{'s' if d > 1 else ''}" for d in DEPTHS])
             + " |",
             "|---|---:|---:|---:|" + "---:|" * len(DEPTHS)]
    width = ["| " + " | ".join(["method", "init=pretrained"]
                               + [f"teacher init, {w[0]} heads" for w in WIDTHS]) + " |",
             "|---|---:|" + "---:|" * len(WIDTHS)]
    rates = ["| " + " | ".join(["method"] + [f"lr {r[0]}" for r in RATES]) + " |",
             "|---|" + "---:|" * len(RATES)]
    sizes = ["| " + " | ".join(["method"] + [f"size {s[0]} of the teacher" for s in SIZES])
             + " |", "|---|" + "---:|" * len(SIZES)]
    hv = ["| " + " | ".join(["method", "runs", "median HV"] + [f"without {g}" for g in NEEDS])
          + " |", "|---|---:|---:|" + "---:|" * len(NEEDS)]
    for m, per_run in needs.items():
        totals = [t for t, _ in per_run]
        hv.append(f"| {m} | {len(per_run)} | {float(np.median(totals)):.3f} | " + " | ".join(
            f"{float(np.median([lost[g] for _, lost in per_run])):.0%}" for g in NEEDS) + " |")
    for m, (t, n) in tallies.items():
        rates.append(f"| {m} | " + " | ".join(_cell(t, f"lr {r[0]}") for r in RATES) + " |")
        sizes.append(f"| {m} | " + " | ".join(_cell(t, f"size {s[0]}") for s in SIZES) + " |")
        depth.append(f"| {m} | {n} | {_cell(t, 'all')} | {_share(t)} | "
                     + " | ".join(_cell(t, f"L{d}") for d in DEPTHS) + " |")
        width.append(f"| {m} | {_cell(t, 'pretrained')} | "
                     + " | ".join(_cell(t, f"heads {w[0]}") for w in WIDTHS) + " |")
    return [f"## `{relative(folder / (NAME + '.csv'))}`", "",
            f"Threshold: exact > {threshold:.2f} (the folder's fixed reference).", "",
            "By depth:", "", *depth, "", "By width and initialisation:", "", *width, "",
            "By learning rate:", "", *rates, "",
            "By size (parameter count as a share of the teacher's, the comparison's size "
            "bands):", "", *sizes, "",
            "Share of the hypervolume lost without a group's trials (median over runs):", "",
            *hv, ""]


def report(folders: Sequence[Path], seeds: Sequence[int] = DEFAULT_SEEDS,
           budget: int = BUDGET) -> str:
    """The whole markdown report over ``folders``."""
    lines = [
        "# Where the proposals go on the distillation task",
        "",
        "Generated by `python -m benchmarks.distill_where` from the per-run files of each "
        "comparison folder below (`benchmarks/distill_where.py` says what is counted). "
        f"Seeds {', '.join(map(str, seeds))}; each run's first {budget} finished trials, "
        "of which the post-initial ones (the method's own proposals) are counted, failed "
        "ones included. Cells: trials that beat the no-answer threshold / trials tried.",
        "",
    ]
    for folder in folders:
        threshold, tallies, needs = folder_tallies(folder, seeds, budget)
        lines += folder_section(folder, threshold, tallies, needs)
    return "\n".join(lines).rstrip("\n") + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.distill_where",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--folders", nargs="+", type=Path, default=list(DEFAULT_FOLDERS),
                   help="comparison folders (--out-dir of benchmarks.distill_compare; "
                        "default: results/, results/distill_compare_gpu/, "
                        "results/distill_compare_onemachine/, "
                        "results/distill_compare_onemachine_explore/, "
                        "results/distill_compare_onemachine_explore_first/, "
                        "results/distill_compare_epyc/, "
                        "results/distill_compare_epyc_explore070/ and "
                        "results/distill_compare_onemachine_explore070/)")
    p.add_argument("--seeds", nargs="+", type=int, default=list(DEFAULT_SEEDS),
                   help="method seeds counted (default: the held-out ones, "
                        f"{' '.join(map(str, DEFAULT_SEEDS))}; 0 1 2 for a development "
                        "folder)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="the markdown report (default results/distill_where.md)")
    args = p.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
        p.error("--seeds: distinct seeds >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.out.parent.is_dir():
        print(f"error: --out: {args.out.parent} is not a folder", file=sys.stderr)
        return 2
    try:  # the whole report is built before anything is written
        text = report([f.resolve() for f in args.folders], args.seeds)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
