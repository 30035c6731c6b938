"""Run the distillation comparison's runs side by side, one process per (method, seed).

:mod:`benchmarks.distill_compare` runs its (method, seed) runs one after another in one
process; on a machine with many cores, or a GPU that one small student leaves mostly idle,
they can run at once. This launcher starts ``python -m benchmarks.distill_compare --methods
M --seeds S`` for each pair, at most ``--jobs`` at a time, each with ``--threads`` torch
threads, and writes the report when all have ended. Everything a run writes is what the
sequential command writes (the same per-run files, evaluation cache and provenance lines),
so the two may be mixed, and a stopped launcher is resumed by starting it again: complete
runs are skipped, partial ones resume.

The methods of one seed share that seed's initial design through the evaluation cache. So
that it is evaluated once (and every method starts from the very same values, also where
training is not bit-for-bit deterministic), each seed's first method in ``--methods`` order
is its *leader*: the seed's other runs start only once the leader has recorded a
post-initial trial, or has ended.

mobo's settings (``--mobo-trust-region``, ``--mobo-explore``, ``--mobo-warp``,
``--mobo-threshold-model``, ``--mobo-noisy``, ``--mobo-front-samples``,
``--mobo-sample-front``, ``--mobo-plug-in-front``, ``--mobo-extend``,
``--mobo-extend-by``, ``--mobo-explore-good``) and ``--eval-cache`` are handed to
every run as given, for development runs in their own ``--out-dir``; they are checked
before any run starts.

Usage (from the repository root of a checkout)::

    python -m benchmarks.distill_compare_parallel --jobs 15 --threads 1
    python -m benchmarks.distill_compare_parallel --jobs 4 --methods mobo tpe --seeds 10 11
    python -m benchmarks.distill_compare_parallel --jobs 2 --methods mobo --seeds 0 1 \
        --mobo-trust-region 0.1 --out-dir results/distill_dev/y \
        --eval-cache results/distill_dev/x/distill_compare/evaluations.jsonl

Each run's output goes to ``<log-dir>/<method>-<seed>.log`` (default
``<out-dir>/distill_compare/logs``, ignored by git in ``results/``); a line is printed when
a run starts or ends and, every ``--progress`` seconds, the trials each running run has
finished. Exit status: 0 when every run ended cleanly, 1 when one did not (its log is
named), 2 for bad arguments (before anything starts), 130 on Ctrl-C or SIGTERM (the children are
stopped; start again to resume).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from benchmarks.compare import front_samples_error
from benchmarks.distill_compare import (
    DEFAULT_SEEDS,
    METHODS,
    NAME,
    RESULTS_DIR,
    STANDIN_DIR,
    STANDIN_MARKER,
    records,
)
from mobo.acquisition import EXTEND_BY
from mobo.explore import EXPLORE_GOOD
from mobo.run import explore_arg, trust_region_arg

# the sequential command's options each run is given as they are
_FORWARDED = ("--mobo-trust-region", "--mobo-explore", "--mobo-warp", "--mobo-front-samples",
              "--mobo-extend", "--mobo-extend-by", "--mobo-explore-good", "--eval-cache")

Job = tuple[str, int]  # (method, seed)


def leaders(jobs: Sequence[Job]) -> dict[int, str]:
    """seed -> the method whose run evaluates that seed's initial design first: the
    seed's first job in ``jobs``."""
    out: dict[int, str] = {}
    for method, seed in jobs:
        out.setdefault(seed, method)
    return out


def startable(pending: Sequence[Job], running: int, limit: int, lead: Mapping[int, str],
              design_done: Callable[[int], bool]) -> list[Job]:
    """The pending jobs to start now, in order: at most ``limit - running`` of them, a
    follower only once ``design_done(seed)`` (its leader has left the initial design)."""
    out: list[Job] = []
    for method, seed in pending:
        if running + len(out) >= limit:
            break
        if lead[seed] == method or design_done(seed):
            out.append((method, seed))
    return out


def past_design(rows: Sequence[Mapping[str, object]]) -> bool:
    """Whether a run's finished trials include a post-initial one."""
    return any(r.get("source") == "model" for r in rows)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@dataclass
