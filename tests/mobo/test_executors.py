"""Executors: asynchronous completion, and the three outcome kinds on every backend.

Objectives live at module level so spawned workers and Ray workers can import them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobo.executors import (
    Executor,
    InlineExecutor,
    Outcome,
    ProcessExecutor,
    describe_exception,
    make_executor,
)

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ objectives (module level)
def quick(params: dict) -> dict:
    return {"f0": float(params["x"]) ** 2, "f1": 1.0 - float(params["x"]), "pid": os.getpid()}


def wait_for_file(params: dict) -> dict:
    """Finish only once the file exists (or give up after 30 s): a trial that is slow for as
    long as the test wants, without depending on timing."""
    deadline = time.monotonic() + 30.0
    while not os.path.exists(params["go"]):
        if time.monotonic() > deadline:
            return {"gave_up": 1.0}
        time.sleep(0.02)
    return {"f0": float(params["x"])}


def raises(params: dict) -> dict:
    raise ValueError(f"learning rate {params['x']} diverged\nloss=nan")


def memory_error(params: dict) -> dict:
    raise MemoryError("cannot allocate 64.0 GiB for the attention scores")


def cuda_oom(params: dict) -> dict:
    import torch

    raise torch.cuda.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 15.78 GiB total capacity)"
    )


def sleeps(params: dict) -> dict:
    time.sleep(float(params["sleep"]))
    return {"f0": 0.0}


def kills_itself(params: dict) -> dict:
    os.kill(os.getpid(), signal.SIGKILL)
    return {"f0": 0.0}  # never reached


def records_pid_then_sleeps(params: dict) -> dict:
    Path(params["pidfile"]).write_text(str(os.getpid()))
    time.sleep(60)
    return {"f0": 0.0}


def returns_list(params: dict) -> list:
    return [1.0, 2.0]


def returns_text_metric(params: dict) -> dict:
    return {"f0": "high"}


def exits(params: dict) -> dict:
    sys.exit(3)


class CountingObjective:
    """Keeps state in the instance: a worker that keeps the objective keeps the count."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, params: dict) -> dict:
        self.calls += 1
        return {"calls": float(self.calls), "pid": os.getpid()}


# ------------------------------------------------------------------ helpers
def drain(executor: Executor, timeout: float = 60.0) -> list[Outcome]:
    """Every outcome, in the order the executor reported them."""
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout
    while executor.running():
        assert time.monotonic() < deadline, f"trials {executor.running()} still running"
        outcomes += executor.wait(timeout=max(0.0, deadline - time.monotonic()))
    return outcomes


def run_one(executor: Executor, fn, params: dict | None = None) -> Outcome:
    executor.submit(7, fn, params or {"x": 0.5})
    [outcome] = drain(executor)
    assert outcome.number == 7
    return outcome


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def check_asynchronous(executor: Executor, tmp_path: Path) -> None:
    """A slow trial submitted first must not hold back a fast one submitted after it, and the
    freed slot takes new work while the slow trial still runs."""
    go = tmp_path / "go"
    executor.submit(0, wait_for_file, {"x": 3.0, "go": str(go)})
    executor.submit(1, quick, {"x": 0.5})
    assert sorted(executor.running()) == [0, 1]
    first = executor.wait(timeout=60)
    assert [o.number for o in first] == [1]
    assert first[0].status == "completed" and first[0].values["f0"] == 0.25
    executor.submit(2, quick, {"x": 2.0})  # the free slot, while trial 0 still runs
    second = executor.wait(timeout=60)
    assert [(o.number, o.values["f0"]) for o in second] == [(2, 4.0)]
    assert executor.running() == [0]
    go.touch()
    [last] = drain(executor)
    assert (last.number, last.status, last.values) == (0, "completed", {"f0": 3.0})


