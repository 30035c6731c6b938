"""The paper's held-out comparison on the distillation task (section 4.7), as far as it has run.

``results/distill_compare.csv`` holds every trial of ``python -m benchmarks.distill_compare``
on the held-out seeds (10, 11, 12: no setting was chosen on them): mobo, Optuna TPE, Optuna's
GP sampler, BoTorch qLogNEHVI and Sobol, 100 trials a run. Its runs take hours each on a
CPU and are made in pieces, so the file is read as git's index holds it
(:func:`benchmarks.compare_report.staged_text`), like the other results that are appended to
while the paper is made, and the section states which runs are complete.

A partial comparison is still a fair one when it is paired: on one seed every method starts
from the same initial design (that seed's Sobol points, evaluated once and shared; in a
folder run with ``--no-eval-cache``, such as the GPU one, the same points evaluated by each
run), so the methods are compared seed by seed, each peer beside mobo over the first
trials of both, as many as both runs have reached on that seed. The verdicts on the
targets (medians over the three seeds after 100 trials) are the folder's report's own
(``distill_compare.md``, provisional while runs are partial): :func:`target_verdicts`
takes its lines, for the abstract and the list of missed targets. :func:`bandcheck_words`
says what ``results/distill_bandcheck.json`` (:mod:`benchmarks.distill_bandcheck`) found of
the band bests trained again under other training seeds.
Scores use the fixed reference of :mod:`benchmarks.distill_compare` (the always-no-answer
exact match and the teacher's parameter count, ``results/distill_compare/reference.json``)
and its functions, so the numbers are the report's.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from benchmarks.compare_report import join, staged_text
from benchmarks.distill_compare import (
    DEFAULT_SEEDS,
    METHODS,
    NAME,
    SIZE_BANDS,
    above_share,
    best_within,
    markdown_report,
    parse_row,
    read_reference,
    run_hypervolume,
)

BUDGET = 100


def staged_rows(results: Path) -> list[dict[str, Any]]:
    """The comparison's trials as git's index holds ``distill_compare.csv`` (parsed rows);
    [] where it is not tracked yet."""
    text = staged_text(results / f"{NAME}.csv")
    if text is None:
        return []
    return [parse_row(raw) for raw in csv.DictReader(io.StringIO(text, newline=""))]


def by_seed(rows: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, list[Mapping[str, Any]]]]:
    """seed -> method -> rows in trial order (methods in the comparison's order)."""
    out: dict[int, dict[str, list[Mapping[str, Any]]]] = {}
    for r in sorted(rows, key=lambda r: (r["seed"], r["trial"])):
        out.setdefault(r["seed"], {}).setdefault(r["method"], []).append(r)
    order = {m: i for i, m in enumerate(METHODS)}
    return {s: dict(sorted(ms.items(), key=lambda kv: order.get(kv[0], len(order))))
            for s, ms in sorted(out.items())}


def scores(rows: Sequence[Mapping[str, Any]], ref: Mapping[str, float]) -> dict[str, float]:
    """A run's hypervolume, share of post-initial trials above the threshold and best exact
    in each size band (``best0.6`` ...), as :mod:`benchmarks.distill_compare` scores them."""
    return {"hv": run_hypervolume(rows, ref), "share": above_share(rows, ref),
            **{f"best{b}": best_within(rows, ref, b) for b in SIZE_BANDS}}


def paired(runs: Mapping[str, Sequence[Mapping[str, Any]]], ref: Mapping[str, float]
           ) -> list[tuple[str, int, dict[str, float], dict[str, float]]]:
    """Per peer on one seed: (peer, c, its scores, mobo's scores), both over their first c
    trials, c the count both have reached (at most the budget); [] without a mobo run."""
    ours = runs.get("mobo")
    if not ours:
        return []
    out = []
    for m, rs in runs.items():
        if m == "mobo":
            continue
        c = min(len(rs), len(ours), BUDGET)
        out.append((m, c, scores(rs[:c], ref), scores(ours[:c], ref)))
    return out


def _cell(v: float, spec: str) -> str:
    return "-" if math.isnan(v) else format(v, spec)


def _pair(theirs: float, ours: float, spec: str) -> str:
    """``peer / mobo``, mobo's value in bold where it is strictly the better (larger)."""
    mine = _cell(ours, spec)
    better = not math.isnan(ours) and (math.isnan(theirs) or ours > theirs)
    return f"{_cell(theirs, spec)} / " + (f"**{mine}**" if better else mine)


def table(seeds: Mapping[int, Mapping[str, Sequence[Mapping[str, Any]]]],
          ref: Mapping[str, float]) -> str:
    """One row per seed and peer: the peer's and mobo's scores over the trials both have
    reached on that seed; mobo's in bold where it is strictly better."""
    bands = " | ".join(f"best EM <= {b:.0%}" for b in SIZE_BANDS)
    lines = [f"| seed | peer | trials (peer, mobo) | compared at | hypervolume | share above "
             f"| {bands} |", "|---|---|---|---:|---|---|" + "---|" * len(SIZE_BANDS)]
    for seed, runs in seeds.items():
        for m, c, theirs, ours in paired(runs, ref):
            lines.append(
                f"| {seed} | {m} | {len(runs[m])}, {len(runs['mobo'])} | {c} | "
                f"{_pair(theirs['hv'], ours['hv'], '.3f')} | "
                f"{_pair(theirs['share'], ours['share'], '.0%')} | "
                + " | ".join(_pair(theirs[f"best{b}"], ours[f"best{b}"], ".2f")
                             for b in SIZE_BANDS) + " |")
    return "\n".join(lines)


def coverage(seeds: Mapping[int, Mapping[str, Sequence[Mapping[str, Any]]]]) -> tuple[int, str]:
    """(complete runs, a sentence on what is missing) over the held-out seeds and methods."""
    planned = [(m, s) for s in DEFAULT_SEEDS for m in METHODS]
    n = {(m, s): len(seeds.get(s, {}).get(m, ())) for m, s in planned}
    complete = sum(1 for k in planned if n[k] >= BUDGET)
    missing = [f"{m} {s} ({n[m, s]} trials)" if n[m, s] else f"{m} {s}"
               for m, s in planned if n[m, s] < BUDGET]
    if not missing:
        return complete, "every run is complete"
    return complete, "missing or partial: " + ", ".join(missing)


def figure(seeds: Mapping[int, Mapping[str, Sequence[Mapping[str, Any]]]],
           ref: Mapping[str, float]) -> Figure:
    """One panel per held-out seed: each method's hypervolume after each finished trial."""
    shown = seeds or {DEFAULT_SEEDS[0]: {}}
    fig = Figure(figsize=(4.2 * len(shown), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(shown), sharey=True))
    for ax, (seed, runs) in zip(axes, shown.items(), strict=True):
        for m, rs in runs.items():
            n = np.arange(1, len(rs) + 1)
            # mobo drawn on top and wider: every run shares the seed's initial design, so
            # the curves coincide over it
            ax.step(n, [run_hypervolume(rs[:k], ref) for k in n], where="post",
                    label=f"{m} ({len(rs)})", lw=2.2 if m == "mobo" else 1.2,
                    zorder=3 if m == "mobo" else 2)
        ax.set_title(f"seed {seed}")
        ax.set_xlabel("trials")
        ax.set_xlim(0, BUDGET)
        if runs:
            ax.legend(loc="lower right", fontsize=7)
    axes[0].set_ylabel("hypervolume (EM points x teacher size)")
    fig.tight_layout()
    return fig


def heldout_distill_section(results: Path, key: str = "heldout_distill"
                            ) -> tuple[dict[str, str], dict[str, str], Figure]:
    """(values, tables, figure) for the template: coverage in words, the paired table
    ``table_<key>`` and the hypervolume figure, from the comparison folder ``results``
    (``results/`` itself, or another ``--out-dir`` such as ``results/distill_compare_gpu``);
    the template's values are named ``<key>_seeds``, ``<key>_coverage``, ``<key>_table``."""
    seeds = by_seed([r for r in staged_rows(results) if r["seed"] in DEFAULT_SEEDS])
    # the reference is written when the comparison first runs; no run, nothing to score
    ref = read_reference(results) if seeds else {}
    complete, missing = coverage(seeds)
    planned = len(DEFAULT_SEEDS) * len(METHODS)
    values = {
        f"{key}_seeds": ", ".join(map(str, DEFAULT_SEEDS)),
        f"{key}_coverage": f"{complete} of {planned} runs complete ({missing})",
    }
    if seeds:
        text = ("Each cell is peer / mobo on one seed, both over their first c trials, c the "
                "count both runs have reached; mobo in bold where it is strictly better. "
                "Shares are of the post-initial trials among them, failed ones included; "
                "best EM within a share of the teacher's size (- where none that small "
                "completed).\n\n" + table(seeds, ref))
    else:
        text = "No held-out run is committed yet."
    values[f"{key}_table"] = text
    return values, {f"table_{key}": text}, figure(seeds, ref)


def one_environment_words(results: Path, folder: Path) -> str:
    """Section 4.7's paragraph on the runs of ``folder`` (a comparison folder made start to
    finish in one environment, ``results/distill_compare_onemachine``): which runs it holds
    and the paired table of :func:`table` for them; a sentence saying none exist yet."""
    seeds = by_seed(staged_rows(folder))
    name = folder.relative_to(results.parent).as_posix()
    if not seeds:
        return f"No run has been made in one environment yet (`{name}/`)."
    runs = "; ".join(f"seed {s}: " + ", ".join(f"{m} ({len(rs)} trials)" for m, rs in ms.items())
                     for s, ms in seeds.items())
    return (f"The runs in `{name}/` were made start to finish on one machine, one torch "
            f"thread each, sharing one evaluation cache (`{name}/README.md` says where): "
            f"{runs}. Paired as in the table above:\n\n" + table(seeds, read_reference(folder)))


def rerun_words(results: Path, folder: Path, original: Path, *, code: str,
                shared_cache: bool = False) -> str:
    """Section 4.7's paragraph on mobo's runs of ``folder`` made again, with ``code`` (the
    words for what they were made with), in the environment of some of ``original``'s runs
    (a comparison folder), beside the peers' runs of the same seeds copied from it: first
    whether the environment is the same, read off the initial designs (a seed's first
    trials are the same configurations for every method, so mobo's, trained again, should
    score exactly what ``original``'s runs recorded), then the paired table of
    :func:`table`. With ``shared_cache`` mobo's runs took their initial designs from the
    evaluation cache ``original``'s runs filled, so they cannot differ from what was
    recorded there and no such check is claimed (the folder's README says why the machine
    is the same). A sentence saying none exists where ``folder`` holds no mobo run."""
    name = folder.relative_to(results.parent).as_posix()
    then = original.relative_to(results.parent).as_posix()
    seeds = {s: ms for s, ms in by_seed(staged_rows(folder)).items() if "mobo" in ms}
    if not seeds:
        return f"No run of mobo has been made again in `{name}/` yet."
    runs = "; ".join(f"seed {s}: " + ", ".join(f"{m} ({len(rs)} trials)" for m, rs in ms.items())
                     for s, ms in seeds.items())
    # a peer's run is a copy where its file is byte for byte the original folder's
    copied, made = [], []
    for seed, ms in seeds.items():
        for m in ms:
            if m == "mobo":
                continue
            mine, theirs = (f / NAME / f"{m}-{seed}.jsonl" for f in (folder, original))
            is_copy = (theirs.is_file() and mine.is_file()
                       and mine.read_bytes() == theirs.read_bytes())
            (copied if is_copy else made).append(f"{m} {seed}")
    peers = (f"the peers' runs copied from `{then}/{NAME}/` ({', '.join(copied)})"
             if copied else "no peer's run copied")
    if made:
        peers += f", and made there too ({', '.join(made)})"
    if shared_cache:
        check = ("mobo's initial designs were served from the evaluation cache those runs "
                 "filled, so they are the values recorded there, not a check of the machine "
                 f"(`{name}/README.md` says why it is the same). ")
    else:
        same, checked = _initial_designs_agreeing(seeds, by_seed(staged_rows(original)))
        check = (f"Of the {checked} initial-design trials recorded there (every run's, mobo's "
                 "former run's among them) that were trained again here for mobo's runs (by "
                 "whichever run of the seed here reached them first; the folder's evaluation "
                 f"cache serves the others), {same} scored exactly what was recorded. ")
    return (f"The runs in `{name}/` ({runs}; `{name}/README.md` says how they ran): mobo's "
            f"made again there with {code}, {peers}. " + check
            + "Paired as in the table above:\n\n" + table(seeds, read_reference(folder)))


def more_seeds_words(results: Path, folder: Path, judged: Path) -> str:
    """Section 4.7's paragraph on ``folder``, a comparison folder holding mobo's and a peer's
    runs on more held-out seeds than the comparison's three (some copied from another
    folder, its ``README.md`` says which): which runs it holds and the verdicts its report
    gives over all of them (:func:`target_verdicts`, medians over every seed a method has),
    read as a second look at the size of the gaps; the targets stay judged on ``judged``.
    A sentence saying none exists where ``folder`` holds no run of mobo."""
    name = folder.relative_to(results.parent).as_posix()
    there = judged.relative_to(results.parent).as_posix()
    rows = staged_rows(folder)
    seeds = by_seed(rows)
    if not any("mobo" in ms for ms in seeds.values()):
        return f"No run of mobo on further held-out seeds has been made yet (`{name}/`)."
    per_method: dict[str, list[str]] = {}
    for s, ms in seeds.items():
        for m, rs in ms.items():
            per_method.setdefault(m, []).append(f"{s}" + ("" if len(rs) >= BUDGET
                                                          else f" ({len(rs)} trials)"))
    runs = "; ".join(f"{m}: seeds {', '.join(v)}" for m, v in per_method.items())
    verdicts = target_verdicts(rows, read_reference(folder))
    lines = "\n".join(f"- {v}" for v, _ in verdicts)
    met = sum(ok for _, ok in verdicts)
    return (f"More held-out seeds in the one-machine environment (`{name}/`, its `README.md` "
            f"says which runs were copied and which made there; {runs}): over every seed a "
            f"method has there, the folder's report (`{name}/distill_compare.md`) gives "
            f"{met} of the {len(verdicts)} targets as met against the peers it holds. "
            f"A second look at the size of the gaps only; the targets stay judged on "
            f"`{there}/`:\n\n{lines}")


def _initial_designs_agreeing(seeds: Mapping[int, Mapping[str, list[dict[str, Any]]]],
                              before: Mapping[int, Mapping[str, list[dict[str, Any]]]]
                              ) -> tuple[int, int]:
    """(same, checked): of the initial-design trials recorded in ``before`` (seed ->
    method -> rows, every run's) at the trial numbers of mobo's initial designs in
    ``seeds``, how many there are and how many score (exact, f1) what mobo's recorded."""
    same = checked = 0
    for s, ms in seeds.items():
        # trial -> (exact, f1) of every run there that recorded it in its initial design
        recorded: dict[int, list[tuple[Any, Any]]] = {}
        for rs in before.get(s, {}).values():
            for r in rs:
                if r["source"] == "initial":
                    recorded.setdefault(r["trial"], []).append((r["exact"], r["f1"]))
        for r in ms["mobo"]:
            if r["source"] == "initial":
                olds = recorded.get(r["trial"], [])
                checked += len(olds)
                same += olds.count((r["exact"], r["f1"]))
    return same, checked


# a peer's hypervolume, as the sentence names it
PEER_WORDS = {"tpe": "TPE's", "gp": "the GP sampler's", "botorch": "BoTorch's",
              "sobol": "Sobol's"}


def lead_words(results: Path, folders: Sequence[Path], *, code: str) -> str:
    """Seed by seed, how often mobo's hypervolume after the budget is above each peer's
    over the complete runs of ``folders`` (comparison folders, each one environment, mobo's
    runs made with what ``code`` names), in total and folder by folder: a seed counts for a
    peer where both have finished the budget there. "" where no such pair exists."""
    # peer -> folder -> [seeds where mobo is ahead, seeds compared]
    counts: dict[str, dict[str, list[int]]] = {}
    for folder in folders:
        seeds = by_seed(staged_rows(folder))
        if not seeds:  # no run there yet
            continue
        name = folder.relative_to(results.parent).as_posix()
        ref = read_reference(folder)
        for runs in seeds.values():
            for m, c, theirs, ours in paired(runs, ref):
                if c >= BUDGET:
                    tally = counts.setdefault(m, {}).setdefault(name, [0, 0])
                    tally[0] += ours["hv"] > theirs["hv"]
                    tally[1] += 1
    if not counts:
        return ""
    parts = []
    for m, per in counts.items():
        ahead, n = (sum(t[i] for t in per.values()) for i in (0, 1))
        where = "; ".join(f"{a} of {k} in `{name}/`" for name, (a, k) in per.items())
        peer = PEER_WORDS.get(m, f"{m}'s")
        parts.append(f"{peer} on {ahead} of {n} ({where})")
    return (f"Over the held-out seeds on which {code} and a peer have both "
            f"finished {BUDGET} trials in one environment, mobo's hypervolume after {BUDGET} "
            "trials is above " + ", ".join(parts) + ".")


def target_verdicts(rows: Sequence[Mapping[str, Any]], ref: Mapping[str, float]
                    ) -> list[tuple[str, bool]]:
    """The targets as a comparison's report judges them on ``rows``: (the report's
    verdict line without its leading "- ", met), one per target.

    The lines are :func:`benchmarks.distill_compare.markdown_report`'s own, so the paper
    and the folder's ``distill_compare.md`` cannot disagree. [] for no rows.
    """
    if not rows:
        return []
    text = markdown_report(rows, ref, BUDGET)
    lines = text.split("\n## Targets\n", 1)[1].strip().splitlines()
    return [(line.removeprefix("- "), ": met (" in line) for line in lines
            if ": met (" in line or ": MISSED (" in line]


def verdict_words(name: str, verdicts: Sequence[tuple[str, bool]], seeds: Sequence[int], *,
                  code: str) -> str:
    """One sentence for the abstract: how many of ``verdicts`` (:func:`target_verdicts`)
    the runs of the comparison folder ``name`` meet on held-out ``seeds`` and which miss,
    with what ``code`` names as mobo's code. "" without verdicts."""
    if not verdicts:
        return ""
    missed = [v.split(": MISSED (")[0] for v, ok in verdicts if not ok]
    return (f"On the distillation task itself, {code} meets {len(verdicts) - len(missed)} of "
            f"the {len(verdicts)} targets against the peers on held-out "
            f"seed{'s' * (len(seeds) > 1)} {join([str(s) for s in seeds])} in one "
            f"environment (`{name}/distill_compare.md`)"
            + (f"; missed: {'; '.join(missed)}." if missed else "."))


def recheck_by_seed(path: Path, no_answer: float) -> str:
    """How many of a recheck file's trials scored what was recorded, seed by seed, and how
    many of those scored ``no_answer`` (the no-answer exact match: a student collapsed to
    it scores it in every environment, so it says nothing of the environment); "" when the
    file is absent or checked nothing."""
    if not path.is_file():
        return ""
    data = json.loads(path.read_text())
    counts: dict[str, list[int]] = {}
    collapsed = 0
    for t in data["trials"]:
        seed = t["run"].rsplit("-", 1)[1]
        c = counts.setdefault(seed, [0, 0])
        c[1] += 1
        if t["recorded"]["exact"] == t["new"]["exact"]:
            c[0] += 1
            collapsed += abs(t["new"]["exact"] - no_answer) < 1e-9
    if not counts:
        return ""
    parts = ", ".join(f"seed {s}: {a} of {n}" for s, (a, n) in sorted(counts.items()))
    return (f"By seed, the exactly reproduced: {parts}; {collapsed} of them students that "
            "collapsed to the no-answer exact match, which any environment reproduces.")


def former_code_words(results: Path, former: Path, folder: Path) -> str:
    """Section 4.7's paragraph setting mobo's runs of ``former`` (a folder of mobo's runs
    made with earlier code and kept as its record, such as
    ``results/distill_compare_onemachine_explore_first``) beside mobo's runs of ``folder``
    (the same seeds made again with the current code), seed by seed as :func:`table` pairs
    a peer with mobo: the former run takes the peer's place, and each pair is scored over
    the trials both have reached. A sentence saying so where either has no run."""
    name = former.relative_to(results.parent).as_posix()
    old = {s: ms["mobo"] for s, ms in by_seed(staged_rows(former)).items() if "mobo" in ms}
    new = {s: ms["mobo"] for s, ms in by_seed(staged_rows(folder)).items() if "mobo" in ms}
    both = sorted(set(old) & set(new))
    if not both:
        return (f"mobo's runs with the former code (`{name}/`) have no run of the current "
                "code on the same seed to be set beside yet.")
    label = "mobo, former code"
    seeds = {s: {label: old[s], "mobo": new[s]} for s in both}
    runs = "; ".join(f"seed {s}: {len(old[s])} and {len(new[s])} trials" for s in both)
    return (f"Seed by seed, mobo's former runs (`{name}/`, in the peer's place) and its "
            f"runs with the current code ({runs}), each pair over the trials both have "
            "reached; the current code in bold where it is strictly better:\n\n"
            + table(seeds, read_reference(folder)))


def recheck_words(path: Path, opening: bool = True) -> str:
    """What a recheck file (``results/distill_recheck.json`` or ``_gpu.json``, written by
    ``python -m benchmarks.distill_recheck``) says of a comparison's evaluations on the
    machine that re-evaluated a sample of them; a sentence saying none was made when the
    file is absent. Without ``opening`` the words start at the count (for a further
    sample right after another file's words)."""
    report = f"`results/{path.stem}.md`"
    if not path.is_file():
        return ("No sample of its trials has been re-evaluated on another machine yet "
                "(`python -m benchmarks.distill_recheck`).")
    data = json.loads(path.read_text())
    s = data["summary"]
    if not s["trials"]:
        return f"The re-evaluation of its trials checked none ({report})."
    first = min((t["segment_start"] for t in data["trials"] if t["segment_start"]),
                default="")
    last = max((t["segment_start"] for t in data["trials"]), default="")
    when = (f"its sampled trials were recorded on {first[:10]}" if first[:10] == last[:10]
            else f"the comparison was made in pieces (run segments from {first[:10]} to "
                 f"{last[:10]})")
    device = data.get("device", "CPU")
    where = data["machine"] + (f" (students trained on {device})" if device != "CPU" else "")
    # on the CPU one machine with one thread count gives the same scores twice; training
    # in bf16 on a GPU is not bit-reproducible, so no such claim is made there
    same = ("On one machine and with one thread count the task is deterministic, but "
            if device == "CPU" else "")
    lead = (f"{same}{when}, and a configuration trained again elsewhere, with the teacher "
            "prepared there, need not score the same. " if opening else "")
    words = (f"{lead}Of "
             f"{s['trials']} of its completed configurations, chosen by their position in "
             f"their runs and trained again on {where} with "
             f"{data['threads']} torch thread(s) ({data['date'][:10]}; teacher dev exact "
             f"match {data['teacher']['exact']:.2f}), {s['identical']} scored exactly what "
             "the comparison recorded")
    words = words[0].upper() + words[1:]
    if s["identical"] < s["trials"]:
        words += (f"; the exact match of the others differs by "
                  f"{s['median_abs_diff']:.2f} EM points at the median over all of them and "
                  f"{s['max_abs_diff']:.2f} at most")
    return words + f" ({report}, trial by trial with its run segment)."


def reproducibility_limitation(files: Sequence[tuple[str, Path]]) -> str:
    """The limitation the recheck files support, from (label, ``results/distill_recheck*.json``)
    pairs: how many re-evaluated configurations of each comparison scored what was
    recorded, and what that means for reading the comparisons; a sentence saying none was
    checked when no file is present."""
    parts = []
    for label, path in files:
        if path.is_file():
            s = json.loads(path.read_text())["summary"]
            parts.append(f"{s['identical']} of {s['trials']} of {label} "
                         f"(`results/{path.stem}.md`)")
    if not parts:
        return ("Whether the distillation task's scores reproduce on another machine has not "
                "been checked (`python -m benchmarks.distill_recheck`).")
    return ("The distillation task's scores are a draw for one environment (CPU model, "
            "device, torch threads and the teacher fine-tuned there): trained again on "
            "another machine, " + " and ".join(parts) + " scored exactly what was "
            "recorded, and students near the collapse to no-answer moved by many points. "
            "Differences between methods smaller than that spread are not findings, and a "
            "comparison is only as clean as its runs are from one environment.")


# the method, as the band check's sentence names it
METHOD_WORDS = {"mobo": "mobo", "tpe": "TPE", "gp": "the GP sampler", "botorch": "BoTorch",
                "sobol": "Sobol"}


def bandcheck_words(data: Mapping[str, Any], report: str) -> str:
    """What a band check (``python -m benchmarks.distill_bandcheck``'s JSON ``data``, its
    markdown at ``report``) says: per size band, each method's median over the run seeds
    of its recorded band best and of that student's mean exact match trained again under
    the check's training seeds, the highest of each, and how many retrained students beat
    the threshold. Pure: the JSON in, the words out."""
    seeds = join([str(s) for s in data["seeds"]])
    parts = []
    for band, by_method in data["summary"].items():
        methods = sorted(by_method, key=METHODS.index)
        each = ", ".join(f"{METHOD_WORDS.get(m, m)} {by_method[m]['median_recorded']:.2f} "
                         f"and {by_method[m]['median_mean']:.2f}" for m in methods)
        # ties as the sentence shows them (two decimals): means of equal sums may differ
        # in the last bit
        top = {k: max(round(by_method[m][k], 2) for m in methods)
               for k in ("median_recorded", "median_mean")}
        lead = {k: join([METHOD_WORDS.get(m, m) for m in methods
                         if round(by_method[m][k], 2) == top[k]])
                for k in top}
        above = sum(by_method[m]["above"] for m in methods)
        trained = sum(by_method[m]["trained"] for m in methods)
        parts.append(f"within {float(band):.0%} of the teacher's size, recorded and "
                     f"retrained, {each} (highest recorded: {lead['median_recorded']}; "
                     f"highest retrained: {lead['median_mean']}; {above} of {trained} "
                     "retrained students above the threshold)")
    return (f"Trained again under the training seeds {seeds} on {data['machine']} "
            f"({data['date'][:10]}; `{report}`), each run's best student per band gives, "
            "as medians over the run seeds of the band best's exact match: "
            + "; ".join(parts) + ".")


def smallband_words(data: Mapping[str, Any], report: str) -> str:
    """What ``python -m benchmarks.distill_smallband``'s JSON ``data`` (its markdown at
    ``report``) says: how many distinct students the runs completed in the band, the
    group that beat the threshold most often and how often it beat it and the first
    level, with the draws an even chance of one above that level takes, and the median
    and range of the ROC area of mobo's GP fitted to each run. Pure: the JSON in, the
    words out."""
    top = data["groups"][0]
    n, above = top["n"], top["above"]
    level, draws = data["levels"][0], top["draws_needed"][1]
    aucs = [r["gp"]["auc"] for r in data["runs"] if r["gp"]["auc"] is not None]
    odds = (f"{draws} such draws give an even chance of one above it" if draws is not None
            else "none was above it")
    text = (f"Of the {data['students']} distinct students within {data['band']:.0%} of the "
            f"teacher's size that the development runs completed (`{report}`), those of "
            f"the group `{top['group']}` (initialisation, layer choice, learning rate) beat "
            f"the no-answer EM most often: {above[0]} of {n}, "
            f"and {above[1]} of {n} scored above {level:.2f} ({odds}).")
    if aucs:
        text += (f" mobo's GP fitted to a run ranks the band's other students with a median "
                 f"ROC area of {float(statistics.median(aucs)):.2f} over {len(aucs)} runs "
                 f"(from {min(aucs):.2f} to {max(aucs):.2f}; 0.5 is chance).")
    return text


def band_draws(rows: Sequence[Mapping[str, Any]], ref: Mapping[str, float], band: float
               ) -> dict[str, tuple[int, int, int]]:
    """method -> (post-initial trials within ``band`` times the teacher's parameter count
    that beat the threshold, such trials, runs), over each run's first ``BUDGET`` trials
    (the comparison's rows; a trial with no recorded count is in no band). Pure."""
    cap = band * float(ref["num_parameters"])
    out: dict[str, tuple[int, int, int]] = {}
    for runs in by_seed(rows).values():
        for m, rs in runs.items():
            inside = [r for r in rs[:BUDGET] if r["source"] == "model"
                      and r.get("num_parameters") is not None
                      and not math.isnan(float(r["num_parameters"]))
                      and float(r["num_parameters"]) <= cap]
            above = sum(1 for r in inside if r["status"] == "completed"
                        and float(r["exact"]) > float(ref["exact"]))
            a, n, k = out.get(m, (0, 0, 0))
            out[m] = (a + above, n + len(inside), k + 1)
    return {m: out[m] for m in sorted(out, key=METHODS.index)}


def band_draws_words(rows: Sequence[Mapping[str, Any]], ref: Mapping[str, float],
                     name: str, band: float = SIZE_BANDS[0]) -> str:
    """One sentence: how many of each method's own proposals (:func:`band_draws`) fell in
    the size band (the comparison's smallest by default), and how many of them beat the
    threshold; ``name`` is the comparison file the rows come from. "" for no rows."""
    draws = band_draws(rows, ref, band)
    if not draws:
        return ""
    runs = {k for _, _, k in draws.values()}
    each = ", ".join(f"{METHOD_WORDS.get(m, m)} {n}"
                     + ("" if len(runs) == 1 else f" in {k} run{'s' * (k > 1)}")
                     + f" ({a} above the threshold)" for m, (a, n, k) in draws.items())
    k = min(runs)
    over = (f"over each method's {k} run{'s' * (k > 1)}" if len(runs) == 1
            else "over the runs")
    return (f"A run's band best is the largest of its draws in the band. Within "
            f"{band:.0%} of the teacher's size, {over} (`{name}`), the methods' own "
            f"proposals there numbered {each}.")
