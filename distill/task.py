"""The distillation task as ``python -m mobo.run`` finds it: its flags and how they build it.

:data:`ENTRY` is registered in the ``mobo.tasks`` entry-point group (``pyproject.toml``),
so installing this package makes ``--problem distill`` (the command line's default)
available. Its flags choose the data (``--data``, ``--train-file``, ``--dev-file``), the
teacher and the students' encoder (``--teacher``, ``--encoder``: folders or hub names in
the local Hugging Face cache), each trial's budget (``--epochs``, ``--train-examples``,
``--max-seq-length``, ``--doc-stride``, ``--trial-progress``) and the torch device
(``--device``). With ``--storage S.jsonl`` the Pareto front's students are kept in
``S.students/trial-N/``, put right when the study opens (a resumed run repairs what a
kill left before its first new trial) and after every trial. :func:`build` checks the
flags and returns a :class:`mobo.tasks.Task` around
:class:`distill.objective.DistillationTask`, the reproduction of the multimetric
Bayesian-optimisation study of BERT distillation for SQuAD 2.0 (SigOpt, 2020).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from distill.objective import DistillationTask
from distill.sources import resolve_source
from mobo.tasks import Task, TaskEntry, TaskLike

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
    group.add_argument("--teacher", default=None, metavar="PATH|NAME",
                       help="fine-tuned BERT/DistilBERT QA teacher: a folder or a hub name in "
                       "the local Hugging Face cache (default: fine-tune one and cache it)")
    group.add_argument("--encoder", default=None, metavar="PATH|NAME",
                       help="general encoder init=pretrained students start from, e.g. "
                       "distilbert-base-uncased (default: the teacher's own, else MiniLM-L6)")
    group.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0")
    group.add_argument("--epochs", type=_positive_int("--epochs"), default=None,
                       help="training epochs per trial (default: 3 on real data, 1 synthetic)")
    group.add_argument("--train-examples", type=_positive_int("--train-examples"),
                       default=None, metavar="N", help="training questions per trial "
                       "(default: all on real data, 1000 synthetic)")
    group.add_argument("--max-seq-length", type=_positive_int("--max-seq-length"),
                       default=None, metavar="N", help="tokens per window (default 384)")
    group.add_argument("--doc-stride", type=_positive_int("--doc-stride"), default=None,
                       metavar="N", help="tokens shared by consecutive windows (default 128)")
    group.add_argument("--trial-progress", action=argparse.BooleanOptionalAction,
                       default=None, help="show training progress inside each trial "
                       "(default: on real data)")


def _positive_int(flag: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
        return value

    parse.__name__ = flag
    return parse


def _header(task: TaskLike) -> str:
    """Sources, per-trial budget and search space of a run on real data (the embedded
    default's output stays as it was)."""
    fn = task.fn if isinstance(task, Task) else None
    return fn.describe() if isinstance(fn, DistillationTask) and not fn.synthetic else ""


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
    for role in ("teacher", "encoder"):
        if getattr(args, role) is not None:
            try:  # a folder, or a hub name found offline in the local Hugging Face cache
                resolve_source(getattr(args, role), role)
            except ValueError as e:
                raise ValueError(f"--{role}: {str(e).removeprefix(role + ': ')}") from None
    # the front's students live beside the journal: runs/S.jsonl -> runs/S.students
    storage = getattr(args, "storage", None)
    students_dir = Path(storage).with_suffix(".students") if storage else None
    try:
        task = DistillationTask(data, train_file=args.train_file, dev_file=args.dev_file,
                                teacher=args.teacher, device=args.device, seed=seed,
                                encoder=args.encoder, epochs=args.epochs,
                                train_examples=args.train_examples,
                                max_seq_length=args.max_seq_length,
                                doc_stride=args.doc_stride,
                                trial_progress=args.trial_progress, students_dir=students_dir)
        # reading the objectives loads the dev set (its no-answer EM is the threshold), so
        # unusable data files are reported here, before any journal is touched
        objectives = list(task.objectives)
    except (ValueError, KeyError, OSError, ImportError) as e:
        raise ValueError(f"distillation data: {type(e).__name__}: {e}") from None
    # torch and transformers: imported only once a distillation run is asked for
    from distill.data import build_features

    try:  # windowing checks only (no examples): a bad pair would fail in prepare, unreported
        build_features([], None, max_length=task.base.max_seq_length,
                       doc_stride=task.base.doc_stride)
    except ValueError as e:
        raise ValueError(f"--max-seq-length/--doc-stride: {e}") from None
    # the front's students are reconciled with the journal once when the study opens (so a
    # resumed run first puts right what a kill left) and after every finished trial
    keep = task.keep_front_students if students_dir is not None else None
    return Task(task.space, objectives, task, prepare=task.prepare,
                callbacks=[keep] if keep is not None else [], on_open=keep)


# The study settings recommended for this task (``python -m mobo.run`` uses them unless a
# flag says otherwise): a trust region of half-width 0.05 around the front that beats the
# no-answer threshold, and seven in ten model proposals drawn from a Parzen density of the
# best ranks of that front (the exploration share). The search space has 19 parameters and most
# of it trains students that collapse to no answer; a global EHVI search spends its budget
# there (results/distill_diagnosis.md), and inside the boxes EHVI keeps to the
# configurations near its centres while good ones elsewhere stay unsampled
# (results/distill_whatif.md). Both were chosen on the development seeds of the task
# (results/distill_dev/README.md, the share's size last in results/distill_dev/epyc_explore070/;
# the half-width also on the stand-in's, results/distill_standin/).
STUDY_OPTIONS = {"trust_region": 0.05, "explore": 0.7}

ENTRY = TaskEntry(
    name="distill",
    description="distil BERT students for SQuAD 2.0-style QA and trade exact match against "
    "parameter count",
    build=build,
    add_arguments=add_arguments,
    header=_header,
    study_options=STUDY_OPTIONS,
)
