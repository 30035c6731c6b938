"""Crash-safe, append-only journal of study events; loading a study is replaying it.

The journal is a JSON Lines file (one JSON object per line, https://jsonlines.org): each
event is written with a single ``write`` of the line and its newline, then ``fsync`` ed, so
after a crash or power loss every event that :meth:`Journal.append` returned from is on disk,
and at most the line being written is incomplete. The file is created with ``O_EXCL`` and its
directory is ``fsync`` ed too, so the new directory entry itself survives a power loss
(POSIX ``fsync`` of a file does not cover the entry naming it).

Recovery rules, applied by :meth:`Journal.read` and before the first :meth:`Journal.append`:

* a *torn* last line -- no trailing newline and not parseable, the only damage an
  interrupted append can leave (including a tail of NUL bytes some file systems expose
  after a power loss) -- is ignored with a :class:`JournalWarning` and cut off before the
  next append;
* a complete last event missing only its newline is kept (the newline is added before the
  next event);
* anything else -- bad JSON on a complete line, a line that is not a JSON object, an object
  without an ``"event"`` key, bytes that are not UTF-8, an empty line -- is corruption the
  journal cannot have produced itself, and raises :class:`JournalError` naming the file and
  line, rather than silently dropping events.

Only one writer may append to a journal at a time: the first append takes an exclusive,
non-blocking ``flock`` on the file, held until :meth:`Journal.close` (or until the object is
collected or its process ends, which the kernel guarantees even after SIGKILL). A second
writer, in another process or in this one, gets :class:`JournalLockedError`. Readers take no
lock. Only JSON is ever read or written: loading a journal never runs code.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import warnings
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["Journal", "JournalError", "JournalLockedError", "JournalWarning"]

# how far back from the end of the file to look for the last newline per read call
_TAIL_CHUNK = 1 << 16


class JournalError(ValueError):
    """A journal cannot be used: it is corrupt (the message names file and line) or locked."""


class JournalLockedError(JournalError):
    """Another writer holds the journal's lock."""


class JournalWarning(UserWarning):
    """A recoverable journal problem: a torn last line was ignored or cut off."""


