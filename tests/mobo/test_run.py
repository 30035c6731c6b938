"""Tests of the command line ``python -m mobo.run``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from functools import partial
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobo import tasks
from mobo.run import build_parser, default_n_initial, main
from mobo.space import Float, Space
from mobo.study import Study
from mobo.tasks import Task, TaskEntry, available_tasks, register_task, unregister_task
from mobo.trial import Objective, Trial

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "mobo.run", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=300)


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--budget", "-1"], "--budget"),
        (["--budget", "ten"], "--budget"),
        (["--problem", "nonsense"], "--problem"),
        (["--workers", "0"], "--workers"),
        (["--seed", "-3"], "--seed"),
        (["--backend", "slurm"], "--backend"),
        (["--trial-timeout", "0"], "--trial-timeout"),
        (["--trial-timeout", "nan"], "--trial-timeout"),
        (["--gpus-per-trial", "-1"], "--gpus-per-trial"),
        (["--problem", "zdt1", "--gpus-per-trial", "1"], "--gpus-per-trial"),
        (["--problem", "zdt1", "--workers", "2", "--backend", "inline"], "--workers"),
        (["--problem", "zdt1", "--address", "10.0.0.1:6379"], "--address"),
        (["--problem", "zdt1", "--data", "synthetic"], "--data"),
        (["--data", "/no/such/folder"], "--data"),
        (["--train-file", "/no/such/train-v2.0.json"], "--train-file"),
        (["--unknown-flag"], "unrecognized"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str], needle: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "j.jsonl"
    code = main([*args, "--storage", str(journal)], out=io.StringIO())
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert needle in line
    assert not journal.exists()


@pytest.mark.parametrize("args", [["--budget", "-1"], ["--problem", "nonsense"],
                                  ["--problem", "zdt1", "--storage", "/"]])
def test_bad_arguments_through_python_m(args: list[str], tmp_path: Path) -> None:
    run = _cli(*args, cwd=tmp_path)
    assert run.returncode == 2 and run.stdout == ""
    _one_error_line(run.stderr)
    assert list(tmp_path.iterdir()) == []


def test_bad_storage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--problem", "zdt1", "--storage", str(tmp_path)]) == 2
    assert "is a directory" in _one_error_line(capsys.readouterr().err)
    missing = tmp_path / "missing" / "j.jsonl"
    assert main(["--problem", "zdt1", "--storage", str(missing)]) == 2
    assert "does not exist" in _one_error_line(capsys.readouterr().err)
    assert not missing.parent.exists()
    if os.geteuid() != 0:  # root ignores permissions
        locked = tmp_path / "ro"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            assert main(["--problem", "zdt1", "--storage", str(locked / "j.jsonl")]) == 2
            assert "not writable" in _one_error_line(capsys.readouterr().err)
        finally:
            locked.chmod(0o700)
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text('{"event": "study"}\nnot json\n{"event": "ask"}\n')
    before = corrupt.read_bytes()
    assert main(["--problem", "zdt1", "--storage", str(corrupt)]) == 2
    assert "line 2" in _one_error_line(capsys.readouterr().err)
    assert corrupt.read_bytes() == before


def test_distill_inputs_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "j.jsonl"
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("train-v2.0.json", "dev-v2.0.json"):
        (broken / name).write_text('{"data": [')
    half = tmp_path / "half"
    half.mkdir()
    (half / "train-v2.0.json").write_text('{"data": []}')
    cases = [
        (["--data", str(broken)], "not valid JSON"),
        (["--data", str(half)], "dev-v2.0.json"),
        (["--train-file", str(half / "train-v2.0.json")], "give both"),
        (["--dev-file", str(half / "missing.json"), "--data", str(half)], "--dev-file"),
        (["--teacher", str(tmp_path / "no-teacher")], "--teacher"),
    ]
    for args, needle in cases:
        assert main([*args, "--storage", str(journal)], out=io.StringIO()) == 2, args
        assert needle in _one_error_line(capsys.readouterr().err), args
        assert not journal.exists()


def test_default_problem_is_the_distillation_task() -> None:
    args = build_parser().parse_args([])
    assert args.problem == "distill" and args.budget == 200
    task = available_tasks()["distill"].build(args, 0)
    exact, size = task.objectives
    assert (exact.name, exact.maximize, size.name, size.maximize) == (
        "exact", True, "num_parameters", False)
    assert 0 < exact.threshold < 100  # the always-no-answer EM of the dev set
    assert "n_layers" in task.space.names and task.prepare is not None


# the stand-in trials save no student, which the kept-students bookkeeping reports
@pytest.mark.filterwarnings("ignore:students. no saved student:UserWarning")
def test_distill_run_prepares_once_then_evaluates(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # distill (and transformers with it) loads only for this test of the registered task
    from distill import objective

    prepared: list[bool] = []

    def prepare(self, progress=print) -> None:
        prepared.append(True)
        progress("teacher ready")

    def evaluate(self, params: dict) -> dict[str, float]:
        assert prepared, "trials ran before the task was prepared"
        layers = params["n_layers"]
        return {"exact": 40.0 + layers, "f1": 45.0 + layers,
                "num_parameters": 1e6 * layers, "inference_time": 0.01}

    # the real preparation fine-tunes a teacher for minutes; the wiring is what is tested
    monkeypatch.setattr(objective.DistillationTask, "prepare", prepare)
    monkeypatch.setattr(objective.DistillationTask, "__call__", evaluate)
    # the parameter count is a known objective: its closed form must agree with the trials'
    monkeypatch.setattr(objective.DistillationTask, "num_parameters",
                        lambda self, params: 1e6 * params["n_layers"])
    out = io.StringIO()
    journal = tmp_path / "distill.jsonl"
    assert main(["--budget", "3", "--storage", str(journal)], out=out) == 0
    text = out.getvalue()
    assert prepared == [True] and "problem distill" in text and "[3/3]" in text
    header = text.split("Pareto front:", 1)[1].strip().splitlines()[0]
    assert "n_layers" in header and "exact (max)" in header and "num_parameters (min)" in header
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    tells = [e for e in events if e["event"] == "tell"]
    assert len(tells) == 3 and all(set(e["values"]) == {"exact", "f1", "num_parameters",
                                                        "inference_time"} for e in tells)
    # resuming at the budget prints the table without preparing again
    assert main(["--budget", "3", "--storage", str(journal)], out=io.StringIO()) == 0
    assert prepared == [True]


def test_tiny_run_prints_pareto_table_and_resumes(tmp_path: Path) -> None:
    journal = tmp_path / "bc.jsonl"
    # ZDT1 (d = 4): every point lies inside the reference box, so the table is not empty
    run = _cli("--problem", "ZDT1", "--budget", "12", "--seed", "1",
               "--storage", str(journal))
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "[12/12]" in out and "eta" in out and "hv" in out
    assert "Pareto front:" in out
    table = out.split("Pareto front:", 1)[1].strip().splitlines()
    assert table[0].split() == ["trial", "x0", "x1", "x2", "x3", "f0", "(min)", "f1", "(min)"]
    assert set(table[1]) <= {"-", " "}
    rows = [line for line in table[2:] if line.split()[0].isdigit()]
    assert rows and all(len(r.split()) == 7 for r in rows)
    assert str(journal) in out.splitlines()[-1]
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    assert events[0]["event"] == "study" and events[0]["seed"] == 1
    assert sum(e["event"] == "tell" for e in events) == 12

    # resuming with another problem is refused and changes nothing
    before = journal.read_bytes()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["--problem", "branincurrin", "--budget", "13", "--storage", str(journal)])
    assert code == 2
    assert "different study" in _one_error_line(err.getvalue())
    assert journal.read_bytes() == before

    # the same command with a larger budget continues (the seed comes from the journal)
    more = io.StringIO()
    assert main(["--problem", "zdt1", "--budget", "14", "--storage", str(journal)],
                out=more) == 0
    assert "resumed with 12 finished trials" in more.getvalue() and "seed 1" in more.getvalue()
    assert "[14/14]" in more.getvalue() and "[12/14]" not in more.getvalue()
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sum(e["event"] == "tell" for e in events) == 14
    assert [e["number"] for e in events if e["event"] == "ask"] == list(range(14))


def test_constraint_breaking_trials_are_reported_and_counted(tmp_path: Path) -> None:
    out = io.StringIO()
    code = main(["--problem", "c2dtlz2", "--budget", "6", "--seed", "0"], out=out)
    assert code == 0
    text = out.getvalue()
    assert "[6/6]" in text and "no journal" in text
    assert "subject to constraint_0 <= 0" in text
    # C2-DTLZ2's feasible region is small: the Sobol design hits infeasible points, which
    # are completed (their constraint value is learned from) but marked and counted
    lines = [line for line in text.splitlines() if line.startswith("[")]
    n_infeasible = sum(" infeasible " in line for line in lines)
    assert 0 < n_infeasible < 6
    assert f"6 completed ({n_infeasible} breaking a constraint), 0 failed" in text


def test_help_mentions_default_and_toy_problems(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "distill" in text and "branincurrin" in text and "--storage" in text


_FLAGS = ["--budget", "--seed", "--workers", "--backend", "--trial-timeout", "--gpus-per-trial",
          "--address", "--problem", "--data", "--train-file", "--dev-file", "--teacher",
          "--device"]


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(
    keys=st.sampled_from(_FLAGS),
    values=st.one_of(st.text(max_size=12), st.integers(-3, 3).map(str),
                     st.floats(allow_nan=True).map(str), st.sampled_from(_FLAGS)),
    max_size=4,
))
def test_fuzzed_arguments_never_crash(flags: dict[str, str]) -> None:
    # budget 0 keeps valid combinations from evaluating anything
    argv = ["--problem", "zdt1", *(x for kv in flags.items() for x in kv), "--budget", "0"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv, out=io.StringIO())
    assert code in (0, 2)
    if code == 2:
        _one_error_line(err.getvalue())


def test_initial_design_is_capped_by_the_budget(tmp_path: Path) -> None:
    assert default_n_initial(21, 200) == 44  # the usual 2(d+1)
    assert default_n_initial(21, 40) == 20  # a short run keeps half its trials for the model
    assert default_n_initial(21, 20) == 10  # d+1 = 22 would leave the model nothing
    assert default_n_initial(4, 12) == 5  # never below d+1 while that is at most half
    assert default_n_initial(4, 100) == 10
    assert default_n_initial(21, 1) == 1
    journal = tmp_path / "z.jsonl"
    assert main(["--problem", "zdt1", "--budget", "8", "--storage", str(journal)],
                out=io.StringIO()) == 0
    header = json.loads(journal.read_text().splitlines()[0])
    assert header["n_initial"] == 4  # d+1 = 5 would be more than half of the 8 trials
    # resuming with a larger budget keeps the journal's design size
    assert main(["--problem", "zdt1", "--budget", "40", "--storage", str(journal)],
                out=io.StringIO()) == 0
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    sources = [e["source"] for e in events if e["event"] == "ask"]
    assert sources[:4] == ["sobol"] * 4 and set(sources[4:]) == {"model"}
    # an explicit size
    other = tmp_path / "o.jsonl"
    assert main(["--problem", "zdt1", "--budget", "6", "--n-initial", "6", "--storage",
                 str(other)], out=io.StringIO()) == 0
    assert json.loads(other.read_text().splitlines()[0])["n_initial"] == 6


# ---- tasks from the registry ---------------------------------------------------------------

_LINE_SPACE = Space([Float("x", 0.0, 1.0)])


def _scaled_line(params: Mapping[str, Any], scale: float) -> dict[str, float]:
    return {"f": scale * float(params["x"]), "g": 1.0 - float(params["x"])}


def _line_flags(group: Any) -> None:
    group.add_argument("--scale", type=float, default=None, help="slope of f (default 1)")


class _LineTask:
    """A task registered by the tests; it records what its callback saw."""

    def __init__(self) -> None:
        self.finished: list[tuple[int, int, str]] = []

    def callback(self, study: Study, trial: Trial) -> None:
        self.finished.append((study.n_finished, trial.number, trial.status))

    def build(self, args: Any, seed: int) -> Task:
        scale = 1.0 if args.scale is None else args.scale
        if not scale > 0:
            raise ValueError(f"--scale: must be > 0, got {args.scale}")
        return Task(_LINE_SPACE, [Objective("f", threshold=2.5), Objective("g", threshold=1.1)],
                    partial(_scaled_line, scale=scale), callbacks=[self.callback])


@pytest.fixture
def line_task() -> Iterator[_LineTask]:
    fake = _LineTask()
    register_task(TaskEntry("line", "two objectives along a line", fake.build, _line_flags,
                            header=lambda task: f"header of a task in {task.space.dim} dim"))
    try:
        yield fake
    finally:
        unregister_task("line")


def test_a_registered_task_runs_with_its_own_flag(line_task: _LineTask,
                                                  tmp_path: Path) -> None:
    journal = tmp_path / "line.jsonl"
    out = io.StringIO()
    assert main(["--problem", "line", "--scale", "2", "--budget", "4", "--seed", "3",
                 "--storage", str(journal)], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("study: problem line, 1 parameters, objectives f (min), g (min)")
    assert lines[1] == "header of a task in 1 dim"
    assert "[4/4]" in out.getvalue() and "Pareto front:" in out.getvalue()
    tells = [e for e in map(json.loads, journal.read_text().splitlines())
             if e["event"] == "tell"]
    asks = {e["number"]: e["params"] for e in map(json.loads, journal.read_text().splitlines())
            if e["event"] == "ask"}
    assert len(tells) == 4
    assert all(e["values"]["f"] == 2.0 * asks[e["number"]]["x"] for e in tells)
    # the task's callback ran once per finished trial, each time after the trial was told
    assert line_task.finished == [(i + 1, i, "completed") for i in range(4)]
    # resuming at the budget evaluates nothing and calls back nothing
    assert main(["--problem", "line", "--budget", "4", "--storage", str(journal)],
                out=io.StringIO()) == 0
    assert len(line_task.finished) == 4


def test_the_on_open_hook_runs_once_when_the_study_opens(tmp_path: Path) -> None:
    fake = _LineTask()
    events: list[tuple[str, int, int]] = []  # (what, finished trials, trials seen so far)

    def on_open(study: Study) -> None:
        events.append(("open", study.n_finished, len(fake.finished)))

    def build(args: Any, seed: int) -> Task:
        task = fake.build(args, seed)
        task.on_open = on_open
        return task

    register_task(TaskEntry("line", "two objectives along a line", build, _line_flags))
    try:
        journal = tmp_path / "line.jsonl"
        argv = ["--problem", "line", "--seed", "1", "--storage", str(journal)]
        assert main([*argv, "--budget", "2"], out=io.StringIO()) == 0
        # a fresh run: once, before any trial
        assert events == [("open", 0, 0)] and len(fake.finished) == 2
        # a resumed run: once more, on the journal's trials and before the new ones
        assert main([*argv, "--budget", "3"], out=io.StringIO()) == 0
        assert events == [("open", 0, 0), ("open", 2, 2)] and len(fake.finished) == 3
        # a resume with nothing left to run still opens the study once
        assert main([*argv, "--budget", "3"], out=io.StringIO()) == 0
        assert events[-1] == ("open", 3, 3) and len(events) == 3
    finally:
        unregister_task("line")


def test_a_task_without_the_hook_still_runs() -> None:
    class Bare:  # a TaskLike written before on_open existed
        space = _LINE_SPACE
        objectives = [Objective("f", threshold=2.5), Objective("g", threshold=1.1)]
        constraints: list[Any] = []
        noisy = False
        prepare = None
        callbacks: list[Any] = []

        def __call__(self, params: Mapping[str, Any]) -> dict[str, float]:
            return _scaled_line(params, 1.0)

    register_task(TaskEntry("bare", "no on_open attribute", lambda args, seed: Bare()))
    try:
        assert main(["--problem", "bare", "--budget", "2"], out=io.StringIO()) == 0
    finally:
        unregister_task("bare")


@pytest.mark.parametrize("args, needle", [
    (["--problem", "line", "--scale", "-1"], "--scale: must be > 0, got -1.0"),
    (["--problem", "line", "--scale", "steep"], "--scale"),
    (["--problem", "zdt1", "--scale", "2"], "--scale: only used with --problem line"),
    (["--problem", "line", "--data", "synthetic"], "--data: only used with --problem distill"),
    (["--problem", "nonsense"], "valid: distill, branincurrin"),
])
def test_task_flags_are_checked(line_task: _LineTask, args: list[str], needle: str,
                                tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "j.jsonl"
    assert main([*args, "--storage", str(journal)], out=io.StringIO()) == 2
    assert needle in _one_error_line(capsys.readouterr().err)
    assert not journal.exists() and line_task.finished == []


def test_help_shows_each_tasks_flags_in_its_own_group(
        line_task: _LineTask, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    distill_group = text.index("distill task (--problem distill)")
    line_group = text.index("line task (--problem line)")
    # the flags' own lines (the usage line above lists them too)
    data, scale = text.index("\n  --data"), text.index("\n  --scale")
    assert distill_group < data < line_group < scale
    assert "two objectives along a line" in text
    assert "Tasks: distill, branincurrin" in " ".join(text.split())


@pytest.fixture
def broken_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed plugin whose module cannot be imported, beside the real ones."""
    real = tasks.entry_points

    def entry_points(group: str) -> list[EntryPoint]:
        return [*real(group=group),
                EntryPoint("broken", "no_such_module_for_mobo.task:ENTRY", group)]

    monkeypatch.setattr(tasks, "entry_points", entry_points)


