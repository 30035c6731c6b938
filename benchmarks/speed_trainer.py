"""Training throughput of ``distill.train`` against the Hugging Face ``Trainer``.

Both train the same student (built twice from one ``DistillConfig``, so the initial
weights are identical) on the same synthetic SQuAD 2.0 features with the same loss
(``distill.train.kd_loss`` on the same cached teacher logits), optimiser settings,
schedule, batch size, length-grouped dynamic padding and precision (float32 on CPU;
bf16 autocast, TF32 and fused AdamW on CUDA). Throughput is training features per
second of wall time around the whole training call (set-up included), one run each.

The teacher logits are seeded random numbers: throughput does not depend on their
values, and it keeps the benchmark free of a fine-tuned teacher.

Usage (from the repository root of a checkout; benchmarks is not installed)::

    python -m benchmarks.speed_trainer --examples 256 --layers 3       # CPU
    python -m benchmarks.speed_trainer --device cuda --examples 4000   # GPU, bf16

Each call prints its figures. ``--record results/speed_trainer.json`` also appends them to
that file, with the command, the date, the commit, the software versions and the machine's
load average, and rewrites the report beside it (``results/speed_trainer.md``) from the
whole file (:mod:`benchmarks.speed_trainer_report`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainingArguments

from benchmarks.provenance import FILES, stamp_fields
from benchmarks.speed_trainer_report import append
from benchmarks.speed_trainer_report import markdown as report
from distill.config import DistillConfig
from distill.data import Features, build_features, load_tokenizer
from distill.models import build_student, load_encoder
from distill.synthetic import synthetic_squad
from distill.train import TeacherLogits, kd_loss, resolve_device, train


def _random_teacher_logits(features: Features, seed: int) -> TeacherLogits:
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=n).astype(np.float32) for n in features.lengths]
    end = [rng.normal(size=n).astype(np.float32) for n in features.lengths]
    return TeacherLogits(start=start, end=end)


class _FeatureDataset(torch.utils.data.Dataset):
    def __init__(self, features: Features, logits: TeacherLogits) -> None:
        self.f = features
        self.logits = logits

    def __len__(self) -> int:
        return len(self.f)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "input_ids": self.f.input_ids[i],
            "token_type_ids": self.f.token_type_ids[i],
            "start_positions": self.f.start_positions[i],
            "end_positions": self.f.end_positions[i],
            "teacher_start": self.logits.start[i],
            "teacher_end": self.logits.end[i],
        }


def _pad_collator(pad_id: int):
    def collate(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        b = len(rows)
        L = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((b, L), pad_id, dtype=torch.long)
        mask = torch.zeros((b, L), dtype=torch.long)
        types = torch.zeros((b, L), dtype=torch.long)
        ts = torch.zeros((b, L))
        te = torch.zeros((b, L))
        for k, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[k, :n] = torch.tensor(r["input_ids"])
            mask[k, :n] = 1
            types[k, :n] = torch.tensor(r["token_type_ids"])
            ts[k, :n] = torch.from_numpy(r["teacher_start"])
            te[k, :n] = torch.from_numpy(r["teacher_end"])
        return {
            "input_ids": ids, "attention_mask": mask, "token_type_ids": types,
            "start_positions": torch.tensor([r["start_positions"] for r in rows]),
            "end_positions": torch.tensor([r["end_positions"] for r in rows]),
            "teacher_start": ts, "teacher_end": te,
        }

    return collate


def _hf_trainer_seconds(
    model: torch.nn.Module, features: Features, logits: TeacherLogits, config: DistillConfig,
    pad_id: int, device: torch.device,
) -> float:
    class KDTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            start, end = model(inputs["input_ids"], inputs["attention_mask"],
                               inputs["token_type_ids"])
            loss = kd_loss(start, end, inputs["start_positions"], inputs["end_positions"],
                           inputs["attention_mask"], alpha_ce=config.alpha_ce,
                           temperature=config.temperature, teacher_start=inputs["teacher_start"],
                           teacher_end=inputs["teacher_end"])
            return (loss, (start, end)) if return_outputs else loss

    cuda = device.type == "cuda"
    bf16 = cuda and torch.cuda.is_bf16_supported()
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=config.train_batch_size,
            num_train_epochs=config.epochs,
            learning_rate=config.learning_rate,
            adam_beta1=config.beta_1,
            adam_beta2=config.beta_2,
            adam_epsilon=config.adam_epsilon,
            weight_decay=config.weight_decay,
            warmup_steps=config.warm_up_steps,
            lr_scheduler_type="linear",
            max_grad_norm=1.0,
            bf16=bf16,
            fp16=cuda and not bf16,
            tf32=True if cuda else None,
            optim="adamw_torch_fused" if cuda else "adamw_torch",
            use_cpu=not cuda,
            train_sampling_strategy="group_by_length",
            remove_unused_columns=False,
            report_to="none",
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            dataloader_num_workers=0,
            dataloader_pin_memory=cuda,
            seed=config.seed,
        )
        trainer = KDTrainer(model=model, args=args,
                            train_dataset=_FeatureDataset(features, logits),
                            data_collator=_pad_collator(pad_id))
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        trainer.train()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t0


def run(
    *, n_examples: int = 256, n_layers: int = 3, batch_size: int = 16,
    device: str | None = None, seed: int = 0, threads: int = 2, repeats: int | None = None,
) -> dict[str, Any]:
    """Timed training runs of each trainer (``repeats``, default 2 on CUDA and 1 on CPU,
    alternating); returns the measured figures, each trainer's fastest run."""
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    tok = load_tokenizer()
    rows, _ = synthetic_squad(seed=seed, n_train=n_examples, n_dev=0)
    features = build_features(rows, tok, max_length=384, doc_stride=128)
    logits = _random_teacher_logits(features, seed)
    encoder = load_encoder()
    config = DistillConfig(init="pretrained", n_layers=n_layers, n_heads=12,
                           train_batch_size=batch_size, learning_rate=5e-5, warm_up_steps=10,
                           alpha_ce=0.5, temperature=2, epochs=1, device=str(dev), seed=seed)
    pad_id = int(tok.pad_token_id)
    # CUDA loads kernels lazily and picks them per tensor shape at first use; with dynamic
    # padding each new batch length is a new shape, so whichever trainer ran first would
    # pay for both. The trainers alternate and each one's fastest run is reported.
    if repeats is None:
        repeats = 2 if dev.type == "cuda" else 1
    ours_runs: list[float] = []
    hf_runs: list[float] = []
    for _ in range(repeats):
        ours_model = build_student(config, encoder=encoder)
        t0 = time.perf_counter()
        train(ours_model, features, config, pad_id=pad_id, teacher_logits=logits)
        ours_runs.append(time.perf_counter() - t0)
        del ours_model
        hf_model = build_student(config, encoder=encoder).to(dev)
        hf_runs.append(_hf_trainer_seconds(hf_model, features, logits, config, pad_id, dev))
        del hf_model
    ours, hf = min(ours_runs), min(hf_runs)
    precision = ("bf16 autocast" if torch.cuda.is_bf16_supported() else "fp16 autocast") \
        if dev.type == "cuda" else "float32"
    return {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else
        f"CPU ({platform.processor() or platform.machine()}), {threads} threads",
        "device_type": dev.type,
        "threads": threads,
        "precision": precision,
        "features": len(features),
        "mean_tokens": float(np.mean(features.lengths)),
        "n_layers": n_layers,
        "batch_size": batch_size,
        "ours_seconds": ours,
        "hf_seconds": hf,
        "ours_examples_per_s": len(features) / ours,
        "hf_examples_per_s": len(features) / hf,
        "speedup": hf / ours,
        "repeats": repeats,
        "ours_runs": ours_runs,
        "hf_runs": hf_runs,
    }


