"""Tests of distill.models: QA models, DistilBERT renaming, head pruning, students, counts."""

import copy
import itertools

import numpy as np
import pytest
import torch
from transformers import (
    BertConfig,
    BertForQuestionAnswering,
    BertModel,
    DistilBertConfig,
    DistilBertForQuestionAnswering,
    DistilBertModel,
    GPT2Config,
)

from distill.config import DistillConfig
from distill.models import (
    DISTILBERT_TYPE_VOCAB,
    QAModel,
    bert_config_of,
    build_student,
    choose_heads,
    load_encoder,
    load_qa_model,
    load_teacher,
    num_parameters,
    prune_layer_heads,
    save_qa_model,
    select_layers,
    source_config,
)

torch.set_num_threads(2)


def tiny_config(layers: int = 2, heads: int = 4) -> BertConfig:
    return BertConfig(vocab_size=101, hidden_size=32, num_hidden_layers=layers,
                      num_attention_heads=heads, intermediate_size=48,
                      max_position_embeddings=40, type_vocab_size=2)


@pytest.fixture(scope="module")
def base():
    torch.manual_seed(0)
    cfg = tiny_config()
    return cfg, QAModel(cfg).eval(), BertModel(cfg, add_pooling_layer=False).eval()


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def batch(seed: int = 0, n: int = 3, length: int = 12):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 101, (n, length), generator=g)
    mask = torch.ones(n, length, dtype=torch.long)
    mask[0, 8:] = 0
    types = torch.zeros(n, length, dtype=torch.long)
    types[:, 5:] = 1
    return ids, mask, types


def test_num_parameters_matches_built_count(base):
    cfg, teacher, encoder = base
    for init, layers, heads, choice in itertools.product(
        ["teacher", "pretrained"], [1, 2, 3, 5], [1, 2, 3, 4], ["random", "importance"]
    ):
        c = DistillConfig(init=init, n_layers=layers, n_heads=heads, head_choice=choice,
                          pruning_seed=layers * 7 + heads)
        student = build_student(c, teacher=teacher, encoder=encoder)
        assert trainable(student) == num_parameters(c, cfg), (init, layers, heads, choice)
        assert student.heads_per_layer() == [heads] * layers
        ids, mask, types = batch()
        start, end = student.eval()(ids, mask, types)
        assert start.shape == end.shape == ids.shape


def test_num_parameters_of_minilm_baseline():
    enc = load_encoder()
    c = DistillConfig(init="pretrained", n_layers=6, n_heads=12)
    student = build_student(c, encoder=enc)
    assert num_parameters(c, enc.config) == trainable(student)
    assert trainable(enc) + 2 * 384 + 2 == trainable(student)  # encoder + QA head
    with pytest.raises(ValueError, match="n_heads"):
        num_parameters(DistillConfig(n_heads=13), enc.config)


def test_select_layers():
    assert select_layers(3, 6, "spaced") == [1, 3, 5]
    assert select_layers(1, 6, "spaced") == [5]
    assert select_layers(2, 6, "spaced") == [2, 5]
    assert select_layers(6, 6, "spaced") == list(range(6))
    assert select_layers(3, 6, "first") == [0, 1, 2]
    assert select_layers(8, 6, "spaced") == [0, 1, 2, 3, 4, 5, None, None]
    for k in range(1, 7):
        kept = select_layers(k, 6, "spaced")
        assert kept[-1] == 5 and kept == sorted(set(kept))


def test_teacher_init_copies_layers_and_head(base):
    cfg, teacher, _ = base
    student = build_student(DistillConfig(n_layers=1, n_heads=4), teacher=teacher)
    assert torch.equal(student.qa_outputs.weight, teacher.qa_outputs.weight)
    # one spaced layer out of two is the last one
    src = teacher.bert.encoder.layer[1].state_dict()
    for k, v in student.bert.encoder.layer[0].state_dict().items():
        assert torch.equal(v, src[k]), k
    # full depth, all heads: the student computes exactly the teacher's function
    full = build_student(DistillConfig(n_layers=2, n_heads=4), teacher=teacher).eval()
    ids, mask, types = batch(1)
    with torch.no_grad():
        for a, b in zip(full(ids, mask, types), teacher(ids, mask, types), strict=True):
            torch.testing.assert_close(a, b)