def check_failures(executor: Executor) -> None:
    """Raising objectives fail with "ExcType: message" on one line; the pool carries on."""
    failed = run_one(executor, raises, {"x": 0.3})
    assert failed.status == "failed" and failed.values is None
    assert failed.error == "ValueError: learning rate 0.3 diverged loss=nan"
    assert "in raises" in (failed.traceback or "")
    oom = run_one(executor, memory_error)
    assert (oom.status, oom.error) == (
        "failed",
        "MemoryError: cannot allocate 64.0 GiB for the attention scores",
    )
    assert run_one(executor, quick).status == "completed"


# ------------------------------------------------------------------ factory and helpers
def test_make_executor_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="backend must be one of inline, process, ray"):
        make_executor("dask")
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="workers must be an integer >= 1"):
            make_executor("process", bad)  # type: ignore[arg-type]
    for bad in (0, -1.0, float("inf"), float("nan"), "10"):
        with pytest.raises(ValueError, match="trial_timeout must be a positive"):
            make_executor("inline", trial_timeout=bad)  # type: ignore[arg-type]
    for bad in (-1, float("nan"), "1"):
        with pytest.raises(ValueError, match="gpus_per_trial must be a number >= 0"):
            make_executor("process", gpus_per_trial=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="whole number of GPUs"):
        make_executor("ray", gpus_per_trial=1.5)
    with pytest.raises(ValueError, match="workers=1"):
        make_executor("inline", 2)
    with pytest.raises(ValueError, match="address is only used by backend 'ray'"):
        make_executor("process", address="10.0.0.1:6379")
    with pytest.raises(ValueError, match="gpus_per_trial needs backend"):
        make_executor("inline", gpus_per_trial=1)


def test_process_gpus_beyond_visible_devices_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with pytest.raises(ValueError, match="needs 3 GPUs, but 2 are visible"):
        make_executor("process", 3, gpus_per_trial=1)


def test_process_workers_are_pinned_to_their_gpu_share(monkeypatch: pytest.MonkeyPatch) -> None:
    from mobo.executors import _cuda_assignment

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    assert _cuda_assignment(2, 0.0) == [None, None]
    assert _cuda_assignment(4, 1) == ["4", "5", "6", "7"]
    assert _cuda_assignment(2, 2) == ["4,5", "6,7"]
    assert _cuda_assignment(4, 0.5) == ["4", "4", "5", "5"]
    assert _cuda_assignment(3, 1 / 3) == ["4", "4", "4"]


def test_describe_exception_is_one_line() -> None:
    assert describe_exception(KeyError("lr")) == "KeyError: 'lr'"
    assert describe_exception(RuntimeError()) == "RuntimeError"
    assert describe_exception(ValueError("a\n  b\tc")) == "ValueError: a b c"
    assert len(describe_exception(ValueError("x" * 10_000))) <= 2000

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert describe_exception(Unprintable()) == (
        "Unprintable: <exception message could not be rendered>"
    )


def test_make_executor_picks_the_backend() -> None:
    assert isinstance(make_executor(), InlineExecutor)
    with make_executor("inline", trial_timeout=5) as ex:  # a timeout needs a child process
        assert isinstance(ex, ProcessExecutor) and ex.capacity == 1
    with make_executor("process", 2) as ex:
        assert isinstance(ex, ProcessExecutor) and ex.capacity == 2
        assert isinstance(ex, Executor)


# ------------------------------------------------------------------ inline
def test_inline_runs_and_classifies() -> None:
    ex = InlineExecutor()
    assert ex.wait(timeout=0) == [] and ex.running() == []
    ok = run_one(ex, quick, {"x": 3})
    assert ok.status == "completed" and ok.values == {"f0": 9.0, "f1": -2.0, "pid": os.getpid()}
    assert ok.error is None and ok.duration >= 0
    check_failures(ex)
    bad = run_one(ex, returns_list)
    assert bad.status == "failed" and bad.error.startswith("TypeError: the objective returned list")
    bad = run_one(ex, returns_text_metric)
    assert bad.status == "failed" and "metric 'f0' = 'high'" in bad.error
    ex.submit(1, quick, {"x": 1})
    with pytest.raises(RuntimeError, match="full"):
        ex.submit(2, quick, {"x": 1})
    ex.shutdown()
    assert ex.running() == []


