"""The peer comparison's report: held-out and development seeds side by side.

``python -m benchmarks.compare_report`` writes ``results/compare.md`` from two result files
of :mod:`benchmarks.compare` (same columns, one row per problem, method, seed and
checkpoint):

- ``results/compare_heldout.csv``: the held-out seeds (:data:`HELDOUT_SEEDS`), rerun with
  mobo's defaults fixed (:data:`HELDOUT_COMMAND`, one method after another);
- ``results/compare.csv``: the development seeds (the command's default seeds), on which
  mobo's defaults were chosen.

For every problem and method the report gives the median [25th, 75th percentile] log10
hypervolume gap after the budget, the number of seeds, and the one-sided Mann-Whitney p of
mobo's gaps being lower than the method's, for each seed set; then the targets' verdicts
(mobo against each peer) per seed set, the verdicts that differ between the two, which
the same verdicts after the earlier checkpoints (25 and 50 evaluations: the count met and
the misses), which held-out cells are missing or have fewer seeds than planned, and the
wall time per run. A verdict needs both cells: where either is empty it is "not judged".

The held-out file is appended to run by run while its command runs (days), so it is read
as git's index holds it (:func:`staged_text`: the version staged or committed), not as it
is on disk: the report generated now is what the committed files give, whatever the running
command has appended since. A file git does not track counts as not run yet; outside a git
checkout the file itself is read. ``--heldout PATH`` reads a file as it is on disk instead
(a preview of a run in progress). ``python -m benchmarks.compare`` rewrites this report when
it writes ``results/compare.csv``.

Usage (from the repository root of a checkout)::

    git add results/compare_heldout.csv  # the held-out rows the report is to include
    python -m benchmarks.compare_report
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.compare import (
    METHODS,
    RESULTS_DIR,
    checkpoints,
    mann_whitney_p,
    parse_args,
    parse_row,
    read_rows,
)
from benchmarks.provenance import git, relative

REPORT = RESULTS_DIR / "compare.md"
DEVELOPMENT = RESULTS_DIR / "compare.csv"
HELDOUT = RESULTS_DIR / "compare_heldout.csv"
HELDOUT_SEEDS: tuple[int, ...] = tuple(range(100, 110))
# a commit stamp as benchmarks.provenance writes it, or none (rows made before stamps)
_WHOLE_COMMIT = re.compile(r"([0-9a-f]{40}(\+dirty)?)?")
HELDOUT_COMMAND = (
    "python -m benchmarks.compare --methods METHOD --seeds "
    + " ".join(str(s) for s in HELDOUT_SEEDS)
    + " --workers 1 --threads 1 --out compare_heldout"
)
# mobo's target against this peer is "no worse than" (a tie counts as met); against every
# other peer it is "better than"
REFERENCE_PEER = "botorch"

Cell = tuple[str, str]  # (problem, method)


@dataclass(frozen=True)
class Plan:
    """What the full comparison runs: problems, methods, and the budget that is scored."""

    problems: tuple[str, ...]
    methods: tuple[str, ...]
    budget: int


@dataclass(frozen=True)
class SeedSet:
    """One seed set's gaps after the budget: ``gaps[(problem, method)][seed]``."""

    name: str
    seeds: tuple[int, ...]
    source: str
    gaps: dict[Cell, dict[int, float]]
    ignored: int  # rows at the budget whose seed is not in ``seeds``

    def values(self, cell: Cell) -> list[float]:
        """The cell's gaps, in seed order ([] where the cell has no run)."""
        got = self.gaps.get(cell, {})
        return [got[s] for s in sorted(got)]


@dataclass(frozen=True)
class Verdict:
    """mobo against one peer on one problem and seed set."""

    problem: str
    peer: str
    outcome: str  # "met", "MISSED" or "not judged"
    mobo: float | None  # medians, None where the cell is empty
    theirs: float | None
    n_mobo: int
    n_peer: int
    p: float | None  # one-sided Mann-Whitney p of mobo's gaps being lower

    @property
    def judged(self) -> bool:
        return self.outcome != "not judged"


def default_plan() -> Plan:
    """The plan of ``python -m benchmarks.compare`` run with its defaults."""
    args = parse_args([])
    return Plan(tuple(args.problems), tuple(METHODS), int(args.budget))


def development_seeds() -> tuple[int, ...]:
    """The development seeds: ``python -m benchmarks.compare``'s default seeds."""
    return tuple(parse_args([]).seeds)


