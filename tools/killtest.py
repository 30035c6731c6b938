"""Kill test: SIGKILL a journaled study at random moments, resume it, check nothing was lost.

A fault-injection tool for the journal of :class:`mobo.Study`, not a benchmark. It runs
from the repository root of a checkout (``tools`` is not installed)::

    python -m tools.killtest --out results/killtest.md                # long form
    python -m tools.killtest --budget 8 --kills 3 --random-kills 3    # short form

What it does:

1. Runs ``python -m mobo.run --problem P --budget B --seed S --storage ref.jsonl`` once,
   uninterrupted: the reference.
2. In each phase, runs the same command with a fresh journal again and again, killing each
   run with SIGKILL, until one run finishes by itself. Kill moments are drawn around
   journal events: wait for ``g`` new lines (``g`` random from 0, paced so the kills spread
   over the whole study), then a random delay.

   * Phase 1 aims its kills *between trials*: just after a trial's outcome is written
     (while the next proposal is computed) or during start-up. Kills that still land
     while a trial runs are reported as such.
   * Phase 2 kills at *random moments*: during start-up and journal replay, during
     proposals, mid-way through the burst of initial-design trials, while a trial runs.
     After a share of its kills it also simulates a power loss during the run's last
     append: that line is cut at a random byte (down to nothing), the only damage an
     interrupted ``write`` + ``fsync`` can leave (earlier lines were fsynced before the
     run went on). This also loses trial outcomes, which the study must abandon and ask
     again.
3. Checks each finished journal (see :func:`check`), prints a markdown report and exits
   with status 1 if any check failed.

What "the same results as an uninterrupted run" can honestly mean
-----------------------------------------------------------------
The study makes its ``k``-th model proposal from the journaled data, the study seed and
``k`` (``rng = default_rng([seed, k])``, ``k`` counting model proposals, not trial
numbers), so a kill that falls *between* trials -- or inside the computation of a
proposal, whose ``ask`` event was not written yet -- is invisible: the resumed process
asks the same trial number from the same data and gets the same point. A kill (or power
loss) that falls while a trial *runs* loses that evaluation: on resume the trial is
recorded ``abandoned`` and its parameters are asked again as the next trial number.
The retry gives the same value, and the model proposals after it are drawn from the
same random streams as in the uninterrupted run, so the comparison is:

* every trial numbered before the first abandoned one must equal the reference trial of
  the same number exactly (parameters, source and values, bit for bit);
* the completed trials (abandoned ones left out) must hold the same parameters and
  values as the reference's (whether they also come in the same order is reported);
* and the invariants: each abandoned trial is asked again with identical parameters,
  each Sobol row of the initial design is completed exactly once with the reference's
  parameters, and every completed value equals a fresh evaluation of the
  (deterministic) problem at the trial's parameters.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mobo.journal import Journal, JournalWarning
from mobo.problems import get_problem

# The repository root: tools is not installed, so this file always lies in the checkout.
ROOT = Path(__file__).resolve().parents[1]

__all__ = ["KillTest", "KillTestResult", "Phase", "check", "main", "replay", "run_killtest"]


# ------------------------------------------------------------------ journal replay
@dataclass
class TrialRecord:
    """One trial as the journal tells it."""

    number: int
    params: dict[str, Any]
    source: str
    status: str = "running"
    values: dict[str, Any] | None = None
    design_index: int | None = None
    requeued_from: int | None = None
    terminal_events: int = 0


def _read_events(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """Events of a journal, and whether a torn last line was skipped."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", JournalWarning)
        events = Journal(path).read()
    return events, any(issubclass(w.category, JournalWarning) for w in caught)


