"""Which commit made a result, and whether the code behind it has changed since.

Every benchmark that writes a result records the commit of the checkout it ran from
(:func:`stamp`): ``results/compare.csv``, ``results/compare_heldout.csv`` and
``results/speed.csv`` and the :mod:`benchmarks.fit_subset` CSVs in a ``commit`` column
(one per row),
:mod:`benchmarks.distill_compare` in a ``provenance.jsonl`` beside its per-run files (one
line per run segment: from which trial on, which commit, which command), and the results
written once per run (:data:`FILES`: the task facts, the teacher reference, the seed
shape, the trainer speed per entry, the kernel speed, the replays, the recheck, the kill
test) in their JSON (:func:`stamp_fields`) or their report's header (:func:`stamp_line`).
A stamp is the full commit hash, with
``+dirty`` appended when the files the result depends on had uncommitted changes when the
run started (the commit then does not say what ran).

A result is *stale* when the code it depends on (:data:`COVERS`, per result and method,
and :data:`FILES`) differs between the commit it was made at and ``HEAD``; a Python file
whose syntax tree is the same once docstrings are dropped (an edit of comments, docstrings
or layout only) has not changed in this sense, since no number can depend on it. A result
without a stamp (made before stamps were recorded) or with a ``+dirty`` one cannot be
checked and counts as stale too.

Some changes to covered code cannot change a result's numbers although its syntax tree
changes: an option added to the optimizer that is off in every run made before it (the
runs' proposals are what they were), a refactor shown to propose the same points. Such a
change is declared in ``results/provenance_declared.json`` (:data:`DECLARED_FILE`): a
list ``neutral`` of ``{"up_to": <commit>, "reason": <why no number changes>, "results":
[<glob>, ...], "methods": [...]}`` (the last two optional: by default every result and
method). A run made at a commit that is an ancestor of ``up_to`` is then judged by what
changed between ``up_to`` and ``HEAD`` (the newest such declaration that applies): the
changes before ``up_to`` are taken as neutral for it, with the reason in the report, and
any change after ``up_to`` still makes it stale. A declaration of neutral changes never
reaches past a ``superseded`` one (below) that applies to the run and that it was made
before: the change that superseded it stays a change for it.

A change that does alter what a result's command gives (a new default, say) leaves the
runs made before it as the record of the earlier code until they are rerun. Such runs are
declared in the same file's list ``superseded`` (``{"before": <commit>, "reason": <what
changed and what the rerun needs>, "results": [...], "methods": [...]}``): a stale run of
a matching result and method made at an ancestor of ``before`` is counted as superseded,
not stale, and the report says so with the reason; every report that shows such runs has
to say which code made them. ``python -m benchmarks.provenance`` writes
``results/provenance.md``: per result file that git tracks (runs still in progress beside
them are not reported) and method, how many runs, at which commits, and for the stale ones
the covered paths that changed since; ``--check`` also exits 1 when any run is stale.

Usage (from the repository root of a checkout)::

    python -m benchmarks.provenance            # writes results/provenance.md
    python -m benchmarks.provenance --check    # and exits 1 if anything is stale
"""

from __future__ import annotations

import argparse
import ast
import csv
import fnmatch
import functools
import json
import platform
import re
import shlex
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIRTY = "+dirty"

# The code a result's numbers depend on, per kind of result and method: a change to any of
# these paths between the result's commit and HEAD may change the numbers. The peers' rows
# depend on mobo only through the problems, the space (the shared Sobol design) and the
# hypervolume; mobo's rows on all of mobo.
_TOY_PEER = ("benchmarks/compare.py", "mobo/problems.py", "mobo/space.py", "mobo/volume.py",
             "mobo/pareto.py")
_DISTILL_PEER = ("benchmarks/distill_compare.py", "distill", "mobo/space.py",
                 "mobo/tasks.py")