# ---------------------------------------------------------------------------- inputs
def staged_text(path: Path) -> str | None:
    """``path``'s content as git's index holds it (what the next commit records), None where
    git does not track the file; outside a git work tree the file itself (None if absent)."""
    path = path.resolve()
    top = git("rev-parse", "--show-toplevel", root=path.parent) if path.parent.is_dir() else None
    if top is None:
        return path.read_text() if path.is_file() else None
    root = Path(top).resolve()
    rel = relative(path, root)
    if not git("ls-files", "--", rel, root=root):
        return None
    shown = git("show", f":{rel}", root=root, strip=False)
    if shown is None:
        raise RuntimeError(f"git show :{rel} failed in {root}")
    return shown


def parse_text(text: str | None) -> list[dict[str, Any]]:
    """Rows of a results CSV's text (numbers parsed); a row cut short by a write in
    progress (a field missing) is left out; [] for None."""
    if text is None:
        return []
    rows = []
    for raw in csv.DictReader(io.StringIO(text, newline="")):
        # every field but the commit (empty in rows made before it was recorded) is
        # non-empty, and a commit is whole: a row cut short fails one or the other
        if (None not in raw and all(raw.get(k) not in (None, "") for k in raw if k != "commit")
                and _WHOLE_COMMIT.fullmatch(raw.get("commit") or "")):
            rows.append(parse_row(raw))
    return rows


def seed_set(name: str, seeds: Sequence[int], source: str, rows: Sequence[Mapping[str, Any]],
             budget: int) -> SeedSet:
    """The gaps after ``budget`` evaluations of the rows whose seed is one of ``seeds``."""
    gaps: dict[Cell, dict[int, float]] = {}
    ignored = 0
    for r in rows:
        if r["n_evals"] != budget:
            continue
        if r["seed"] not in seeds:
            ignored += 1
            continue
        gaps.setdefault((r["problem"], r["method"]), {})[r["seed"]] = float(r["log10_gap"])
    return SeedSet(name, tuple(seeds), source, gaps, ignored)


def wall_times(rows: Sequence[Mapping[str, Any]], seeds: Sequence[int],
               budget: int) -> dict[Cell, list[float]]:
    """Seconds per run (``wall_s`` at the budget) per problem and method, ``seeds`` only."""
    out: dict[Cell, list[float]] = {}
    for r in rows:
        if r["n_evals"] == budget and r["seed"] in seeds:
            out.setdefault((r["problem"], r["method"]), []).append(float(r["wall_s"]))
    return out


# ---------------------------------------------------------------------------- statistics
def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, 25th, 75th percentile), numpy's linear percentiles."""
    q25, q50, q75 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(q50), float(q25), float(q75)


def one_sided_p(ours: Sequence[float], theirs: Sequence[float]) -> float | None:
    """One-sided Mann-Whitney p that mobo's gaps (``ours``) are lower than the peer's; None
    where either sample is empty."""
    if not ours or not theirs:
        return None
    return mann_whitney_p(ours, theirs, alternative="less")


def beats(mobo: float, theirs: float, peer: str) -> bool:
    """The target on two median gaps: mobo's no worse than the reference peer's, lower than
    any other peer's."""
    return mobo <= theirs if peer == REFERENCE_PEER else mobo < theirs


def verdict(seeds: SeedSet, problem: str, peer: str) -> Verdict:
    """mobo's target against ``peer`` on ``problem``: no worse than the reference peer's
    median gap, better than any other peer's; "not judged" where a cell is empty."""
    ours, theirs = seeds.values((problem, "mobo")), seeds.values((problem, peer))
    if not ours or not theirs:
        return Verdict(problem, peer, "not judged", _median(ours), _median(theirs),
                       len(ours), len(theirs), None)
    a, b = quartiles(ours)[0], quartiles(theirs)[0]
    met = beats(a, b, peer)
    return Verdict(problem, peer, "met" if met else "MISSED", a, b, len(ours), len(theirs),
                   one_sided_p(ours, theirs))


def verdicts(seeds: SeedSet, plan: Plan) -> list[Verdict]:
    """mobo against every other planned method on every planned problem."""
    return [verdict(seeds, prob, peer) for prob in plan.problems
            for peer in plan.methods if peer != "mobo"]