def replay(events: list[dict[str, Any]]) -> tuple[list[TrialRecord], list[str]]:
    """Trials by number from raw journal events, plus every inconsistency found (duplicate
    or out-of-order trial numbers, outcomes for unknown or already finished trials)."""
    trials: list[TrialRecord] = []
    problems: list[str] = []
    for i, event in enumerate(events, start=1):
        kind = event.get("event")
        if kind == "ask":
            number = event.get("number")
            if number != len(trials):
                problems.append(f"line {i}: ask of trial {number}, expected {len(trials)}")
                continue
            trials.append(
                TrialRecord(
                    number,
                    dict(event["params"]),
                    str(event.get("source")),
                    design_index=event.get("design_index"),
                    requeued_from=event.get("requeued_from"),
                )
            )
        elif kind in ("tell", "fail", "abandon"):
            number = event.get("number")
            if not isinstance(number, int) or not 0 <= number < len(trials):
                problems.append(f"line {i}: {kind} of unknown trial {number}")
                continue
            trial = trials[number]
            trial.terminal_events += 1
            if trial.status != "running":
                problems.append(f"line {i}: {kind} of trial {number}, already {trial.status}")
                continue
            trial.status = {"tell": "completed", "fail": "failed", "abandon": "abandoned"}[kind]
            trial.values = event.get("values")
    for trial in trials:
        if trial.source == "requeue" and trial.requeued_from is not None:
            old = trial.requeued_from
            if 0 <= old < len(trials):
                trial.design_index = trials[old].design_index
    return trials, problems


def _completed(trials: list[TrialRecord]) -> dict[int, TrialRecord]:
    return {t.number: t for t in trials if t.status == "completed"}


# ------------------------------------------------------------------ running the CLI
def _command(problem: str, budget: int, seed: int, storage: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mobo.run",
        "--problem",
        problem,
        "--budget",
        str(budget),
        "--seed",
        str(seed),
        "--storage",
        str(storage),
    ]


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    # one thread: the machine is shared, and reference and killed runs must compute alike
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    return env


def _snapshot(dst: Path) -> Path:
    """Copy the packages (with their numba caches; mtimes kept, so the caches stay valid)."""
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for package in ("mobo", "benchmarks", "distill"):
        if (ROOT / package).is_dir():
            shutil.copytree(ROOT / package, dst / package)
    return dst


_EVALUATE = (
    "import json, sys\n"
    "from mobo.problems import get_problem\n"
    "problem = get_problem(sys.argv[1])\n"
    "print(json.dumps([problem(p) for p in json.load(sys.stdin)]))\n"
)


def _evaluate(problem: str, params: list[dict[str, Any]], root: Path) -> list[dict[str, float]]:
    """Fresh evaluations of the problem, with the code the runs used."""
    if root == ROOT:
        fn = get_problem(problem)
        return [fn(p) for p in params]
    out = subprocess.run(
        [sys.executable, "-c", _EVALUATE, problem],
        input=json.dumps(params),
        capture_output=True,
        text=True,
        cwd=root,
        env=_env(root),
        check=True,
    )
    return json.loads(out.stdout)


def _problem_dim(problem: str, root: Path) -> int:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from mobo.problems import get_problem; "
            "print(get_problem(sys.argv[1]).space.dim)",
            problem,
        ],
        capture_output=True,
        text=True,
        cwd=root,
        env=_env(root),
        check=True,
    )
    return int(out.stdout.strip())


def _code_version() -> str:
    """The commit the packages come from, and which of their files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "mobo", "benchmarks", "distill", "tools"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.split("\n")
    except OSError:
        return "unknown (no git)"
    changed = sorted(line[3:] for line in dirty if line.strip() and line[3:].endswith(".py"))
    if not head:
        return "unknown (not a git checkout)"
    if not changed:
        return f"commit {head}"
    return f"commit {head} with uncommitted changes in {', '.join(changed)}"


def _line_count(path: Path, outcomes_only: bool = False) -> int:
    """Journal lines written so far (only trial outcomes: tell/fail/abandon, if asked)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    if not outcomes_only:
        return data.count(b"\n")
    # the journal writes compact JSON with sorted keys, so the event name reads exactly so
    return sum(data.count(b'"event":"%s"' % kind) for kind in (b"tell", b"fail", b"abandon"))


@dataclass
class Launch:
    """One run of the command: how and when it ended."""

    index: int
    seconds: float
    lines_before: int
    lines_after: int
    killed: bool
    moment: str = ""  # where the kill fell (see _classify)
    torn: str = ""  # power-loss simulation applied after the kill, if any
    returncode: int | None = None
    warned_torn: bool = False  # the run reported a torn last line


