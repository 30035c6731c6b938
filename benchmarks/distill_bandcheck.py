"""Is a run's best student within a size band a repeatable result or a lucky training draw?

:mod:`benchmarks.distill_compare` judges each method by, among other things, the best exact
match its run found among students of at most 60%, 70% and 80% of the teacher's size
(:data:`benchmarks.distill_compare.SIZE_BANDS`). Every trial is trained once, under the
task's seed, so a band's best is the maximum of the run's draws in that band: a run that
trains many students near the no-answer threshold can find one a point above it by the
luck of its initialisation and batch order alone.

This module takes, per run of a comparison folder and per band, the run's best completed
student in the band, trains that configuration again on this machine under other training
seeds (:meth:`distill.objective.DistillationTask.with_training_seed`: the seed of the
student's random initialisation and batch order; data, teacher and logits unchanged), and
reports the recorded exact match beside the new ones and their mean. Per method and band it
gives the median over the run seeds of the recorded band best and of its retrained mean:
the first is what the comparison reports, the second what a user who trains the chosen
student again can expect. A configuration several runs or bands chose is trained once per
seed. The recorded values must be this machine's (:mod:`benchmarks.distill_recheck` says
whether they are) for the difference to be the training draw's alone.

Usage (from the repository root)::

    python -m benchmarks.distill_bandcheck --folder results/distill_compare_epyc_explore070 \\
        --bands 0.6 0.7 --seeds 1 2 3 --threads 1 --out results/distill_bandcheck.json

Writes the JSON (command, commit, machine, the teacher digest, every retrained student) and
a markdown report generated from it alone (beside it, ``.md``). Each training is appended to
a log beside them (``X.trainings.jsonl``, its first line the environment) as soon as it
ends, so a stopped check resumes with the same command, and a later one with more bands,
runs or seeds trains only what the log does not hold; a log from another environment is
refused (exit 2).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from benchmarks.distill_compare import (
    METHODS,
    NAME,
    SIZE_BANDS,
    device_words,
    load_task,
    read_reference,
    records,
)
from benchmarks.distill_recheck import chosen_runs
from benchmarks.provenance import FILES, command_line, cpu_name, relative, stamp_fields

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "results" / "distill_bandcheck.json"
DEFAULT_SEEDS: tuple[int, ...] = (1, 2, 3)

Evaluate = Callable[[Mapping[str, Any], int], Mapping[str, float]]


def band_bests(folder: Path, bands: Sequence[float], ref: Mapping[str, float],
               runs: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Per run of ``folder`` (those named ``method-seed`` in ``runs``, else all) and per
    band, its best completed trial among students of at most ``band`` times the teacher's
    size: the first such trial with the highest exact match (the trial
    :func:`benchmarks.distill_compare.best_within` reports). A run without a student in a
    band has no entry for it. Raises ValueError for a run the folder does not have."""
    out: list[dict[str, Any]] = []
    for method, seed in chosen_runs(folder, runs):
        done = [r for r in records(folder, method, seed) if r["status"] == "completed"]
        for band in bands:
            cap = band * ref["num_parameters"]
            inside = [r for r in done if r["values"]["num_parameters"] <= cap]
            if not inside:
                continue
            best = max(inside, key=lambda r: r["values"]["exact"])  # first of equals
            out.append({"method": method, "seed": seed, "band": band,
                        "trial": int(best["trial"]), "source": best["source"],
                        "params": best["params"],
                        "num_parameters": float(best["values"]["num_parameters"]),
                        "recorded": float(best["values"]["exact"]),
                        "in_band": len(inside)})
    return out


def log_path(out: Path) -> Path:
    """The trainings log kept beside the JSON ``out``: ``X.json`` -> ``X.trainings.jsonl``."""
    return out.with_suffix(".trainings.jsonl")


def read_log(path: Path, environment: Mapping[str, Any]
             ) -> dict[tuple[str, int], tuple[float, float | None]]:
    """The trainings a log holds, by (configuration as canonical JSON, training seed): the
    exact match and the seconds (None where not recorded). Its first line names the
    environment it was made in; ValueError when that is not ``environment`` (another
    machine, thread count or teacher trains the same student to another score). A torn
    last line (a run stopped while writing) is skipped."""
    lines = path.read_text().splitlines()
    try:
        head = json.loads(lines[0]) if lines else {}
    except json.JSONDecodeError:
        head = {}
    here = json.loads(json.dumps(dict(environment)))  # as a line of the log holds it
    there = head.get("environment")
    if there != here:
        differ = sorted(k for k in set(here) | set(there or {})
                        if (there or {}).get(k) != here.get(k))
        raise ValueError(f"{relative(path)} was made in another environment (it differs "
                         f"in: {', '.join(differ)}); move it away or give another --out")
    done: dict[tuple[str, int], tuple[float, float | None]] = {}
    for line in lines[1:]:
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        done[(json.dumps(e["params"], sort_keys=True), int(e["seed"]))] = (
            float(e["exact"]), None if e.get("seconds") is None else float(e["seconds"]))
    return done


