"""Tests of distill.train: the distillation loss, training, failure detection, evaluation."""

import io
import math

import numpy as np
import pytest
import torch
from transformers import BertConfig

import distill.train as train_module
from distill.config import DistillConfig
from distill.data import build_features, collate, length_grouped_batches, load_tokenizer
from distill.models import QAModel, build_student
from distill.synthetic import synthetic_squad
from distill.train import (
    TeacherLogits,
    TrainingProgress,
    TrialFailed,
    _attention_kernels,
    _Health,
    _training_batches,
    compute_logits,
    evaluate,
    kd_loss,
    make_optimizer,
    make_scheduler,
    train,
)

torch.set_num_threads(2)


def reference_loss(start, end, sp, ep, mask, ts, te, alpha, T):
    """Per-example loops with explicit softmax and log over the real tokens only."""
    total = 0.0
    b = start.shape[0]
    for i in range(b):
        n = int(mask[i].sum())
        parts_kl, parts_ce = [], []
        for s_log, t_log, gold in ((start[i], ts[i], sp[i]), (end[i], te[i], ep[i])):
            s = s_log[:n].double()
            t = t_log[:n].double()
            q = torch.exp(s / T) / torch.exp(s / T).sum()
            p = torch.exp(t / T) / torch.exp(t / T).sum()
            parts_kl.append(sum(float(p[j] * (math.log(p[j]) - math.log(q[j])))
                                for j in range(n)))
            prob = torch.exp(s) / torch.exp(s).sum()
            parts_ce.append(-math.log(float(prob[int(gold)])))
        kl = 0.5 * sum(parts_kl) * T * T
        ce = 0.5 * sum(parts_ce)
        total += alpha * kl + (1 - alpha) * ce
    return total / b


def random_batch(seed, b=4, L=9):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, L + 1, (b,), generator=g)
    lengths[0] = L
    mask = (torch.arange(L)[None, :] < lengths[:, None]).long()
    start, end, ts, te = (3 * torch.randn(b, L, generator=g) for _ in range(4))
    sp = torch.stack([torch.randint(0, int(n), (1,), generator=g)[0] for n in lengths])
    ep = torch.stack([torch.randint(0, int(n), (1,), generator=g)[0] for n in lengths])
    return start, end, sp, ep, mask, ts, te


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("alpha", "T"), [(0.0, 1.0), (0.3, 2.0), (1.0, 7.0), (0.5, 1.0)])
def test_kd_loss_matches_reference(seed, alpha, T):
    start, end, sp, ep, mask, ts, te = random_batch(seed)
    got = kd_loss(start, end, sp, ep, mask, alpha_ce=alpha, temperature=T,
                  teacher_start=ts, teacher_end=te)
    want = reference_loss(start, end, sp, ep, mask, ts, te, alpha, T)
    assert float(got) == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_kd_loss_degenerate_cases():
    # student equal to teacher, alpha 1: zero loss; single real token: zero KL and CE
    start, end, sp, ep, mask, ts, te = random_batch(9)
    same = kd_loss(ts, te, sp, ep, mask, alpha_ce=1.0, temperature=3.0,
                   teacher_start=ts, teacher_end=te)
    assert abs(float(same)) < 1e-6
    one = torch.zeros_like(mask)
    one[:, 0] = 1
    zero = torch.zeros_like(sp)
    val = kd_loss(start, end, zero, zero, one, alpha_ce=0.5, temperature=2.0,
                  teacher_start=ts, teacher_end=te)
    assert abs(float(val)) < 1e-6
    with pytest.raises(ValueError, match="alpha_ce"):
        kd_loss(start, end, sp, ep, mask, alpha_ce=0.5, temperature=2.0)


def test_padding_is_excluded():
    start, end, sp, ep, mask, ts, te = random_batch(3)
    base = kd_loss(start, end, sp, ep, mask, alpha_ce=0.6, temperature=2.0,
                   teacher_start=ts, teacher_end=te)
    pad = mask == 0
    assert pad.any()
    # whatever sits in padded positions (even huge values) does not change the loss
    start2, end2, ts2, te2 = (x.masked_fill(pad, 50.0) for x in (start, end, ts, te))
    other = kd_loss(start2, end2, sp, ep, mask, alpha_ce=0.6, temperature=2.0,
                    teacher_start=ts2, teacher_end=te2)
    assert float(other) == pytest.approx(float(base), rel=1e-6)
    # and extending with more padding columns changes nothing either
    ext = [torch.cat([x, torch.randn(x.shape[0], 3)], 1) for x in (start, end, ts, te)]
    mask3 = torch.cat([mask, torch.zeros(mask.shape[0], 3, dtype=mask.dtype)], 1)
    more = kd_loss(ext[0], ext[1], sp, ep, mask3, alpha_ce=0.6, temperature=2.0,
                   teacher_start=ext[2], teacher_end=ext[3])
    assert float(more) == pytest.approx(float(base), rel=1e-6)
    # gradients never reach padded positions
    s = start.clone().requires_grad_()
    kd_loss(s, end, sp, ep, mask, alpha_ce=0.6, temperature=2.0,
            teacher_start=ts, teacher_end=te).backward()
    assert float(s.grad[pad].abs().max()) == 0.0
    assert torch.isfinite(s.grad).all()