# A proposal's time depends on all of mobo, BoTorch's on the problems and the proposer in
# benchmarks/compare.py; both on the timing harness.
_SPEED_MOBO = ("mobo", "benchmarks/speed.py")
COVERS: dict[str, dict[str, tuple[str, ...]]] = {
    "compare": {"mobo": ("mobo", "benchmarks/compare.py"), "*": _TOY_PEER},
    "distill_compare": {"mobo": ("mobo", "distill", "benchmarks/distill_compare.py"),
                        "*": _DISTILL_PEER},
    # both variants of a long study run mobo (one with its subset switched off)
    "fit_subset": {"*": ("mobo", "benchmarks/compare.py", "benchmarks/fit_subset.py")},
    "speed": {"mobo": _SPEED_MOBO, "mobo_in_study": _SPEED_MOBO,
              "*": ("benchmarks/speed.py", "benchmarks/compare.py", "mobo/problems.py",
                    "mobo/space.py")},
}

# Results that carry one stamp per file, or one per entry of ``measurements`` (JSON: a
# ``commit`` with an optional ``dirty`` flag; markdown: "Code: commit <hash>" in its
# header, "with uncommitted changes" after it when the tree was dirty), by file name under
# results/, with the code their numbers depend on. The replays (distill_diagnosis,
# distill_boxes) rerun mobo's surrogate and acquisition on committed journals, so they
# depend on all of mobo.
FILES: dict[str, tuple[str, ...]] = {
    "distill_task.json": ("benchmarks/distill_task.py", "distill"),
    "distill_reference.json": ("benchmarks/distill_reference.py", "distill"),
    "seed_shape.json": ("benchmarks/seed_shape.py", "distill"),
    "speed_trainer.json": ("benchmarks/speed_trainer.py", "distill"),
    "speed_kernels.md": ("benchmarks/speed_kernels.py", "mobo"),
    "distill_diagnosis.json": ("benchmarks/distill_diagnosis.py", "mobo", "distill"),
    "distill_boxes.json": ("benchmarks/distill_boxes.py", "mobo", "distill"),
    "distill_whatif.json": ("benchmarks/distill_whatif.py", "benchmarks/distill_diagnosis.py",
                            "mobo", "distill"),
    "distill_surrogates.json": ("benchmarks/distill_surrogates.py",
                                "benchmarks/distill_compare.py", "mobo"),
    "distill_smallband.json": ("benchmarks/distill_smallband.py",
                               "benchmarks/distill_surrogates.py",
                               "benchmarks/distill_compare.py", "mobo"),
    "killtest.md": ("tools/killtest.py", "mobo"),
    "distill_recheck.json": ("benchmarks/distill_recheck.py", "benchmarks/distill_compare.py",
                             "distill"),
    "distill_recheck_gpu.json": ("benchmarks/distill_recheck.py",
                                 "benchmarks/distill_compare.py", "distill"),
    "distill_bandcheck.json": ("benchmarks/distill_bandcheck.py",
                               "benchmarks/distill_compare.py", "distill"),
    "distill_bandcheck_onemachine.json": ("benchmarks/distill_bandcheck.py",
                                          "benchmarks/distill_compare.py", "distill"),
}
DECLARED_FILE = "results/provenance_declared.json"
_MARKDOWN_STAMP = re.compile(r"Code: commit `?([0-9a-f]{7,40})`?( with uncommitted changes)?")


def covers(kind: str, method: str) -> tuple[str, ...]:
    """The code paths a ``kind`` result's ``method`` runs depend on."""
    table = COVERS[kind]
    return table.get(method, table["*"])


def git(*args: str, root: Path = ROOT, strip: bool = True) -> str | None:
    """A git command's output in ``root`` (stripped of surrounding whitespace unless
    ``strip`` is False: a file's text), or None without git, outside a repository or when
    the command fails."""
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.strip() if strip else out


def relative(path: Path, root: Path = ROOT) -> str:
    """``path`` relative to ``root`` with forward slashes, as git and the reports name it;
    unchanged when it lies outside ``root``."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def stamp(paths: Sequence[str] = (), root: Path = ROOT) -> str:
    """The commit of ``root``'s checkout, ``+dirty`` when tracked files under ``paths``
    (all tracked files when empty) have uncommitted changes; ``""`` outside a repository."""
    head = git("rev-parse", "HEAD", root=root)
    if not head:
        return ""
    status = git("status", "--porcelain", "--untracked-files=no", "--", *paths, root=root)
    return head + (DIRTY if status else "")


def command_line(module: str, argv: Sequence[str] | None = None) -> str:
    """The command that ran ``python -m module`` with ``argv`` (this process's arguments
    when None), quoted as a shell takes it: what a result records beside its stamp."""
    return shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])


def stamp_fields(paths: Sequence[str] = (), root: Path = ROOT) -> dict[str, object]:
    """:func:`stamp` as a JSON result's fields: ``commit`` (None outside a repository) and
    ``dirty``, as :func:`file_stamps` reads them."""
    s = stamp(paths, root)
    return {"commit": s.removesuffix(DIRTY) or None, "dirty": s.endswith(DIRTY)}


def stamp_line(paths: Sequence[str] = (), root: Path = ROOT) -> str:
    """:func:`stamp` as a markdown result's line, as :func:`file_stamps` reads it."""
    s = stamp(paths, root)
    if not s:
        return "Code: unknown (not a git checkout)"
    return (f"Code: commit `{s.removesuffix(DIRTY)}`"
            + (" with uncommitted changes" if s.endswith(DIRTY) else ""))


