"""Model sources: local folders, hub names from a faked offline cache, shapes, vocabularies."""

import json

import pytest

from distill.data import load_tokenizer
from distill.sources import (
    check_same_vocabulary,
    has_tokenizer,
    hub_cache_dir,
    model_shape,
    resolve_source,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def bert_config(vocab: int = 30522, heads: int = 4, layers: int = 2) -> dict:
    return {"model_type": "bert", "vocab_size": vocab, "hidden_size": 32,
            "num_hidden_layers": layers, "num_attention_heads": heads}


def model_folder(path, config: dict):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config))
    return path


def cached(cache, name: str, config: dict):
    """The layout huggingface_hub's cache gives a downloaded model repository."""
    repo = cache / ("models--" + name.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return model_folder(repo / "snapshots" / COMMIT, config)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_local_folder_is_itself(tmp_path):
    folder = model_folder(tmp_path / "m", bert_config())
    assert resolve_source(folder, "teacher") == folder
    assert resolve_source(str(folder), "encoder") == folder


def test_hub_name_resolves_from_the_local_cache(hub_cache, monkeypatch, tmp_path):
    snap = cached(hub_cache, "org/tiny-bert", bert_config())
    assert hub_cache_dir() == hub_cache
    assert resolve_source("org/tiny-bert", "teacher") == snap
    # HF_HUB_CACHE wins over HF_HOME, read when resolving (not at import)
    other = tmp_path / "other"
    snap2 = cached(other, "org/tiny-bert", bert_config(heads=2))
    monkeypatch.setenv("HF_HUB_CACHE", str(other))
    assert resolve_source("org/tiny-bert", "teacher") == snap2


def test_missing_hub_name_says_how_to_fetch_it(hub_cache):
    with pytest.raises(ValueError) as info:
        resolve_source("deepset/bert-base-uncased-squad2", "teacher")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("teacher: deepset/bert-base-uncased-squad2")
    assert "hf download deepset/bert-base-uncased-squad2" in msg
    assert "huggingface-cli download deepset/bert-base-uncased-squad2" in msg


def test_bad_sources(tmp_path, hub_cache):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="encoder: .* is a file"):
        resolve_source(tmp_path / "file", "encoder")
    with pytest.raises(ValueError, match="neither a folder nor a Hugging Face hub name"):
        resolve_source(tmp_path / "no" / "such" / "dir", "teacher")
    cached(hub_cache, "org/no-config", {})
    (hub_cache / "models--org--no-config" / "snapshots" / COMMIT / "config.json").unlink()
    with pytest.raises(ValueError, match="no config.json"):
        resolve_source("org/no-config", "teacher")


def test_model_shapes(tmp_path):
    bert = model_shape(model_folder(tmp_path / "b", bert_config(heads=4, layers=3)), "teacher")
    assert (bert.model_type, bert.num_heads, bert.num_layers, bert.hidden_size) == \
        ("bert", 4, 3, 32)
    distil = model_shape(model_folder(tmp_path / "d", {
        "model_type": "distilbert", "vocab_size": 100, "dim": 24, "n_layers": 2,
        "n_heads": 3}), "encoder")
    assert (distil.vocab_size, distil.hidden_size, distil.num_layers, distil.num_heads) == \
        (100, 24, 2, 3)
    pruned = model_folder(tmp_path / "p", bert_config(heads=4))
    (pruned / "heads.json").write_text(json.dumps({"heads_per_layer": [2, 3]}))
    assert model_shape(pruned, "teacher").num_heads == 2
    with pytest.raises(ValueError, match="'gpt2' model"):
        model_shape(model_folder(tmp_path / "g", {"model_type": "gpt2"}), "teacher")


def test_vocabulary_check(tmp_path):
    teacher = model_folder(tmp_path / "t", bert_config())
    check_same_vocabulary(teacher, model_folder(tmp_path / "e", bert_config()))
    with pytest.raises(ValueError, match="vocabulary of 30000 tokens"):
        check_same_vocabulary(teacher, model_folder(tmp_path / "small", bert_config(30000)))
    # both ship a tokenizer: the token -> id maps must agree
    tok = load_tokenizer()
    tok.save_pretrained(str(teacher))
    same = model_folder(tmp_path / "same", bert_config())
    tok.save_pretrained(str(same))
    assert has_tokenizer(teacher) and has_tokenizer(same)
    check_same_vocabulary(teacher, same)
    other = model_folder(tmp_path / "other", bert_config())
    tok.add_tokens(["zzzqqqxx"])
    tok.save_pretrained(str(other))
    with pytest.raises(ValueError, match="tokenizer of .* differs"):
        check_same_vocabulary(teacher, other)