def test_inline_cuda_out_of_memory_is_a_failure() -> None:
    oom = run_one(InlineExecutor(), cuda_oom)
    assert oom.status == "failed"
    assert oom.error.startswith("OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB")


def interrupted(params: dict) -> dict:
    raise KeyboardInterrupt


def test_inline_keyboard_interrupt_reaches_the_caller_and_leaves_the_trial_running() -> None:
    ex = InlineExecutor()
    ex.submit(4, interrupted, {})
    with pytest.raises(KeyboardInterrupt):
        ex.wait()
    assert ex.running() == [4]  # the caller abandons it
    ex.shutdown(cancel=True)
    assert ex.running() == []


def test_inline_with_timeout_kills_the_trial() -> None:
    with make_executor("inline", trial_timeout=1.0) as ex:
        start = time.monotonic()
        out = run_one(ex, sleeps, {"sleep": 60})
        assert (out.status, out.error) == ("failed", "timed out after 1 s")
        assert 1.0 <= out.duration < 10 and time.monotonic() - start < 30
        # the timer starts when the trial does: a fresh worker's start-up is not counted
        assert run_one(ex, sleeps, {"sleep": 0.3}).status == "completed"


# ------------------------------------------------------------------ process pool
@pytest.fixture
def pool() -> Iterator[ProcessExecutor]:
    ex = ProcessExecutor(2, trial_timeout=20.0)
    yield ex
    ex.shutdown(cancel=True)


def test_process_pool_is_asynchronous(pool: ProcessExecutor, tmp_path: Path) -> None:
    check_asynchronous(pool, tmp_path)


def test_process_pool_failures(pool: ProcessExecutor) -> None:
    check_failures(pool)
    oom = run_one(pool, cuda_oom)
    assert oom.status == "failed" and oom.error.startswith("OutOfMemoryError: CUDA out of memory")
    # exiting is a failure of the trial, not a dead worker to re-propose forever
    assert (run_one(pool, exits).status, run_one(pool, exits).error) == ("failed", "SystemExit: 3")
    assert run_one(pool, returns_list).status == "failed"


def test_process_pool_timeout_kills_and_replaces_the_worker(tmp_path: Path) -> None:
    with ProcessExecutor(2, trial_timeout=1.0) as ex:
        pidfile = tmp_path / "pid"
        ex.submit(0, records_pid_then_sleeps, {"pidfile": str(pidfile)})
        ex.submit(1, sleeps, {"sleep": 0.2})
        outcomes = {o.number: o for o in drain(ex)}
        assert outcomes[1].status == "completed"
        assert (outcomes[0].status, outcomes[0].error) == ("failed", "timed out after 1 s")
        assert wait_until(lambda: not pid_alive(int(pidfile.read_text())))
        ex.submit(2, quick, {"x": 1})
        ex.submit(3, quick, {"x": 2})
        assert {o.number: o.status for o in drain(ex)} == {2: "completed", 3: "completed"}


