"""Training throughput of the 2020 study's baseline student shape, and what the study costs.

The study this project reproduces (SigOpt, 2020: multimetric Bayesian optimisation of BERT
distillation for SQuAD 2.0) starts its students from DistilBERT (Sanh et al., 2019): 6
layers of 12 heads at BERT-base width (hidden 768, feed-forward 3072, vocabulary 30,522),
trained on windows of 384 tokens. This script builds a student of that shape with random
weights (``distill.models.build_student`` from a random encoder of that shape, so in the
BERT layout every student has) and times the project's own trainer
(``distill.train.train``: forward, distillation loss against teacher logits, backward,
gradient clipping, AdamW step, schedule step) on full 384-token windows:

* precision: float32 on the CPU; bf16 autocast on CUDA (the trainer's own choice there);
* each timed repeat is one ``train`` call of ``--steps`` batches (its optimiser set-up
  included, as in a trial), after ``--warmup`` steps in a call of their own; the reported
  throughput is the median over ``--repeats``;
* the teacher logits are seeded random numbers: throughput does not depend on them.

It writes ``results/seed_shape.json`` (every measurement and the settings, torch version,
commit and command) and ``results/seed_shape.md``, generated from the JSON alone, with the
projected cost of the seed's full study: ``--trials`` trials of ``--epochs`` epochs over
``--features`` training features (SQuAD 2.0's ~130,000 questions give about that many
windows of 384 tokens), as device-hours per measured device and as wall time with
``--parallel`` trials at a time. The projection counts training only, every trial at the
baseline shape (the searched students range from 1 to 20 layers).

Usage (from the repository root of a checkout; benchmarks is not installed)::

    python -m benchmarks.seed_shape --threads 2            # CPU, and CUDA when present
    python -m benchmarks.seed_shape --device cuda          # CUDA only, bf16
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import BertConfig, BertModel

from benchmarks.provenance import FILES, cpu_name, stamp_fields
from distill.config import DistillConfig
from distill.data import Features
from distill.models import build_student
from distill.train import TeacherLogits, resolve_device, train

__all__ = ["main", "markdown", "measure", "project"]

ROOT = Path(__file__).resolve().parents[1]

# The study's recipe and scale (SigOpt, 2020): 200 trials of 3 epochs over SQuAD 2.0's
# training set, 20 trials at a time on 20 V100 GPUs.
SEED_TRIALS = 200
SEED_EPOCHS = 3
SEED_FEATURES = 130_000
SEED_PARALLEL = 20


def _features(n: int, seq: int, vocab: int, seed: int) -> Features:
    """``n`` full windows of ``seq`` tokens: [CLS] question [SEP] context [SEP] shaped."""
    rng = np.random.default_rng(seed)
    # ids above the special tokens (the first 5 in a BERT vocabulary) when there is room
    low = 5 if vocab > 10 else 0
    question = min(64, seq // 4)
    ids = rng.integers(low, vocab, size=(n, seq)).tolist()
    types = [[0] * question + [1] * (seq - question)] * n
    starts = rng.integers(question, seq, size=n).tolist()
    return Features(input_ids=ids, token_type_ids=types, start_positions=starts,
                    end_positions=starts, example_index=list(range(n)),
                    offsets=[[None] * seq] * n)


def _logits(features: Features, seed: int) -> TeacherLogits:
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=n).astype(np.float32) for n in features.lengths]
    end = [rng.normal(size=n).astype(np.float32) for n in features.lengths]
    return TeacherLogits(start=start, end=end)


def measure(*, device: str, hidden: int, heads: int, layers: int, ffn: int, vocab: int,
            seq: int, batch: int, steps: int, warmup: int, repeats: int,
            seed: int = 0) -> dict[str, Any]:
    """Median training throughput (examples/s) of the shape on ``device``."""
    dev = resolve_device(device)
    encoder_config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_attention_heads=heads,
                                num_hidden_layers=layers, intermediate_size=ffn,
                                max_position_embeddings=max(512, seq))
    torch.manual_seed(seed)
    encoder = BertModel(encoder_config, add_pooling_layer=False)
    # the seed's baseline: DistilBERT's own dropouts and distillation settings
    config = DistillConfig(n_layers=layers, n_heads=heads, init="pretrained",
                           train_batch_size=batch, epochs=1, max_seq_length=seq,
                           doc_stride=seq // 4, alpha_ce=0.5, temperature=2.0,
                           dropout=0.1, attention_dropout=0.1, qa_dropout=0.1,
                           seed=seed, device=str(dev))
    student = build_student(config, encoder=encoder)
    n_params = sum(p.numel() for p in student.parameters() if p.requires_grad)
    features = _features(batch * max(steps, warmup), seq, vocab, seed)
    logits = _logits(features, seed)

    def run(n_steps: int) -> float:
        result = train(student, features, config, pad_id=0, teacher_logits=logits,
                       max_steps=n_steps)
        if result.steps != n_steps:
            raise RuntimeError(f"expected {n_steps} steps, ran {result.steps}")
        return result.examples_per_second

    if warmup:
        run(warmup)
    runs = [run(steps) for _ in range(repeats)]
    precision = "bf16 autocast" if dev.type == "cuda" else "float32"
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_name()
    return {"device": dev.type, "device_name": name, "precision": precision,
            "num_parameters": n_params, "examples_per_second_runs": runs,
            "examples_per_second": statistics.median(runs)}


def project(examples_per_second: float, *, trials: int, epochs: int, features: int,
            parallel: int) -> dict[str, float]:
    """Device-hours of the whole study's training, and its wall hours ``parallel`` at a time."""
    passes = trials * epochs * features
    device_hours = passes / examples_per_second / 3600.0
    # trials of one shape take equally long, so ``parallel`` devices divide the total
    return {"example_passes": passes, "device_hours": device_hours,
            "wall_hours": device_hours / parallel}