def _run_to_end(
    cmd: list[str], root: Path, log: Path, timeout: float
) -> tuple[int, float, list[float]]:
    """Run uninterrupted; return code, wall time and the times journal lines appeared."""
    storage = Path(cmd[-1])
    start = time.monotonic()
    stamps: list[float] = []
    seen = 0
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=_env(root), stdout=out, stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None:
                if time.monotonic() - start > timeout:
                    proc.kill()
                    proc.wait()
                    raise RuntimeError(f"reference run took over {timeout:.0f} s; see {log}")
                n = _line_count(storage)
                stamps += [time.monotonic() - start] * (n - seen)
                seen = max(seen, n)
                time.sleep(0.005)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return proc.returncode, time.monotonic() - start, stamps


def _classify(events_before: int, events: list[dict[str, Any]]) -> str:
    """Where a kill fell, judged from the journal it left."""
    if len(events) == events_before:
        return "before any event of this run (start-up, resume or first proposal)"
    trials, _ = replay(events)
    if any(t.status == "running" for t in trials):
        return "while a trial was running"
    return "between trials (or while the next proposal was computed)"


def _tear_last_line(path: Path, rng: np.random.Generator) -> str:
    """Cut the journal's last line at a random byte: a power loss during its append."""
    data = path.read_bytes() if path.exists() else b""
    if not data.endswith(b"\n"):
        return ""  # empty, or its last append was already cut: nothing more was written
    start = data.rfind(b"\n", 0, len(data) - 1) + 1
    cut = int(rng.integers(start, len(data)))  # from the line's start to just before "\n"
    with open(path, "r+b") as f:
        f.truncate(cut)
    kept = cut - start
    total = len(data) - start
    if kept == 0:
        return f"last line lost entirely ({total} bytes)"
    if kept == total - 1:
        return f"only the newline of the last line lost ({total} bytes)"
    return f"last line torn after {kept} of {total} bytes"


# ------------------------------------------------------------------ the test
@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Phase:
    """One killed-and-resumed study.

    Attributes:
        name: shown in the report.
        min_kills: the phase fails if the study ends after fewer kills.
        power_loss: share of kills after which the journal's last line is cut.
        aim: ``"between"`` kills just after a trial's outcome is written (so, nearly always,
            while the next proposal is computed) or during start-up; ``"random"`` kills at
            any moment, including while a trial runs.
    """

    name: str
    min_kills: int
    power_loss: float = 0.0
    aim: str = "random"


@dataclass
class KillTestResult:
    """Outcome of one phase."""

    phase: Phase
    launches: list[Launch]
    checks: list[Check]
    seconds: float
    n_trials: int
    n_abandoned: int
    first_abandoned: int | None
    prefix_compared: int
    full_sequence_match: bool
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def kills(self) -> int:
        return sum(launch.killed for launch in self.launches)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


@dataclass
class KillTest:
    """The reference run and every phase."""

    problem: str
    budget: int
    seed: int
    reference_seconds: float
    reference_events: int
    phases: list[KillTestResult]
    code: str = ""

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.phases)


DEFAULT_PHASES = (
    Phase("SIGKILL between trials", 20, 0.0, "between"),
    Phase("SIGKILL at random moments, a third followed by a power loss", 20, 0.35, "random"),
)