def test_pretrained_init_random_layers_use_initializer_range(base):
    cfg, _, encoder = base
    c = DistillConfig(init="pretrained", n_layers=3, n_heads=4, initializer_range=0.5)
    student = build_student(c, encoder=encoder)
    src = encoder.encoder.layer[1].state_dict()
    for k, v in student.bert.encoder.layer[1].state_dict().items():
        assert torch.equal(v, src[k])
    w = student.bert.encoder.layer[2].intermediate.dense.weight
    assert abs(float(w.detach().std()) - 0.5) < 0.1
    assert float(student.bert.encoder.layer[2].intermediate.dense.bias.detach().abs().max()) == 0.0
    assert abs(float(student.qa_outputs.weight.detach().std()) - 0.5) < 0.25
    with pytest.raises(ValueError, match="init"):
        build_student(c)


def masked_reference(model: QAModel, layer_index: int, keep: list[int]) -> QAModel:
    """Slow reference: zero the value rows (and bias) of the removed heads, unpruned.

    A head whose value projection is zero writes zero into the output projection, which
    is exactly what removing it does.
    """
    ref = copy.deepcopy(model)
    att = ref.bert.encoder.layer[layer_index].attention.self
    d = att.attention_head_size
    with torch.no_grad():
        for h in range(att.num_attention_heads):
            if h not in keep:
                att.value.weight[h * d:(h + 1) * d] = 0.0
                att.value.bias[h * d:(h + 1) * d] = 0.0
    return ref


@pytest.mark.parametrize("keep", [[0], [1, 3], [0, 2, 3], [2]])
def test_pruning_equals_masking(base, keep):
    _, teacher, _ = base
    model = copy.deepcopy(teacher)
    with torch.no_grad():  # non-zero biases so slicing them is exercised
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ref = masked_reference(model, 0, keep)
    pruned = copy.deepcopy(model)
    prune_layer_heads(pruned.bert.encoder.layer[0], keep)
    assert pruned.bert.encoder.layer[0].attention.self.query.out_features == 8 * len(keep)
    ids, mask, types = batch(2)
    with torch.no_grad():
        for a, b in zip(pruned(ids, mask, types), ref(ids, mask, types), strict=True):
            assert a.shape == ids.shape
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_prune_rejects_bad_indices(base):
    _, teacher, _ = base
    model = copy.deepcopy(teacher)
    for keep in ([], [4], [1, 1], [-1]):
        with pytest.raises(ValueError, match="keep"):
            prune_layer_heads(model.bert.encoder.layer[0], keep)


def test_choose_heads_seeded_and_importance(base):
    _, teacher, _ = base
    layers = list(teacher.bert.encoder.layer)
    a = choose_heads(layers, 2, "random", 5)
    assert a == choose_heads(layers, 2, "random", 5)
    draws = {tuple(map(tuple, choose_heads(layers, 2, "random", s))) for s in range(20)}
    assert len(draws) > 1
    model = copy.deepcopy(teacher)
    with torch.no_grad():  # make head 2 of layer 0 dominant and head 1 negligible
        att = model.bert.encoder.layer[0].attention.self
        att.value.weight[16:24] *= 100.0
        att.value.weight[8:16] *= 0.0
    imp = choose_heads(list(model.bert.encoder.layer), 3, "importance", 0)
    assert 2 in imp[0] and 1 not in imp[0]
    assert all(len(k) == 3 and k == sorted(k) for k in imp)


def test_checkpoint_round_trip(base, tmp_path):
    _, teacher, _ = base
    student = build_student(DistillConfig(n_layers=2, n_heads=3, qa_dropout=0.2),
                            teacher=teacher).eval()
    save_qa_model(student, tmp_path / "s")
    assert not list((tmp_path / "s").glob("*.bin")) and not list((tmp_path / "s").glob("*.pt"))
    again = load_teacher(tmp_path / "s").eval()
    assert again.heads_per_layer() == [3, 3] and again.dropout.p == 0.2
    ids, mask, types = batch(3)
    with torch.no_grad():
        for a, b in zip(student(ids, mask, types), again(ids, mask, types), strict=True):
            torch.testing.assert_close(a, b)
    assert isinstance(load_qa_model(tmp_path / "s"), QAModel)


def test_loads_hf_bert_qa_checkpoint(tmp_path):
    torch.manual_seed(1)
    hf = BertForQuestionAnswering(tiny_config()).eval()
    hf.save_pretrained(tmp_path / "hf")
    ours = load_teacher(tmp_path / "hf").eval()
    ids, mask, types = batch(4)
    with torch.no_grad():
        out = hf(input_ids=ids, attention_mask=mask, token_type_ids=types)
        start, end = ours(ids, mask, types)
    torch.testing.assert_close(start, out.start_logits)
    torch.testing.assert_close(end, out.end_logits)
    with pytest.raises(ValueError, match="teacher"):
        load_teacher(tmp_path / "missing")


