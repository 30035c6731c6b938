from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobo.space import Categorical, Float, Int, Space


def mixed_space() -> Space:
    return Space([
        Float("lr", 1e-5, 1e-1, log=True),
        Float("dropout", 0.0, 0.5),
        Int("layers", 1, 12),
        Int("batch", 4, 256, log=True),
        Categorical("act", ["relu", "gelu", "tanh"]),
        Categorical("flag", [True, False]),
        Categorical("num", [1, 2.5, "x"]),
    ])


def test_dim_and_slices():
    s = mixed_space()
    assert s.dim == 1 + 1 + 1 + 1 + 3 + 2 + 3
    assert s.names == ["lr", "dropout", "layers", "batch", "act", "flag", "num"]
    assert s.slices[4] == slice(4, 7)
    assert list(s.is_discrete()) == [False, False, True, True] + [True] * 8
    assert list(s.is_numeric()) == [True, True, True, True] + [False] * 8
    assert Space([Categorical("c", ["a", "b"])]).is_numeric().tolist() == [False, False]


def test_round_trip_exact_values():
    s = mixed_space()
    p = {"lr": 1e-3, "dropout": 0.25, "layers": 7, "batch": 32, "act": "gelu", "flag": False,
         "num": 2.5}
    x = s.encode(p)
    assert x.shape == (s.dim,)
    assert np.all((x >= 0) & (x <= 1))
    q = s.decode(x)
    assert q["layers"] == 7 and isinstance(q["layers"], int)
    assert q["batch"] == 32 and isinstance(q["batch"], int)
    assert q["act"] == "gelu" and q["flag"] is False and q["num"] == 2.5
    assert math.isclose(q["lr"], 1e-3, rel_tol=1e-12)
    assert math.isclose(q["dropout"], 0.25, rel_tol=1e-12)
    np.testing.assert_allclose(s.round(x), x, atol=1e-15)


def test_log_encoding_is_log_linear():
    s = Space([Float("lr", 1e-4, 1e-0, log=True)])
    np.testing.assert_allclose(s.encode({"lr": 1e-2}), [0.5])
    assert math.isclose(s.decode(np.array([0.25]))["lr"], 1e-3, rel_tol=1e-12)


def test_largest_allowed_int_bounds_round_trip():
    # float64 keeps neighbouring integers apart up to these bounds (and the relaxed
    # interval [low - 1/2, high + 1/2] non-empty), so every end of the range survives
    for p in (Int("k", 2**52 - 2, 2**52 - 1), Int("k", -(2**52 - 1), -(2**52 - 1)),
              Int("k", 2**40 - 1, 2**40, log=True), Int("k", 2**40, 2**40, log=True)):
        s = Space([p])
        for k in (p.low, p.high):
            assert s.decode(s.encode({"k": k}))["k"] == k
        for x in s.sobol(8, seed=0):
            assert p.low <= s.decode(x)["k"] <= p.high


def test_int_cells_have_equal_mass():
    s = Space([Int("k", 0, 3)])
    # relaxed to [-0.5, 3.5]: each integer owns a quarter of [0, 1]
    np.testing.assert_allclose([s.encode({"k": k})[0] for k in range(4)],
                               [0.125, 0.375, 0.625, 0.875])
    u = np.linspace(0, 1, 4001)[:, None]
    vals = np.array([s.decode(r)["k"] for r in u])
    counts = np.bincount(vals, minlength=4)
    assert counts.min() >= 999 and counts.max() <= 1001
    assert s.decode(np.array([0.0]))["k"] == 0 and s.decode(np.array([1.0]))["k"] == 3


def test_single_value_int():
    s = Space([Int("k", 5, 5)])
    x = s.encode({"k": 5})
    assert s.decode(x) == {"k": 5}
    assert s.decode(np.array([0.9])) == {"k": 5}


def test_round_snaps_to_feasible_and_is_idempotent():
    s = mixed_space()
    rng = np.random.default_rng(0)
    X = rng.uniform(-0.2, 1.2, size=(200, s.dim))
    R = s.round(X)
    np.testing.assert_array_equal(s.round(R), R)
    for r in R:
        p = s.decode(r)
        np.testing.assert_allclose(s.encode(p), r, atol=1e-12)
    for sl in s.slices[4:]:
        assert np.all(R[:, sl].sum(axis=1) == 1.0)
    # round of a 1-D vector keeps the shape
    assert s.round(X[0]).shape == (s.dim,)


