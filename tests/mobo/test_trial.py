"""Tests of mobo.trial: validation and round trips of the value types, and their import cost."""

from __future__ import annotations

import math
import subprocess
import sys
import typing

import numpy as np
import pytest

import mobo
from mobo.trial import Constraint, Objective, Trial, TrialStatus

# ---------------------------------------------------------------------------- Objective


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"name": ""}, "name"),
        ({"name": 3}, "name"),
        ({"name": "f", "threshold": float("nan")}, "threshold"),
        ({"name": "f", "threshold": float("inf")}, "threshold"),
        ({"name": "f", "threshold": "1"}, "threshold"),
        ({"name": "f", "threshold": True}, "threshold"),
        ({"name": "f", "maximize": "yes"}, "maximize"),
    ],
)
def test_objective_validation(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Objective(**kwargs)


def test_objective_threshold_normalised() -> None:
    o = Objective("acc", maximize=True, threshold=np.float32(50))
    assert o.threshold == 50.0 and isinstance(o.threshold, float)
    assert Objective.from_dict(o.to_dict()) == o


def _params_size(params: dict) -> float:
    return 10.0 * params["k"]


def test_known_objective_round_trip_and_placeholder() -> None:
    o = Objective("size", known=_params_size)
    assert o.to_dict() == {"name": "size", "maximize": False, "threshold": None,
                           "known": True}
    assert "known" not in Objective("size").to_dict()  # older journals stay comparable
    assert Objective.from_dict(o.to_dict(), known=_params_size) == o
    read = Objective.from_dict(o.to_dict())  # a journal does not hold the function
    assert read.known_missing and not o.known_missing
    assert read.to_dict() == o.to_dict()
    with pytest.raises(ValueError, match=r"known=\{'size': fn\}"):
        read.known({"k": 1})
    with pytest.raises(ValueError, match="not recorded as known"):
        Objective.from_dict(Objective("size").to_dict(), known=_params_size)


@pytest.mark.parametrize("bad", [3.0, "k", [len]])
def test_known_must_be_callable(bad: object) -> None:
    with pytest.raises(ValueError, match=r"Objective\('size'\)\.known: expected a callable"):
        Objective("size", known=bad)  # type: ignore[arg-type]


def test_objective_sign_and_malformed_dict() -> None:
    assert Objective("loss").sign() == 1.0
    assert Objective("acc", maximize=np.bool_(True)).sign() == -1.0
    with pytest.raises(ValueError, match="'name'"):
        Objective.from_dict({"maximize": True})


# ---------------------------------------------------------------------------- Constraint


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"name": ""}, "name"),
        ({"name": "c"}, "give an upper bound"),
        ({"name": "c", "upper": 1.0, "lower": 1.0}, "must be below"),
        ({"name": "c", "upper": float("nan")}, "upper"),
        ({"name": "c", "lower": "0"}, "lower"),
        ({"name": "c", "upper": True}, "upper"),
    ],
)
def test_constraint_validation(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        Constraint(**kwargs)


def test_constraint_bounds_are_inclusive_and_round_trip() -> None:
    c = Constraint("latency", upper=np.float64(2.0))
    assert c.bounds() == (-math.inf, 2.0) and isinstance(c.upper, float)
    assert c.holds(2.0) and not c.holds(2.0 + 1e-12)
    both = Constraint("size", upper=3, lower=1)
    assert both.holds(1.0) and both.holds(3.0) and not both.holds(0.5)
    assert Constraint.from_dict(both.to_dict()) == both
    with pytest.raises(ValueError, match="'name'"):
        Constraint.from_dict(["size"])


# ---------------------------------------------------------------------------- Trial


def test_trial_defaults_and_done() -> None:
    t = Trial(0, {"x": 0.5})
    assert t.status == "running" and t.version == mobo.__version__ and t.timings == {}
    assert not t.done
    assert [Trial(1, {}, status=s).done for s in typing.get_args(TrialStatus)] == \
        [False, True, True, False]


def test_value_types_import_without_the_study_machinery() -> None:
    code = ("import sys, mobo.trial; "
            "print(sorted(m for m in ('torch', 'gpytorch', 'mobo.study', 'mobo.gp', "
            "'mobo.acquisition') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