def append_line(path: Path, entry: Mapping[str, Any]) -> None:
    """Append one JSON line and make it durable before the next training starts."""
    with path.open("a") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()
        os.fsync(f.fileno())


def retrain(bests: Sequence[dict[str, Any]], seeds: Sequence[int], evaluate: Evaluate,
            progress: Callable[[str], None] = print,
            done: Mapping[tuple[str, int], tuple[float, float | None]] | None = None,
            record: Callable[[Mapping[str, Any]], None] | None = None
            ) -> list[dict[str, Any]]:
    """``bests`` with ``retrained`` (the exact match under each of ``seeds``, in order) and
    ``seconds`` (each training's, None where not recorded). Each distinct configuration is
    trained once per seed, whoever chose it; one ``done`` holds (:func:`read_log`) is not
    trained again, and ``record`` gets each new training as ``{"params", "seed", "exact",
    "seconds"}`` as soon as it ends."""
    known: dict[tuple[str, int], tuple[float, float | None]] = dict(done or {})
    keys = [json.dumps(b["params"], sort_keys=True) for b in bests]
    todo = len({(k, s) for k in keys for s in seeds} - set(known))
    trained = 0
    out = []
    for b, key in zip(bests, keys, strict=True):
        exacts, seconds = [], []
        for s in seeds:
            if (key, s) not in known:
                t0 = time.perf_counter()
                values = evaluate(b["params"], s)
                known[(key, s)] = (float(values["exact"]), time.perf_counter() - t0)
                if record is not None:
                    record({"params": b["params"], "seed": s, "exact": known[(key, s)][0],
                            "seconds": known[(key, s)][1]})
                trained += 1
                progress(f"{trained}/{todo} {b['method']}-{b['seed']} <= {b['band']:.0%} "
                         f"trial {b['trial']}, seed {s}: exact {known[(key, s)][0]:.2f} "
                         f"(recorded {b['recorded']:.2f})")
            exacts.append(known[(key, s)][0])
            seconds.append(known[(key, s)][1])
        out.append({**b, "retrained": exacts, "seconds": seconds})
    return out


