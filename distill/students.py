"""Keeping the students of the Pareto front: save, stage, promote, prune, load.

A trial's function sees only its parameters, never its trial number, so each trial saves
its student under a key derived from its full configuration (:func:`student_key`) into
``students_dir/.staging/<key>/``. After each finished trial, :func:`keep_front_students`
(through ``DistillationTask.keep_front_students``, a ``Study.optimize`` callback) makes the
folder agree with the study:

* the staged student of a trial on ``study.pareto_front()`` is renamed to
  ``students_dir/trial-<number>/``;
* kept students that have left the front, and staged ones of finished trials off the
  front, are deleted; staged folders no trial can claim (a process killed between saving
  and journaling, a half-written save) are deleted too, except those of trials still
  running, which may be about to finish;
* front trials without a student are reported in one warning line.

Every change is a rename within ``students_dir`` (a deletion is a rename into the staging
area first), so a kill at any point leaves folders that the next call, e.g. at the start
of a resumed run, puts right. Calling it twice does nothing the second time.

A student folder holds ``model.safetensors``, the BERT ``config.json``, ``heads.json``,
the trial's ``distill_config.json`` and the tokenizer's files: nothing pickled.
:func:`load_student` reads one back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from distill.config import DistillConfig
from distill.data import load_tokenizer
from distill.models import load_qa_model, save_qa_model

__all__ = [
    "CONFIG_FILE",
    "STAGING",
    "keep_front_students",
    "load_student",
    "save_student",
    "student_key",
]

STAGING = ".staging"
CONFIG_FILE = "distill_config.json"
_TRASH = ".trash-"


def student_key(config: DistillConfig) -> str:
    """A digest of the whole configuration: the same for a trial and its journal entry.

    ``DistillConfig`` coerces its fields to plain ``int``/``float``/``str``, so params that
    went through a journal (JSON) give the same key as the live ones.
    """
    text = json.dumps(config.to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _replace_dir(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``; an existing ``final`` is moved aside first, then deleted."""
    if final.exists():
        trash = final.parent / f"{_TRASH}{final.name}"
        if trash.exists():
            shutil.rmtree(trash)
        os.replace(final, trash)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)


def save_student(
    model: Any, tokenizer: Any, config: DistillConfig, students_dir: str | os.PathLike
) -> Path:
    """Stage ``model`` (a trained :class:`~distill.models.QAModel`) for its configuration.

    Written into a temporary folder ``.staging/<key>.tmp-*`` and renamed to
    ``.staging/<key>`` when complete, so a staged folder is never half-written.
    """
    staging = Path(students_dir) / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    key = student_key(config)
    tmp = Path(tempfile.mkdtemp(dir=staging, prefix=f"{key}.tmp-"))
    try:
        save_qa_model(model, tmp)
        (tmp / CONFIG_FILE).write_text(config.to_json() + "\n")
        tokenizer.save_pretrained(str(tmp))
        _replace_dir(tmp, staging / key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return staging / key


def load_student(folder: str | os.PathLike) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a saved student (or any :func:`save_qa_model` folder with a
    tokenizer); the model is in eval mode on the CPU."""
    folder = Path(folder)
    if not (folder / "heads.json").is_file():
        raise ValueError(f"student: {folder} is not a saved student (no heads.json)")
    return load_qa_model(folder).eval(), load_tokenizer(folder)


def _folder_key(folder: Path) -> str | None:
    try:
        return student_key(DistillConfig.load(folder / CONFIG_FILE))
    except (OSError, ValueError):
        return None


def keep_front_students(
    study: Any,
    students_dir: str | os.PathLike,
    key_of: Callable[[Mapping[str, Any]], str],
    *,
    reported: set[int] | None = None,
) -> list[int]:
    """Make ``students_dir`` hold exactly the students of ``study.pareto_front()``.

    ``key_of(params)`` is the :func:`student_key` of a trial's parameters. Returns the
    numbers of front trials that have no student; those not yet in ``reported`` are
    warned about in one line and added to it (so a callback run after every trial does
    not repeat itself).
    """
    root = Path(students_dir)
    staging = root / STAGING
    front = {t.number: t for t in study.pareto_front()}
    if not front and not root.is_dir():
        return []  # nothing to keep, nothing kept: leave no empty folder behind
    running = {key_of(t.params) for t in study.trials if t.status == "running"}
    kept: dict[int, Path] = {}
    if root.is_dir():
        for p in root.iterdir():
            if p.is_dir() and p.name.startswith("trial-") and p.name[6:].isdigit():
                kept[int(p.name[6:])] = p
    staging.mkdir(parents=True, exist_ok=True)

    def discard(folder: Path) -> None:
        # a rename first, so a kill mid-delete leaves only staging debris
        trash = staging / f"{_TRASH}{folder.name}"
        if trash.exists():
            shutil.rmtree(trash)
        os.replace(folder, trash)
        shutil.rmtree(trash)

    # students that left the front
    for number, folder in sorted(kept.items()):
        if number not in front:
            discard(folder)
            del kept[number]
    kept_keys = {n: _folder_key(p) for n, p in kept.items()}
    missing: list[int] = []
    for number, trial in sorted(front.items()):
        key = key_of(trial.params)
        if number in kept and kept_keys[number] == key:
            continue
        if number in kept:  # a folder of that name holding another student
            discard(kept.pop(number))
        final = root / f"trial-{number}"
        staged = staging / key
        if staged.is_dir():
            os.replace(staged, final)
        else:
            # the same configuration kept for another front trial (a repeated proposal)
            twin = next((kept[n] for n, k in kept_keys.items() if k == key and n in kept),
                        None)
            if twin is None:
                missing.append(number)
                continue
            tmp = Path(tempfile.mkdtemp(dir=staging, prefix=f"{_TRASH}copy-"))
            shutil.rmtree(tmp)
            shutil.copytree(twin, tmp)
            os.replace(tmp, final)
        kept[number] = final
        kept_keys[number] = key
    # staged students nobody on the front claims, unless a running trial may still claim them
    for p in staging.iterdir():
        if p.name.split(".", 1)[0] in running:
            continue
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    new = [n for n in missing if reported is None or n not in reported]
    if reported is not None:
        reported.update(missing)
    if new:
        warnings.warn(f"students: no saved student for front trial(s) "
                      f"{', '.join(map(str, new))} in {root}", stacklevel=2)
    return missing
