"""The distillation task as ``python -m mobo.run`` finds it: its flags and how they build it.

:data:`ENTRY` is registered in the ``mobo.tasks`` entry-point group (``pyproject.toml``),
so installing this package makes ``--problem distill`` (the command line's default)
available. Its flags choose the data (``--data``, ``--train-file``, ``--dev-file``), the
teacher (``--teacher``) and the torch device (``--device``); :func:`build` checks them and
returns a :class:`mobo.tasks.Task` around :class:`distill.objective.DistillationTask`, the
reproduction of the multimetric Bayesian-optimisation study of BERT distillation for
SQuAD 2.0 (SigOpt, 2020).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from distill.objective import DistillationTask
from mobo.tasks import Task, TaskEntry

__all__ = ["ENTRY", "add_arguments", "build"]


def add_arguments(group: argparse._ArgumentGroup) -> None:
    """The distillation task's flags (every default is None: "not given")."""
    group.add_argument("--data", default=None,
                       help="'synthetic' (default: generated offline from the seed), "
                       "'squad_v2' (datasets cache) or a directory holding train-v2.0.json "
                       "and dev-v2.0.json")
    group.add_argument("--train-file", default=None, metavar="PATH",
                       help="SQuAD 2.0 train JSON")
    group.add_argument("--dev-file", default=None, metavar="PATH", help="SQuAD 2.0 dev JSON")
    group.add_argument("--teacher", default=None, metavar="PATH",
                       help="fine-tuned teacher checkpoint (default: fine-tune one and cache "
                       "it)")
    group.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0")


def _readable_file(flag: str, path: str) -> None:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"{flag}: {p} is not a file")
    if not os.access(p, os.R_OK):
        raise ValueError(f"{flag}: {p} is not readable")


def build(args: argparse.Namespace, seed: int) -> Task:
    """The distillation task the flags describe.

    Raises:
        ValueError: a flag names missing or unreadable data or teacher, or the data files
            cannot be read (a one-line message starting with the flag).
    """
    data = args.data if args.data is not None else "synthetic"
    if data not in ("synthetic", "squad_v2"):
        folder = Path(data).expanduser()
        if not folder.is_dir():
            raise ValueError(f"--data: expected 'synthetic', 'squad_v2' or a directory, "
                             f"got {data!r} (no such directory)")
        for flag, given, default in (("--train-file", args.train_file, "train-v2.0.json"),
                                     ("--dev-file", args.dev_file, "dev-v2.0.json")):
            if given is None and not (folder / default).is_file():
                raise ValueError(f"--data: {folder} has no {default} (or pass {flag})")
    for flag, given in (("--train-file", args.train_file), ("--dev-file", args.dev_file)):
        if given is not None:
            _readable_file(flag, given)
    if data in ("synthetic", "squad_v2") and (args.train_file is None) != (args.dev_file is None):
        raise ValueError("--train-file/--dev-file: give both (or --data DIR holding the other)")
    if args.teacher is not None and not Path(args.teacher).expanduser().is_dir():
        raise ValueError(f"--teacher: {args.teacher} is not a checkpoint directory")
    try:
        task = DistillationTask(data, train_file=args.train_file, dev_file=args.dev_file,
                                teacher=args.teacher, device=args.device, seed=seed)
        # reading the objectives loads the dev set (its no-answer EM is the threshold), so
        # unusable data files are reported here, before any journal is touched
        objectives = list(task.objectives)
    except (ValueError, KeyError, OSError, ImportError) as e:
        raise ValueError(f"distillation data: {type(e).__name__}: {e}") from None
    return Task(task.space, objectives, task, prepare=task.prepare)


ENTRY = TaskEntry(
    name="distill",
    description="distil BERT students for SQuAD 2.0-style QA and trade exact match against "
    "parameter count",
    build=build,
    add_arguments=add_arguments,
)