def test_round_matches_decode_for_ints():
    s = Space([Int("k", 1, 100, log=True), Int("j", -3, 3)])
    rng = np.random.default_rng(1)
    X = rng.random((500, 2))
    R = s.round(X)
    for x, r in zip(X, R, strict=True):
        assert s.decode(x) == s.decode(r)


def test_sobol_feasible_deterministic_and_uniform_categories():
    s = mixed_space()
    A = s.sobol(256, seed=3)
    B = s.sobol(256, seed=3)
    C = s.sobol(256, seed=4)
    np.testing.assert_array_equal(A, B)
    assert not np.array_equal(A, C)
    np.testing.assert_array_equal(s.round(A), A)
    acts = [s.decode(a)["act"] for a in A]
    counts = [acts.count(c) for c in ("relu", "gelu", "tanh")]
    assert min(counts) >= 80  # 256 / 3 ~ 85 with Sobol's balance
    assert s.sobol(0, seed=1).shape == (0, s.dim)
    # a Generator seeds it too
    G = s.sobol(5, seed=np.random.default_rng(0))
    assert G.shape == (5, s.dim)


def test_neighbours():
    s = Space([Float("a", 0, 1), Int("k", 0, 4), Categorical("c", ["x", "y", "z"])])
    x = s.encode({"a": 0.3, "k": 0, "c": "y"})
    N = s.neighbours(x)
    got = [s.decode(n) for n in N]
    assert {"a": pytest.approx(0.3), "k": 1, "c": "y"} in got
    assert len(got) == 1 + 2  # k=-1 is outside; two other categories
    assert all(g["a"] == pytest.approx(0.3) for g in got)
    assert Space([Float("a", 0, 1)]).neighbours(np.array([0.2])).shape == (0, 1)


def test_to_dict_from_dict_and_equality():
    s = mixed_space()
    d = json.loads(json.dumps(s.to_dict()))
    t = Space.from_dict(d)
    assert t == s
    assert hash(t) == hash(s)
    assert Space([Float("a", 0, 1)]) != Space([Float("a", 0, 2)])
    assert Space([Categorical("c", [1, 2])]) != Space([Categorical("c", [True, 2])])
    assert Space([Float("a", 0, 1)]) != Space([Int("a", 0, 1)])
    with pytest.raises(ValueError, match="type"):
        Space.from_dict({"params": [{"type": "bogus", "name": "a"}]})
    with pytest.raises(ValueError, match="missing field 'high'"):
        Space.from_dict({"params": [{"type": "float", "name": "a", "low": 0}]})
    with pytest.raises(ValueError, match="params"):
        Space.from_dict({"nope": 1})


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Float("a", 1.0, 1.0), "a: need low < high"),
        (lambda: Float("a", 2.0, 1.0), "a: need low < high"),
        (lambda: Int("a", 3, 1), "a: need low <= high"),
        (lambda: Float("a", 0.0, math.inf), "a: bounds must be finite"),
        (lambda: Float("a", math.nan, 1.0), "a: bounds must be finite"),
        (lambda: Float("a", 0.0, 1.0, log=True), "a: log scale needs low > 0"),
        (lambda: Float("a", -1.0, 1.0, log=True), "a: log scale needs low > 0"),
        (lambda: Int("a", 0, 10, log=True), "a: log scale needs low > 0"),
        (lambda: Int("a", 1e16, 1e16), "a.low: must lie within"),
        (lambda: Float("a", -1e308, 1e308), "a: high - low overflows"),
        (lambda: Float("a", 1e16, 1e16 + 2), "a: the range .* is too narrow"),
        (lambda: Float("a", 0.0, 5e-324), "a: the range .* is too narrow"),
        (lambda: Float("a", 5e-324, 1.0, log=True), "a: log scale needs low >= "),
        (lambda: Int("a", 0, 2**52), "a.high: must lie within"),
        (lambda: Int("a", 2**41, 2**41 + 5, log=True), "a.low: must lie within"),
        (lambda: Float("a", "0", 1.0), "a.low: expected a real number"),
        (lambda: Float("a", 0.0, True), "a.high: expected a real number"),
        (lambda: Int("a", 0.5, 3), "a.low: expected an integer"),
        (lambda: Int("a", 0, None), "a.high: expected an integer"),
        (lambda: Float("", 0.0, 1.0), "name must be a non-empty string"),
        (lambda: Int(3, 0, 1), "name must be a non-empty string"),
        (lambda: Float("a", 0.0, 1.0, log="yes"), "a.log: expected a bool"),
        (lambda: Categorical("c", []), "c.choices: need at least one choice"),
        (lambda: Categorical("c", ["x", "x"]), "c.choices: duplicate choice"),
        (lambda: Categorical("c", [1, None]), "c.choices: each choice must be"),
        (lambda: Categorical("c", [math.nan]), "c.choices: non-finite"),
        (lambda: Categorical("c", "abc"), "c.choices: expected a sequence"),
        (lambda: Space([]), "at least one parameter"),
        (lambda: Space([Float("a", 0, 1), Int("a", 0, 1)]), "duplicate parameter name 'a'"),
        (lambda: Space([("a", 0, 1)]), "expected Float, Int or Categorical"),
        (lambda: Space("abc"), "params must be a sequence"),
    ],
)
def test_definition_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_distinct_bool_and_int_choices_allowed():
    c = Categorical("c", [True, 1, 1.5])
    assert c.index(True) == 0 and c.index(1) == 1 and c.index(np.float64(1.5)) == 2
    assert c.index(1.0) == 1  # numeric value match when the exact type is absent


