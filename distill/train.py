"""The distillation loop: soft-target KD loss, AdamW, linear schedule, mixed precision.

Loss per batch (Hinton, Vinyals & Dean 2015, "Distilling the knowledge in a neural
network"; the start/end form of DistilBERT, Sanh et al. 2019)::

    alpha_ce * T^2 * 0.5 * [KL(p_T(teacher start) || p_T(student start)) + same for end]
    + (1 - alpha_ce) * 0.5 * [CE(student start, gold start) + CE(student end, gold end)]

with ``p_T = softmax(logits / T)`` over the *real* tokens of each feature (padding is
masked out of both the softmax and the KL sum), averaged over the batch's features.

Optimisation: AdamW (Loshchilov & Hutter 2019, fused kernel) with the configuration's betas,
epsilon and weight decay (none on biases and LayerNorm weights), linear warm-up then
linear decay to zero, gradient clipping at norm 1.0. On CUDA: bf16 autocast (fp16 with
a GradScaler where bf16 is unsupported), TF32 matmuls. On CPU the same code runs in
float32.

Teacher logits are computed once per data set (:func:`compute_logits`) and kept as
:class:`TeacherLogits` (saved with safetensors), so a trial never runs the teacher.
Batches are length-grouped and padded per batch (``distill.data``).

:class:`TrainingProgress` reports a long run as it goes (step, loss, examples per second,
time left), as one line updated in place on a terminal or a line per tenth in a log.

Failures a trial's parameters cause -- CUDA out of memory, a NaN/inf loss or gradient, a
diverging loss -- raise :class:`TrialFailed` with a one-line reason.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from distill.config import DistillConfig
from distill.data import Features, collate, length_grouped_batches
from distill.squad import postprocess, score

__all__ = [
    "TeacherLogits",
    "TrainResult",
    "TrainingProgress",
    "TrialFailed",
    "compute_logits",
    "evaluate",
    "kd_loss",
    "make_optimizer",
    "make_scheduler",
    "predict",
    "resolve_device",
    "train",
]

# A masked position gets this logit: exp() of it underflows to exactly 0 in float32, and
# unlike -inf it keeps 0 * (masked log-prob difference) finite.
_MASKED = -1e9


class TrialFailed(RuntimeError):
    """The configuration made training fail (OOM, NaN/inf, divergence); one-line reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(" ".join(str(reason).split()))
        self.reason = str(self)


# ---- device and precision -------------------------------------------------------------


