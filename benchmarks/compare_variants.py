"""Development variants of mobo on the toy suite, beside its defaults and the peers.

A variant is run on the development seeds into a file of its own, e.g. noisy mode on every
problem::

    python -m benchmarks.compare --methods mobo --mobo-noisy --problems ... \\
        --seeds 0 1 2 3 4 5 6 7 8 9 --out results/compare_dev/noisy

This report reads the development seeds' record ``results/compare.csv`` (mobo's defaults
and the peers) and every ``results/compare_dev/*.csv``, and writes
``results/compare_dev/variants.md``: per problem and checkpoint, on the seeds the variant
has, the median log10 hypervolume gap of the variant, of mobo's defaults and of each peer;
the one-sided Mann-Whitney p (Mann & Whitney 1947) that the variant's gaps are lower than
the defaults'; and the targets as the comparison sets them (mobo no worse than BoTorch
qLogNEHVI and better than every other peer, by medians), counted for the defaults and for
the variant. A variant is a candidate for a default only; the held-out seeds judge none
of them.

Usage (from the repository root)::

    python -m benchmarks.compare_variants
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.compare import CHECKPOINTS, METHODS, RESULTS_DIR, mann_whitney_p, read_rows
from benchmarks.compare_report import beats

VARIANTS_DIR = RESULTS_DIR / "compare_dev"
REPORT_NAME = "variants.md"
PEERS: tuple[str, ...] = tuple(m for m in METHODS if m != "mobo")


def gaps(rows: Sequence[dict[str, Any]], problem: str, method: str, n_evals: int,
         seeds: Sequence[int]) -> list[float]:
    """The log10 gaps of ``method`` on ``problem`` after ``n_evals``, one per seed of
    ``seeds`` that it has, in the order of ``seeds``."""
    by_seed = {r["seed"]: r["log10_gap"] for r in rows if r["problem"] == problem
               and r["method"] == method and r["n_evals"] == n_evals}
    return [by_seed[s] for s in seeds if s in by_seed]


def meets(mobo: float, peers: dict[str, float]) -> bool:
    """Whether a median gap ``mobo`` meets the targets against every peer's median
    (:func:`benchmarks.compare_report.beats`)."""
    return all(beats(mobo, v, p) for p, v in peers.items())


def variant_section(name: str, variant: Sequence[dict[str, Any]],
                    record: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines of one variant against the record's defaults and peers."""
    problems = list(dict.fromkeys(r["problem"] for r in variant))
    lines = [f"## {name}", "",
             f"`results/compare_dev/{name}.csv`: {len(problems)} "
             f"problem{'s' * (len(problems) != 1)}. Cells: median log10 "
             "gap over the seeds the variant has (n); p: one-sided Mann-Whitney, the "
             "variant's gaps lower than the defaults'.", "",
             "| problem | after | n | variant | defaults | p | "
             + " | ".join(PEERS) + " | targets: defaults | targets: variant |",
             "|---|---:|---:|---:|---:|---:|" + "---:|" * len(PEERS) + "---|---|"]
    met = {"defaults": 0, "variant": 0}
    judged = 0
    for prob in problems:
        for c in CHECKPOINTS:
            seeds = sorted({r["seed"] for r in variant
                            if r["problem"] == prob and r["n_evals"] == c})
            if not seeds:
                continue
            ours = gaps(variant, prob, "mobo", c, seeds)
            base = gaps(record, prob, "mobo", c, seeds)
            peer = {p: gaps(record, prob, p, c, seeds) for p in PEERS}
            # medians on the same seeds only: a method missing one of them is not compared
            peer_med = {p: float(np.median(v)) for p, v in peer.items() if len(v) == len(seeds)}
            if len(base) != len(seeds):
                continue
            v_med, b_med = float(np.median(ours)), float(np.median(base))
            p = mann_whitney_p(ours, base, alternative="less")
            cells = [f"{peer_med[q]:.3f}" if q in peer_med else "" for q in PEERS]
            verdict = {}
            for who, med in (("defaults", b_med), ("variant", v_med)):
                ok = meets(med, peer_med)
                met[who] += ok
                verdict[who] = "met" if ok else "MISSED"
            judged += 1
            lines.append(f"| {prob} | {c} | {len(seeds)} | {v_med:.3f} | {b_med:.3f} | "
                         f"{'<0.001' if p < 0.001 else f'{p:.3f}'} | " + " | ".join(cells)
                         + f" | {verdict['defaults']} | {verdict['variant']} |")
    lines += ["", f"Targets met (problem and checkpoint, against every peer with those seeds): "
              f"defaults {met['defaults']} of {judged}, variant {met['variant']} of {judged}.",
              ""]
    return lines


def report(record_path: Path = RESULTS_DIR / "compare.csv",
           variants_dir: Path = VARIANTS_DIR) -> str:
    """The markdown report of every variant file in ``variants_dir``."""
    record = read_rows(record_path)
    if not record:
        raise FileNotFoundError(f"{record_path}: no rows")
    files = sorted(variants_dir.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"{variants_dir}: no variant CSV")
    lines = ["# Development variants of mobo on the toy suite", "",
             "Each variant beside mobo's defaults and the peers of the development seeds' "
             f"record (`results/{record_path.name}`), on the seeds the variant has. "
             "Generated by `python -m benchmarks.compare_variants`; how each variant was run: "
             "`results/compare_dev/README.md`.", ""]
    for f in files:
        rows = [r for r in read_rows(f) if r["method"] == "mobo"]
        lines += variant_section(f.stem, rows, record)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.compare_variants",
                                 description="Development variants of mobo beside its defaults.")
    ap.add_argument("--record", type=Path, default=RESULTS_DIR / "compare.csv",
                    help="the development seeds' record (default: results/compare.csv)")
    ap.add_argument("--dir", type=Path, default=VARIANTS_DIR,
                    help="the variants' CSV files (default: results/compare_dev)")
    args = ap.parse_args(argv)
    try:
        text = report(args.record, args.dir)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = args.dir / REPORT_NAME
    out.write_text(text)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