def _parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Parse one line (without its newline) into an event, or say what is wrong with it."""
    if not raw.strip():
        return None, "empty line"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 ({exc.reason} at byte {exc.start})"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} (column {exc.colno})"
    if not isinstance(obj, dict):
        return None, f"expected a JSON object, got {type(obj).__name__}"
    if "event" not in obj:
        return None, 'JSON object has no "event" key'
    return obj, None


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:  # already closed elsewhere; nothing left to release
        pass


class Journal:
    """Append-only JSON Lines event log at ``path``.

    Args:
        path: the journal file. It is not created until the first :meth:`append`.

    Events are dicts with an ``"event"`` key; beyond that the journal is schema-agnostic.
    Values must be JSON-serialisable (convert numpy scalars and arrays to floats and lists).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path: Path = Path(path)
        self._fd: int | None = None
        self._needs_newline = False
        self._finalizer: weakref.finalize | None = None

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    # --------------------------------------------------------------------------- reading
    def exists(self) -> bool:
        """Whether the journal file exists (it may still hold no events)."""
        return self.path.is_file()

    def read(self) -> list[dict[str, Any]]:
        """Replay the journal: every event, in the order appended.

        Returns ``[]`` if the file does not exist. A torn last line is ignored with a
        :class:`JournalWarning`; any other damage raises :class:`JournalError`.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except IsADirectoryError:
            raise JournalError(f"{self.path}: is a directory, not a journal file") from None
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        events: list[dict[str, Any]] = []
        for number, raw in enumerate(lines, start=1):
            event, problem = _parse_line(raw)
            if problem is not None:
                raise JournalError(f"{self.path}: line {number}: {problem}")
            events.append(event)  # type: ignore[arg-type]
        if tail:
            event, problem = self._check_tail(tail, len(lines) + 1)
            if event is not None:
                events.append(event)
            else:
                warnings.warn(
                    f"{self.path}: line {len(lines) + 1}: ignoring a torn last line "
                    f"({len(tail)} bytes; {problem}): an append was interrupted",
                    JournalWarning,
                    stacklevel=2,
                )
        return events

    def _check_tail(self, tail: bytes, number: int) -> tuple[dict[str, Any] | None, str]:
        """Classify a last line without its newline: a whole event, or torn (with why).

        A complete JSON value that is not an event is corruption, not a tear: an interrupted
        write of an event can only leave a strict prefix of a JSON object, which never parses.
        """
        event, problem = _parse_line(tail)
        if event is not None:
            return event, ""
        assert problem is not None
        try:
            json.loads(tail.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None, problem
        raise JournalError(f"{self.path}: line {number}: {problem}")

    # --------------------------------------------------------------------------- writing
    def append(self, event: dict[str, Any]) -> None:
        """Append one event durably: one line, written, then ``fsync`` ed before returning.

        Raises:
            TypeError: ``event`` is not a dict or not JSON-serialisable.
            ValueError: ``event`` has no ``"event"`` key.
            JournalLockedError: another writer holds the journal.
            JournalError: the journal's last line is corrupt (not merely torn).
        """
        if not isinstance(event, dict):
            raise TypeError(f"journal event must be a dict, got {type(event).__name__}")
        if "event" not in event:
            raise ValueError('journal event must have an "event" key')
        try:
            line = json.dumps(event, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"journal event {event.get('event')!r} is not JSON-serialisable "
                f"(convert numpy values to float/list first): {exc}"
            ) from None
        data = line.encode("ascii") + b"\n"  # json.dumps escapes non-ASCII by default
        fd = self._open()
        if self._needs_newline:
            data = b"\n" + data
        view = memoryview(data)
        while view:  # os.write may write less than asked (e.g. near a quota)
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
        self._needs_newline = False

    def lock(self) -> None:
        """Take the writer's lock now (creating the file if needed) instead of on first append.

        Lets a resuming study fail fast, before any work, if another writer holds the journal.
        """
        self._open()

    def close(self) -> None:
        """Release the lock and the file descriptor; a later append reopens the file."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self) -> int:
        """Open (creating if needed) and lock the file, then repair a torn tail; cached."""
        if self._fd is not None:
            return self._fd
        created = True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            created = False
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
            except IsADirectoryError:
                raise JournalError(f"{self.path}: is a directory, not a journal file") from None
        except FileNotFoundError:
            raise FileNotFoundError(
                errno.ENOENT, f"cannot create journal: directory {self.path.parent} does not exist"
            ) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise JournalLockedError(
                    f"{self.path}: journal is in use by another writer (a study in another "
                    "process, or another Study object in this one); only one may append at a time"
                ) from None
            if created:
                self._fsync_dir()
            else:
                self._repair_tail(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._finalizer = weakref.finalize(self, _close_fd, fd)
        return fd

    def _fsync_dir(self) -> None:
        dir_fd = os.open(self.path.parent if str(self.path.parent) else ".", os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _repair_tail(self, fd: int) -> None:
        """Cut a torn last line off (under the lock) so the next event starts a clean line."""
        size = os.fstat(fd).st_size
        if size == 0:
            return
        end = size
        tail_start = 0
        # scan backwards for the last newline; a torn line is at most one event long
        while end > 0:
            start = max(0, end - _TAIL_CHUNK)
            chunk = os.pread(fd, end - start, start)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                tail_start = start + idx + 1
                break
            end = start
        if tail_start == size:
            return
        tail = os.pread(fd, size - tail_start, tail_start)
        number = self._count_lines(fd, tail_start) + 1
        event, problem = self._check_tail(tail, number)
        if event is not None:
            self._needs_newline = True
            return
        warnings.warn(
            f"{self.path}: line {number}: cutting off a torn last line "
            f"({len(tail)} bytes; {problem}) before appending",
            JournalWarning,
            stacklevel=4,
        )
        os.ftruncate(fd, tail_start)
        os.fsync(fd)

    @staticmethod
    def _count_lines(fd: int, upto: int) -> int:
        count = 0
        offset = 0
        while offset < upto:
            chunk = os.pread(fd, min(_TAIL_CHUNK * 16, upto - offset), offset)
            if not chunk:
                break
            count += chunk.count(b"\n")
            offset += len(chunk)
        return count
