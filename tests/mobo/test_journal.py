"""Journal: round trip, durability calls, torn last line, corruption errors, writer lock."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobo import journal as journal_mod
from mobo.journal import Journal, JournalError, JournalLockedError, JournalWarning

EVENTS = [
    {"event": "study", "space": {"params": [{"name": "x", "low": 0.0, "high": 1.0}]}, "seed": 3},
    {"event": "asked", "number": 0, "params": {"x": 0.25, "c": "é✓"}, "model_state": None},
    {"event": "told", "number": 0, "values": {"f0": 1.5, "f1": -2e-300}, "duration": 0.1},
    {"event": "failed", "number": 1, "error": "ValueError: bad\nthing"},
]


def write_events(path: Path, events: list[dict]) -> Journal:
    j = Journal(path)
    for e in events:
        j.append(e)
    return j


def test_does_not_create_file_until_first_append(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.jsonl")
    assert not j.exists()
    assert j.read() == []
    assert not (tmp_path / "j.jsonl").exists()
    j.append({"event": "x"})
    assert j.exists()
    assert j.path == tmp_path / "j.jsonl"


def test_round_trip_preserves_events_and_order(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = write_events(path, EVENTS)
    assert j.read() == EVENTS
    j.close()
    # a fresh object (as after a restart) replays the same; appends continue the file
    j2 = Journal(path)
    assert j2.read() == EVENTS
    j2.append({"event": "abandoned", "number": 2})
    assert Journal(path).read() == [*EVENTS, {"event": "abandoned", "number": 2}]
    # one JSON object per line, newline-terminated, pure ASCII
    raw = path.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == len(EVENTS) + 1
    raw.decode("ascii")
    assert [json.loads(line) for line in raw.splitlines()][:4] == EVENTS


def test_floats_round_trip_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vals = [float(v) for v in rng.standard_normal(50) * 10.0 ** rng.integers(-300, 300, 50)]
    j = write_events(tmp_path / "j", [{"event": "v", "x": vals}])
    assert j.read()[0]["x"] == vals


def test_append_fsyncs_every_event_and_the_directory_on_creation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")
        real_fsync(fd)

    monkeypatch.setattr(journal_mod.os, "fsync", spy)
    j = Journal(tmp_path / "j.jsonl")
    j.append({"event": "a"})
    assert sorted(synced) == ["dir", "file"]
    j.append({"event": "b"})
    j.append({"event": "c"})
    assert synced.count("file") == 3 and synced.count("dir") == 1
    # the bytes are in the file as soon as append returns (no user-space buffering)
    assert (tmp_path / "j.jsonl").read_bytes().count(b"\n") == 3


def test_append_validates_events(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    with pytest.raises(TypeError, match="must be a dict"):
        j.append([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='"event" key'):
        j.append({"number": 1})
    with pytest.raises(TypeError, match="JSON-serialisable.*numpy"):
        j.append({"event": "told", "values": np.array([1.0])})
    assert j.read() == []  # nothing half-written


def test_nan_and_inf_survive(tmp_path: Path) -> None:
    j = write_events(tmp_path / "j", [{"event": "told", "v": [math.nan, math.inf, -math.inf]}])
    v = j.read()[0]["v"]
    assert math.isnan(v[0]) and v[1] == math.inf and v[2] == -math.inf


def torn_cases() -> list[bytes]:
    line = json.dumps({"event": "told", "number": 7, "values": {"f0": 1.25}}).encode()
    # every strict prefix of a line is a possible torn write; also NUL tails (power loss on
    # file systems that extend the size before the data lands) and a split UTF-8 sequence
    return [line[:k] for k in range(1, len(line))] + [b"\x00" * 9, b'{"event": "\xc3']


@pytest.mark.parametrize("tail", torn_cases()[::5] + torn_cases()[-2:])
def test_torn_last_line_is_ignored_with_warning_then_cut(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "j.jsonl"
    write_events(path, EVENTS[:2]).close()
    with open(path, "ab") as f:
        f.write(tail)
    j = Journal(path)
    with pytest.warns(JournalWarning, match=r"line 3: ignoring a torn last line"):
        assert j.read() == EVENTS[:2]
    with pytest.warns(JournalWarning, match=r"line 3: cutting off a torn last line"):
        j.append(EVENTS[2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # clean again: no warning on read
        assert j.read() == EVENTS[:3]
        assert Journal(path).read() == EVENTS[:3]
    assert path.read_bytes().count(b"\n") == 3


def test_torn_first_and_only_line(tmp_path: Path) -> None:
    path = tmp_path / "j"
    path.write_bytes(b'{"event": "st')
    with pytest.warns(JournalWarning, match="line 1"):
        assert Journal(path).read() == []
    j = Journal(path)
    with pytest.warns(JournalWarning):
        j.append({"event": "study"})
    assert path.read_bytes() == b'{"event":"study"}\n'


def test_complete_last_event_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "j"
    path.write_bytes(b'{"event": "a"}\n{"event": "b", "n": 1}')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Journal(path).read() == [{"event": "a"}, {"event": "b", "n": 1}]
        j = Journal(path)
        j.append({"event": "c"})
    assert Journal(path).read() == [{"event": "a"}, {"event": "b", "n": 1}, {"event": "c"}]


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        (b'{"event": "x", "n": 1', "invalid JSON"),
        (b"[1, 2, 3]", "expected a JSON object, got list"),
        (b'"event"', "expected a JSON object, got str"),
        (b'{"number": 3}', 'no "event" key'),
        (b'{"event": "\xff\xfe"}', "not UTF-8"),
        (b"", "empty line"),
        (b"garbage", "invalid JSON"),
    ],
)
def test_corrupt_middle_line_names_file_and_line(
    tmp_path: Path, bad_line: bytes, problem: str
) -> None:
    path = tmp_path / "study.jsonl"
    good = [json.dumps(e).encode() for e in EVENTS]
    path.write_bytes(b"\n".join([good[0], good[1], bad_line, good[2]]) + b"\n")
    with pytest.raises(JournalError) as info:
        Journal(path).read()
    msg = str(info.value)
    assert str(path) in msg and ": line 3: " in msg and problem in msg
    assert isinstance(info.value, ValueError)


def test_last_complete_line_corrupt_is_an_error_not_a_tear(tmp_path: Path) -> None:
    # it ends with a newline, so the write finished: the damage came from elsewhere
    path = tmp_path / "j"
    path.write_bytes(b'{"event": "a"}\n{"event": "b"\n')
    with pytest.raises(JournalError, match="line 2: invalid JSON"):
        Journal(path).read()


@pytest.mark.parametrize("tail", [b"123", b'"abc"', b'{"n": 1}', b"[]"])
def test_parseable_non_event_tail_is_corruption(tmp_path: Path, tail: bytes) -> None:
    # a torn write of an event can never parse; a parseable non-event tail is foreign data
    path = tmp_path / "j"
    path.write_bytes(b'{"event": "a"}\n' + tail)
    with pytest.raises(JournalError, match="line 2"):
        Journal(path).read()
    with pytest.raises(JournalError, match="line 2"):
        Journal(path).append({"event": "b"})
    assert path.read_bytes() == b'{"event": "a"}\n' + tail  # refused, untouched


def test_second_writer_in_same_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j"
    a = Journal(path)
    a.append({"event": "a"})
    b = Journal(path)
    assert b.read() == [{"event": "a"}]  # readers need no lock
    with pytest.raises(JournalLockedError, match="in use by another writer"):
        b.append({"event": "b"})
    with pytest.raises(JournalError):
        b.lock()
    a.close()
    b.append({"event": "b"})  # free once the first writer closed
    assert Journal(path).read() == [{"event": "a"}, {"event": "b"}]


def test_lock_is_released_when_journal_is_collected(tmp_path: Path) -> None:
    path = tmp_path / "j"
    a = Journal(path)
    a.append({"event": "a"})
    with pytest.raises(JournalLockedError):  # held while the writer lives
        Journal(path).append({"event": "x"})
    del a
    Journal(path).append({"event": "b"})  # a crashed script's writer frees its lock
    assert Journal(path).read() == [{"event": "a"}, {"event": "b"}]


def test_second_writer_in_other_process_is_refused_until_first_exits(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from mobo.journal import Journal; j = Journal(sys.argv[1]); "
            "j.append({'event': 'a'}); print('locked', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        j = Journal(path)
        with pytest.raises(JournalLockedError) as info:
            j.append({"event": "b"})
        assert str(path) in str(info.value)
        holder.kill()  # even SIGKILL releases an flock
        holder.wait(timeout=10)
        j.append({"event": "b"})
        assert j.read() == [{"event": "a"}, {"event": "b"}]
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)


def test_lock_creates_file_and_blocks_others(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with Journal(path) as a:
        a.lock()
        assert a.exists() and a.read() == []
        with pytest.raises(JournalLockedError):
            Journal(path).lock()
    Journal(path).lock()


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Journal(tmp_path / "missing" / "j").append({"event": "a"})
    with pytest.raises(JournalError, match="directory"):
        Journal(tmp_path).append({"event": "a"})
    with pytest.raises(JournalError, match="directory"):
        Journal(tmp_path).read()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None)
@given(
    events=st.lists(
        st.dictionaries(st.text(max_size=6), json_values, max_size=4), min_size=1, max_size=6
    ),
    cut=st.integers(0, 10_000),
)
def test_any_crash_point_replays_a_prefix(tmp_path_factory, events: list[dict], cut: int) -> None:
    """Truncating the file anywhere (a crash mid-append) replays exactly the whole events
    before the cut, possibly with a warning, and never raises."""
    events = [{**e, "event": f"e{i}"} for i, e in enumerate(events)]
    path = tmp_path_factory.mktemp("j") / "j"
    write_events(path, events).close()
    raw = path.read_bytes()
    cut = min(cut, len(raw))
    path.write_bytes(raw[:cut])
    whole = raw[:cut].count(b"\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JournalWarning)
        got = Journal(path).read()
        # the last line may be complete but for its newline: then it counts too
        assert got in (events[:whole], events[: whole + 1])
        j = Journal(path)
        j.append({"event": "next"})
        assert Journal(path).read() == [*got, {"event": "next"}]