def check_out_folders(ap: argparse.ArgumentParser, **outs: Path) -> None:
    """Exit 2 through ``ap`` (before any work) unless every output's folder exists;
    ``outs``: flag name (``out_json`` for ``--out-json``) -> path."""
    for name, path in outs.items():
        if not path.parent.is_dir():
            ap.error(f"--{name.replace('_', '-')}: {path.parent} is not a folder")


def write_result(data: Mapping[str, object], out_json: Path, out_md: Path,
                 render: Callable[[Mapping[str, object]], str]) -> None:
    """Write a stamped result's JSON and the markdown report made from that JSON alone."""
    out_json.write_text(json.dumps(data, indent=1) + "\n")
    out_md.write_text(render(data))
    print(f"wrote {out_json} and {out_md}", file=sys.stderr)


CPUINFO = Path("/proc/cpuinfo")


def first_cpu(cpuinfo: Path = CPUINFO) -> dict[str, str]:
    """The first processor's block of Linux's ``cpuinfo`` as field -> value ("model
    name", "vendor_id", ...); {} where there is no such file."""
    fields: dict[str, str] = {}
    try:
        for line in cpuinfo.read_text().splitlines():
            if not line.strip():
                break  # the first processor's block is enough
            key, _, value = line.partition(":")
            fields[key.strip()] = " ".join(value.split())
    except OSError:
        pass
    return fields


def cpu_name(cpuinfo: Path = CPUINFO) -> str:
    """The machine's CPU model as Linux reports it, else the platform's word for it: where a
    result was made, beside the commit of what made it."""
    return (first_cpu(cpuinfo).get("model name") or platform.processor()
            or platform.machine())


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's vendor, family, model and stepping as Linux reports them (``"AuthenticAMD
    family 25 model 17 stepping 1"``), else the platform's word for the machine: two hosts
    whose model names read the same (a virtual machine's "AMD EPYC") can be different
    generations, with different vector units."""
    fields = first_cpu(cpuinfo)
    if "vendor_id" not in fields:
        return platform.machine()
    return (f"{fields['vendor_id']} family {fields.get('cpu family', '?')} model "
            f"{fields.get('model', '?')} stepping {fields.get('stepping', '?')}")


def changed_since(commit: str, paths: Sequence[str], root: Path = ROOT) -> list[str]:
    """The files under ``paths`` that differ between ``commit`` and HEAD, leaving out
    Python files whose code is the same (:func:`code_of`).

    A commit that cannot be checked (empty, ``+dirty``, or unknown to the repository) gives
    one line saying so instead of file names: such a result counts as stale.
    """
    if not commit:
        return ["(no commit recorded)"]
    if commit.endswith(DIRTY):
        return ["(made from uncommitted changes)"]
    if git("cat-file", "-e", f"{commit}^{{commit}}", root=root) is None:
        return [f"(commit {commit[:12]} not in this repository)"]
    out = git("diff", "--name-only", commit, "HEAD", "--", *paths, root=root)
    if out is None:
        return []
    return [path for path in out.splitlines()
            if path and not _same_code(commit, path, root)]


def code_of(text: str) -> str | None:
    """A Python source's syntax tree without its docstrings, as text (comments and layout
    are not in the tree either); None when the text does not parse as Python."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                             ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                node.body = node.body[1:]
    return ast.dump(tree)