def test_optimizer_groups_and_schedule():
    torch.manual_seed(0)
    model = QAModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=16,
                               max_position_embeddings=20))
    c = DistillConfig(beta_1=0.8, beta_2=0.95, adam_epsilon=1e-7, weight_decay=0.01,
                      learning_rate=1e-3)
    opt = make_optimizer(model, c, torch.device("cpu"))
    assert opt.defaults["betas"] == (0.8, 0.95) and opt.defaults["eps"] == 1e-7
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"])
    assert all(p.ndim == 1 for p in no_decay["params"])
    n = sum(p.numel() for p in model.parameters())
    assert n == sum(p.numel() for g in opt.param_groups for p in g["params"])
    sched = make_scheduler(opt, 4, 10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([2e-4, 4e-4, 6e-4, 8e-4, 1e-3])
    assert np.all(np.diff(lrs[4:]) < 0) and lrs[-1] == pytest.approx(1e-3 / 6)


@pytest.fixture(scope="module")
def tiny_task():
    tok = load_tokenizer()
    train_rows, dev_rows = synthetic_squad(seed=1, n_train=40, n_dev=12)
    ftr = build_features(train_rows, tok, max_length=128, doc_stride=32)
    fdv = build_features(dev_rows, tok, max_length=128, doc_stride=32)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=128)
    teacher = QAModel(cfg)
    return tok, train_rows, dev_rows, ftr, fdv, teacher


def test_train_and_evaluate_end_to_end(tiny_task, tmp_path):
    tok, _, dev_rows, ftr, fdv, teacher = tiny_task
    logits = compute_logits(teacher, ftr, batch_size=16, pad_id=tok.pad_token_id, device="cpu")
    assert [len(x) for x in logits.start] == ftr.lengths
    logits.save(tmp_path / "t.safetensors")
    again = TeacherLogits.load(tmp_path / "t.safetensors")
    for a, b in zip(logits.end, again.end, strict=True):
        np.testing.assert_array_equal(a, b)
    c = DistillConfig(n_layers=1, n_heads=2, train_batch_size=4, learning_rate=1e-3,
                      alpha_ce=0.5, temperature=2, warm_up_steps=2, device="cpu")
    student = build_student(c, teacher=teacher)
    before = [p.detach().clone() for p in student.parameters()]
    seen = []
    res = train(student, ftr, c, pad_id=tok.pad_token_id, teacher_logits=again,
                max_steps=10, progress=lambda s, t, loss: seen.append((s, t, loss)))
    assert res.steps == 10 and res.examples == 40 and math.isfinite(res.final_loss)
    assert seen and seen[-1][0] == 10
    assert any(not torch.equal(a, b) for a, b in zip(before, student.parameters(), strict=True))
    m = evaluate(student, dev_rows, fdv, batch_size=8, pad_id=tok.pad_token_id, device="cpu")
    for key in ("exact", "f1", "inference_time", "HasAns_exact", "NoAns_exact"):
        assert key in m
    assert 0.0 <= m["exact"] <= m["f1"] + 1e-9 <= 100.0 + 1e-9
    assert m["inference_time"] > 0


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_training_batches_match_per_batch_collation(tiny_task, batch_size):
    # the device-side gather against the obvious path: collate each batch on the host
    tok, _, _, ftr, _, teacher = tiny_task
    logits = compute_logits(teacher, ftr, batch_size=16, pad_id=tok.pad_token_id, device="cpu")
    c = DistillConfig(train_batch_size=batch_size, epochs=2, seed=5, device="cpu")
    for teacher_logits in (logits, None):
        got = list(_training_batches(ftr, c, pad_id=tok.pad_token_id, device=torch.device("cpu"),
                                     teacher_logits=teacher_logits))
        want_idx = [idx for epoch in range(2) for idx in length_grouped_batches(
            ftr.lengths, batch_size, rng=np.random.default_rng([5, epoch]))]
        assert [idx for idx, _ in got] == want_idx
        for idx, b in got:
            want = collate(ftr, idx, tok.pad_token_id)
            if teacher_logits is not None:
                want["teacher_start"], want["teacher_end"] = logits.batch(
                    idx, want["input_ids"].shape[1])
            assert b.keys() == want.keys()
            for k in want:
                assert b[k].dtype == want[k].dtype
                assert torch.equal(b[k], want[k]), k


def test_nan_raises_trial_failed(tiny_task):
    tok, _, _, ftr, _, teacher = tiny_task
    c = DistillConfig(n_layers=1, n_heads=4, train_batch_size=8, alpha_ce=0.0, device="cpu")
    student = build_student(c, teacher=teacher)
    with torch.no_grad():
        student.qa_outputs.bias.fill_(float("nan"))
    with pytest.raises(TrialFailed, match="loss is nan"):
        train(student, ftr, c, pad_id=tok.pad_token_id, max_steps=3)