def markdown(r: dict[str, Any]) -> str:
    return "\n".join([
        f"Device: {r['device']}; precision: {r['precision']}; student: {r['n_layers']} layers "
        f"x 12 heads (MiniLM width); {r['features']} training features (mean "
        f"{r['mean_tokens']:.0f} tokens), batch {r['batch_size']}, one epoch; "
        f"{r['repeats']} run(s) each, alternating, fastest reported (all runs, s: ours "
        f"{', '.join(f'{x:.1f}' for x in r['ours_runs'])}; Trainer "
        f"{', '.join(f'{x:.1f}' for x in r['hf_runs'])}).",
        "",
        "| trainer | seconds | examples/s |",
        "|---|---:|---:|",
        f"| distill.train | {r['ours_seconds']:.1f} | {r['ours_examples_per_s']:.1f} |",
        f"| transformers.Trainer | {r['hf_seconds']:.1f} | {r['hf_examples_per_s']:.1f} |",
        "",
        f"Speed-up: {r['speedup']:.2f}x",
    ])


def _versions() -> dict[str, str]:
    out = {"torch": torch.__version__}
    for name in ("transformers", "accelerate"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    if torch.cuda.is_available() and torch.backends.cudnn.is_available():
        out["cudnn"] = str(torch.backends.cudnn.version())
    return out


def provenance(argv: list[str], load_before: float, load_after: float) -> dict[str, Any]:
    """What a recorded measurement says about how it was made."""
    return {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        # dirty: uncommitted changes in the code the figures depend on
        **stamp_fields(FILES["speed_trainer.json"]),
        "command": " ".join(["python -m benchmarks.speed_trainer", *map(shlex.quote, argv)]),
        "versions": _versions(),
        "machine_state": f"1-minute load average {load_before:.1f} before and "
                         f"{load_after:.1f} after, {os.cpu_count()} CPU(s) seen",
    }


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=256)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed runs of each trainer, alternating (default 2 on CUDA, 1 on CPU)")
    ap.add_argument("--record", type=Path, default=None, metavar="JSON",
                    help="append the measurement to this file (results/speed_trainer.json) "
                    "and rewrite the report beside it (same name, .md)")
    a = ap.parse_args(argv)
    if a.repeats is not None and a.repeats < 1:
        ap.error(f"--repeats: must be >= 1, got {a.repeats}")
    load_before = os.getloadavg()[0]
    r = run(n_examples=a.examples, n_layers=a.layers, batch_size=a.batch_size,
            device=a.device, seed=a.seed, threads=a.threads, repeats=a.repeats)
    print(markdown(r))
    if a.record is not None:
        data = append(a.record, {**provenance(argv, load_before, os.getloadavg()[0]), **r})
        out = a.record.with_suffix(".md")
        out.write_text(report(data, a.record.as_posix()))
        print(f"recorded in {a.record}; wrote {out}")


if __name__ == "__main__":
    main()