def _same_code(commit: str, path: str, root: Path) -> bool:
    """Whether the Python file ``path`` is the same code at ``commit`` and at HEAD (it
    differs at most in comments, docstrings and layout); False for any other file, one
    that is missing on either side, or one that does not parse."""
    if not path.endswith(".py"):
        return False
    old = git("show", f"{commit}:{path}", root=root, strip=False)
    new = git("show", f"HEAD:{path}", root=root, strip=False)
    if old is None or new is None:
        return False
    code = code_of(old)
    return code is not None and code == code_of(new)


@dataclass(frozen=True)
class Declaration:
    """Of :data:`DECLARED_FILE`: in list ``neutral``, that the changes to covered code up
    to ``commit`` change no number of the results (and methods) it names made before it;
    in list ``superseded``, that the runs of those made before ``commit`` are the record
    of earlier code, kept until they are rerun."""

    commit: str                           # full hash: "up_to" (neutral), "before" (superseded)
    reason: str
    results: tuple[str, ...] = ("*",)     # fnmatch globs of result paths
    methods: tuple[str, ...] = ("*",)

    def applies(self, result: str, method: str) -> bool:
        return (any(fnmatch.fnmatchcase(result, g) for g in self.results)
                and any(fnmatch.fnmatchcase(method, g) for g in self.methods))


_DECLARED_KEYS = {"neutral": "up_to", "superseded": "before"}


def read_declared(root: Path = ROOT) -> dict[str, list[Declaration]]:
    """The declarations of :data:`DECLARED_FILE` under ``root``, by list (``neutral``,
    ``superseded``; empty when the file or a list is absent); ValueError naming the entry
    for one that is malformed or names a commit the repository does not have."""
    path = root / DECLARED_FILE
    if not path.is_file():
        return {kind: [] for kind in _DECLARED_KEYS}
    return {kind: list(ds) for kind, ds in _parse_declared(root, path.read_text()).items()}


@functools.lru_cache(maxsize=8)
def _parse_declared(root: Path, text: str) -> dict[str, tuple[Declaration, ...]]:
    """:func:`read_declared` of the file's ``text``, parsed and its commits resolved once
    per text (every result group of a report reads the same file)."""
    out: dict[str, list[Declaration]] = {kind: [] for kind in _DECLARED_KEYS}
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or set(data) - set(_DECLARED_KEYS):
            raise TypeError(f"keys {sorted(data) if isinstance(data, dict) else data!r}")
        lists = {kind: list(data.get(kind, [])) for kind in _DECLARED_KEYS}
    except (json.JSONDecodeError, TypeError) as e:
        raise ValueError(f"{DECLARED_FILE}: expected {{\"neutral\": [...], "
                         f"\"superseded\": [...]}} ({e})") from None
    for kind, key in _DECLARED_KEYS.items():
        for i, c in enumerate(lists[kind]):
            where = f"{DECLARED_FILE}: {kind}[{i}]"
            if not isinstance(c, dict) or not isinstance(c.get(key), str) \
                    or not isinstance(c.get("reason"), str) or not c["reason"].strip():
                raise ValueError(f"{where}: needs a \"{key}\" commit and a \"reason\"")
            full = git("rev-parse", "--verify", "--quiet", f"{c[key]}^{{commit}}", root=root)
            if not full:
                raise ValueError(f"{where}: {c[key]!r} is not a commit of this repository")
            globs = {}
            for field_name in ("results", "methods"):
                value = c.get(field_name, ["*"])
                if not isinstance(value, list) or not value \
                        or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"{where}: {field_name!r} must be a list of patterns")
                globs[field_name] = tuple(value)
            out[kind].append(Declaration(full, c["reason"].strip(), globs["results"],
                                         globs["methods"]))
    return {kind: tuple(ds) for kind, ds in out.items()}