class Launcher:
    """Starts and watches the runs; ``command(job)`` gives a run's argv."""

    jobs: list[Job]
    limit: int
    out_dir: Path
    log_dir: Path
    command: Callable[[Job], list[str]]
    env: Mapping[str, str]
    say: Callable[[str], None] = print
    poll_s: float = 2.0
    progress_s: float = 60.0
    running: dict[Job, tuple[subprocess.Popen[bytes], IO[bytes]]] = field(default_factory=dict)
    ended: dict[Job, int] = field(default_factory=dict)
    lead: dict[int, str] = field(init=False)

    def __post_init__(self) -> None:
        self.lead = leaders(self.jobs)

    def design_done(self, seed: int) -> bool:
        leader = self.lead[seed]
        if (leader, seed) in self.ended:
            return True
        return past_design(records(self.out_dir, leader, seed))

    def _start(self, job: Job) -> None:
        method, seed = job
        log = (self.log_dir / f"{method}-{seed}.log").open("ab")
        proc = subprocess.Popen(self.command(job), stdout=log, stderr=subprocess.STDOUT,
                                env=dict(self.env))
        self.running[job] = (proc, log)
        self.say(f"{method} seed {seed}: started (log {log.name})")

    def _reap(self) -> None:
        for job, (proc, log) in list(self.running.items()):
            code = proc.poll()
            if code is None:
                continue
            log.close()
            del self.running[job]
            self.ended[job] = code
            n = len(records(self.out_dir, *job))
            self.say(f"{job[0]} seed {job[1]}: ended with {n} trials"
                     + ("" if code == 0 else f", exit status {code} (see "
                        f"{self.log_dir / f'{job[0]}-{job[1]}.log'})"))

    def _progress(self) -> None:
        if self.running:
            self.say("running: " + ", ".join(
                f"{m} {s}: {len(records(self.out_dir, m, s))} trials" for m, s in self.running))

    def run(self) -> dict[Job, int]:
        """Start every job, wait for all; job -> exit status. On an interrupt (Ctrl-C, or
        SIGTERM as ``kill`` sends it) the running children are stopped and
        KeyboardInterrupt is raised."""
        pending = list(self.jobs)
        last_progress = time.monotonic()
        previous = None
        if threading.current_thread() is threading.main_thread():
            # a terminated launcher must not leave its runs going on without it
            previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            while pending or self.running:
                self._reap()
                for job in startable(pending, len(self.running), self.limit, self.lead,
                                     self.design_done):
                    pending.remove(job)
                    self._start(job)
                if time.monotonic() - last_progress >= self.progress_s:
                    self._progress()
                    last_progress = time.monotonic()
                if pending or self.running:
                    time.sleep(self.poll_s)
        except KeyboardInterrupt:
            self.stop()
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        return dict(self.ended)

    def stop(self) -> None:
        """Terminate the running children (their runs resume on the next start)."""
        for proc, _ in self.running.values():
            proc.terminate()
        for proc, log in self.running.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
        self.running.clear()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.distill_compare_parallel",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="runs at once (default: the number of CPUs)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch/numpy threads of each run (default 1)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                    help="methods (default: all; per seed the first leads, see above)")
    ap.add_argument("--seeds", nargs="+", type=int, default=list(DEFAULT_SEEDS),
                    help="method seeds (default 10 11 12, the held-out seeds)")
    ap.add_argument("--budget", type=int, default=100, help="trials per run (default 100)")
    ap.add_argument("--standin", action="store_true",
                    help="the cheap stand-in of the task (development only)")
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="as benchmarks.distill_compare's (default: results/, or "
                    "results/distill_standin/ with --standin)")
    ap.add_argument("--log-dir", type=Path, default=None,
                    help="one log per run (default <out-dir>/distill_compare/logs)")
    ap.add_argument("--progress", type=float, default=60.0, metavar="S",
                    help="seconds between progress lines (default 60)")
    ap.add_argument("--no-report", action="store_true",
                    help="do not write the report when the runs have ended")
    ap.add_argument("--mobo-trust-region", metavar="R", default=None, type=_trust_region,
                    help="mobo's trust region half-width, for every run (as "
                    "benchmarks.distill_compare's; default: the task's recommendation)")
    ap.add_argument("--mobo-explore", metavar="P", default=None, type=_share,
                    help="mobo's exploration share, for every run (as "
                    "benchmarks.distill_compare's; default: the task's recommendation)")
    ap.add_argument("--mobo-warp", choices=("none", "rank", "yeo-johnson"), default=None,
                    help="mobo's output warping, for every run (as "
                    "benchmarks.distill_compare's)")
    ap.add_argument("--mobo-threshold-model", action=argparse.BooleanOptionalAction,
                    default=None, help="mobo's threshold model, for every run (as "
                    "benchmarks.distill_compare's)")
    ap.add_argument("--mobo-noisy", action=argparse.BooleanOptionalAction, default=None,
                    help="mobo's noisy mode, for every run (as benchmarks.distill_compare's)")
    ap.add_argument("--mobo-front-samples", type=int, default=None, metavar="N",
                    help="with --mobo-noisy or --mobo-sample-front: its posterior samples of "
                    "the front, for every run (as benchmarks.distill_compare's)")
    ap.add_argument("--mobo-sample-front", action=argparse.BooleanOptionalAction,
                    default=None, help="mobo's sampled front, for every run (as "
                    "benchmarks.distill_compare's)")
    ap.add_argument("--mobo-plug-in-front", action="store_true",
                    help="the posterior mean in place of the front's samples, for every run "
                    "(as benchmarks.distill_compare's)")
    ap.add_argument("--mobo-extend", metavar="P", default=None, type=_share,
                    help="mobo's front extension share, for every run (as "
                    "benchmarks.distill_compare's)")
    ap.add_argument("--mobo-explore-good", choices=EXPLORE_GOOD, default=None,
                    help="where mobo's exploration share takes its good trials from, for "
                    "every run (as benchmarks.distill_compare's)")
    ap.add_argument("--mobo-extend-by", choices=EXTEND_BY, default=None,
                    help="with --mobo-extend: how the front extension picks its point, for "
                    "every run (as benchmarks.distill_compare's)")
    ap.add_argument("--eval-cache", metavar="PATH", default=None,
                    help="the evaluation cache every run shares (default <out-dir>/"
                    "distill_compare/evaluations.jsonl), e.g. another folder's, whose "
                    "initial designs are then not trained again")
    args = ap.parse_args(argv)
    if (error := front_samples_error(args.mobo_noisy, args.mobo_front_samples,
                                     args.mobo_sample_front, args.mobo_plug_in_front)
            ) is not None:
        ap.error(error)
    if args.mobo_extend_by is not None and (args.mobo_extend is None
                                            or not explore_arg(args.mobo_extend)):
        ap.error("--mobo-extend-by: a setting of the front extension, only with --mobo-extend")
    if args.jobs < 1:
        ap.error(f"--jobs: must be >= 1, got {args.jobs}")
    if args.threads < 1:
        ap.error(f"--threads: must be >= 1, got {args.threads}")
    if args.budget < 2:
        ap.error(f"--budget: must be >= 2, got {args.budget}")
    if args.progress <= 0:
        ap.error(f"--progress: must be > 0, got {args.progress}")
    if len(set(args.methods)) != len(args.methods) or len(set(args.seeds)) != len(args.seeds):
        ap.error("--methods and --seeds: each value once")
    args.out_dir = (args.out_dir or (STANDIN_DIR if args.standin else RESULTS_DIR)
                    ).expanduser().resolve()
    marker = args.out_dir / NAME / STANDIN_MARKER
    runs = list((args.out_dir / NAME).glob("*-*.jsonl"))
    if runs and marker.exists() != args.standin:
        held = "stand-in" if marker.exists() else "real-task"
        ap.error(f"--out-dir: {args.out_dir} holds {held} runs; give another --out-dir")
    args.log_dir = (args.log_dir or args.out_dir / NAME / "logs").expanduser().resolve()
    if args.eval_cache is not None:
        if args.standin:
            ap.error("--eval-cache: the stand-in keeps no evaluation cache")
        cache = Path(args.eval_cache).expanduser().resolve()
        if not cache.parent.is_dir():
            ap.error(f"--eval-cache: {cache.parent} is not a folder")
        args.eval_cache = str(cache)
    args.forwarded = forwarded(args)
    return args


