"""RayExecutor on a private local Ray instance: loopback only, asynchronous, and the three
outcome kinds. Only the tests that start Ray skip where it is not installed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobo.executors import make_executor
from tests.mobo.executors.support import (
    check_asynchronous,
    check_failures,
    drain,
    kills_itself,
    sleeps,
)


@pytest.fixture(scope="module")
def ray_local() -> Iterator[object]:
    """One local Ray instance for the module (starting Ray takes seconds)."""
    pytest.importorskip("ray")
    owner = make_executor("ray", 2)
    yield owner
    owner.shutdown(cancel=True)


def test_ray_local_instance_is_loopback_only(ray_local: object) -> None:
    import ray  # optional: imported here, once the fixture has skipped where it is missing

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
    import ray  # optional: imported here, once the fixture has skipped where it is missing

    assert ray.is_initialized()  # it did not own the instance, so it left it running


def test_ray_missing_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(ImportError, match=r"backend 'ray' needs: pip install 'mobo\[ray\]'"):
        make_executor("ray")