def _is_ancestor(a: str, b: str, root: Path) -> bool:
    """Whether commit ``a`` is ``b`` or an ancestor of it."""
    try:
        subprocess.run(["git", "merge-base", "--is-ancestor", a, b], cwd=root, check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def judged_from(commit: str, result: str, method: str, neutral: Sequence[Declaration],
                root: Path = ROOT,
                superseded: Sequence[Declaration] = ()) -> Declaration | None:
    """The declaration a run stamped ``commit`` is judged from: of those that apply to
    (``result``, ``method``), that ``commit`` is an ancestor of and that are ancestors of
    HEAD, the newest; None when none is (also for an empty, dirty or unknown
    stamp, which no declaration makes checkable).

    A ``superseded`` declaration that applies to the run and that it was made before is a
    wall: it says a change at its commit altered the run's numbers, so no neutral
    declaration at or after that commit (one forgiving a later, unrelated edit for every
    result, say) can forgive that change too."""
    if not commit or commit.endswith(DIRTY) or \
            git("cat-file", "-e", f"{commit}^{{commit}}", root=root) is None:
        return None
    walls = [s.commit for s in superseded if s.commit != commit
             and s.applies(result, method) and _is_ancestor(commit, s.commit, root)]
    best: Declaration | None = None
    for n in neutral:
        if n.commit != commit and n.applies(result, method) and \
                _is_ancestor(best.commit if best else commit,
                             n.commit, root) and _is_ancestor(n.commit, "HEAD", root) and \
                not any(_is_ancestor(w, n.commit, root) for w in walls):
            best = n
    return best


def superseded_by(commit: str, result: str, method: str,
                  superseded: Sequence[Declaration], root: Path = ROOT) -> Declaration | None:
    """The first ``superseded`` declaration that applies to (``result``, ``method``) and
    that the run stamped ``commit`` was made before (its commit an ancestor of the
    declaration's, not the same); None when none does or the stamp is empty, dirty or
    unknown."""
    if not commit or commit.endswith(DIRTY) or \
            git("cat-file", "-e", f"{commit}^{{commit}}", root=root) is None:
        return None
    return next((d for d in superseded if d.commit != commit and d.applies(result, method)
                 and _is_ancestor(commit, d.commit, root)), None)


@dataclass(frozen=True)
class Group:
    """The runs of one method in one result file, by commit."""

    result: str                        # path of the result file, relative to the root
    method: str
    runs_by_commit: Mapping[str, int]  # commit stamp -> runs (or run segments)
    changed: Mapping[str, list[str]]   # commit stamp -> covered files changed since
    # commit stamp -> the declaration of neutral changes it is judged from
    judged: Mapping[str, Declaration] = field(default_factory=dict)
    # commit stamp of stale runs -> the declaration that they are superseded
    superseded: Mapping[str, Declaration] = field(default_factory=dict)

    @property
    def stale_runs(self) -> int:
        """Runs whose code changed since and that no declaration calls superseded."""
        return sum(n for c, n in self.runs_by_commit.items()
                   if self.changed[c] and c not in self.superseded)

    @property
    def superseded_runs(self) -> int:
        return sum(n for c, n in self.runs_by_commit.items() if c in self.superseded)


def _group(result: str, paths: Sequence[str], method: str, commits: Iterable[str],
           root: Path) -> Group:
    """The runs of ``method`` in ``result`` by commit stamp, judged against ``paths`` from
    their commit or from the declaration of neutral changes that applies
    (:func:`judged_from`)."""
    counts: dict[str, int] = defaultdict(int)
    for c in commits:
        counts[c] += 1
    declared = read_declared(root)
    judged = {c: n for c in counts
              if (n := judged_from(c, result, method, declared["neutral"], root,
                                   declared["superseded"])) is not None}
    changed = {c: changed_since(judged[c].commit if c in judged else c, paths, root)
               for c in counts}
    superseded = {c: d for c in counts if changed[c] and (
        d := superseded_by(c, result, method, declared["superseded"], root)) is not None}
    return Group(result, method, dict(sorted(counts.items())), changed, judged, superseded)


def compare_groups(path: Path, root: Path = ROOT, kind: str = "compare",
                   run: Sequence[str] = ("problem", "seed"),
                   method: str = "method") -> list[Group]:
    """Per method of a CSV with a ``commit`` column (a toy comparison, or with ``kind``
    ``"speed"`` and ``run`` ``("problem", "n_obs", "seed")`` the proposal timings, or with
    ``kind`` ``"fit_subset"`` and ``method`` ``"variant"`` a long study's variants): its runs
    (rows sharing the ``run`` columns) by commit stamp; the column ``method`` names the
    method."""
    runs: dict[str, dict[tuple[str, ...], str]] = defaultdict(dict)
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            # a run's checkpoints share its stamp; the last one read stands for the run
            runs[row[method]][tuple(row[k] for k in run)] = row.get("commit") or ""
    rel = relative(path, root)
    return [_group(rel, covers(kind, m), m, r.values(), root) for m, r in sorted(runs.items())]


def compare_paths(results: Path, tracked: set[str], root: Path = ROOT) -> list[Path]:
    """The toy comparison's CSVs under ``results`` whose paths (relative to ``root``) are in
    ``tracked``: the development and held-out records, then the development variants of
    mobo (``compare_dev/*.csv``, :mod:`benchmarks.compare_variants`)."""
    paths = [results / "compare.csv", results / "compare_heldout.csv",
             *sorted((results / "compare_dev").glob("*.csv"))]
    return [p for p in paths if relative(p, root) in tracked]


def fit_subset_paths(results: Path, tracked: set[str], root: Path = ROOT) -> list[Path]:
    """The :mod:`benchmarks.fit_subset` CSVs under ``results`` whose paths (relative to
    ``root``) are in ``tracked``: every ``fit_subset*.csv``."""
    return [p for p in sorted(results.glob("fit_subset*.csv")) if relative(p, root) in tracked]


def distill_groups(out_dir: Path, root: Path = ROOT,
                   tracked: set[str] | None = None) -> list[Group]:
    """Per method of a :mod:`benchmarks.distill_compare` folder: its run segments by
    commit stamp; a (method, seed) run with trials but no segment line counts as one
    segment with no commit. ``tracked``: the paths (relative to ``root``) to read; None:
    every file on disk."""
    def wanted(path: Path) -> bool:
        return tracked is None or relative(path, root) in tracked

    per_run = out_dir / "distill_compare"
    segments: dict[str, list[str]] = defaultdict(list)
    stamped: set[tuple[str, int]] = set()
    log = per_run / "provenance.jsonl"
    if log.is_file() and wanted(log):
        for line in log.read_text().splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn line, or the blank line a writer leads with
            segments[e["method"]].append(e.get("commit") or "")
            stamped.add((e["method"], int(e["seed"])))
    for path in sorted(per_run.glob("*-*.jsonl")):
        method, _, seed = path.stem.rpartition("-")
        if (seed.isdigit() and (method, int(seed)) not in stamped and path.stat().st_size
                and wanted(path)):
            segments[method].append("")
    rel = relative(out_dir / "distill_compare.csv", root)
    return [_group(rel, covers("distill_compare", m), m, c, root)
            for m, c in sorted(segments.items())]


def file_stamps(path: Path) -> dict[str, list[str]]:
    """The stamps a result file of :data:`FILES` carries, by method: ``"-"`` for a file
    stamped once, the device type (``cpu``, ``cuda``) for each entry of a file of
    ``measurements`` (an entry without a ``commit`` has the file's; one without either,
    copied in by hand say, gives ``""``). Raises ValueError for a file that is not what
    :data:`FILES` says it is."""
    def one(entry: Mapping[str, object]) -> str:
        if not entry.get("commit") and entry is not data:
            entry = data
        commit = str(entry.get("commit") or "")
        return commit + (DIRTY if commit and entry.get("dirty") else "")

    text = path.read_text()
    if path.suffix == ".md":
        m = _MARKDOWN_STAMP.search(text)
        return {"-": [m.group(1) + (DIRTY if m.group(2) else "") if m else ""]}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path.name}: not JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: not a JSON object")
    if isinstance(data.get("measurements"), list):
        stamps: dict[str, list[str]] = defaultdict(list)
        for entry in data["measurements"]:
            stamps[str(entry.get("device_type") or "-")].append(one(entry))
        return dict(stamps)
    return {"-": [one(data)]}