def _trust_region(text: str) -> str:
    """--mobo-trust-region: checked as the runs check it, handed on as written."""
    trust_region_arg(text)
    return text


def _share(text: str) -> str:
    """--mobo-explore, --mobo-extend: a share, checked as the runs check it, handed on as
    written."""
    explore_arg(text)
    return text


def forwarded(args: argparse.Namespace) -> list[str]:
    """The options every run is given as they are (:data:`_FORWARDED`, and the threshold
    model's, noisy mode's and the sampled front's on/off flags), in a fixed order."""
    out: list[str] = []
    for flag in _FORWARDED:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            out += [flag, str(value)]
    for name in ("threshold-model", "noisy", "sample-front"):
        on = getattr(args, f"mobo_{name.replace('-', '_')}")
        if on is not None:
            out.append(f"--mobo-{name}" if on else f"--no-mobo-{name}")
    if args.mobo_plug_in_front:
        out.append("--mobo-plug-in-front")
    return out


def run_command(args: argparse.Namespace, job: Job) -> list[str]:
    """The sequential command for one (method, seed) run."""
    method, seed = job
    cmd = [sys.executable, "-m", "benchmarks.distill_compare", "--methods", method,
           "--seeds", str(seed), "--budget", str(args.budget), "--threads",
           str(args.threads), "--out-dir", str(args.out_dir), *args.forwarded]
    return cmd + (["--standin"] if args.standin else [])


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(m, s) for s in args.seeds for m in args.methods]
    # one thread per BLAS/OpenMP pool too, so that --jobs runs do not oversubscribe
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads)}
    launcher = Launcher(jobs, args.jobs, args.out_dir, args.log_dir,
                        lambda job: run_command(args, job), env,
                        say=lambda msg: print(msg, flush=True), progress_s=args.progress)
    print(f"{len(jobs)} runs, {min(args.jobs, len(jobs))} at a time, {args.threads} "
          f"thread(s) each, into {args.out_dir}; logs in {args.log_dir}", flush=True)
    try:
        ended = launcher.run()
    except KeyboardInterrupt:
        print("interrupted: the runs were stopped; start again to resume", file=sys.stderr)
        return 130
    failed = [f"{m} {s}" for (m, s), code in ended.items() if code != 0]
    if not args.no_report:
        cmd = [sys.executable, "-m", "benchmarks.distill_compare", "--report", "--budget",
               str(args.budget), "--out-dir", str(args.out_dir)]
        subprocess.run(cmd, check=False)
    if failed:
        print(f"error: {len(failed)} run(s) did not end cleanly: {', '.join(failed)} "
              f"(logs in {args.log_dir})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