def differences(heldout: Sequence[Verdict], development: Sequence[Verdict]
                ) -> list[tuple[Verdict, Verdict]]:
    """(held-out, development) verdict pairs judged on both seed sets that differ."""
    return [(h, d) for h, d in zip(heldout, development, strict=True)
            if h.judged and d.judged and h.outcome != d.outcome]


def _median(values: Sequence[float]) -> float | None:
    return quartiles(values)[0] if values else None


@dataclass(frozen=True)
class Coverage:
    """How much of a seed set's planned cells have their seeds."""

    complete: list[Cell]
    partial: list[tuple[Cell, list[int]]]  # the cell and the seeds it has
    missing: list[Cell]

    @property
    def n_cells(self) -> int:
        return len(self.complete) + len(self.partial) + len(self.missing)


def coverage(seeds: SeedSet, plan: Plan) -> Coverage:
    """Each planned (problem, method) cell: complete, partial (fewer seeds) or missing."""
    complete, partial, missing = [], [], []
    for cell in ((p, m) for p in plan.problems for m in plan.methods):
        got = sorted(s for s in seeds.gaps.get(cell, {}) if s in seeds.seeds)
        if not got:
            missing.append(cell)
        elif len(got) < len(seeds.seeds):
            partial.append((cell, got))
        else:
            complete.append(cell)
    return Coverage(complete, partial, missing)


# ---------------------------------------------------------------------------- words
def span(seeds: Sequence[int]) -> str:
    """``0-9`` for a run of consecutive seeds, else the seeds separated by commas."""
    s = sorted(seeds)
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"{s[0]}-{s[-1]}"
    return ", ".join(str(x) for x in s)