def file_groups(root: Path = ROOT, tracked: set[str] | None = None) -> list[Group]:
    """Per result file of :data:`FILES` that exists (and git tracks, when ``tracked`` is
    given) and per method: its stamps."""
    groups: list[Group] = []
    for name, paths in FILES.items():
        path = root / "results" / name
        rel = relative(path, root)
        if not path.is_file() or (tracked is not None and rel not in tracked):
            continue
        groups += [_group(rel, paths, method, stamps, root)
                   for method, stamps in sorted(file_stamps(path).items())]
    return groups


def all_groups(root: Path = ROOT) -> list[Group]:
    """Every stamped kind of result in ``root/results`` that git tracks (the report is on
    the committed results, not on runs still in progress beside them)."""
    results = root / "results"
    listed = git("ls-files", "--", "results", root=root)
    tracked = set(listed.splitlines()) if listed else set()
    groups: list[Group] = []
    for path in compare_paths(results, tracked, root):
        groups += compare_groups(path, root)
    if relative(results / "speed.csv", root) in tracked:
        groups += compare_groups(results / "speed.csv", root, "speed",
                                 ("problem", "n_obs", "seed"))
    for path in fit_subset_paths(results, tracked, root):
        groups += compare_groups(path, root, "fit_subset", ("problem", "seed"), "variant")
    for csv_path in sorted(results.rglob("distill_compare.csv")):
        if relative(csv_path, root) not in tracked:
            continue
        if (csv_path.parent / "distill_compare" / "standin.txt").is_file():
            continue  # the stand-in's runs: development scratch, not kept as results
        groups += distill_groups(csv_path.parent, root, tracked)
    return groups + file_groups(root, tracked)