def test_a_broken_plugin_is_reported_only_when_selected(
        broken_plugin: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--problem", "zdt1", "--budget", "2"], out=io.StringIO()) == 0
    journal = tmp_path / "j.jsonl"
    assert main(["--problem", "broken", "--storage", str(journal)], out=io.StringIO()) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "'broken'" in line and "no_such_module_for_mobo.task:ENTRY" in line
    assert "ModuleNotFoundError" in line and not journal.exists()


def test_a_task_whose_flags_clash_is_reported_only_when_selected(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def clashing_flags(group: Any) -> None:
        group.add_argument("--seed", type=int, default=None)

    register_task(TaskEntry("clash", "reuses a common flag", _LineTask().build, clashing_flags))
    try:
        assert main(["--problem", "zdt1", "--budget", "1"], out=io.StringIO()) == 0
        assert main(["--problem", "clash", "--budget", "1"], out=io.StringIO()) == 2
    finally:
        unregister_task("clash")
    line = _one_error_line(capsys.readouterr().err)
    assert "'clash'" in line and "--seed" in line


def test_without_the_distillation_task_the_default_says_how_to_get_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(tasks, "entry_points", lambda group: [])
    journal = tmp_path / "j.jsonl"
    assert main(["--budget", "3", "--storage", str(journal)], out=io.StringIO()) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "'distill'" in line and "pip install -e ." in line and not journal.exists()
    # the toy problems are unaffected, and the distillation flags are unknown
    assert main(["--problem", "zdt1", "--budget", "1"], out=io.StringIO()) == 0
    assert main(["--problem", "zdt1", "--data", "synthetic"], out=io.StringIO()) == 2
    assert "unrecognized" in _one_error_line(capsys.readouterr().err)


def test_warp_is_recorded_kept_on_resume_and_checked(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "w.jsonl"
    base = ["--problem", "zdt1", "--seed", "1", "--storage", str(journal)]
    assert main([*base, "--budget", "9", "--warp", "rank"], out=io.StringIO()) == 0
    assert json.loads(journal.read_text().splitlines()[0])["warp"] == "rank"
    # resumed without --warp: the journal's warp is used, no error
    assert main([*base, "--budget", "10"], out=io.StringIO()) == 0
    assert Study.read(journal).warp == "rank"
    assert len(Study.read(journal).trials) == 10
    before = journal.read_bytes()
    assert main([*base, "--budget", "11", "--warp", "none"], out=io.StringIO()) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warp" in err[0]
    assert journal.read_bytes() == before
    # a fresh run without --warp is unwarped
    plain = tmp_path / "p.jsonl"
    assert main(["--problem", "zdt1", "--budget", "8", "--storage", str(plain)],
                out=io.StringIO()) == 0
    assert Study.read(plain).warp is None


def test_threshold_model_is_recorded_kept_on_resume_and_checked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "t.jsonl"
    base = ["--problem", "zdt1", "--seed", "1", "--storage", str(journal)]
    assert main([*base, "--budget", "9", "--threshold-model"], out=io.StringIO()) == 0
    assert json.loads(journal.read_text().splitlines()[0])["threshold_model"] is True
    # resumed without the flag: the journal's setting is used, no error
    assert main([*base, "--budget", "10"], out=io.StringIO()) == 0
    assert Study.read(journal).threshold_model
    before = journal.read_bytes()
    assert main([*base, "--budget", "11", "--no-threshold-model"], out=io.StringIO()) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "threshold_model" in err[0]
    assert journal.read_bytes() == before
    # a fresh run without the flag has it off, and its header says nothing of it
    plain = tmp_path / "p.jsonl"
    assert main(["--problem", "zdt1", "--budget", "8", "--storage", str(plain)],
                out=io.StringIO()) == 0
    assert "threshold_model" not in json.loads(plain.read_text().splitlines()[0])
