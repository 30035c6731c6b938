"""What it takes to find a student in the smallest size band that beats the no-answer EM.

The comparison (:mod:`benchmarks.distill_compare`) reports, per run, the best exact match
among students of at most 60% of the teacher's size (the first of
:data:`benchmarks.distill_compare.SIZE_BANDS`). Most students that small answer "no
answer" to every question and score the always-no-answer exact match (the threshold); a
few learn a little. This report reads committed runs (nothing is trained) and asks three
things of the students in the band:

1. **How often one beats the threshold, by how it is initialised and trained.** The
   distinct configurations tried in the band (one tried by several runs, served from one
   evaluation cache, counts once) are grouped by ``init``, ``layer_choice`` and learning
   rate (the half-decade bands of :data:`benchmarks.distill_where.RATES`). Per group: the
   share above the threshold and above each of :data:`LEVELS`, and how many draws from the
   group give an even chance of at least one above a level: the smallest k with
   1 - (1 - q)^k >= 1/2 for the group's share q (:func:`draws_needed`; draws taken as
   independent, at the group's observed rate).
2. **Whether a GP fitted to a run can tell where they are.** mobo's GP of the exact match
   (:func:`benchmarks.distill_surrogates.fit_mobo`: as the proposer fits it), fitted to a
   run's first :data:`BUDGET` completed trials, predicts every band configuration the run
   did not try; the area under the ROC curve of its predicted mean for "beats the
   threshold" (:func:`auc`: the Mann-Whitney U over positives times negatives, ties half;
   Hanley & McNeil 1982, "The meaning and use of the area under a receiver operating
   characteristic curve") says how well it ranks them: 0.5 is chance, 1 a perfect ranking.
   A proposer that picks the small student the GP rates best can do no better than this
   ranking.
3. **How much each run spent in the band**: its trials there among its first
   :data:`BUDGET` finished ones (its own proposals among them) and its best exact match
   there, the number the comparison reports.

And, for every size band of :data:`benchmarks.distill_where.SIZES`, how often each group's
students beat the threshold there (:func:`by_size`): whether the settings that make a
student learn change with its size.

By default it reads the development runs made on one machine (2-core Intel Xeon, one
teacher; :data:`DEFAULT_FOLDERS`, development seeds only), so that what it shows can guide a
development choice without touching the held-out seeds.

Usage (from the repository root)::

    python -m benchmarks.distill_smallband
    python -m benchmarks.distill_smallband --folders DIR [DIR ...] --band 0.6 \\
        --out-json results/distill_smallband.json --out-md results/distill_smallband.md
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats
import torch

from benchmarks.distill_compare import NAME, SIZE_BANDS, read_reference, records, run_path
from benchmarks.distill_recheck import chosen_runs
from benchmarks.distill_surrogates import fit_mobo, is_journal
from benchmarks.distill_where import RATES, SIZES
from benchmarks.provenance import (
    FILES,
    check_out_folders,
    command_line,
    relative,
    stamp_fields,
    write_result,
)
from mobo.space import Space
from mobo.study import Study

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "results" / "distill_dev"
# the development folders made on the 2-core Intel Xeon with its own teacher (the
# onemachine_* and xeon167_* environments, whose evaluations reproduce each other's)
DEFAULT_FOLDERS: tuple[Path, ...] = tuple(DEV / n for n in (
    "onemachine_default", "onemachine_tr010", "onemachine_explore030",
    "onemachine_explore050", "onemachine_front050", "onemachine_face050",
    "onemachine_peers", "xeon167_default", "xeon167_explore_all",
    "xeon167_extend_density", "xeon167_extend_cheapest", "xeon167_extend_split",
    "xeon167_extend_drift", "xeon167_extend_split_drift"))
DEFAULT_JSON = ROOT / "results" / "distill_smallband.json"
DEFAULT_MD = ROOT / "results" / "distill_smallband.md"
BUDGET = 100
# exact-match levels above the threshold whose odds are reported (EM points)
LEVELS: tuple[float, ...] = (33.0, 33.5, 34.0)
CHANCE = 0.5


def draws_needed(q: float, chance: float = CHANCE) -> int | None:
    """The fewest independent draws, each a success with probability ``q``, that give at
    least ``chance`` of one success or more; None when ``q`` is 0 (never)."""
    if q <= 0.0:
        return None
    if q >= 1.0:
        return 1
    return max(1, math.ceil(math.log(1.0 - chance) / math.log(1.0 - q) - 1e-12))


def auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """The area under the ROC curve of ``score`` (n,) for the labels ``positive`` (n,)
    bool: the share of (positive, negative) pairs the score orders rightly, ties counting
    half; None without both a positive and a negative."""
    pos, neg = score[positive], score[~positive]
    if not len(pos) or not len(neg):
        return None
    # the Mann-Whitney U of the positives counts those pairs, ties half
    u = scipy.stats.mannwhitneyu(pos, neg).statistic
    return float(u / (len(pos) * len(neg)))


def group_of(params: Mapping[str, Any]) -> str:
    """A student's group: its initialisation, layer choice and learning-rate band."""
    rate = float(params["learning_rate"])
    label = next(lab for lab, lo, below in RATES if lo <= rate < below)
    return f"{params['init']}, {params['layer_choice']}, lr {label}"


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True)