def run_killtest(
    problem: str = "branincurrin",
    budget: int = 20,
    seed: int = 0,
    *,
    phases: Sequence[Phase] = DEFAULT_PHASES,
    kill_seed: int = 1,
    workdir: str | os.PathLike[str] | None = None,
    timeout: float = 600.0,
    snapshot: bool = True,
    warm_up: bool = True,
    progress: Any = None,
) -> KillTest:
    """Run the reference study once, then each phase's killed-and-resumed study.

    Args:
        problem, budget, seed: the toy study (``python -m mobo.run`` arguments).
        phases: each kills a fresh study at least ``min_kills`` times (the phase fails if
            the study ended sooner) and cuts the journal's last line after a share
            ``power_loss`` of the kills.
        kill_seed: seeds the kill moments and cuts.
        workdir: where journals and logs go (a temporary directory by default).
        timeout: seconds allowed for each run of the command.
        snapshot: run a copy of the packages taken at the start, so that edits to the
            working tree while the test runs cannot make the runs differ.
        warm_up: run a short study first, so numba's compiled-kernel cache is warm and the
            reference run's timing (which paces the kills) is that of a normal resume.
        progress: called with a line of text after each run (e.g. ``print``).
    """
    say = progress or (lambda text: None)
    rng = np.random.default_rng(kill_seed)
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="mobo-killtest-")
        workdir = tmp.name
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        ref_path = work / "reference.jsonl"
        ref_path.unlink(missing_ok=True)
        root = _snapshot(work / "code") if snapshot else ROOT
        if warm_up:
            # compile and cache the numba kernels (in the snapshot) before anything is timed
            space_dim = _problem_dim(problem, root)
            _run_to_end(
                _command(problem, 2 * (space_dim + 1) + 1, seed, work / "warm-up.jsonl"),
                root,
                work / "warm-up.log",
                timeout,
            )
        code, ref_seconds, stamps = _run_to_end(
            _command(problem, budget, seed, ref_path), root, work / "reference.log", timeout
        )
        if code != 0:
            raise RuntimeError(
                f"reference run failed with status {code}:\n"
                + (work / "reference.log").read_text(errors="replace")[-3000:]
            )
        say(f"reference: {len(stamps)} events in {ref_seconds:.1f} s")
        # timing profile: start-up until the first event, the longest pause between events
        # (the first model proposal, which also loads the surrogate's libraries) and a
        # typical pause (about one proposal once everything is loaded)
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False) if b - a > 0]
        timing = {
            "startup": stamps[0] if stamps else 1.0,
            "longest": max(gaps, default=0.5),
            "typical": 2 * float(np.median(gaps)) if gaps else 0.1,
        }
        results = []
        for number, phase in enumerate(phases):
            say(f"phase {number}: {phase.name}")
            results.append(
                _killed_study(
                    phase,
                    problem,
                    budget,
                    seed,
                    ref_path,
                    root,
                    work / f"phase{number}",
                    rng,
                    timing,
                    timeout,
                    say,
                )
            )
        return KillTest(problem, budget, seed, ref_seconds, len(stamps), results, _code_version())
    finally:
        if tmp is not None:
            tmp.cleanup()


