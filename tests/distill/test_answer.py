"""python -m distill.answer: the evaluation's windows and post-processing on one question."""

import pytest
import torch
from torch import nn
from transformers import BertConfig

from distill.answer import NO_ANSWER, answer, main
from distill.config import DistillConfig
from distill.data import load_tokenizer
from distill.models import QAModel
from distill.students import save_student

torch.set_num_threads(2)

CONTEXT = "The old harbour of Velmora was rebuilt in 1887 by the engineer Tamsin Ardo."
QUESTION = "Who rebuilt the old harbour of Velmora?"


class Pointer(nn.Module):
    """Start logits peak on one token id, end logits on another; the rest is flat."""

    def __init__(self, start_id: int, end_id: int) -> None:
        super().__init__()
        self.start_id, self.end_id = start_id, end_id
        self.anchor = nn.Parameter(torch.zeros(()))  # so .to(device) has something to move

    def forward(self, ids, mask=None, types=None):
        start = 10.0 * (ids == self.start_id).float() + self.anchor
        end = 10.0 * (ids == self.end_id).float() + self.anchor
        return start, end


def test_answer_follows_postprocessing():
    tok = load_tokenizer()
    ids = tok(" tamsin ardo", add_special_tokens=False)["input_ids"]
    model = Pointer(ids[0], ids[-1])
    assert answer(model, tok, QUESTION, CONTEXT) == "Tamsin Ardo"
    # windows of 96 tokens, stride 16: the span is found in whichever window holds it
    long_context = "Filler words go here. " * 30 + CONTEXT
    assert answer(model, tok, QUESTION, long_context, max_seq_length=96,
                  doc_stride=16) == "Tamsin Ardo"
    # the null score (CLS) wins: no answer
    cls = Pointer(tok.cls_token_id, tok.cls_token_id)
    assert answer(cls, tok, QUESTION, CONTEXT) == ""
    with pytest.raises(ValueError, match="question"):
        answer(model, tok, " ", CONTEXT)


def test_command_line(tmp_path, capsys, monkeypatch):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1,
                     num_attention_heads=4, intermediate_size=48)
    model = QAModel(cfg)
    with torch.no_grad():  # every logit 0: a tie, which goes to the earliest one-token span
        model.qa_outputs.weight.zero_()
        model.qa_outputs.bias.zero_()
    folder = save_student(model, load_tokenizer(),
                          DistillConfig(n_layers=1, n_heads=4, max_seq_length=96,
                                        doc_stride=16), tmp_path)
    argv = ["--model", str(folder), "--context", CONTEXT, "--question", QUESTION]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == "The"
    seen = {}

    def none(*args, **kwargs):
        seen.update(kwargs)
        return ""

    monkeypatch.setattr("distill.answer.answer", none)
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == NO_ANSWER
    # the student's own windows
    assert (seen["max_seq_length"], seen["doc_stride"]) == (96, 16)
    assert main(["--model", str(tmp_path / "none"), "--context", CONTEXT,
                 "--question", QUESTION]) == 2
    assert "error:" in capsys.readouterr().err