def common_reference(folders: Sequence[Path]) -> dict[str, float]:
    """The fixed reference every folder shares (threshold and teacher size); ValueError
    when two differ (their students would be from different black boxes)."""
    refs = [read_reference(f) for f in folders]
    for f, r in zip(folders[1:], refs[1:], strict=True):
        if (r["exact"], r["num_parameters"]) != (refs[0]["exact"], refs[0]["num_parameters"]):
            raise ValueError(f"{relative(f)}: its reference {r} differs from "
                             f"{relative(folders[0])}'s {refs[0]}")
    return refs[0]


def read_runs(folders: Sequence[Path], budget: int = BUDGET) -> list[dict[str, Any]]:
    """Every run of ``folders``: folder, method, seed and its first ``budget`` finished
    trials (per-run records of :func:`benchmarks.distill_compare.records`)."""
    return [{"folder": f, "method": m, "seed": s, "trials": records(f, m, s)[:budget]}
            for f in folders for m, s in chosen_runs(f, None)]


def in_band(trials: Sequence[Mapping[str, Any]], cap: float) -> list[Mapping[str, Any]]:
    """The completed trials of at most ``cap`` parameters."""
    return [t for t in trials if t["status"] == "completed" and t.get("values")
            and float(t["values"]["num_parameters"]) <= cap]


def students(runs: Sequence[Mapping[str, Any]]) -> dict[str, tuple[dict, float, float]]:
    """The distinct configurations the runs completed: key -> (params, exact, parameter
    count), the first run's values where several ran one."""
    out: dict[str, tuple[dict, float, float]] = {}
    for run in runs:
        for t in in_band(run["trials"], math.inf):
            out.setdefault(_key(t["params"]), (dict(t["params"]), float(t["values"]["exact"]),
                                               float(t["values"]["num_parameters"])))
    return out


def within(found: Mapping[str, tuple[dict, float, float]], lo: float, hi: float
           ) -> dict[str, tuple[dict, float]]:
    """Those of :func:`students` of more than ``lo`` and at most ``hi`` parameters: key ->
    (params, exact)."""
    return {k: (p, e) for k, (p, e, n) in found.items() if lo < n <= hi}


def group_rates(found: Mapping[str, tuple[dict, float]], threshold: float,
                levels: Sequence[float] = LEVELS) -> list[dict[str, Any]]:
    """Per group (:func:`group_of`), most often above the threshold first: the count, the
    count above the threshold and above each level, and :func:`draws_needed` for each."""
    by: dict[str, list[float]] = {}
    for params, exact in found.values():
        by.setdefault(group_of(params), []).append(exact)
    rows = []
    for g, vals in by.items():
        n = len(vals)
        above = [sum(v > lv for v in vals) for lv in (threshold, *levels)]
        rows.append({"group": g, "n": n, "above": above,
                     "draws_needed": [draws_needed(a / n) for a in above]})
    rows.sort(key=lambda r: (-r["above"][0] / r["n"], -r["n"], r["group"]))
    return rows