def _fmt(x: float) -> str:
    """Three significant figures, without an exponent for everyday magnitudes."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def markdown(r: dict[str, Any]) -> str:
    """The report, from the JSON alone."""
    s, p = r["shape"], r["projection"]
    lines = [
        "# The seed's baseline student: training throughput and the study's cost",
        "",
        "Machine-written by `benchmarks/seed_shape.py` from `results/seed_shape.json`; do not "
        "edit by hand.",
        "",
        f"Command: `{r['command']}` (commit `{r['commit'] or 'unknown'}`"
        + (", with uncommitted changes" if r.get("dirty") else "")
        + f"; torch {r['torch']}, {r['threads']} CPU thread(s), {r['cpu_count']} CPU(s) "
        f"seen, 1-minute load average {r['load_average']['before']:.1f} before and "
        f"{r['load_average']['after']:.1f} after).",
        "",
        f"Student: {s['layers']} layers x {s['heads']} heads, hidden {s['hidden']}, "
        f"feed-forward {s['ffn']}, vocabulary {s['vocab']:,} (BERT layout, random weights); "
        f"windows of {r['seq']} tokens, batch {r['batch']}; each repeat one `distill.train."
        f"train` call of {r['steps']} step(s) after {r['warmup']} warm-up step(s), median "
        f"of {r['repeats']}.",
    ]
    if r.get("note"):
        lines += ["", r["note"]]
    lines += [
        "",
        "| device | precision | parameters | examples/s (median) | runs |",
        "|---|---|---:|---:|---|",
    ]
    for m in r["measurements"]:
        runs = ", ".join(f"{x:.3g}" for x in m["examples_per_second_runs"])
        lines.append(f"| {m['device']} ({m['device_name']}) | {m['precision']} | "
                     f"{m['num_parameters']:,} | {m['examples_per_second']:.3g} | {runs} |")
    lines += [
        "",
        "## Projected cost of the seed's full study",
        "",
        f"{p['trials']} trials x {p['epochs']} epochs x {p['features']:,} training features "
        f"= {p['example_passes']:,} training passes of one {r['seq']}-token window; training "
        "only (no evaluation), every trial at this shape.",
        "",
        f"| device | device-hours | wall time on {p['parallel']} such devices, one trial "
        "each |",
        "|---|---:|---:|",
    ]
    for m in r["measurements"]:
        c = m["projection"]
        lines.append(f"| {m['device']} ({m['device_name']}) | {_fmt(c['device_hours'])} h | "
                     f"{_fmt(c['wall_hours'])} h ({_fmt(c['wall_hours'] / 24)} days) |")
    if not any(m["device"] == "cuda" for m in r["measurements"]):
        lines += [
            "",
            "No GPU was measured here, so no GPU-hours are given. The seed ran on 20 V100 "
            "GPUs, 20 trials at a time. Assumption, not a measurement: a GPU that trains "
            f"this shape at R examples/s would need {p['example_passes']:,} / (3600 R) "
            f"GPU-hours, and {p['parallel']} of them in parallel that divided by "
            f"{p['parallel']} in wall time. Run this script on the GPU to replace R with a "
            "measured number.",
        ]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.seed_shape",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--device", action="append", choices=["cpu", "cuda"], default=None,
                    help="repeatable (default: cpu, and cuda when available)")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads for torch (default: torch's own choice)")
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--ffn", type=int, default=3072)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--seq", type=int, default=384)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=2, help="steps per timed repeat")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up steps (untimed)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--trials", type=int, default=SEED_TRIALS)
    ap.add_argument("--epochs", type=int, default=SEED_EPOCHS)
    ap.add_argument("--features", type=int, default=SEED_FEATURES)
    ap.add_argument("--parallel", type=int, default=SEED_PARALLEL)
    ap.add_argument("--note", default="",
                    help="a line for the report, e.g. what else the machine was doing")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "results")
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    a = _parser().parse_args(argv)
    for name in ("threads", "hidden", "heads", "layers", "ffn", "vocab", "seq", "batch",
                 "steps", "repeats", "trials", "epochs", "features", "parallel"):
        value = getattr(a, name)
        if value is not None and value < 1:
            _parser().error(f"--{name}: must be >= 1, got {value}")
    if a.warmup < 0:
        _parser().error(f"--warmup: must be >= 0, got {a.warmup}")
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    devices = a.device or ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    shape = {"hidden": a.hidden, "heads": a.heads, "layers": a.layers, "ffn": a.ffn,
             "vocab": a.vocab}
    plan = {"trials": a.trials, "epochs": a.epochs, "features": a.features,
            "parallel": a.parallel}
    load_before = os.getloadavg()[0]
    measurements = []
    for device in devices:
        m = measure(device=device, **shape, seq=a.seq, batch=a.batch, steps=a.steps,
                    warmup=a.warmup, repeats=a.repeats)
        m["projection"] = project(m["examples_per_second"], **plan)
        measurements.append(m)
        print(f"{device}: {m['examples_per_second']:.3g} examples/s", flush=True)
    result = {
        "shape": shape, "seq": a.seq, "batch": a.batch, "steps": a.steps,
        "warmup": a.warmup, "repeats": a.repeats, "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "torch": torch.__version__,
        **stamp_fields(FILES["seed_shape.json"]),
        "command": "python -m benchmarks.seed_shape " + shlex.join(argv),
        # 1-minute load averages: how busy the machine was besides this run
        "load_average": {"before": load_before, "after": os.getloadavg()[0]},
        "note": a.note, "measurements": measurements,
        "projection": {**plan, "example_passes": a.trials * a.epochs * a.features},
    }
    a.out_dir.mkdir(parents=True, exist_ok=True)
    (a.out_dir / "seed_shape.json").write_text(json.dumps(result, indent=2) + "\n")
    (a.out_dir / "seed_shape.md").write_text(markdown(result))
    print(f"wrote {a.out_dir / 'seed_shape.json'} and {a.out_dir / 'seed_shape.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
