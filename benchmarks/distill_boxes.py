"""Where a trust-region search over all of its boxes at once spends its proposals.

The trust region of :mod:`mobo.acquisition` puts a box around each input of the front that
beats the no-answer threshold and searches them all at once: EHVI picks whichever box
holds its best candidate. This replays a mobo journal of the distillation task made
that way and, for a sample of its model proposals, rebuilds the proposer's state
(:func:`benchmarks.distill_diagnosis.replay`), the GP the proposer fits (``exact``
modelled, ``num_parameters`` known in closed form, the same warm start), the trust
region's centres and weights (:func:`mobo.trust_region.region_centres`) and, per
box, the exact log EHVI (Emmerich, Deutz & Klinkenberg 2011; the box decomposition of
:mod:`mobo.boxes`) of Sobol candidates spread over the box: the best and the median. It
records which box the run's own proposal fell in.

The boxes are those of the centres; the recombinations of two centres that the trust
region has scored since (:mod:`mobo.acquisition`) are not replayed, as the journals it was
made for predate them.

What it reads off: whether the proposals keep to one box (the most accurate student's)
and by how much that box's best candidate beats the best of the others (a gap of a few
tenths in log EHVI is a factor near 1: EHVI's values are close across boxes).

Writes one JSON file and a markdown report generated from it::

    python -m benchmarks.distill_boxes \\
        --journal results/distill_dev/trust_region_005/distill_compare/mobo-0.jsonl \\
        --out-json results/distill_boxes.json --out-md results/distill_boxes.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import distill_diagnosis as D
from benchmarks.provenance import FILES, command_line, relative, stamp_fields
from mobo.boxes import decompose
from mobo.gp import fit_gp, single_threaded
from mobo.improvement import log_ehvi_boxes
from mobo.trust_region import in_region, region_centres

DEFAULT_JOURNAL = "results/distill_dev/trust_region_005/distill_compare/mobo-0.jsonl"
# Sobol candidates scored per box: enough for the best of a 21-dimensional box to be
# stable to a few hundredths in log EHVI on this task
N_PER_BOX = 512


def model_asks(lines: Sequence[str]) -> list[tuple[int, dict[str, Any]]]:
    """(line index, event) of every model ask in the journal's lines, in order."""
    out = []
    for i, line in enumerate(lines):
        e = json.loads(line)
        if e.get("event") == "ask" and e.get("source") == "model":
            out.append((i, e))
    return out


def box_scores(state: D.State, proposal: np.ndarray,
               n_per_box: int = N_PER_BOX) -> dict[str, Any]:
    """The trust region of the replayed ``state``, each box's log EHVI and the boxes the
    recorded ``proposal`` (d,) lies in.

    Returns ``centres``: per centre its student (layers, heads), exact, num_parameters,
    weight, and the best and median log EHVI of ``n_per_box`` Sobol candidates in its box
    (rounded to the space, as the proposer rounds them); ``half_width``: the region's;
    ``in_boxes``: the indices of the centres whose box could hold ``proposal``
    (:func:`mobo.trust_region.in_region`)."""
    study = state.study
    r = study.trust_region
    if r is None:
        raise ValueError("the journal's study has no trust region")
    with single_threaded():
        gp = fit_gp(state.X, state.Y[:, [0]], D.modelled_warm(state.warm, [0]))
    ok = np.ones(len(state.X), dtype=bool)
    region = region_centres(state.X, state.Y, state.ref, ok, gp, [0])
    if region is None:
        return {"half_width": r, "centres": [], "in_boxes": []}
    centres, weights = region
    boxes = decompose(state.Y, state.ref)
    U = study.space.sobol(n_per_box, seed=state.number)
    x = study.space.round(np.asarray(proposal, dtype=float)[None])
    out, inside = [], []
    for j, (c, w) in enumerate(zip(centres, weights, strict=True)):
        C = study.space.round(np.clip(c + (2.0 * U - 1.0) * r, 0.0, 1.0))
        mean, std = gp.posterior(C)
        mean = np.column_stack([mean[:, 0], D.closed_sizes(study, C)])
        std = np.column_stack([std[:, 0], np.zeros(len(C))])
        logs = log_ehvi_boxes(mean, std, boxes)
        row = int(np.flatnonzero((state.X == c).all(axis=1))[0])
        p = study.space.decode(c)
        out.append({"n_layers": int(p["n_layers"]), "n_heads": int(p["n_heads"]),
                    "exact": float(-state.Y[row, 0]),
                    "num_parameters": float(state.Y[row, 1]), "weight": float(w),
                    "best_log_ehvi": float(np.max(logs)),
                    "median_log_ehvi": float(np.median(logs))})
        if in_region(study.space, x, centres[j:j + 1], r)[0]:
            inside.append(j)
    return {"half_width": r, "centres": out, "in_boxes": inside}


def analyse(journal: Path, stride: int = 5, n_per_box: int = N_PER_BOX) -> dict[str, Any]:
    """Every ``stride``-th model ask of ``journal`` (from the first): its boxes' scores
    and the boxes its recorded proposal lies in."""
    lines = D.read_lines(journal)
    every = model_asks(lines)
    students = [(int(e["params"]["n_layers"]), int(e["params"]["n_heads"])) for _, e in every]
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for line_no, event in every[::stride]:
            state = D.state_of(D.replay(lines, line_no, Path(tmp)), int(event["number"]))
            scores = box_scores(state, np.asarray(event["x"], dtype=float), n_per_box)
            p = event["params"]
            records.append({"number": int(event["number"]), "half_width": scores["half_width"],
                            "centres": scores["centres"],
                            "proposal": {"n_layers": int(p["n_layers"]),
                                         "n_heads": int(p["n_heads"]),
                                         "in_boxes": scores["in_boxes"]}})
    return {"journal": relative(journal.resolve()), "stride": stride, "n_per_box": n_per_box,
            "asks": records, "summary": summarise(records, students)}