def join(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def cell_text(values: Sequence[float]) -> str:
    """``median [25th, 75th]`` of a cell, or ``not run yet``."""
    if not values:
        return "not run yet"
    med, q25, q75 = quartiles(values)
    return f"{med:.3f} [{q25:.3f}, {q75:.3f}]"


def p_text(p: float | None) -> str:
    """A p-value to three decimals (``<0.001`` below), blank for None."""
    if p is None:
        return ""
    return "<0.001" if p < 0.0005 else f"{p:.3f}"


def p_phrase(p: float | None) -> str:
    """``p = 0.312`` or ``p < 0.001``."""
    text = p_text(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def verdict_text(v: Verdict, names: Mapping[str, str] | None = None) -> str:
    """One verdict in words: the outcome, both medians, seed counts and the p-value."""
    names = names or {}
    peer = names.get(v.peer, v.peer)
    if not v.judged:
        empty = [names.get(m, m) for m, n in (("mobo", v.n_mobo), (v.peer, v.n_peer)) if not n]
        return f"vs {peer}: not judged ({join(empty)} not run yet)"
    return (f"vs {peer}: {v.outcome} ({v.mobo:.3f} vs {v.theirs:.3f}; n {v.n_mobo} and "
            f"{v.n_peer}; {p_phrase(v.p)})")


def partial_groups(cov: Coverage) -> list[tuple[list[int], list[Cell]]]:
    """The partial cells grouped by the seeds they have, in the plan's order: (seeds,
    cells) per distinct set of seeds (a run made seed by seed leaves few such groups)."""
    groups: dict[tuple[int, ...], list[Cell]] = {}
    for cell, got in cov.partial:
        groups.setdefault(tuple(got), []).append(cell)
    return [(list(got), cells) for got, cells in groups.items()]


def by_problem(cells: Sequence[Cell], plan: Plan,
               names: Mapping[str, str] | None = None) -> dict[str, str]:
    """{problem: its methods among ``cells``, or "every method"} in the order of ``cells``, the
    methods named by ``names`` where given."""
    names = names or {}
    found: dict[str, list[str]] = {}
    for p, m in cells:
        found.setdefault(p, []).append(m)
    return {p: "every method" if set(ms) == set(plan.methods)
            else ", ".join(names.get(m, m) for m in ms) for p, ms in found.items()}


def cells_words(cells: Sequence[Cell], plan: Plan) -> str:
    """``every cell``, or ``zdt1: tpe; dtlz2: every method``."""
    if len(set(cells)) == len(plan.problems) * len(plan.methods):
        return "every cell"
    return "; ".join(f"{p}: {ms}" for p, ms in by_problem(cells, plan).items())


def coverage_lines(cov: Coverage, seeds: SeedSet, plan: Plan) -> list[str]:
    """Which cells are complete, partial and missing, plainly, one bullet each (one per
    set of seeds for the partial ones)."""
    n = len(seeds.seeds)
    lines = [f"- complete ({n} of {n} seeds): {len(cov.complete)} of {cov.n_cells} "
             "(problem, method) cells"]
    for got, cells in partial_groups(cov):
        lines.append(f"- partial, {len(got)} of {n} seeds ({span(got)}): {len(cells)} "
                     f"cell{'' if len(cells) == 1 else 's'}: {cells_words(cells, plan)}")
    if not cov.partial:
        lines.append("- partial: none")
    if cov.missing:
        lines.append(f"- missing (no seed yet): {len(cov.missing)} cells: "
                     + cells_words(cov.missing, plan))
    else:
        lines.append("- missing: none")
    if seeds.ignored:
        lines.append(f"- {seeds.ignored} rows of seeds outside {span(seeds.seeds)} in "
                     f"{seeds.source} are not counted")
    return lines


def coverage_summary(cov: Coverage, seeds: SeedSet) -> str:
    """One sentence: how many cells are complete, partial and missing."""
    if not cov.complete and not cov.partial:
        return (f"no {seeds.name} run is in {seeds.source} yet: all {cov.n_cells} "
                "(problem, method) cells are missing")
    return (f"{len(cov.complete)} of the {cov.n_cells} planned (problem, method) cells have "
            f"all {len(seeds.seeds)} {seeds.name} seeds, {len(cov.partial)} have fewer and "
            f"{len(cov.missing)} none yet")


# ---------------------------------------------------------------------------- the report
def _problem_table(prob: str, sets: Sequence[SeedSet], plan: Plan) -> list[str]:
    header = ["method"]
    for s in sets:
        header += [f"{s.name} {span(s.seeds)}: median [IQR]", "n", "p"]
    out = [f"### {prob}", "", "| " + " | ".join(header) + " |",
           "|---|" + "---|---:|---:|" * len(sets)]
    for m in plan.methods:
        cells = [m]
        for s in sets:
            vals = s.values((prob, m))
            p = None if m == "mobo" else one_sided_p(s.values((prob, "mobo")), vals)
            cells += [cell_text(vals), str(len(vals)), p_text(p)]
        out.append("| " + " | ".join(cells) + " |")
    return [*out, ""]


def _verdict_section(s: SeedSet, found: Sequence[Verdict], plan: Plan, title: str
                     ) -> list[str]:
    out = [f"## {title}", "",
           f"Targets: mobo's median gap no worse than {REFERENCE_PEER}'s and lower than every "
           "other peer's. Each verdict: mobo's median vs the peer's, the seeds of each, the "
           "one-sided p.", ""]
    for prob in plan.problems:
        if not s.values((prob, "mobo")):
            out.append(f"- {prob}: not judged (mobo not run yet)")
            continue
        parts = [verdict_text(v) for v in found if v.problem == prob]
        out.append(f"- {prob}: " + "; ".join(parts))
    met = sum(v.outcome == "met" for v in found)
    judged = sum(v.judged for v in found)
    if not judged:
        return [*out, "", f"No verdict is judged on {s.name} seeds yet.", ""]
    return [*out, "", f"Met: {met} of the {judged} verdicts judged on {s.name} seeds "
                      f"({len(found) - judged} not judged).", ""]


def _difference_section(pairs: Sequence[tuple[Verdict, Verdict]], n_both: int) -> list[str]:
    out = ["## Where held-out and development verdicts differ", ""]
    if not n_both:
        return [*out, "No verdict is judged on both seed sets yet.", ""]
    if not pairs:
        return [*out, f"None: the {n_both} verdicts judged on both seed sets agree.", ""]
    for h, d in pairs:
        out.append(f"- {h.problem} vs {h.peer}: {d.outcome} on development seeds "
                   f"({d.mobo:.3f} vs {d.theirs:.3f}, {p_phrase(d.p)}), {h.outcome} on "
                   f"held-out seeds ({h.mobo:.3f} vs {h.theirs:.3f}, {p_phrase(h.p)})")
    return [*out, "", f"{len(pairs)} of the {n_both} verdicts judged on both seed sets "
                      "differ.", ""]


def early_seed_sets(held_rows: Sequence[Mapping[str, Any]], dev_rows: Sequence[Mapping[str, Any]],
                    held: SeedSet, dev: SeedSet, plan: Plan
                    ) -> list[tuple[int, SeedSet, SeedSet]]:
    """(checkpoint, held-out, development) for each scored checkpoint before the budget
    (:func:`benchmarks.compare.checkpoints`): the gaps after that many evaluations."""
    return [(c, seed_set(held.name, held.seeds, held.source, held_rows, c),
             seed_set(dev.name, dev.seeds, dev.source, dev_rows, c))
            for c in checkpoints(plan.budget) if c != plan.budget]


def judged_and_missed(s: SeedSet, plan: Plan) -> tuple[list[Verdict], list[Verdict]]:
    """The judged verdicts of ``s`` and, among them, the missed ones."""
    judged = [v for v in verdicts(s, plan) if v.judged]
    return judged, [v for v in judged if v.outcome != "met"]


def _early_section(early: Sequence[tuple[int, SeedSet, SeedSet]], plan: Plan) -> list[str]:
    """The targets judged after each earlier checkpoint, per seed set: the count met and
    every miss."""
    if not early:
        return []
    counts = join([str(c) for c, _, _ in early])
    out = ["## Verdicts at the earlier checkpoints", "",
           f"The same targets judged after {counts} evaluations, each seed set on its own "
           "(the runs are the same; only the misses are listed).", ""]
    for c, *sets in early:
        out += [f"### After {c} evaluations", ""]
        for s in sets:
            judged, missed = judged_and_missed(s, plan)
            if not judged:
                out.append(f"- {s.name} seeds {span(s.seeds)}: no verdict judged yet")
                continue
            words = [f"{v.problem} {verdict_text(v)}" for v in missed]
            out.append(f"- {s.name} seeds {span(s.seeds)}: met {len(judged) - len(missed)} "
                       f"of the {len(judged)} judged"
                       + (f"; missed: {'; '.join(words)}" if words else ""))
        out.append("")
    return out


def _wall_table(times: Mapping[Cell, list[float]], plan: Plan) -> list[str]:
    out = ["| problem | " + " | ".join(plan.methods) + " |",
           "|---|" + "---:|" * len(plan.methods)]
    for prob in plan.problems:
        cells = [f"{np.median(times[(prob, m)]):.1f}" if times.get((prob, m)) else ""
                 for m in plan.methods]
        out.append(f"| {prob} | " + " | ".join(cells) + " |")
    runs = {m: [t for p in plan.problems for t in times.get((p, m), [])] for m in plan.methods}
    totals = [f"{sum(runs[m]) / 3600:.2f}" if runs[m] else "" for m in plan.methods]
    out.append("| all runs, hours | " + " | ".join(totals) + " |")
    return [*out, ""]


def report(heldout: SeedSet, development: SeedSet, plan: Plan,
           walls: Sequence[tuple[SeedSet, Mapping[Cell, list[float]]]] = (),
           early: Sequence[tuple[int, SeedSet, SeedSet]] = ()) -> str:
    """The markdown report: held-out seeds first, development seeds beside them; the
    verdicts after the ``early`` checkpoints (:func:`early_seed_sets`) after the budget's."""
    sets = (heldout, development)
    cov = coverage(heldout, plan)
    held_v, dev_v = verdicts(heldout, plan), verdicts(development, plan)
    pairs = differences(held_v, dev_v)
    n_both = sum(h.judged and d.judged for h, d in zip(held_v, dev_v, strict=True))
    out = [
        "# Quality against peers: held-out and development seeds",
        "",
        "Generated by `python -m benchmarks.compare_report` from "
        f"{heldout.source} (held-out seeds {span(heldout.seeds)}, rerun with mobo's defaults "
        f"fixed) and {development.source} (development seeds {span(development.seeds)}: "
        "mobo's defaults were chosen on them). Quality is the log10 hypervolume gap, "
        "log10(max HV - HV of the feasible points evaluated so far) on noise-free values, "
        f"after {plan.budget} evaluations; lower is better. Cells: median [25th, 75th "
        "percentile] over seeds; n: the number of seeds; p: the one-sided Mann-Whitney U "
        "test's p-value that mobo's gaps are lower than the method's (a small p: mobo's "
        "lead is beyond seed-to-seed noise).",
        "",
        f"Held-out coverage: {coverage_summary(cov, heldout)} (see Coverage below).",
        "",
        f"## After {plan.budget} evaluations: held-out seeds {span(heldout.seeds)}, "
        f"development seeds {span(development.seeds)} beside them",
        "",
    ]
    for prob in plan.problems:
        out += _problem_table(prob, sets, plan)
    out += _verdict_section(heldout, held_v, plan,
                            f"Verdicts on held-out seeds {span(heldout.seeds)}")
    out += _verdict_section(development, dev_v, plan,
                            f"Verdicts on development seeds {span(development.seeds)} "
                            "(mobo's defaults were chosen on them)")
    out += _difference_section(pairs, n_both)
    out += _early_section(early, plan)
    out += [f"## Coverage of the held-out run (seeds {span(heldout.seeds)})", "",
            f"Planned: {len(plan.problems)} problems x {len(plan.methods)} methods x "
            f"{len(heldout.seeds)} seeds, written by `{HELDOUT_COMMAND}`. A verdict with an "
            "empty cell is not judged; one with a partial cell rests on fewer seeds.", "",
            *coverage_lines(cov, heldout, plan), ""]
    dev_cov = coverage(development, plan)
    if dev_cov.partial or dev_cov.missing:
        out += [f"Development seeds: {coverage_summary(dev_cov, development)}.", ""]
    if development.ignored:
        out += [f"{development.ignored} rows of seeds outside {span(development.seeds)} in "
                f"{development.source} are not counted.", ""]
    for s, times in walls:
        out += [f"## Wall time per run, {s.name} seeds {span(s.seeds)}", ""]
        if not times:
            out += [f"No {s.name} run yet.", ""]
            continue
        out += [f"Median seconds of a {plan.budget}-evaluation run (`wall_s` at the "
                "budget: proposals and evaluations), and the sum over all runs in hours. "
                "Comparable only between runs made under the same load "
                "(benchmarks/README.md).", "", *_wall_table(times, plan)]
    return "\n".join(out).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------- loading
def _source(path: Path, how: str) -> str:
    try:
        name = path.resolve().relative_to(RESULTS_DIR.parent).as_posix()
    except ValueError:
        name = str(path)
    return f"`{name}`" + (f" {how}" if how else "")


def load(development: Path = DEVELOPMENT, heldout: Path | None = None,
         plan: Plan | None = None) -> tuple[SeedSet, SeedSet, list[dict], list[dict]]:
    """(held-out, development, held-out rows, development rows): the development file as it
    is on disk; the held-out file as git's index holds it, or ``heldout`` as it is on disk."""
    plan = plan or default_plan()
    dev_rows = read_rows(development)
    if heldout is None:
        held_rows = parse_text(staged_text(HELDOUT))
        held_source = _source(HELDOUT, "as staged in git")
    else:
        held_rows = parse_text(heldout.read_text()) if heldout.is_file() else []
        held_source = _source(heldout, "")
    held = seed_set("held-out", HELDOUT_SEEDS, held_source, held_rows, plan.budget)
    dev = seed_set("development", development_seeds(), _source(development, ""), dev_rows,
                   plan.budget)
    return held, dev, held_rows, dev_rows


def generate(development: Path = DEVELOPMENT, heldout: Path | None = None,
             plan: Plan | None = None) -> str:
    """The report's text from the two result files (see :func:`load`)."""
    plan = plan or default_plan()
    held, dev, held_rows, dev_rows = load(development, heldout, plan)
    walls = [(held, wall_times(held_rows, held.seeds, plan.budget)),
             (dev, wall_times(dev_rows, dev.seeds, plan.budget))]
    return report(held, dev, plan, walls, early_seed_sets(held_rows, dev_rows, held, dev, plan))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.compare_report",
        description="Write results/compare.md: the peer comparison on held-out and "
        "development seeds side by side.")
    ap.add_argument("--development", type=Path, default=DEVELOPMENT, metavar="CSV",
                    help="development seeds' CSV (default results/compare.csv)")
    ap.add_argument("--heldout", type=Path, default=None, metavar="CSV",
                    help="held-out seeds' CSV, read as it is on disk (default: "
                    "results/compare_heldout.csv as git's index holds it)")
    ap.add_argument("--out", type=Path, default=REPORT, metavar="MD",
                    help="the report to write (default results/compare.md)")
    args = ap.parse_args(argv)
    if not args.development.is_file():
        ap.error(f"--development: {args.development} is not a file")
    args.out.write_text(generate(args.development, args.heldout))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