@pytest.mark.parametrize(
    "params, match",
    [
        ({"a": 0.5, "k": 1, "c": "x", "zzz": 1}, "'zzz': unknown parameter"),
        ({"a": 0.5, "c": "x"}, "'k': missing parameter"),
        ({"a": 1.5, "k": 1, "c": "x"}, "a: value 1.5 outside"),
        ({"a": 0.5, "k": 11, "c": "x"}, "k: value 11 outside"),
        ({"a": 0.5, "k": 1, "c": "w"}, "c: 'w' is not one of the choices"),
        ({"a": "0.5", "k": 1, "c": "x"}, "a: expected a real number"),
        ({"a": 0.5, "k": 1.5, "c": "x"}, "k: expected an integer"),
        ({"a": 0.5, "k": True, "c": "x"}, "k: expected an integer"),
        ({"a": math.nan, "k": 1, "c": "x"}, "a: value must be finite"),
        ({"a": 0.5, "k": 1, "c": ["x"]}, "c: \\['x'\\] is not one of the choices"),
    ],
)
def test_encode_errors(params, match):
    s = Space([Float("a", 0, 1), Int("k", 0, 10), Categorical("c", ["x", "y"])])
    with pytest.raises(ValueError, match=match):
        s.encode(params)


def test_encode_accepts_numpy_and_integral_floats():
    s = Space([Float("a", 0, 1), Int("k", 0, 10)])
    x = s.encode({"a": np.float32(0.5), "k": np.int64(3)})
    assert s.decode(x) == {"a": 0.5, "k": 3}
    assert s.decode(s.encode({"a": 0, "k": 3.0})) == {"a": 0.0, "k": 3}
    with pytest.raises(ValueError, match="params: expected a mapping"):
        s.encode([0.5, 3])


def test_decode_errors():
    s = Space([Float("a", 0, 1)])
    with pytest.raises(ValueError, match="x: expected shape"):
        s.decode(np.zeros(2))
    with pytest.raises(ValueError, match="non-finite"):
        s.decode(np.array([np.nan]))


def test_encode_many():
    s = Space([Float("a", 0, 1), Int("k", 0, 10)])
    X = s.encode_many([{"a": 0.0, "k": 0}, {"a": 1.0, "k": 10}])
    np.testing.assert_allclose(X, [[0.0, 0.5 / 11], [1.0, 10.5 / 11]])
    assert s.encode_many([]).shape == (0, 2)