def test_divergence_raises_trial_failed(tiny_task, monkeypatch):
    tok, _, _, ftr, _, teacher = tiny_task
    c = DistillConfig(n_layers=1, n_heads=4, train_batch_size=1, alpha_ce=0.0, device="cpu")
    real = train_module.kd_loss
    calls = []

    def growing(*args, **kwargs):
        # a loss that climbs steadily (finite all along): what a too-large step size does
        calls.append(1)
        return real(*args, **kwargs) * 1.3 ** len(calls)

    monkeypatch.setattr(train_module, "kd_loss", growing)
    with pytest.raises(TrialFailed, match="diverged") as info:
        train(build_student(c, teacher=teacher), ftr, c, pad_id=tok.pad_token_id)
    assert "\n" not in str(info.value)
    assert len(calls) == 20  # the detector waits 20 steps, then fires at once


def test_health_reads_back_every_ten_steps_and_names_the_failing_step():
    seen = []
    h = _Health(total=25, check_grad=True, progress=lambda s, t, loss: seen.append(s))
    for i in range(12):
        h.push(torch.tensor(1.0 + i), torch.tensor(0.5))
    # steps 0-9 were read back at the tenth push; 10 and 11 wait for the next batch
    assert seen == [10] and h._step == 10
    h.push(torch.tensor(1.0), torch.tensor(float("inf")))  # step 12
    with pytest.raises(TrialFailed, match="gradient norm is inf at step 12"):
        h.flush()
    # without the gradient check (fp16: the scaler skips such steps) only the loss counts
    h = _Health(total=3, check_grad=False, progress=None)
    for v in (2.0, 1.0, 0.5):
        h.push(torch.tensor(v), torch.tensor(float("nan")))
    h.flush()
    assert h.ema == pytest.approx(0.81 * 2.0 + 0.09 * 1.0 + 0.1 * 0.5)


def test_alpha_without_teacher_logits_is_rejected(tiny_task):
    tok, _, _, ftr, _, teacher = tiny_task
    c = DistillConfig(n_layers=1, n_heads=4, alpha_ce=0.5, device="cpu")
    with pytest.raises(ValueError, match="alpha_ce"):
        train(build_student(c, teacher=teacher), ftr, c, pad_id=tok.pad_token_id)


def test_cuda_attention_skips_cudnn_and_restores_the_setting():
    # cuDNN attention builds a plan per new shape; the other kernels stay allowed
    before = torch.backends.cuda.cudnn_sdp_enabled()
    with _attention_kernels(torch.device("cuda")):
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.mem_efficient_sdp_enabled()
        assert torch.backends.cuda.math_sdp_enabled()
    assert torch.backends.cuda.cudnn_sdp_enabled() == before
    with _attention_kernels(torch.device("cpu")):
        assert torch.backends.cuda.cudnn_sdp_enabled() == before


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_train_step(tiny_task):
    tok, _, _, ftr, _, teacher = tiny_task
    logits = compute_logits(teacher, ftr, pad_id=tok.pad_token_id, device="cuda")
    c = DistillConfig(n_layers=2, n_heads=2, train_batch_size=8, device="cuda")
    student = build_student(c, teacher=teacher)
    res = train(student, ftr, c, pad_id=tok.pad_token_id, teacher_logits=logits, max_steps=5)
    assert res.steps == 5 and math.isfinite(res.final_loss)
    assert next(student.parameters()).dtype == torch.float32


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_training_progress_in_a_log_prints_every_tenth():
    out = _Stream(tty=False)
    shown = TrainingProgress(batch_size=8, label="trial x", stream=out)
    for step in [*range(10, 300, 10), 300]:
        shown(step, 300, 1.25)
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in out.getvalue()
    assert lines[-1].startswith("  trial x: step 300/300 loss 1.2500")
    assert all("ex/s" in line and "ETA" in line for line in lines)


def test_training_progress_on_a_terminal_rewrites_one_line():
    out = _Stream(tty=True)
    shown = TrainingProgress(batch_size=8, stream=out)
    for step in (10, 20, 25):
        shown(step, 25, 0.5)
    text = out.getvalue()
    assert text.count("\r") == 3 and text.count("\n") == 1 and text.endswith("\n")


def test_progress_does_not_change_training(tiny_task):
    tok, _, _, ftr, _, teacher = tiny_task
    c = DistillConfig(n_layers=1, n_heads=2, train_batch_size=4, learning_rate=1e-3,
                      alpha_ce=0.0, device="cpu")
    models = []
    for progress in (None, TrainingProgress(batch_size=4, stream=_Stream(tty=False))):
        student = build_student(c, teacher=teacher)
        train(student, ftr, c, pad_id=tok.pad_token_id, max_steps=12, progress=progress)
        models.append(student)
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(a, b)