def by_size(found: Mapping[str, tuple[dict, float, float]], teacher: float,
            threshold: float) -> list[dict[str, Any]]:
    """Per size band of :data:`benchmarks.distill_where.SIZES` (a student's parameter count
    as a share of the ``teacher``'s), :func:`group_rates` of the distinct configurations
    of :func:`students` in it (no levels): how the groups that learn change with size."""
    out = []
    for label, lo, hi in SIZES:
        inside = within(found, lo * teacher, hi * teacher)
        out.append({"size": label, "students": len(inside),
                    "groups": group_rates(inside, threshold, levels=())})
    return out


def gp_ranking(run: Mapping[str, Any], space: Space,
               found: Mapping[str, tuple[dict, float]], threshold: float) -> dict[str, Any]:
    """mobo's GP fitted to the run's completed trials, scored on the band configurations
    the run did not try: how many, how many of them beat the threshold, and the
    :func:`auc` of the predicted mean (None where the test holds one class only)."""
    done = [t for t in run["trials"] if t["status"] == "completed" and t.get("values")]
    tried = {_key(t["params"]) for t in done}
    test = [(p, e) for k, (p, e) in found.items() if k not in tried]
    positive = np.array([e > threshold for _, e in test], dtype=bool)
    out: dict[str, Any] = {"n_train": len(done), "n_test": len(test),
                           "n_above": int(positive.sum()), "auc": None}
    if len(done) < 2 or not len(test):
        return out
    X = np.array([space.encode(t["params"]) for t in done])
    y = np.array([float(t["values"]["exact"]) for t in done])
    mean, _ = fit_mobo(X, y)(np.array([space.encode(p) for p, _ in test]))
    out["auc"] = auc(mean, positive)
    return out


def run_space(runs: Sequence[Mapping[str, Any]]) -> Space:
    """The search space, read from the first mobo journal among ``runs``' files."""
    for run in runs:
        path = run_path(run["folder"], run["method"], run["seed"])
        if run["method"] == "mobo" and is_journal(path):
            return Study.read(path).space
    raise ValueError("no mobo journal among the runs (it names the space)")


def analyse(folders: Sequence[Path], band: float = SIZE_BANDS[0],
            budget: int = BUDGET) -> dict[str, Any]:
    """The report's data (see the module docstring)."""
    ref = common_reference(folders)
    threshold, cap = float(ref["exact"]), band * float(ref["num_parameters"])
    runs = read_runs(folders, budget)
    every = students(runs)
    found = within(every, -math.inf, cap)
    space = run_space(runs)
    per_run = []
    for run in runs:
        inside = in_band(run["trials"], cap)
        per_run.append({
            "run": f"{relative(run['folder'])} {run['method']}-{run['seed']}",
            "in_band": len(inside),
            "model_in_band": sum(t["source"] == "model" for t in inside),
            "above": sum(float(t["values"]["exact"]) > threshold for t in inside),
            "best": max((float(t["values"]["exact"]) for t in inside), default=None),
            "gp": gp_ranking(run, space, found, threshold)})
    return {"folders": [relative(f) for f in folders], "band": band, "budget": budget,
            "threshold": threshold, "teacher": float(ref["num_parameters"]),
            "levels": list(LEVELS), "chance": CHANCE, "students": len(found),
            "groups": group_rates(found, threshold), "runs": per_run,
            "by_size": by_size(every, float(ref["num_parameters"]), threshold)}


def _num(v: float | None, fmt: str = ".2f") -> str:
    return "-" if v is None else format(v, fmt)