def summary(rows: Sequence[Mapping[str, Any]], threshold: float
            ) -> dict[str, dict[str, dict[str, Any]]]:
    """Per band (as ``"0.6"``) and method: the run seeds, the median over them of the
    recorded band best and of its retrained mean, and how many of the retrained exact
    matches (all seeds, all runs) are above ``threshold``. The medians are over the runs
    with a student in the band (there is nothing to train again for the others; the
    comparison's report counts such a run as the no-answer EM), so ``seeds`` says which."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        d = out.setdefault(str(r["band"]), {}).setdefault(
            r["method"], {"seeds": [], "recorded": [], "mean": [], "above": 0, "trained": 0})
        d["seeds"].append(r["seed"])
        d["recorded"].append(r["recorded"])
        d["mean"].append(statistics.fmean(r["retrained"]))
        d["above"] += sum(e > threshold for e in r["retrained"])
        d["trained"] += len(r["retrained"])
    for by_method in out.values():
        for d in by_method.values():
            d["median_recorded"] = statistics.median(d["recorded"])
            d["median_mean"] = statistics.median(d["mean"])
    return out


def markdown(data: Mapping[str, Any]) -> str:
    """The report, from the JSON alone."""
    seeds = ", ".join(str(s) for s in data["seeds"])
    thr = data["reference"]["exact"]
    lines = [
        "# Are the best students of each size band repeatable?",
        "",
        f"Generated by `python -m benchmarks.distill_bandcheck` from `{data['json']}`; do not "
        f"edit by hand. Command: `{data['command']}` (commit `{data['commit'] or 'unknown'}`"
        + (", with uncommitted changes" if data.get("dirty") else "") + "). "
        f"Machine: {data['machine']}, {data['threads']} torch thread(s); students trained on "
        f"{data['device']}; teacher digest `{data['environment']['teacher']}`; "
        f"{data['date']}.",
        "",
        f"Per run of `{data['folder']}` and per size band, the run's best completed student "
        "within the band (what the comparison's report takes), trained again here under "
        f"the training seeds {seeds} (the recorded value is the task's seed, 0): the seed of "
        "the student's random initialisation and batch order; data, teacher and its logits "
        f"unchanged. Threshold (always no-answer): {thr:.2f} EM.",
        "",
    ]
    for band, by_method in data["summary"].items():
        b = float(band)
        lines += [f"## Within {b:.0%} of the teacher's size", "",
                  "| method | median recorded best | median retrained mean | retrained above "
                  "the threshold |", "|---|---:|---:|---:|"]
        for m in sorted(by_method, key=METHODS.index):
            d = by_method[m]
            lines.append(f"| {m} | {d['median_recorded']:.2f} | {d['median_mean']:.2f} | "
                         f"{d['above']} of {d['trained']} |")
        lines += ["", "| run | trial | source | students in band | layers, heads | recorded "
                  f"| seeds {seeds} | mean |", "|---|---:|---|---:|---|---:|---|---:|"]
        for r in data["rows"]:
            if str(r["band"]) != band:
                continue
            p = r["params"]
            shape = f"{p.get('n_layers', '-')}, {p.get('n_heads', '-')}"
            lines.append(f"| {r['method']}-{r['seed']} | {r['trial']} | {r['source']} | "
                         f"{r['in_band']} | {shape} | {r['recorded']:.2f} | "
                         + ", ".join(f"{e:.2f}" for e in r["retrained"])
                         + f" | {statistics.fmean(r['retrained']):.2f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m benchmarks.distill_bandcheck",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", type=Path, required=True,
                    help="a distill_compare output folder")
    ap.add_argument("--runs", nargs="+", default=None, metavar="METHOD-SEED",
                    help="only these runs (default: every run of the folder)")
    ap.add_argument("--bands", nargs="+", type=float, default=list(SIZE_BANDS),
                    help="size bands, as fractions of the teacher's size (default "
                         + " ".join(str(b) for b in SIZE_BANDS) + ")")
    ap.add_argument("--seeds", nargs="+", type=int, default=list(DEFAULT_SEEDS),
                    help="training seeds each band best is trained again under (default "
                         + " ".join(str(s) for s in DEFAULT_SEEDS) + ")")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: the library's own)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="the JSON; the report goes beside it as .md "
                         "(default results/distill_bandcheck.json)")
    a = ap.parse_args(argv)
    if any(not (0.0 < b <= 1.0) or math.isnan(b) for b in a.bands):
        ap.error("--bands: each must be in (0, 1]")
    if any(s < 0 for s in a.seeds) or len(set(a.seeds)) != len(a.seeds):
        ap.error("--seeds: distinct non-negative integers")
    if a.threads is not None and a.threads < 1:
        ap.error("--threads: must be >= 1")
    if not (a.folder / NAME).is_dir():
        ap.error(f"--folder: no {NAME}/ in {a.folder}")
    if not a.out.parent.is_dir():
        ap.error(f"--out: {a.out.parent} is not a folder")
    try:
        ref = read_reference(a.folder)
        bests = band_bests(a.folder, sorted(set(a.bands)), ref, a.runs)
    except (ValueError, FileNotFoundError) as e:
        ap.error(str(e))
    if not bests:
        ap.error(f"no completed student within the bands in {a.folder / NAME}")
    # the code that runs, stamped before it does (a commit made while it trains is not it)
    stamp = stamp_fields(FILES["distill_bandcheck.json"])
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    box = load_task(lambda s: print(s, file=sys.stderr))
    tasks = {s: box.fn.with_training_seed(s) for s in a.seeds}  # type: ignore[attr-defined]
    log = log_path(a.out)
    try:
        done = read_log(log, box.environment) if log.is_file() else {}
    except ValueError as e:
        ap.error(f"--out: {e}")
    if not log.is_file():
        append_line(log, {"environment": box.environment})
    if done:
        print(f"{relative(log)}: {len(done)} training(s) made before are used, not repeated",
              file=sys.stderr)
    rows = retrain(bests, a.seeds, lambda p, s: tasks[s](p),
                   lambda s: print(s, file=sys.stderr, flush=True), done,
                   lambda e: append_line(log, e))
    data = {
        "command": command_line("benchmarks.distill_bandcheck", argv),
        **stamp,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{cpu_name()}, {os.cpu_count()} CPU(s) seen",
        "threads": torch.get_num_threads(),
        "device": device_words(box.fn),
        "folder": relative(a.folder), "json": relative(a.out),
        "environment": box.environment,
        "reference": ref, "seeds": list(a.seeds),
        "summary": summary(rows, ref["exact"]), "rows": rows,
    }
    a.out.write_text(json.dumps(data, indent=1) + "\n")
    a.out.with_suffix(".md").write_text(markdown(data))
    print(f"wrote {a.out} and {a.out.with_suffix('.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