def summarise(records: Sequence[dict[str, Any]],
              students: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """Over the sampled asks with at least two boxes: how many proposals fell in the box of
    the most accurate centre, the median weight of the box each proposal fell in, and the
    median gap in best log EHVI between the best box and the runner-up; over all model
    proposals (``students``: their layers and heads), the most frequent student and its
    count."""
    multi = [r for r in records if len(r["centres"]) >= 2]
    in_top, chosen_weights, gaps = 0, [], []
    for r in multi:
        cs = r["centres"]
        top = max(range(len(cs)), key=lambda j: cs[j]["exact"])
        in_top += top in r["proposal"]["in_boxes"]
        if r["proposal"]["in_boxes"]:
            chosen_weights.append(max(cs[j]["weight"] for j in r["proposal"]["in_boxes"]))
        best = sorted((c["best_log_ehvi"] for c in cs), reverse=True)
        gaps.append(best[0] - best[1])
    common = Counter(students).most_common(1)
    return {"asks": len(multi), "in_most_accurate_box": in_top,
            "median_weight_of_chosen_box": (statistics.median(chosen_weights)
                                            if chosen_weights else None),
            "median_gap_best_to_runner_up": statistics.median(gaps) if multi else None,
            "model_proposals": len(students),
            "most_frequent_student": list(common[0][0]) if common else None,
            "most_frequent_count": common[0][1] if common else 0}


def markdown(data: dict[str, Any]) -> str:
    """The report of :func:`analyse`'s output."""
    s = data["summary"]
    lines = [
        "# Where a search over all trust-region boxes at once spends its proposals", "",
        f"Generated by `python -m benchmarks.distill_boxes` from `{data['journal']}` (every "
        f"{data['stride']}th model proposal, {data['n_per_box']} Sobol candidates per box). "
        "Per proposal: the boxes of the trust region (their centre's student, exact match, "
        "weight = share of the hypervolume it alone dominates), the best and median log EHVI "
        "of candidates in each box, and the box or boxes the run's proposal lay in (*).", "",
        f"Of the run's {s['model_proposals']} model proposals, {s['most_frequent_count']} were "
        f"{s['most_frequent_student'][0]}-layer students with {s['most_frequent_student'][1]} "
        "heads." if s["most_frequent_student"] else "The run has no model proposal.", "",
        f"Of the {s['asks']} sampled proposals with two boxes or more, "
        f"{s['in_most_accurate_box']} lay in the box of the most accurate student"
        + (f"; the median weight of the box a proposal lay in was "
           f"{s['median_weight_of_chosen_box']:.2f}, and the best box's best log EHVI led "
           f"the runner-up's by a median of {s['median_gap_best_to_runner_up']:.2f} (a "
           f"factor of {np.exp(s['median_gap_best_to_runner_up']):.1f} in EHVI)."
           if s["asks"] and s["median_weight_of_chosen_box"] is not None else "."), "",
        "| proposal | its student | box (centre: layers x heads, exact) | weight | best log EHVI "
        "| median log EHVI |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for r in data["asks"]:
        p = r["proposal"]
        for j, c in enumerate(r["centres"]):
            mark = " (*)" if j in p["in_boxes"] else ""
            head = (f"{r['number']} | {p['n_layers']} x {p['n_heads']}" if j == 0 else " | ")
            lines.append(f"| {head} | {c['n_layers']} x {c['n_heads']}, "
                         f"{c['exact']:.1f}{mark} | {c['weight']:.2f} | "
                         f"{c['best_log_ehvi']:.2f} | {c['median_log_ehvi']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.distill_boxes",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--journal", default=DEFAULT_JOURNAL,
                    help=f"a mobo journal of the distillation task made with a trust region "
                    f"(default {DEFAULT_JOURNAL})")
    ap.add_argument("--stride", type=int, default=5, help="every n-th model proposal (5)")
    ap.add_argument("--per-box", type=int, default=N_PER_BOX,
                    help=f"Sobol candidates per box ({N_PER_BOX})")
    ap.add_argument("--out-json", default="results/distill_boxes.json")
    ap.add_argument("--out-md", default="results/distill_boxes.md")
    args = ap.parse_args(argv)
    journal = Path(args.journal)
    if not journal.is_file():
        ap.exit(2, f"--journal: no file at {journal}\n")
    if args.stride < 1 or args.per_box < 1:
        ap.exit(2, "--stride and --per-box: must be >= 1\n")
    data = {**analyse(journal, args.stride, args.per_box),
            "command": command_line("benchmarks.distill_boxes", argv),
            **stamp_fields(FILES["distill_boxes.json"])}
    Path(args.out_json).write_text(json.dumps(data, indent=1) + "\n")
    Path(args.out_md).write_text(markdown(data))
    print(f"wrote {args.out_json} and {args.out_md}", file=sys.stderr)


if __name__ == "__main__":
    main()