def markdown(groups: Sequence[Group]) -> str:
    """The report: one row per result file and method."""
    lines = [
        "# Provenance of the results",
        "",
        "Which commit made each run of the stamped results, and whether the code those "
        "runs depend on has changed since (`benchmarks/provenance.py`: `COVERS`). A run "
        "made before commits were recorded, or from uncommitted changes, cannot be checked "
        "and counts as stale. A run *judged from* a later commit was made before changes "
        f"declared in `{DECLARED_FILE}` not to change its numbers; only what changed after "
        "that commit can make it stale. A *superseded* run is one whose code did change "
        "since and that the same file declares the record of the earlier code until it is "
        "rerun. The reasons of both kinds of declaration are listed below the table. "
        "Generated by `python -m benchmarks.provenance`.",
        "",
        "| result | method | runs | fresh | stale | superseded | made at | "
        "changed since (stale or superseded runs) |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for g in groups:
        total = sum(g.runs_by_commit.values())
        made = ", ".join(
            (f"`{c[:10] + (DIRTY if c.endswith(DIRTY) else '')}` ({n})"
             + (f" judged from `{g.judged[c].commit[:10]}`" if c in g.judged else ""))
            if c else f"unrecorded ({n})" for c, n in g.runs_by_commit.items())
        changed = sorted({p for c in g.runs_by_commit for p in g.changed[c]})
        shown = ", ".join(f"`{p}`" if not p.startswith("(") else p for p in changed[:6])
        if len(changed) > 6:
            shown += f" and {len(changed) - 6} more"
        fresh = total - g.stale_runs - g.superseded_runs
        lines.append(f"| `{g.result}` | {g.method} | {total} | {fresh} | {g.stale_runs} | "
                     f"{g.superseded_runs} | {made} | {shown or '-'} |")
    used = {(n.commit, n.reason) for g in groups for n in g.judged.values()}
    if used:
        lines += ["", "Changes declared neutral:", ""]
        lines += [f"- up to `{c[:10]}`: {reason}" for c, reason in sorted(used)]
    kept = {(d.commit, d.reason) for g in groups for d in g.superseded.values()}
    if kept:
        lines += ["", "Runs declared superseded (the record of earlier code until rerun):", ""]
        lines += [f"- made before `{c[:10]}`: {reason}" for c, reason in sorted(kept)]
    superseded = sum(g.superseded_runs for g in groups)
    if superseded:
        lines += ["", f"{superseded} runs are superseded."]
    stale = sum(g.stale_runs for g in groups)
    lines += ["", f"{stale} of {sum(sum(g.runs_by_commit.values()) for g in groups)} runs "
              "are stale." if stale else "No run is stale."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.provenance",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "provenance.md",
                    help="the report (default results/provenance.md)")
    ap.add_argument("--check", action="store_true", help="exit 1 if any run is stale")
    args = ap.parse_args(argv)
    if not args.out.parent.is_dir():
        ap.error(f"--out: {args.out.parent} is not a folder")
    if git("rev-parse", "HEAD") is None:
        ap.error(f"{ROOT} is not a git checkout: provenance needs its history")
    groups = all_groups()
    args.out.write_text(markdown(groups))
    stale = sum(g.stale_runs for g in groups)
    print(f"wrote {args.out}: {stale} stale runs", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
