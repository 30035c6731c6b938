"""Does this machine reproduce a distillation comparison's evaluations?

On one machine, with one number of torch threads, the embedded distillation task is
deterministic: a configuration trained twice with the same cached teacher scores the same
exact match (:mod:`distill.objective` seeds every trial). Otherwise it need not be: the
teacher is fine-tuned where the task is first prepared (``~/.cache/mobo``), a CPU of
another kind or another thread count sums in another order, and a student near the
collapse to no-answer can land far from where it landed before. A comparison run in
pieces on more than one machine then mixes such evaluations, and a shared evaluation
cache serves one machine's values to runs on another.

This module re-evaluates a sample of the completed trials of a
:mod:`benchmarks.distill_compare` folder on this machine, with the teacher this machine
has, and reports the recorded and the new exact match side by side, each trial with the
start of the run segment it was recorded in and that segment's ``--threads`` (the folder's
``provenance.jsonl``; a value served from the evaluation cache was first computed in an
earlier segment, perhaps of another run). It says how far the folder's numbers are this
machine's; it changes none of them. The trials are chosen without looking at their values:
per run, ``--per-run`` of its completed trials at evenly spaced positions; a configuration
several runs recorded (a seed's shared initial design) is trained once, under the first.
Run it with the thread count the comparison's runs used (``--threads 1`` for the
committed one).

Usage (from the repository root)::

    python -m benchmarks.distill_recheck --per-run 1          # results/distill_recheck.*
    python -m benchmarks.distill_recheck --folder DIR --runs tpe-10 mobo-11 --per-run 3

Writes a JSON file (with the command, the commit, the teacher's dev metrics and the
environment of :func:`benchmarks.distill_compare.environment`, whose teacher digest names
the teacher bit for bit) and a markdown report generated from it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from benchmarks.distill_compare import NAME, _run_files, device_words, load_task, records
from benchmarks.provenance import FILES, command_line, cpu_name, relative, stamp_fields

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FOLDER = ROOT / "results"
DEFAULT_OUT = ROOT / "results" / "distill_recheck.json"
_THREADS = re.compile(r"--threads[ =](\d+)")


def pick(n: int, k: int) -> list[int]:
    """``min(k, n)`` distinct positions among ``n``, evenly spaced: the middle integer of
    each of ``min(k, n)`` equal stretches of ``[0, n)`` (``pick(100, 2) == [24, 74]``)."""
    k = min(k, n)
    # the integers in [i n / k, (i + 1) n / k) are ceil(i n / k) .. ceil((i + 1) n / k) - 1
    return [(-(-i * n // k) + -(-(i + 1) * n // k) - 1) // 2 for i in range(k)]


def segments(folder: Path) -> dict[tuple[str, int], list[tuple[int, str, int | None]]]:
    """Per (method, seed), the run's segments as (first trial, start date, ``--threads`` of
    its command or None), in file order (a torn or blank line is skipped)."""
    out: dict[tuple[str, int], list[tuple[int, str, int | None]]] = {}
    log = folder / NAME / "provenance.jsonl"
    if not log.is_file():
        return out
    for line in log.read_text().splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        threads = _THREADS.search(str(e.get("command") or ""))
        out.setdefault((e["method"], int(e["seed"])), []).append(
            (int(e["from_trial"]), str(e.get("date") or ""),
             int(threads.group(1)) if threads else None))
    return out


def segment_of(segs: Sequence[tuple[int, str, int | None]], trial: int
               ) -> tuple[str, int | None]:
    """(start date, threads) of the segment that recorded ``trial``: the last segment (in
    file order) that starts at or before it; ("", None) when none does."""
    found = [(d, t) for first, d, t in segs if first <= trial]
    return found[-1] if found else ("", None)


def chosen_runs(folder: Path, runs: Sequence[str] | None) -> list[tuple[str, int]]:
    """(method, seed) of the comparison folder's runs, in the comparison's order: all of
    them, or those named ``method-seed`` in ``runs``. ValueError names a run the folder
    does not have."""
    found = _run_files(folder)
    names = {f"{m}-{s}" for m, s in found}
    unknown = sorted(set(runs or ()) - names)
    if unknown:
        raise ValueError(f"no run {', '.join(unknown)} in {relative(folder / NAME)} "
                         f"(there: {', '.join(sorted(names)) or 'none'})")
    return [(m, s) for m, s in found if not runs or f"{m}-{s}" in runs]


def sample(folder: Path, runs: Sequence[str] | None, per_run: int
           ) -> list[dict[str, Any]]:
    """The trials to re-evaluate: ``per_run`` completed trials of each run (all runs of the
    folder, or those named ``method-seed`` in ``runs``), with what was recorded."""
    chosen = chosen_runs(folder, runs)
    segs = segments(folder)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for method, seed in chosen:
        done = [r for r in records(folder, method, seed) if r["status"] == "completed"]
        for i in pick(len(done), per_run):
            r = done[i]
            key = json.dumps(r["params"], sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            start, threads = segment_of(segs.get((method, seed), []), int(r["trial"]))
            out.append({"run": f"{method}-{seed}", "trial": int(r["trial"]),
                         "source": r["source"], "params": r["params"],
                         "segment_start": start, "segment_threads": threads,
                         "recorded": {k: r["values"][k] for k in ("exact", "f1")}})
    return out


def recheck(trials: Sequence[dict[str, Any]],
            fn: Callable[[Mapping[str, Any]], Mapping[str, float]],
            progress: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """``trials`` with ``new`` (exact, f1) and ``seconds`` of an evaluation by ``fn``."""
    out = []
    for k, t in enumerate(trials):
        t0 = time.perf_counter()
        values = fn(t["params"])
        new = {key: float(values[key]) for key in ("exact", "f1")}
        out.append({**t, "new": new, "seconds": time.perf_counter() - t0})
        progress(f"{k + 1}/{len(trials)} {t['run']} trial {t['trial']}: exact "
                 f"{t['recorded']['exact']:.2f} recorded, {new['exact']:.2f} now")
    return out


def summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How many trials reproduce exactly, and the spread of the exact-match differences
    (new minus recorded, EM points)."""
    diffs = [r["new"]["exact"] - r["recorded"]["exact"] for r in rows]
    return {"trials": len(rows), "identical": sum(d == 0 for d in diffs),
            "median_abs_diff": statistics.median(abs(d) for d in diffs) if diffs else None,
            "max_abs_diff": max((abs(d) for d in diffs), default=None)}