def _killed_study(
    phase: Phase,
    problem: str,
    budget: int,
    seed: int,
    ref_path: Path,
    root: Path,
    work: Path,
    rng: np.random.Generator,
    timing: dict[str, float],
    timeout: float,
    say: Any,
) -> KillTestResult:
    work.mkdir(parents=True, exist_ok=True)
    kill_path = work / "killed.jsonl"
    kill_path.unlink(missing_ok=True)
    outcomes_only = phase.aim == "between"
    launches: list[Launch] = []
    snapshots: dict[int, dict[str, Any]] = {}  # completed results seen after each kill
    start_all = time.monotonic()
    cmd = _command(problem, budget, seed, kill_path)
    while True:
        index = len(launches)
        if index > 10 * phase.min_kills + 10:
            raise RuntimeError(f"study did not finish after {index} runs")
        kills = sum(x.killed for x in launches)
        trials, _ = replay(_read_events(kill_path)[0])
        to_go = budget - sum(t.status in ("completed", "failed") for t in trials)
        # a finished study's last run must be allowed to end by itself
        kill = to_go > 0 and kills < 3 * phase.min_kills
        # lines to wait for: spread the kills still wanted over the trials still to run
        lines_to_go = to_go if outcomes_only else 2 * to_go
        per_kill = max(1, round(2 * lines_to_go / max(1.25 * (phase.min_kills - kills), 1.25)))
        wait_lines = int(rng.integers(0, per_kill + 1))
        if kills < phase.min_kills:  # leave work for the kills still wanted
            wait_lines = min(wait_lines, max(lines_to_go - 1, 0))
        if wait_lines == 0:  # start-up, journal replay or the first proposal
            if outcomes_only:
                delay = float(rng.uniform(0.0, timing["startup"]))
            else:
                delay = float(rng.uniform(0.0, timing["startup"] + timing["longest"]))
        elif outcomes_only:  # just after an outcome, while the next proposal is computed
            delay = float(rng.uniform(0.0, 0.1 * timing["typical"]))
        elif rng.random() < 0.4:  # right after an event (mid-burst in the initial design)
            delay = 0.0
        else:  # somewhere in the time a proposal takes
            delay = float(rng.uniform(0.0, 1.5 * timing["typical"]))
        before = _line_count(kill_path)
        counted = _line_count(kill_path, outcomes_only)
        awaited = counted + wait_lines
        # while kills are still wanted, the delay ends early once the run has used up the
        # lines left for them: a delay that outlasts a burst of fast trials (the initial
        # design) would otherwise let the study finish with too few kills
        limit = (counted + max(lines_to_go - (phase.min_kills - kills), wait_lines)
                 if kills < phase.min_kills else None)
        events_before = len(_read_events(kill_path)[0])
        log = work / f"run-{index:03d}.log"
        t0 = time.monotonic()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=root, env=_env(root), stdout=out, stderr=subprocess.STDOUT
            )
            try:
                if kill:
                    while proc.poll() is None and _line_count(kill_path, outcomes_only) < awaited:
                        if time.monotonic() - t0 > timeout:
                            break
                        time.sleep(0.002)
                    end = time.monotonic() + delay
                    while proc.poll() is None and time.monotonic() < end and (
                            limit is None or _line_count(kill_path, outcomes_only) < limit):
                        time.sleep(0.002)
                if kill and proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    killed = True
                else:
                    proc.wait(timeout=timeout)
                    killed = False
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        launch = Launch(
            index,
            time.monotonic() - t0,
            before,
            _line_count(kill_path),
            killed,
            returncode=proc.returncode,
            warned_torn="torn last line" in log.read_text(errors="replace"),
        )
        launches.append(launch)
        if not killed:
            say(f"  run {index}: finished with status {proc.returncode}")
            if proc.returncode != 0:
                raise RuntimeError(
                    f"resumed run failed with status {proc.returncode}:\n"
                    + log.read_text(errors="replace")[-3000:]
                )
            break
        events, _ = _read_events(kill_path)
        launch.moment = _classify(events_before, events)
        # a power loss can only damage what this run appended last (everything earlier
        # was fsynced before the run went on), and only if it appended anything
        if launch.lines_after > before and rng.random() < phase.power_loss:
            launch.torn = _tear_last_line(kill_path, rng)
            events, _ = _read_events(kill_path)
            lost = [t.number for t in replay(events)[0] if t.status == "running"]
            if lost and launch.moment.startswith("between"):
                launch.torn += f": trial {lost[0]}'s outcome lost"
        for number, trial in _completed(replay(events)[0]).items():
            snapshots.setdefault(number, trial.values or {})
        say(
            f"  run {index}: killed after {launch.seconds:.2f} s, journal "
            f"{before} -> {launch.lines_after} lines, {launch.moment}"
            + (f"; power loss: {launch.torn}" if launch.torn else "")
        )
    result = check(
        problem,
        budget,
        ref_path,
        kill_path,
        launches,
        snapshots,
        min_kills=phase.min_kills,
        root=root,
    )
    result.phase = phase
    result.seconds = time.monotonic() - start_all
    unit = "trial outcomes" if outcomes_only else "journal lines"
    if outcomes_only:
        delays = (
            f"0..{timing['startup']:.2f} s if none is awaited, else "
            f"0..{0.1 * timing['typical'] * 1000:.0f} ms"
        )
    else:
        delays = (
            f"0..{timing['startup'] + timing['longest']:.2f} s if none is awaited, else 0 "
            f"(40%) or 0..{1.5 * timing['typical']:.2f} s"
        )
    result.settings = {
        f"{unit} awaited before a kill": "0..2r/(1.25k) for r to go and k kills to go",
        "then a delay": delays,
    }
    return result


