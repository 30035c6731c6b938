"""The shared executor pieces: error texts, result checks, and the timeout arithmetic.

:class:`Deadlines` takes the time as an argument, so these tests drive it with a fake clock
(plain numbers) and never sleep.
"""

from __future__ import annotations

import pytest

from mobo.executors import describe_exception
from mobo.executors.base import Deadlines, as_values, run_trial


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


def test_as_values_wants_a_mapping_of_names_to_numbers() -> None:
    assert as_values({"f0": 1, "f1": "2.5"}) == {"f0": 1.0, "f1": 2.5}
    with pytest.raises(TypeError, match="returned list, expected a mapping"):
        as_values([1.0])
    with pytest.raises(TypeError, match="metric name 3 that is not a string"):
        as_values({3: 1.0})
    with pytest.raises(TypeError, match="metric 'f0' = 'high', which is not a number"):
        as_values({"f0": "high"})


def test_run_trial_catches_exits_only_when_asked() -> None:
    def exits(params: dict) -> dict:
        raise SystemExit(3)

    out = run_trial(2, exits, {}, catch_all=True)
    assert (out.number, out.status, out.error) == (2, "failed", "SystemExit: 3")
    with pytest.raises(SystemExit):
        run_trial(2, exits, {}, catch_all=False)


# ------------------------------------------------------------------ deadlines (fake clock)
class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_wait_end_and_passed() -> None:
    assert Deadlines.wait_end(None, 100.0) is None
    assert Deadlines.wait_end(2.5, 100.0) == 102.5
    assert Deadlines.wait_end(-1.0, 100.0) == 100.0  # a negative timeout is a poll
    assert not Deadlines.passed(None, 1e12)  # no limit never passes
    assert not Deadlines.passed(102.5, 102.25)
    assert Deadlines.passed(102.5, 102.5)
    assert Deadlines.passed(102.5, 103.0)


def test_expired_counts_from_the_trial_start() -> None:
    deadlines = Deadlines(3.0)
    assert not deadlines.expired(None, 1e12)  # not started yet: queueing does not count
    assert not deadlines.expired(100.0, 102.5)
    assert deadlines.expired(100.0, 103.0)  # exactly at the timeout
    assert deadlines.expired(100.0, 150.0)
    assert not Deadlines(None).expired(100.0, 1e12)  # no timeout at all


def test_timeout_error_text() -> None:
    assert Deadlines(1.0).timeout_error() == "timed out after 1 s"
    assert Deadlines(2.5).timeout_error() == "timed out after 2.5 s"


def test_block_for_without_a_trial_timeout() -> None:
    deadlines = Deadlines(None)
    assert deadlines.block_for(100.0, None, [100.0], have_outcomes=False) is None
    assert deadlines.block_for(100.0, 104.0, [100.0], have_outcomes=False) == 4.0
    assert deadlines.block_for(105.0, 104.0, [], have_outcomes=False) == 0.0  # never negative
    # outcomes already in hand: only look for more that are ready now
    assert deadlines.block_for(100.0, None, [], have_outcomes=True) == 0.0
    assert deadlines.block_for(100.0, 104.0, [], have_outcomes=True) == 0.0


def test_block_for_wakes_up_when_the_earliest_trial_expires() -> None:
    deadlines = Deadlines(5.0)
    # started at 96 and 99, one still queued: the first expires at 101
    starts = [99.0, None, 96.0]
    assert deadlines.block_for(100.0, None, starts, have_outcomes=False) == 1.0
    assert deadlines.block_for(100.0, 100.5, starts, have_outcomes=False) == 0.5
    assert deadlines.block_for(100.0, 110.0, starts, have_outcomes=False) == 1.0
    assert deadlines.block_for(100.0, None, starts, have_outcomes=True) == 0.0
    assert deadlines.block_for(102.0, None, starts, have_outcomes=False) == 0.0  # overdue
    # nothing started yet: only the wait's own limit applies
    assert deadlines.block_for(100.0, None, [None, None], have_outcomes=False) is None
    assert deadlines.block_for(100.0, 103.0, [None], have_outcomes=False) == 3.0


def test_a_wait_loop_on_a_fake_clock() -> None:
    """The sequence a backend's ``wait(timeout=10)`` goes through for a trial that hangs."""
    clock = FakeClock(100.0)
    deadlines = Deadlines(3.0)
    started = clock()  # the worker reports the trial started
    clock.advance(0.5)
    wait_end = deadlines.wait_end(10.0, clock())
    assert wait_end == 110.5
    # nothing arrives: the wait blocks only until the trial's time is up
    assert not deadlines.expired(started, clock())
    assert deadlines.block_for(clock(), wait_end, [started], have_outcomes=False) == 2.5
    clock.advance(2.5)
    assert not deadlines.passed(wait_end, clock())
    # next round of the loop: the trial has expired and is reported as timed out
    assert deadlines.expired(started, clock())
    assert clock() - started == 3.0
    # with the slot freed, a later wait with no trial started may block to its own limit
    assert deadlines.block_for(clock(), wait_end, [], have_outcomes=False) == 7.5
    clock.advance(7.5)
    assert deadlines.passed(wait_end, clock())
