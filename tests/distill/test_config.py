"""Tests of distill.config: the configuration's validation and JSON, and the search spaces."""

import json

import pytest

from distill.config import SEARCHED, DistillConfig, describe_space, embedded_space, seed_space


def test_defaults_validate_and_print():
    c = DistillConfig()
    text = str(c)
    for name in SEARCHED:
        assert name in text
    assert len(SEARCHED) == 17


def test_json_round_trip(tmp_path):
    c = DistillConfig(learning_rate=3e-4, n_layers=3, n_heads=5, init="pretrained",
                      layer_choice="first", head_choice="importance", n_train_examples=100,
                      device="cpu", temperature=4)
    assert DistillConfig.from_json(c.to_json()) == c
    path = tmp_path / "c.json"
    c.save(path)
    assert DistillConfig.load(path) == c
    assert json.loads(path.read_text())["n_heads"] == 5


def test_integral_floats_are_coerced():
    c = DistillConfig(n_layers=3.0, warm_up_steps=7.0)
    assert c.n_layers == 3 and isinstance(c.n_layers, int)
    assert isinstance(c.warm_up_steps, int)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("learning_rate", 0.0),
        ("learning_rate", float("nan")),
        ("beta_1", 1.0),
        ("beta_2", -0.1),
        ("adam_epsilon", 0),
        ("weight_decay", -1e-3),
        ("warm_up_steps", -1),
        ("train_batch_size", 0),
        ("eval_batch_size", 2.5),
        ("alpha_ce", 1.5),
        ("temperature", 0),
        ("n_layers", 0),
        ("n_heads", 0),
        ("initializer_range", -0.1),
        ("dropout", 1.1),
        ("attention_dropout", -0.2),
        ("qa_dropout", 2),
        ("init", "scratch"),
        ("layer_choice", "last"),
        ("head_choice", "best"),
        ("epochs", 0),
        ("n_train_examples", 0),
        ("device", "tpu"),
        ("n_layers", True),
        ("learning_rate", "fast"),
    ],
)
def test_validation_names_field(field, value):
    with pytest.raises(ValueError, match=field):
        DistillConfig(**{field: value})


def test_doc_stride_must_be_below_max_length():
    with pytest.raises(ValueError, match="doc_stride"):
        DistillConfig(max_seq_length=64, doc_stride=64)


def test_unknown_key_rejected():
    with pytest.raises(ValueError, match="colour"):
        DistillConfig.from_dict({"colour": "red"})
    with pytest.raises(ValueError, match="bogus"):
        DistillConfig().replace(bogus=1)


def test_spaces_cover_config_fields():
    seed = seed_space()
    assert set(seed.names) == set(SEARCHED) | {"init"}
    emb = embedded_space()
    assert set(emb.names) == set(SEARCHED) | {"init", "layer_choice"}
    for space in (seed, emb):
        for x in space.sobol(16, seed=0):
            params = space.decode(x)
            c = DistillConfig.from_dict(params)  # every point of the space is a valid config
            assert c.n_layers == params["n_layers"]
    nl = next(p for p in emb.params if p.name == "n_layers")
    assert nl.high == 6


def bounds(space, name):
    p = space.params[space.names.index(name)]
    return p.low, p.high


def test_spaces_fit_the_teacher():
    # the study's ranges by default
    assert bounds(seed_space(), "n_heads") == (1, 12)
    assert bounds(seed_space(), "n_layers") == (1, 20)
    assert bounds(embedded_space(), "n_layers") == (1, 6)
    # a 4-head teacher: no trial can ask for a fifth head; depth stays the study's
    small = seed_space(max_heads=4)
    assert bounds(small, "n_heads") == (1, 4) and bounds(small, "n_layers") == (1, 20)
    assert small.names == seed_space().names
    emb = embedded_space(max_heads=2, max_layers=3)
    assert bounds(emb, "n_heads") == (1, 2) and bounds(emb, "n_layers") == (1, 3)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_heads"):
            seed_space(max_heads=bad)
    with pytest.raises(ValueError, match="max_layers"):
        embedded_space(max_layers=0)


def test_describe_space():
    text = describe_space(seed_space(max_heads=4))
    lines = text.splitlines()
    assert len(lines) == len(seed_space().names)
    assert any(line.split()[0] == "n_heads" and "[1, 4]" in line for line in lines)
    assert any(line.split()[0] == "learning_rate" and "log" in line for line in lines)
    assert any(line.split()[0] == "init" and "pretrained | teacher" in line for line in lines)
