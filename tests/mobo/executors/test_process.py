"""ProcessExecutor: asynchronous completion, the three outcome kinds, timeouts that kill and
replace a worker, GPU pinning, and workers that never outlive the driver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobo.executors import ProcessExecutor, make_executor
from mobo.executors.process import _cuda_assignment
from tests.mobo.executors.support import (
    CountingObjective,
    check_asynchronous,
    check_failures,
    cuda_oom,
    drain,
    exits,
    kills_itself,
    pid_alive,
    quick,
    records_pid_then_sleeps,
    returns_list,
    run_one,
    sleeps,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[3]


# ------------------------------------------------------------------ GPU shares
def test_process_gpus_beyond_visible_devices_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with pytest.raises(ValueError, match="needs 3 GPUs, but 2 are visible"):
        make_executor("process", 3, gpus_per_trial=1)


def test_process_workers_are_pinned_to_their_gpu_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    assert _cuda_assignment(2, 0.0) == [None, None]
    assert _cuda_assignment(4, 1) == ["4", "5", "6", "7"]
    assert _cuda_assignment(2, 2) == ["4,5", "6,7"]
    assert _cuda_assignment(4, 0.5) == ["4", "4", "5", "5"]
    assert _cuda_assignment(3, 1 / 3) == ["4", "4", "4"]


# ------------------------------------------------------------------ the pool
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
    calls: dict[float, list[float]] = {}
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


# ------------------------------------------------------------------ shutdown and the driver
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
from tests.mobo.executors.support import records_pid_then_sleeps
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