def markdown(data: Mapping[str, Any]) -> str:
    """The report, from the JSON alone."""
    t, levels = data["threshold"], data["levels"]
    cols = [f"> {t:.2f}", *(f"> {lv:.2f}" for lv in levels)]
    lines = [
        f"# Students within {data['band']:.0%} of the teacher's size: how often they learn, "
        "and whether the GP can tell which",
        "",
        f"Generated by `{data['command']}`; `benchmarks/distill_smallband.py` says how. "
        f"Code: commit `{data['commit']}`"
        + (" with uncommitted changes" if data.get("dirty") else "") + ".",
        "",
        f"Runs read (each one's first {data['budget']} finished trials): "
        + ", ".join(f"`{f}`" for f in data["folders"]) + ". "
        f"Threshold {t:.2f} (always no answer); band: at most {data['band']:.0%} of the "
        f"teacher's {data['teacher']:.0f} parameters. {data['students']} distinct "
        "configurations were completed in the band.",
        "",
        "## How often a student in the band beats each level, by group",
        "",
        "Cells: configurations above the level / tried (share), and in brackets the draws "
        f"from the group that give a {data['chance']:.0%} chance of at least one above it "
        "at that share (- : none above).",
        "",
        "| group (init, layer choice, learning rate) | tried | " + " | ".join(cols) + " |",
        "|---|---:|" + "---:|" * len(cols),
    ]
    for g in data["groups"]:
        cells = [f"{a}/{g['n']} ({a / g['n']:.0%}) [{_num(k, 'd')}]"
                 for a, k in zip(g["above"], g["draws_needed"], strict=True)]
        lines.append(f"| {g['group']} | {g['n']} | " + " | ".join(cells) + " |")
    sizes = data["by_size"]
    names = sorted({g["group"] for b in sizes for g in b["groups"]})
    cells = {(b["size"], g["group"]): g for b in sizes for g in b["groups"]}

    def cell(size: str, name: str) -> str:
        g = cells.get((size, name))
        return "-" if g is None else f"{g['above'][0]}/{g['n']} ({g['above'][0] / g['n']:.0%})"

    lines += [
        "",
        "## The same groups in every size band",
        "",
        "Cells: distinct configurations above the threshold / tried in the band (share); the "
        "band is the student's parameter count as a share of the teacher's.",
        "",
        "| group (init, layer choice, learning rate) | "
        + " | ".join(f"size {b['size']} ({b['students']})" for b in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(cell(b["size"], name) for b in sizes) + " |")
    lines += [
        "",
        "## Each run: trials spent in the band, and how well its GP ranks the others' students",
        "",
        "In band: completed trials in the band (the method's own proposals among them). GP "
        "AUC: mobo's GP fitted to the run's completed trials, its predicted exact match as a "
        "score for \"beats the threshold\" over the band configurations the run did not try "
        "(0.5: chance; - : one class only).",
        "",
        "| run | in band (own proposals) | above the threshold | best in band | "
        "GP fitted on | GP tested on (above) | GP AUC |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["runs"]:
        gp = r["gp"]
        lines.append(f"| {r['run']} | {r['in_band']} ({r['model_in_band']}) | {r['above']} | "
                     f"{_num(r['best'])} | {gp['n_train']} | {gp['n_test']} "
                     f"({gp['n_above']}) | {_num(gp['auc'])} |")
    aucs = [r["gp"]["auc"] for r in data["runs"] if r["gp"]["auc"] is not None]
    if aucs:
        lines += ["", f"Median GP AUC over the {len(aucs)} runs: "
                  f"{float(np.median(aucs)):.2f} (range {min(aucs):.2f} to {max(aucs):.2f})."]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.distill_smallband",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--folders", nargs="+", type=Path, default=list(DEFAULT_FOLDERS),
                    help="comparison folders of one black box (default: the development "
                    "runs of the 2-core Intel Xeon)")
    ap.add_argument("--band", type=float, default=SIZE_BANDS[0],
                    help="the band: at most this share of the teacher's parameter count "
                    f"(default {SIZE_BANDS[0]})")
    ap.add_argument("--out-json", type=Path, default=DEFAULT_JSON)
    ap.add_argument("--out-md", type=Path, default=DEFAULT_MD)
    args = ap.parse_args(argv)
    if not 0.0 < args.band <= 1.0:
        ap.error(f"--band: expected a share in (0, 1], got {args.band}")
    for folder in args.folders:
        if not (folder / NAME / "reference.json").is_file():
            ap.error(f"--folders: {folder} is not a comparison folder (no "
                     f"{NAME}/reference.json)")
    check_out_folders(ap, out_json=args.out_json, out_md=args.out_md)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stamp = stamp_fields(FILES["distill_smallband.json"])  # the code imported now
    torch.set_num_threads(1)  # small fits, reproducible on one thread
    try:
        data = analyse([f.resolve() for f in args.folders], args.band)
    except (ValueError, KeyError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    data = {**stamp, "command": command_line("benchmarks.distill_smallband", argv), **data}
    write_result(data, args.out_json, args.out_md, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