def resolve_device(device: str | None) -> torch.device:
    """``None`` -> CUDA when available else CPU; an unavailable CUDA raises ``ValueError``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available")
    return dev


def _autocast_dtype(device: torch.device) -> torch.dtype | None:
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def _attention_kernels(device: torch.device) -> Iterator[None]:
    """On CUDA, scaled-dot-product attention without cuDNN's kernel (elsewhere: no change).

    For attention with a padding mask, PyTorch tries cuDNN's kernel first on recent GPUs,
    and cuDNN builds an execution plan for every new input shape, which is slow.
    Length-grouped dynamic padding gives almost every batch a new length, and each trial a
    new head count, so those builds would dominate a trial (the GPU runs in
    results/distill.md, before and after this change). The memory-efficient kernel takes
    the mask as well, in forward and backward.
    """
    if device.type != "cuda":
        yield
        return
    with sdpa_kernel(
        [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]
    ):
        yield


@contextlib.contextmanager
def _forward_context(device: torch.device) -> Iterator[None]:
    """Mixed precision (CUDA: bf16 autocast, fp16 where bf16 is unsupported) and the
    attention kernels for a forward pass; the backward pass follows the kernels chosen."""
    dtype = _autocast_dtype(device)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type="cuda", dtype=dtype), _attention_kernels(device):
        yield


def _enable_tf32(device: torch.device) -> None:
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---- loss -----------------------------------------------------------------------------


def kd_loss(
    start: torch.Tensor,
    end: torch.Tensor,
    start_positions: torch.Tensor,
    end_positions: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    alpha_ce: float,
    temperature: float,
    teacher_start: torch.Tensor | None = None,
    teacher_end: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scalar distillation loss of a batch (see the module docstring), in float32.

    ``start``, ``end``, ``teacher_*`` and ``attention_mask`` are (b, L); positions (b,).
    Without teacher logits ``alpha_ce`` must be 0 (plain fine-tuning).
    """
    real = attention_mask.bool()
    s = start.float().masked_fill(~real, _MASKED)
    e = end.float().masked_fill(~real, _MASKED)
    hard = 0.5 * (F.cross_entropy(s, start_positions) + F.cross_entropy(e, end_positions))
    if alpha_ce == 0.0:
        return hard
    if teacher_start is None or teacher_end is None:
        raise ValueError("alpha_ce: > 0 needs teacher logits")
    t = float(temperature)

    def kl(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        log_q = F.log_softmax(student / t, dim=-1)
        log_p = F.log_softmax(teacher.float().masked_fill(~real, _MASKED) / t, dim=-1)
        terms = torch.where(real, log_p.exp() * (log_p - log_q), 0.0)
        return terms.sum(dim=-1).mean()

    soft = 0.5 * (kl(s, teacher_start) + kl(e, teacher_end)) * t * t
    return alpha_ce * soft + (1.0 - alpha_ce) * hard


# ---- teacher logits -------------------------------------------------------------------


@dataclass
class TeacherLogits:
    """Per-feature unpadded start/end logits (float32 arrays of each feature's length)."""

    start: list[np.ndarray]
    end: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.start)

    def batch(self, idx: list[int], length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(b, length) padded tensors of the features at ``idx`` (padding is 0; masked later)."""
        s = np.zeros((len(idx), length), dtype=np.float32)
        e = np.zeros((len(idx), length), dtype=np.float32)
        for r, i in enumerate(idx):
            n = len(self.start[i])
            s[r, :n] = self.start[i]
            e[r, :n] = self.end[i]
        return torch.from_numpy(s), torch.from_numpy(e)

    def save(self, path: str | os.PathLike) -> None:
        lengths = np.array([len(x) for x in self.start], dtype=np.int64)
        tensors = {
            "lengths": torch.from_numpy(lengths),
            "start": torch.from_numpy(np.concatenate(self.start).astype(np.float32)),
            "end": torch.from_numpy(np.concatenate(self.end).astype(np.float32)),
        }
        tmp = Path(str(path) + ".tmp")
        save_file(tensors, str(tmp))
        os.replace(tmp, path)  # a crash mid-write never leaves a truncated cache

    @classmethod
    def load(cls, path: str | os.PathLike) -> TeacherLogits:
        t = load_file(str(path))
        cuts = np.cumsum(t["lengths"].numpy())[:-1]
        return cls(start=np.split(t["start"].numpy(), cuts), end=np.split(t["end"].numpy(), cuts))


def predict(
    model: nn.Module, features: Features, *, batch_size: int, pad_id: int,
    device: torch.device | str | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """Eval-mode logits of every feature, unpadded, plus the forward passes' wall seconds.

    Moves ``model`` to ``device`` (default: CUDA where present). Batches are length-sorted
    (least padding); timing covers host-to-device copies and forward passes, not collation.
    """
    dev = resolve_device(str(device) if device is not None else None)
    model.to(dev).eval()
    starts: list[np.ndarray] = [np.empty(0, np.float32)] * len(features)
    ends: list[np.ndarray] = [np.empty(0, np.float32)] * len(features)
    seconds = 0.0
    try:
        with torch.inference_mode():
            for idx in length_grouped_batches(features.lengths, batch_size, rng=None):
                b = collate(features, idx, pad_id)
                _sync(dev)
                t0 = time.perf_counter()
                with _forward_context(dev):
                    s, e = model(b["input_ids"].to(dev), b["attention_mask"].to(dev),
                                 b["token_type_ids"].to(dev))
                s = s.float().cpu().numpy()
                e = e.float().cpu().numpy()
                seconds += time.perf_counter() - t0
                for r, i in enumerate(idx):
                    n = len(features.input_ids[i])
                    starts[i] = s[r, :n].copy()
                    ends[i] = e[r, :n].copy()
    except torch.cuda.OutOfMemoryError as exc:
        raise TrialFailed(f"CUDA out of memory in evaluation (batch {batch_size})") from exc
    return starts, ends, seconds


def compute_logits(
    teacher: nn.Module, features: Features, *, batch_size: int = 64, pad_id: int,
    device: torch.device | str | None = None,
) -> TeacherLogits:
    """The teacher's logits on ``features``, once (cache them with ``TeacherLogits.save``)."""
    s, e, _ = predict(teacher, features, batch_size=batch_size, pad_id=pad_id, device=device)
    return TeacherLogits(start=s, end=e)


# ---- optimiser and schedule -----------------------------------------------------------


def make_optimizer(
    model: nn.Module, config: DistillConfig, device: torch.device
) -> torch.optim.AdamW:
    """AdamW over trainable parameters; no weight decay on biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # every 1-d parameter in BERT is a bias or a LayerNorm scale
        (no_decay if p.ndim == 1 or "LayerNorm" in name else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups,
        lr=config.learning_rate,
        betas=(config.beta_1, config.beta_2),
        eps=config.adam_epsilon,
        # the fused kernel is one pass over memory; on CPU it is much faster than the
        # per-tensor loop, which otherwise dominates steps of small students
        fused=device.type in ("cuda", "cpu"),
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer, warm_up_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 0 over ``warm_up_steps``, then linear decay to 0 at ``total_steps``."""
    warm = min(warm_up_steps, total_steps)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# ---- training -------------------------------------------------------------------------


@dataclass
class TrainResult:
    steps: int
    examples: int          # features seen (with repetition over epochs)
    seconds: float
    final_loss: float      # exponential moving average of the loss at the end

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.seconds if self.seconds > 0 else math.inf


def _training_batches(
    features: Features,
    config: DistillConfig,
    *,
    pad_id: int,
    teacher_logits: TeacherLogits | None,
    device: torch.device,
) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """Every epoch's length-grouped batches: ``(feature indices, tensors on device)``.

    The tensors are :func:`collate`'s (``(b, L)`` padded to the batch's longest member, and
    ``(b,)`` positions), plus ``teacher_start`` and ``teacher_end`` of shape ``(b, L)`` when
    ``teacher_logits`` is given. The whole set, padded to its longest feature, goes to the
    device once, and each epoch's order once; a batch is a gather on the device. Copying
    each batch from ordinary (pageable) host memory instead makes CUDA wait for the
    previous step to finish before the copy, so the GPU would idle at every step while the
    host prepares the next one. The cost: the set is held padded on the device.
    """
    lengths = features.lengths
    every = list(range(len(features)))
    data = {k: v.to(device) for k, v in collate(features, every, pad_id).items()}
    if teacher_logits is not None:
        width = data["input_ids"].shape[1]
        data["teacher_start"], data["teacher_end"] = (
            t.to(device) for t in teacher_logits.batch(every, width))
    for epoch in range(config.epochs):
        rng = np.random.default_rng([config.seed, epoch])
        batches = length_grouped_batches(lengths, config.train_batch_size, rng=rng)
        order = torch.as_tensor(np.concatenate(batches), dtype=torch.long, device=device)
        at = 0
        for idx in batches:
            rows = order[at:at + len(idx)]
            at += len(idx)
            L = max(lengths[i] for i in idx)
            yield idx, {k: v[rows, :L] if v.ndim == 2 else v[rows] for k, v in data.items()}


def train(
    model: nn.Module,
    features: Features,
    config: DistillConfig,
    *,
    pad_id: int,
    teacher_logits: TeacherLogits | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    max_steps: int | None = None,
) -> TrainResult:
    """Distil (or, with ``alpha_ce == 0`` and no teacher logits, fine-tune) ``model``.

    ``teacher_logits`` is aligned with ``features``. ``progress(step, total, loss)`` is
    called every 10 steps. Moves ``model`` to the configuration's device; raises
    :class:`TrialFailed` on OOM, non-finite loss/gradients or divergence.
    """
    if len(features) == 0:
        raise ValueError("features: no training features")
    if teacher_logits is not None and len(teacher_logits) != len(features):
        raise ValueError(
            f"teacher_logits: {len(teacher_logits)} entries for {len(features)} features"
        )
    if config.alpha_ce > 0 and teacher_logits is None:
        raise ValueError("alpha_ce: > 0 needs teacher_logits")
    dev = resolve_device(config.device)
    _enable_tf32(dev)
    torch.manual_seed(config.seed)
    model.to(dev).train()
    optimizer = make_optimizer(model, config, dev)
    steps_per_epoch = math.ceil(len(features) / config.train_batch_size)
    total = steps_per_epoch * config.epochs
    if max_steps is not None:
        total = min(total, max_steps)
    scheduler = make_scheduler(optimizer, config.warm_up_steps, total)
    scaler = torch.amp.GradScaler("cuda") if _autocast_dtype(dev) == torch.float16 else None
    use_teacher = teacher_logits is not None and config.alpha_ce > 0

    health = _Health(total=total, check_grad=scaler is None, progress=progress)
    step = seen = 0
    _sync(dev)
    t0 = time.perf_counter()
    try:
        batches = _training_batches(features, config, pad_id=pad_id, device=dev,
                                    teacher_logits=teacher_logits if use_teacher else None)
        for idx, b in batches:
            if step >= total:
                break
            ts, te = b.get("teacher_start"), b.get("teacher_end")
            with _forward_context(dev):
                start, end = model(b["input_ids"], b["attention_mask"], b["token_type_ids"])
            loss = kd_loss(
                start, end, b["start_positions"], b["end_positions"], b["attention_mask"],
                alpha_ce=config.alpha_ce, temperature=config.temperature,
                teacher_start=ts, teacher_end=te,
            )
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if scaler is not None:
                # fp16 overflow is the scaler's business (it skips the step), not a failure
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            step += 1
            seen += len(idx)
            health.push(loss, grad_norm)
        health.flush()
    except torch.cuda.OutOfMemoryError as exc:
        optimizer.zero_grad(set_to_none=True)
        raise TrialFailed(
            f"CUDA out of memory in training (batch {config.train_batch_size})"
        ) from exc
    _sync(dev)
    return TrainResult(steps=step, examples=seen, seconds=time.perf_counter() - t0,
                       final_loss=health.ema)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    s = int(max(seconds, 0.0))
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class TrainingProgress:
    """A ``progress`` callback for :func:`train`: step/total, loss, examples/s, time left.

    On a terminal it rewrites one line in place (``\\r``) and ends it at the last step; in
    a file or pipe it writes a line each ``every_percent`` of the steps, so a log of a
    long run stays short. Examples per second counts ``batch_size`` examples a step (the
    last batch of an epoch may be smaller). It only reads what the loop reports, so a
    run's numbers are the same with it or without it.
    """

    def __init__(
        self,
        *,
        batch_size: int,
        label: str = "training",
        stream: TextIO | None = None,
        every_percent: int = 10,
    ) -> None:
        self.batch_size = int(batch_size)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False
        self.every_percent = max(1, int(every_percent))
        self._t0 = time.perf_counter()
        self._bucket = 0

    def line(self, step: int, total: int, loss: float) -> str:
        elapsed = time.perf_counter() - self._t0
        rate = step * self.batch_size / elapsed if elapsed > 0 else math.inf
        eta = elapsed / step * (total - step) if step > 0 else math.inf
        return (f"  {self.label}: step {step}/{total} loss {loss:.4f} {rate:.1f} ex/s "
                f"elapsed {_duration(elapsed)} ETA {_duration(eta)}")

    def __call__(self, step: int, total: int, loss: float) -> None:
        done = step >= total
        if self.tty:
            end = "\n" if done else ""
            self.stream.write("\r" + self.line(step, total, loss) + "\x1b[K" + end)
        else:
            bucket = step * 100 // max(total, 1) // self.every_percent
            if bucket <= self._bucket and not done:
                return
            self._bucket = bucket
            self.stream.write(self.line(step, total, loss) + "\n")
        self.stream.flush()


class _Health:
    """The loop's failure checks: a non-finite loss or gradient norm, a diverging loss.

    The per-step values stay on the device and are read back ``every`` steps in one
    transfer: reading them at each step would make the host wait for the GPU at every
    step, leaving the GPU idle while the host prepares the next batch. A failure is
    therefore reported up to ``every - 1`` steps late, naming the step where it happened;
    the steps in between only touch a model that is being discarded.
    """

    def __init__(
        self,
        *,
        total: int,
        check_grad: bool,
        progress: Callable[[int, int, float], None] | None,
        every: int = 10,
    ) -> None:
        self.total = total
        self.check_grad = check_grad
        self.progress = progress
        self.every = every
        self.ema = math.nan
        self._first: list[float] = []  # the first 5 losses, whose mean is the baseline
        self._baseline = math.nan
        self._pending: list[torch.Tensor] = []
        self._step = 0  # steps checked so far

    def push(self, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        self._pending.append(torch.stack([loss.detach().float(), grad_norm.detach().float()]))
        if len(self._pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        values = torch.stack(self._pending).tolist()  # the one host-device sync
        self._pending.clear()
        for value, grad_norm in values:
            step = self._step
            self._step += 1
            if not math.isfinite(value):
                raise TrialFailed(f"loss is {value} at step {step}")
            if self.check_grad and not math.isfinite(grad_norm):
                raise TrialFailed(f"gradient norm is {grad_norm} at step {step}")
            # divergence: the smoothed loss far above where it started
            if len(self._first) < 5:
                self._first.append(value)
                self._baseline = float(np.mean(self._first))
            self.ema = value if math.isnan(self.ema) else 0.9 * self.ema + 0.1 * value
            if self._step >= 20 and self.ema > 3.0 * self._baseline + 10.0:
                raise TrialFailed(
                    f"loss diverged: smoothed loss {self.ema:.3g} vs {self._baseline:.3g} at "
                    f"the start (step {self._step})"
                )
            if self.progress is not None and (
                self._step % 10 == 0 or self._step == self.total
            ):
                self.progress(self._step, self.total, self.ema)


def evaluate(
    model: nn.Module,
    examples: list[dict],
    features: Features,
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """SQuAD 2.0 metrics of ``model`` on ``examples`` plus ``inference_time``.

    ``inference_time`` is the forward-pass wall time per question (seconds per dev
    example, all its windows included). Returns ``squad.score``'s dict plus it.
    """
    starts, ends, seconds = predict(
        model, features, batch_size=batch_size, pad_id=pad_id, device=device
    )
    for s in starts:
        if not np.isfinite(s).all():
            raise TrialFailed("non-finite logits in evaluation")
    predictions = postprocess(examples, features, starts, ends)
    metrics = dict(score(examples, predictions))
    metrics["inference_time"] = seconds / max(1, len(examples))
    return metrics