# ---------------------------------------------------------------- property tests
_junk = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def _param_def(draw):
    kind = draw(st.sampled_from(["float", "int", "cat", "junk"]))
    name = draw(st.one_of(st.sampled_from(["a", "b", ""]), _junk))
    if kind == "float":
        args = (name, draw(_junk), draw(_junk), draw(st.one_of(st.booleans(), _junk)))
        return lambda: Float(*args)
    if kind == "int":
        args = (name, draw(_junk), draw(_junk), draw(st.booleans()))
        return lambda: Int(*args)
    if kind == "cat":
        choices = draw(st.one_of(st.lists(_junk, max_size=4), _junk))
        return lambda: Categorical(name, choices)
    junk = draw(_junk)
    return lambda: junk


@settings(max_examples=300, deadline=None)
@given(st.lists(_param_def(), min_size=0, max_size=4))
def test_random_definitions_raise_only_valueerror(defs):
    try:
        params = [make() for make in defs]
        space = Space(params)
    except ValueError:
        return
    # when everything happened to be valid, the space must work end to end
    X = space.sobol(4, seed=0)
    for x in X:
        np.testing.assert_allclose(space.encode(space.decode(x)), x, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "k", "c", "other"]), _junk, max_size=4))
def test_random_param_dicts_raise_only_valueerror(params):
    s = Space([Float("a", -2.0, 3.0), Int("k", -5, 5), Categorical("c", [1, "x", True])])
    try:
        x = s.encode(params)
    except ValueError:
        return
    assert s.decode(x).keys() == {"a", "k", "c"}


@settings(max_examples=200, deadline=None)
@given(
    st.floats(1e-6, 1e3), st.floats(1.001, 1e3), st.booleans(), st.integers(-50, 50),
    st.integers(0, 100), st.floats(0, 1), st.floats(0, 1),
)
def test_round_trip_property(lo, ratio, log, ilo, iwidth, u, w):
    hi = lo * ratio
    s = Space([Float("f", lo, hi, log=log), Int("i", ilo, ilo + iwidth)])
    x = np.array([u, w])
    p = s.decode(x)
    assert lo <= p["f"] <= hi and ilo <= p["i"] <= ilo + iwidth
    y = s.encode(p)
    assert abs(y[0] - u) < 1e-9
    assert s.decode(y) == pytest.approx(p)


_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
              st.sampled_from(["a", "float", "int", "categorical", "params", "name"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(
                                ["type", "name", "low", "high", "log", "choices", "params"]),
                                inner, max_size=5)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_json, st.fixed_dictionaries({"params": st.lists(
    st.fixed_dictionaries({"type": st.sampled_from(["float", "int", "categorical", "x"])},
                          optional={"name": _json, "low": _json, "high": _json,
                                    "log": _json, "choices": _json}), max_size=3)})))
def test_from_dict_raises_only_valueerror(d):
    try:
        s = Space.from_dict(d)
    except ValueError:
        return
    assert Space.from_dict(s.to_dict()) == s


@pytest.mark.parametrize("log", [False, True])
def test_cells_are_the_stretches_that_round_to_each_integer(log: bool) -> None:
    space = Space([Int("k", 1, 9, log=log), Float("a", 0.0, 1.0), Categorical("c", ["x", "y"])])
    grid = np.linspace(0.0, 1.0, 2001)
    for k in range(1, 10):
        x = space.encode({"k": k, "a": 0.25, "c": "y"})
        lo, hi = space.cells(x[None])
        # every unit value that rounds to k lies in [lo, hi], and lo/hi are tight
        U = np.tile(x, (len(grid), 1))
        U[:, 0] = grid
        rounds_to_k = space.round(U)[:, 0] == x[0]
        assert lo[0, 0] - 1e-9 <= grid[rounds_to_k].min()
        assert grid[rounds_to_k].max() <= hi[0, 0] + 1e-9
        assert grid[rounds_to_k].min() - lo[0, 0] < 1e-3
        assert hi[0, 0] - grid[rounds_to_k].max() < 1e-3
        # floats and one-hot columns are points
        assert np.array_equal(lo[0, 1:], x[1:]) and np.array_equal(hi[0, 1:], x[1:])