def check(
    problem: str,
    budget: int,
    ref_path: Path,
    kill_path: Path,
    launches: list[Launch],
    snapshots: dict[int, dict[str, Any]],
    *,
    min_kills: int,
    root: Path = ROOT,
) -> KillTestResult:
    """Compare the finished killed journal with the reference and with the problem."""
    ref_events, _ = _read_events(ref_path)
    events, torn_at_end = _read_events(kill_path)
    ref_trials, ref_problems = replay(ref_events)
    trials, problems = replay(events)
    checks: list[Check] = []

    def add(name: str, passed: bool, detail: str) -> None:
        checks.append(Check(name, bool(passed), detail))

    kills = sum(launch.killed for launch in launches)
    add(f"at least {min_kills} kills", kills >= min_kills, f"{kills} SIGKILLs")
    add("reference journal is consistent", not ref_problems, "; ".join(ref_problems) or "ok")
    no_outcome = [t.number for t in trials if t.terminal_events != 1]
    detail = "; ".join(problems[:5])
    if torn_at_end:
        detail += " torn last line at the end"
    if no_outcome:
        detail += f" trials without exactly one outcome: {no_outcome[:10]}"
    add(
        "journal is consistent: trial numbers 0..n-1 asked once each, one outcome per trial",
        not problems and not torn_at_end and not no_outcome,
        detail.strip() or f"{len(trials)} trials, each with exactly one outcome",
    )
    completed = _completed(trials)
    n_failed = sum(t.status == "failed" for t in trials)
    add(
        f"exactly {budget} completed trials",
        len(completed) == budget and n_failed == 0,
        f"{len(completed)} completed, {n_failed} failed, "
        f"{sum(t.status == 'abandoned' for t in trials)} abandoned",
    )
    lost = [n for n in snapshots if n not in completed]
    changed = [n for n, v in snapshots.items() if n in completed and completed[n].values != v]
    add(
        "every result completed before a kill is still there, unchanged",
        not lost and not changed,
        f"{len(snapshots)} results seen after kills; lost {lost[:10]}, changed {changed[:10]}",
    )
    fresh = _evaluate(problem, [t.params for t in completed.values()], root)
    wrong = []
    for t, expected in zip(completed.values(), fresh, strict=True):
        if any(t.values is None or t.values.get(k) != v for k, v in expected.items()):
            wrong.append(t.number)
    add(
        "every completed value equals a fresh evaluation of the problem",
        not wrong,
        f"{len(completed)} checked; mismatches at {wrong[:10]}",
    )
    bad_requeue = [
        t.number
        for t in trials
        if t.source == "requeue"
        and (
            t.requeued_from is None
            or not 0 <= t.requeued_from < len(trials)
            or trials[t.requeued_from].status != "abandoned"
            or trials[t.requeued_from].params != t.params
        )
    ]
    abandoned = [t.number for t in trials if t.status == "abandoned"]
    requeued = {t.requeued_from for t in trials if t.source == "requeue"}
    add(
        "every abandoned trial is asked again with the same parameters",
        not bad_requeue and set(abandoned) <= requeued,
        f"{len(abandoned)} abandoned; bad requeues {bad_requeue[:10]}, not asked again "
        f"{sorted(set(abandoned) - requeued)[:10]}",
    )
    ref_design = {
        t.design_index: t.params
        for t in ref_trials
        if t.source == "sobol" and t.design_index is not None
    }
    design_done: dict[int, list[int]] = {}
    for t in completed.values():
        if t.design_index is not None:
            design_done.setdefault(t.design_index, []).append(t.number)
    design_bad = [
        i
        for i, numbers in design_done.items()
        if len(numbers) != 1 or completed[numbers[0]].params != ref_design.get(i)
    ]
    missing_rows = sorted(set(ref_design) - set(design_done))
    add(
        "each initial-design row completed exactly once, with the reference's parameters",
        not design_bad and not missing_rows,
        f"{len(design_done)} rows; wrong/duplicated {design_bad[:10]}, missing {missing_rows[:10]}",
    )
    first_abandoned = min(abandoned) if abandoned else None
    limit = len(trials) if first_abandoned is None else first_abandoned
    limit = min(limit, len(ref_trials))
    differ = [
        n
        for n in range(limit)
        if (trials[n].params, trials[n].source, trials[n].status, trials[n].values)
        != (
            ref_trials[n].params,
            ref_trials[n].source,
            ref_trials[n].status,
            ref_trials[n].values,
        )
    ]
    if first_abandoned is None:
        same_len = len(trials) == len(ref_trials)
        add(
            "no trial abandoned: the whole run equals the reference, trial by trial",
            not differ and same_len,
            f"{limit} trials compared; differ at {differ[:10]}"
            + ("" if same_len else f"; {len(trials)} trials vs {len(ref_trials)}"),
        )
    else:
        add(
            f"trials before the first abandoned one (0..{limit - 1}) equal the reference exactly",
            not differ,
            f"{limit} trials compared (params, source, status, values); differ at {differ[:10]}",
        )
    seq = [(t.params, t.values) for t in trials if t.status == "completed"]
    ref_seq = [(t.params, t.values) for t in ref_trials if t.status == "completed"]
    if first_abandoned is not None:
        # as a multiset: with one worker a retry comes straight after its abandonment, so
        # the order matches too (reported below), but the results are what must not change
        mine = sorted(json.dumps(x, sort_keys=True) for x in seq)
        theirs = sorted(json.dumps(x, sort_keys=True) for x in ref_seq)
        add(
            "the completed results, abandoned trials left out, equal the reference's",
            mine == theirs,
            f"{len(seq)} vs {len(ref_seq)} completed; "
            f"{len(set(mine) ^ set(theirs))} differ",
        )
    return KillTestResult(
        phase=Phase("", min_kills, 0.0),
        launches=launches,
        checks=checks,
        seconds=math.nan,
        n_trials=len(trials),
        n_abandoned=len(abandoned),
        first_abandoned=first_abandoned,
        prefix_compared=limit,
        full_sequence_match=seq == ref_seq,
    )