def test_process_worker_killed_with_sigkill_is_abandoned(
    pool: ProcessExecutor, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    pool.submit(5, records_pid_then_sleeps, {"pidfile": str(pidfile)})
    assert wait_until(pidfile.exists)
    os.kill(int(pidfile.read_text()), signal.SIGKILL)
    [out] = drain(pool)
    assert (out.number, out.status, out.values) == (5, "abandoned", None)
    assert out.error == "worker process died (SIGKILL)"
    # a worker that kills itself (a segfault, the OOM killer) is the same
    dead = run_one(pool, kills_itself)
    assert dead.status == "abandoned" and "SIGKILL" in dead.error
    # the pool replaced the dead workers: both slots work
    pool.submit(8, quick, {"x": 1})
    pool.submit(9, quick, {"x": 2})
    assert sorted(o.status for o in drain(pool)) == ["completed", "completed"]


def test_process_worker_keeps_the_objective_between_trials(pool: ProcessExecutor) -> None:
    objective = CountingObjective()
    calls = {}
    for number in range(4):
        out = run_one(pool, objective, {"x": number})
        calls.setdefault(out.values["pid"], []).append(out.values["calls"])
    for counts in calls.values():  # each worker unpickled it once, then reused it
        assert counts == [float(i) for i in range(1, len(counts) + 1)]


def test_process_pool_refuses_unpicklable_objectives_and_overfilling(
    pool: ProcessExecutor,
) -> None:
    with pytest.raises(TypeError, match="must be picklable"):
        pool.submit(0, lambda p: {"f": 1.0}, {"x": 1})
    assert pool.running() == []
    pool.submit(0, sleeps, {"sleep": 0.1})
    pool.submit(1, sleeps, {"sleep": 0.1})
    with pytest.raises(RuntimeError, match="full"):
        pool.submit(2, sleeps, {"sleep": 0.1})
    drain(pool)


def test_process_shutdown_cancel_stops_running_trials(tmp_path: Path) -> None:
    ex = ProcessExecutor(2)
    pidfile = tmp_path / "pid"
    ex.submit(0, records_pid_then_sleeps, {"pidfile": str(pidfile)})
    assert wait_until(pidfile.exists)
    start = time.monotonic()
    ex.shutdown(cancel=True)
    assert time.monotonic() - start < 10
    assert ex.running() == []
    assert not pid_alive(int(pidfile.read_text()))
    with pytest.raises(RuntimeError, match="shut down"):
        ex.submit(1, quick, {"x": 1})


def test_process_shutdown_without_cancel_lets_trials_finish() -> None:
    ex = ProcessExecutor(1)
    ex.submit(0, sleeps, {"sleep": 0.5})
    ex.shutdown()
    assert ex.running() == []


DRIVER = """
import sys, time
from mobo.executors import ProcessExecutor
from tests.mobo.test_executors import records_pid_then_sleeps
ex = ProcessExecutor(1)
ex.submit(0, records_pid_then_sleeps, {"pidfile": sys.argv[1]})
time.sleep(120)
"""


def test_workers_exit_when_the_driver_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(pidfile)], cwd=ROOT)
    try:
        assert wait_until(pidfile.exists, timeout=60)
        worker = int(pidfile.read_text())
        driver.kill()
        driver.wait(timeout=10)
        assert wait_until(lambda: not pid_alive(worker)), "orphaned worker kept running"
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


# ------------------------------------------------------------------ ray
@pytest.fixture(scope="module")
def ray_local() -> Iterator[object]:
    """One local Ray instance for the module (starting Ray takes seconds)."""
    pytest.importorskip("ray")
    owner = make_executor("ray", 2)
    yield owner
    owner.shutdown(cancel=True)


def test_ray_local_instance_is_loopback_only(ray_local: object) -> None:
    import ray

    nodes = ray.nodes()
    assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]


def test_ray_is_asynchronous(ray_local: object, tmp_path: Path) -> None:
    check_asynchronous(make_executor("ray", 2), tmp_path)


def test_ray_failures_timeouts_and_crashes(ray_local: object) -> None:
    ex = make_executor("ray", 2, trial_timeout=3.0)
    check_failures(ex)
    ex.submit(0, sleeps, {"sleep": 60})
    ex.submit(1, kills_itself, {})
    outcomes = {o.number: o for o in drain(ex)}
    assert (outcomes[0].status, outcomes[0].error) == ("failed", "timed out after 3 s")
    assert outcomes[1].status == "abandoned" and "WorkerCrashedError" in outcomes[1].error
    ex.shutdown(cancel=True)
    import ray

    assert ray.is_initialized()  # it did not own the instance, so it left it running


def test_ray_missing_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(ImportError, match=r"backend 'ray' needs: pip install 'mobo\[ray\]'"):
        make_executor("ray")