def test_seed_determinism(base):
    _, _, encoder = base
    c = DistillConfig(init="pretrained", n_layers=3, n_heads=2, seed=3)
    a = build_student(c, encoder=encoder)
    b = build_student(c, encoder=encoder)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    assert np.isfinite(float(a.qa_outputs.weight.detach().sum()))


# ---- DistilBERT checkpoints and counts from the source actually copied -----------------


def tiny_distil_config(layers: int = 2, heads: int = 2) -> DistilBertConfig:
    return DistilBertConfig(vocab_size=101, dim=24, n_layers=layers, n_heads=heads,
                            hidden_dim=40, max_position_embeddings=40)


def test_distilbert_encoder_maps_to_bert_layout(tmp_path):
    torch.manual_seed(2)
    hf = DistilBertModel(tiny_distil_config()).eval()
    with torch.no_grad():  # non-trivial LayerNorms and biases, so every mapping shows
        for p in hf.parameters():
            p.add_(0.05 * torch.randn_like(p))
    hf.save_pretrained(tmp_path / "d")
    enc = load_encoder(tmp_path / "d").eval()
    assert isinstance(enc, BertModel) and enc.config.type_vocab_size == DISTILBERT_TYPE_VOCAB
    assert float(enc.embeddings.token_type_embeddings.weight.detach().abs().max()) == 0.0
    ids, mask, types = batch(5)
    with torch.no_grad():
        want = hf(input_ids=ids, attention_mask=mask).last_hidden_state
        got = enc(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]
    # zero token-type embeddings: the segment ids change nothing, as in DistilBERT
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_distilbert_qa_teacher(tmp_path):
    torch.manual_seed(3)
    hf = DistilBertForQuestionAnswering(tiny_distil_config()).eval()
    hf.save_pretrained(tmp_path / "qa")
    teacher = load_teacher(tmp_path / "qa").eval()
    ids, mask, types = batch(6)
    with torch.no_grad():
        out = hf(input_ids=ids, attention_mask=mask)
        start, end = teacher(ids, mask, types)
    torch.testing.assert_close(start, out.start_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(end, out.end_logits, rtol=1e-5, atol=1e-5)
    # students of every init from it: counted == built
    for init, layers, heads in itertools.product(["teacher", "pretrained"], [1, 3], [1, 2]):
        c = DistillConfig(init=init, n_layers=layers, n_heads=heads)
        s = build_student(c, teacher=teacher, encoder=teacher.bert)
        assert trainable(s) == num_parameters(c, source_config(c, teacher=teacher,
                                                               encoder=teacher.bert))
    # a checkpoint without a QA head is no teacher (from_pretrained would draw one)
    DistilBertModel(tiny_distil_config()).save_pretrained(tmp_path / "base")
    with pytest.raises(ValueError, match="no question-answering head"):
        load_teacher(tmp_path / "base")


def test_count_follows_the_source_each_init_copies(tmp_path, base):
    """A BERT teacher and a DistilBERT encoder of other widths, heads and depths."""
    cfg, teacher, _ = base  # hidden 32, 4 heads, 2 layers
    DistilBertModel(tiny_distil_config(layers=3, heads=2)).save_pretrained(tmp_path / "d")
    encoder = load_encoder(tmp_path / "d")
    for init, layers, heads in itertools.product(["teacher", "pretrained"], [1, 2, 4], [1, 2]):
        c = DistillConfig(init=init, n_layers=layers, n_heads=heads, pruning_seed=layers)
        student = build_student(c, teacher=teacher, encoder=encoder)
        base_cfg = source_config(c, teacher=teacher, encoder=encoder)
        assert base_cfg.hidden_size == (32 if init == "teacher" else 24)
        assert trainable(student) == num_parameters(c, base_cfg), (init, layers, heads)
    with pytest.raises(ValueError, match="init"):
        source_config(DistillConfig(init="pretrained"), teacher=teacher)


def test_seed_baseline_student_is_66_3m():
    """The study's baseline: DistilBERT-shaped, 6 layers, 12 heads, 768 wide, FFN 3072."""
    distil = bert_config_of(DistilBertConfig())  # distilbert-base-uncased's shape
    assert (distil.hidden_size, distil.num_hidden_layers, distil.num_attention_heads,
            distil.intermediate_size) == (768, 6, 12, 3072)
    c = DistillConfig(init="pretrained", n_layers=6, n_heads=12)
    n = num_parameters(c, distil)
    assert 66.2e6 <= n <= 66.4e6
    # DistilBertForQuestionAnswering has 66,364,418; the BERT layout adds 2 token-type rows
    assert n == 66_364_418 + 2 * 768


def test_bert_config_of_rejects_other_models():
    with pytest.raises(ValueError, match="gpt2"):
        bert_config_of(GPT2Config())