# ------------------------------------------------------------------ report
def _phase_report(r: KillTestResult, number: int) -> list[str]:
    moments: dict[str, int] = {}
    for launch in r.launches:
        if launch.killed:
            moments[launch.moment] = moments.get(launch.moment, 0) + 1
    torn = [launch for launch in r.launches if launch.torn]
    warned = sum(launch.warned_torn for launch in r.launches)
    lines = [
        f"## Phase {number}: {r.phase.name} -- {'PASS' if r.passed else 'FAIL'}",
        "",
        f"{r.kills} SIGKILLs over {len(r.launches)} runs; {len(torn)} kills followed by a "
        f"simulated power loss (the journal's last line cut at a random byte); "
        f"{r.n_trials} trials asked, {r.n_abandoned} abandoned and asked again; "
        f"{r.seconds:.1f} s in all.",
        "",
        "| check | result | detail |",
        "|---|---|---|",
    ]
    for c in r.checks:
        lines.append(f"| {c.name} | {'pass' if c.passed else 'FAIL'} | {c.detail} |")
    lines += [
        "",
        "Whole completed sequence (in order, abandoned trials left out) equal to the "
        f"reference's: {'yes' if r.full_sequence_match else 'no'}"
        + ".",
        "",
        "| where the kill fell (judged from the journal it left) | kills |",
        "|---|---|",
    ]
    for moment, count in sorted(moments.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {moment} | {count} |")
    if torn:
        lines += [
            "",
            f"Runs that resumed a journal with a torn last line and warned about it: {warned} "
            f"(torn lines left: {sum('torn' in launch.torn for launch in torn)}; the other "
            "cuts removed a whole line or only its newline, which needs no warning).",
        ]
    lines += [
        "",
        "| run | seconds | journal lines before -> after | ended | power loss |",
        "|---|---|---|---|---|",
    ]
    for launch in r.launches:
        ended = f"SIGKILL: {launch.moment}" if launch.killed else f"exit {launch.returncode}"
        lines.append(
            f"| {launch.index} | {launch.seconds:.2f} | {launch.lines_before} -> "
            f"{launch.lines_after} | {ended} | {launch.torn or '-'} |"
        )
    lines += ["", "Settings: " + "; ".join(f"{k} {v}" for k, v in r.settings.items()) + ".", ""]
    return lines


def report(test: KillTest, command: str) -> str:
    """The result as markdown."""
    kills = sum(p.kills for p in test.phases)
    lines = [
        "# Kill test",
        "",
        f"`{command}`",
        "",
        f"Each run is `python -m mobo.run --problem {test.problem} --budget {test.budget} "
        f"--seed {test.seed} --storage J`, killed with SIGKILL and started again on the same "
        "journal until a run finishes by itself. Machine: "
        f"{platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Code: {test.code} "
        "(every run used one copy of it, taken at the start).",
        "",
        f"**Result: {'PASS' if test.passed else 'FAIL'}** -- {kills} kills in "
        f"{len(test.phases)} phases. The uninterrupted reference run wrote "
        f"{test.reference_events} journal events in {test.reference_seconds:.1f} s.",
        "",
        "**What is compared with the uninterrupted run.** A kill between trials, or during "
        "the computation of a proposal (its `ask` event not yet written), is invisible: the "
        "resumed study asks the same trial number from the same journaled data and gets the "
        "same point. A kill (or power loss) while a trial runs loses that evaluation: the "
        "trial is recorded abandoned and its parameters are asked again under the next trial "
        "number; model proposals are seeded by how many came before (not by trial number), "
        "so the retry and every later proposal are what the uninterrupted run made. Hence "
        "trials before the first abandoned one must equal the reference exactly, the "
        "completed results (abandoned trials left out) must equal the reference's, "
        "and the invariants are checked: the same "
        "parameters for every retry, each initial-design row completed once with the "
        "reference's parameters, every value equal to a fresh evaluation of the "
        "deterministic problem, nothing completed ever lost or changed, no duplicate trial "
        "numbers.",
        "",
    ]
    for number, phase in enumerate(test.phases, start=1):
        lines += _phase_report(phase, number)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.killtest",
        description="SIGKILL a journaled study at random moments, resume it, check the result.",
    )
    parser.add_argument("--problem", default="branincurrin")
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--kills", type=int, default=20, help="minimum kills of the between-trials phase"
    )
    parser.add_argument(
        "--random-kills",
        type=int,
        default=20,
        help="minimum kills of the random-moment phase (0: skip it)",
    )
    parser.add_argument(
        "--power-loss",
        type=float,
        default=0.35,
        help="share of the random-moment kills followed by a cut last line",
    )
    parser.add_argument("--kill-seed", type=int, default=1)
    parser.add_argument("--workdir", default=None, help="keep journals and logs here")
    parser.add_argument(
        "--out", default=None, help="also write the markdown report here (results/killtest.md)"
    )
    args = parser.parse_args(argv)
    if args.budget < 1 or args.kills < 1 or args.random_kills < 0:
        parser.error("--budget and --kills must be >= 1, --random-kills >= 0")
    if not 0 <= args.power_loss <= 1:
        parser.error("--power-loss must be in [0, 1]")
    phases = [Phase("SIGKILL between trials", args.kills, 0.0, "between")]
    if args.random_kills:
        phases.append(
            Phase(
                f"SIGKILL at random moments, {args.power_loss:.0%} of them followed by a "
                "power loss",
                args.random_kills,
                args.power_loss,
                "random",
            )
        )
    test = run_killtest(
        args.problem,
        args.budget,
        args.seed,
        phases=phases,
        kill_seed=args.kill_seed,
        workdir=args.workdir,
        progress=lambda text: print(text, file=sys.stderr, flush=True),
    )
    command = (
        f"python -m tools.killtest --problem {args.problem} --budget {args.budget} "
        f"--seed {args.seed} --kills {args.kills} --random-kills {args.random_kills} "
        f"--power-loss {args.power_loss} --kill-seed {args.kill_seed}"
    )
    text = report(test, command)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0 if test.passed else 1


if __name__ == "__main__":
    sys.exit(main())