def markdown(data: Mapping[str, Any]) -> str:
    """The report, from the JSON alone."""
    s = data["summary"]
    teacher = data["teacher"]
    lines = [
        "# Do this machine's evaluations reproduce the comparison's?",
        "",
        f"Generated by `python -m benchmarks.distill_recheck` from `{data['json']}`; do not "
        "edit by hand. Command: "
        f"`{data['command']}` (commit `{data['commit'] or 'unknown'}`"
        + (", with uncommitted changes" if data.get("dirty") else "") + "). "
        f"Machine: {data['machine']}, {data['threads']} torch thread(s); students trained "
        f"on {data.get('device', 'CPU')}; {data['date']}.",
        "",
        f"Each row is a completed trial of `{data['folder']}`, chosen by its position in its "
        "run (not by its value), trained again here with this machine's cached teacher "
        f"(dev exact match {teacher['exact']:.2f}, no-answer exact match "
        f"{teacher['NoAns_exact']:.2f}"
        + (f"; digest `{data['environment']['teacher']}`" if data.get("environment") else "")
        + "). The segment start is when the run segment that "
        "recorded the trial began (a value served from the evaluation cache was computed "
        "earlier, perhaps by another run); its threads are those its command set (- where "
        "it set none).",
        "",
        f"**{s['identical']} of {s['trials']} trials reproduce exactly**; the exact match "
        "differs by "
        + (f"{s['median_abs_diff']:.2f} EM points at the median and {s['max_abs_diff']:.2f} "
           "at most." if s["trials"] else "nothing (no trial checked)."),
        "",
        "| run | trial | source | segment start | threads | exact recorded | exact now "
        "| difference |",
        "|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in sorted(data["trials"], key=lambda r: (r["segment_start"], r["run"], r["trial"])):
        d = r["new"]["exact"] - r["recorded"]["exact"]
        lines.append(f"| {r['run']} | {r['trial']} | {r['source']} | "
                     f"{r['segment_start'] or 'unrecorded'} | "
                     f"{r['segment_threads'] if r['segment_threads'] is not None else '-'} | "
                     f"{r['recorded']['exact']:.2f} | "
                     f"{r['new']['exact']:.2f} | {d:+.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m benchmarks.distill_recheck",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", type=Path, default=DEFAULT_FOLDER,
                    help="a distill_compare output folder (default results/)")
    ap.add_argument("--runs", nargs="+", default=None, metavar="METHOD-SEED",
                    help="only these runs (default: every run of the folder)")
    ap.add_argument("--per-run", type=int, default=1,
                    help="completed trials re-evaluated per run (default 1)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: the library's own)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="the JSON; the report goes beside it as .md "
                         "(default results/distill_recheck.json)")
    a = ap.parse_args(argv)
    if a.per_run < 1:
        ap.error("--per-run: must be >= 1")
    if a.threads is not None and a.threads < 1:
        ap.error("--threads: must be >= 1")
    if not (a.folder / NAME).is_dir():
        ap.error(f"--folder: no {NAME}/ in {a.folder}")
    if not a.out.parent.is_dir():
        ap.error(f"--out: {a.out.parent} is not a folder")
    try:
        trials = sample(a.folder, a.runs, a.per_run)
    except ValueError as e:
        ap.error(f"--runs: {e}")
    if not trials:
        ap.error(f"no completed trial in {a.folder / NAME}")
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    box = load_task(lambda s: print(s, file=sys.stderr))
    teacher = dict(box.fn.teacher_metrics)  # type: ignore[attr-defined]
    rows = recheck(trials, box.fn, lambda s: print(s, file=sys.stderr, flush=True))
    data = {
        "command": command_line("benchmarks.distill_recheck", argv),
        **stamp_fields(FILES["distill_recheck.json"]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{cpu_name()}, {os.cpu_count()} CPU(s) seen",
        "threads": torch.get_num_threads(),
        "device": device_words(box.fn),
        "folder": relative(a.folder), "json": relative(a.out),
        "teacher": {k: teacher[k] for k in ("exact", "f1", "HasAns_exact", "NoAns_exact")
                    if k in teacher},
        "environment": box.environment,
        "summary": summary(rows), "trials": rows,
    }
    a.out.write_text(json.dumps(data, indent=1) + "\n")
    a.out.with_suffix(".md").write_text(markdown(data))
    print(f"wrote {a.out} and {a.out.with_suffix('.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
