"""Search spaces: typed parameters and their encoding to the unit cube.

Every parameter maps to columns of an encoded vector in ``[0, 1]^d``:

- ``Float(low, high)``: one column, affine (or affine in ``log`` when ``log=True``).
- ``Int(low, high)``: one column. The integer range is relaxed to the real interval
  ``[low - 0.5, high + 0.5]`` (``log``-scaled when ``log=True``) so that, on the linear
  scale, every integer owns an equally wide cell of the unit interval and rounding the
  relaxation back to the nearest integer is exact (Garrido-Merchan & Hernandez-Lobato,
  2020, "Dealing with categorical and integer-valued variables in Bayesian optimization
  with Gaussian processes", use the same rounding of a relaxation).
- ``Categorical(choices)``: one column per choice, one-hot encoded.

Sampling uses scrambled Sobol sequences (Owen, 1998; Sobol, 1967) via
``scipy.stats.qmc.Sobol`` with one Sobol dimension per *parameter* (not per encoded
column), so a categorical draws its choice uniformly from a single coordinate.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Float", "Int", "Categorical", "Space", "Param"]


def _check_name(name: Any, kind: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind}: name must be a non-empty string, got {name!r}")
    return name


def _real(value: Any, field: str) -> float:
    """A finite-or-not real number that is not a bool; raises a ValueError naming ``field``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{field}: expected a real number, got {type(value).__name__} {value!r}")
    return float(value)


def _integer(value: Any, field: str) -> int:
    """An integer (or integral float), not a bool; raises a ValueError naming ``field``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{field}: expected an integer, got {type(value).__name__} {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    fv = float(value)
    if not math.isfinite(fv) or not fv.is_integer():
        raise ValueError(f"{field}: expected an integer, got {value!r}")
    return int(fv)


# smallest positive normal float64, and the narrowest width (relative to the bounds) a
# Float range may have: below it the encoding's rounding swamps the range
_TINY_NORMAL = float(np.finfo(np.float64).tiny)
_MIN_REL_WIDTH = 1e-12
# largest integer bounds the float64 encoding keeps apart (see Int)
_MAX_INT = 2**52 - 1
_MAX_LOG_INT = 2**40


@dataclass(frozen=True)
class Float:
    """A real parameter in ``[low, high]`` (``log=True``: searched on a log scale, ``low > 0``)."""

    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        name = _check_name(self.name, "Float")
        low = _real(self.low, f"{name}.low")
        high = _real(self.high, f"{name}.high")
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"{name}: bounds must be finite, got low={low!r}, high={high!r}")
        if not low < high:
            raise ValueError(f"{name}: need low < high, got low={low!r}, high={high!r}")
        if not isinstance(self.log, bool | np.bool_):
            raise ValueError(f"{name}.log: expected a bool, got {self.log!r}")
        if self.log and low <= 0:
            raise ValueError(f"{name}: log scale needs low > 0, got low={low!r}")
        # the unit-cube encoding is float64 arithmetic on [low, high] (or its logs): the
        # width must not overflow, and must be resolvable next to the bounds themselves
        if self.log and low < _TINY_NORMAL:
            raise ValueError(f"{name}: log scale needs low >= {_TINY_NORMAL:.3g} (a normal "
                             f"float64), got low={low!r}")
        a, b = (math.log(low), math.log(high)) if self.log else (low, high)
        if not math.isfinite(b - a):
            raise ValueError(f"{name}: high - low overflows float64 "
                             f"(low={low!r}, high={high!r})")
        if b - a < max(_MIN_REL_WIDTH * max(abs(a), abs(b)), _TINY_NORMAL):
            raise ValueError(f"{name}: the range low={low!r}, high={high!r} is too narrow to "
                             "search in float64")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "log", bool(self.log))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "float", "name": self.name, "low": self.low, "high": self.high,
                "log": self.log}


@dataclass(frozen=True)
class Int:
    """An integer parameter in ``[low, high]`` (``log=True``: log scale, ``low >= 1``)."""

    name: str
    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        name = _check_name(self.name, "Int")
        low = _integer(self.low, f"{name}.low")
        high = _integer(self.high, f"{name}.high")
        # the encoding works in float64 on [low - 1/2, high + 1/2] (logs of those on a log
        # scale): beyond these magnitudes neighbouring integers no longer encode apart
        limit, what = (_MAX_LOG_INT, "2**40 on a log scale") if self.log is True else \
            (_MAX_INT, "2**52 - 1")
        for field_name, v in (("low", low), ("high", high)):
            if abs(v) > limit:
                raise ValueError(f"{name}.{field_name}: must lie within +-{what}, got {v!r}")
        if low > high:
            raise ValueError(f"{name}: need low <= high, got low={low!r}, high={high!r}")
        if not isinstance(self.log, bool | np.bool_):
            raise ValueError(f"{name}.log: expected a bool, got {self.log!r}")
        if self.log and low <= 0:
            raise ValueError(f"{name}: log scale needs low > 0, got low={low!r}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "log", bool(self.log))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "int", "name": self.name, "low": self.low, "high": self.high,
                "log": self.log}


_CHOICE_TYPES = (str, bool, int, float)


def _choice_key(value: Any) -> tuple[str, Any]:
    # bool is a subclass of int and True == 1 == 1.0 in Python; the type tag keeps
    # True, 1 and 1.0 distinct choices.
    return (type(value).__name__, value)


@dataclass(frozen=True, eq=False)
class Categorical:
    """A choice among ``choices`` (str, int, float or bool values), one-hot encoded."""

    name: str
    choices: tuple[str | int | float | bool, ...]

    def __post_init__(self) -> None:
        name = _check_name(self.name, "Categorical")
        raw = self.choices
        if isinstance(raw, str | bytes) or not isinstance(raw, Sequence | np.ndarray):
            raise ValueError(f"{name}.choices: expected a sequence of values, got {raw!r}")
        choices: list[Any] = []
        seen: set[tuple[str, Any]] = set()
        for c in raw:
            if isinstance(c, np.generic):
                c = c.item()
            if type(c) not in _CHOICE_TYPES:
                raise ValueError(
                    f"{name}.choices: each choice must be str, int, float or bool, "
                    f"got {type(c).__name__} {c!r}"
                )
            if isinstance(c, float) and not math.isfinite(c):
                raise ValueError(f"{name}.choices: non-finite choice {c!r}")
            key = _choice_key(c)
            if key in seen:
                raise ValueError(f"{name}.choices: duplicate choice {c!r}")
            seen.add(key)
            choices.append(c)
        if not choices:
            raise ValueError(f"{name}.choices: need at least one choice")
        object.__setattr__(self, "choices", tuple(choices))

    def index(self, value: Any) -> int:
        """Position of ``value`` among the choices; ValueError naming the parameter if absent."""
        if isinstance(value, np.generic):
            value = value.item()
        key = _choice_key(value)
        for i, c in enumerate(self.choices):
            if _choice_key(c) == key:
                return i
        # an int given for a float choice (or vice versa) still matches by value
        if not isinstance(value, bool) and isinstance(value, int | float):
            for i, c in enumerate(self.choices):
                if not isinstance(c, bool) and isinstance(c, int | float) and c == value:
                    return i
        raise ValueError(f"{self.name}: {value!r} is not one of the choices {list(self.choices)!r}")

    def _key(self) -> tuple:
        return ("categorical", self.name, tuple(_choice_key(c) for c in self.choices))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Categorical) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categorical", "name": self.name, "choices": list(self.choices)}


Param = Float | Int | Categorical


class Space:
    """An ordered collection of parameters and its encoding to ``[0, 1]^dim``.

    Attributes:
        params: the parameters, in order.
        names: their names.
        dim: encoded dimension ``d`` (one column per Float/Int, one per categorical choice).
        slices: per parameter, the slice of encoded columns it owns.
    """

    def __init__(self, params: Sequence[Param]) -> None:
        if isinstance(params, str | bytes | Mapping) or not isinstance(params, Sequence):
            raise ValueError(f"Space: params must be a sequence of parameters, got {params!r}")
        params = list(params)
        if not params:
            raise ValueError("Space: params must hold at least one parameter")
        names: list[str] = []
        for p in params:
            if not isinstance(p, Float | Int | Categorical):
                raise ValueError(
                    f"Space: expected Float, Int or Categorical, got {type(p).__name__} {p!r}"
                )
            if p.name in names:
                raise ValueError(f"Space: duplicate parameter name {p.name!r}")
            names.append(p.name)
        self.params: list[Param] = params
        self.names: list[str] = names
        self.slices: list[slice] = []
        start = 0
        for p in params:
            width = len(p.choices) if isinstance(p, Categorical) else 1
            self.slices.append(slice(start, start + width))
            start += width
        self.dim: int = start
        # per-column bookkeeping for vectorised round()
        self._num_cols = np.array(
            [s.start for p, s in zip(params, self.slices, strict=True)
             if not isinstance(p, Categorical)], dtype=np.int64)
        self._int_params = [(i, p) for i, p in enumerate(params) if isinstance(p, Int)]
        self._cat_params = [(i, p) for i, p in enumerate(params) if isinstance(p, Categorical)]

    # ------------------------------------------------------------------ encoding
    @staticmethod
    def _relaxed_bounds(p: Float | Int) -> tuple[float, float]:
        if isinstance(p, Int):
            lo, hi = p.low - 0.5, p.high + 0.5
        else:
            lo, hi = p.low, p.high
        if p.log:
            return math.log(lo), math.log(hi)
        return float(lo), float(hi)

    def _encode_number(self, p: Float | Int, value: float) -> float:
        lo, hi = self._relaxed_bounds(p)
        v = math.log(value) if p.log else value
        return min(max((v - lo) / (hi - lo), 0.0), 1.0)

    def _decode_number(self, p: Float | Int, u: np.ndarray) -> np.ndarray:
        lo, hi = self._relaxed_bounds(p)
        v = lo + np.clip(u, 0.0, 1.0) * (hi - lo)
        if p.log:
            v = np.exp(v)
        if isinstance(p, Int):
            return np.clip(np.floor(v + 0.5), p.low, p.high)
        return np.clip(v, p.low, p.high)

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """Encode one parameter dict to a ``(dim,)`` vector in ``[0, 1]^dim``.

        Raises ValueError naming the parameter for unknown or missing keys, values of the
        wrong type, out-of-range numbers and invalid choices.
        """
        if not isinstance(params, Mapping):
            raise ValueError(f"params: expected a mapping of name -> value, got {params!r}")
        known = set(self.names)
        for key in params:
            if key not in known:
                raise ValueError(f"{key!r}: unknown parameter (known: {self.names})")
        x = np.zeros(self.dim)
        for p, s in zip(self.params, self.slices, strict=True):
            if p.name not in params:
                raise ValueError(f"{p.name!r}: missing parameter")
            value = params[p.name]
            if isinstance(p, Categorical):
                x[s.start + p.index(value)] = 1.0
                continue
            if isinstance(p, Int):
                v: float = _integer(value, p.name)
            else:
                v = _real(value, p.name)
                if not math.isfinite(v):
                    raise ValueError(f"{p.name}: value must be finite, got {value!r}")
            if not p.low <= v <= p.high:
                raise ValueError(f"{p.name}: value {value!r} outside [{p.low}, {p.high}]")
            x[s.start] = self._encode_number(p, v)
        return x

    def encode_many(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encode a list of parameter dicts to an ``(n, dim)`` array."""
        rows = list(rows)
        out = np.zeros((len(rows), self.dim))
        for i, row in enumerate(rows):
            out[i] = self.encode(row)
        return out

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        """Decode a ``(dim,)`` vector to Python values (int for Int, the choice for Categorical).

        Relaxed coordinates are rounded to the nearest feasible value; the categorical with
        the largest column wins.
        """
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dim,):
            raise ValueError(f"x: expected shape ({self.dim},), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x: contains non-finite values")
        out: dict[str, Any] = {}
        for p, s in zip(self.params, self.slices, strict=True):
            if isinstance(p, Categorical):
                out[p.name] = p.choices[int(np.argmax(x[s]))]
            elif isinstance(p, Int):
                out[p.name] = int(self._decode_number(p, x[s.start]))
            else:
                out[p.name] = float(self._decode_number(p, x[s.start]))
        return out

    def round(self, X: np.ndarray) -> np.ndarray:
        """Snap ``(n, dim)`` (or ``(dim,)``) relaxed points to encodings of feasible points.

        Floats are clipped to ``[0, 1]``; ints go to the encoding of the nearest integer;
        each categorical block becomes one-hot at its largest column. ``round`` is
        idempotent and ``round(encode(p)) == encode(p)``.
        """
        X = np.asarray(X, dtype=float)
        single = X.ndim == 1
        X2 = np.atleast_2d(X).copy()
        if X2.shape[1] != self.dim:
            raise ValueError(f"X: expected {self.dim} columns, got {X2.shape[1]}")
        X2 = np.nan_to_num(X2, nan=0.5, posinf=1.0, neginf=0.0)
        if self._num_cols.size:
            X2[:, self._num_cols] = np.clip(X2[:, self._num_cols], 0.0, 1.0)
        for i, p in self._int_params:
            c = self.slices[i].start
            k = self._decode_number(p, X2[:, c])
            X2[:, c] = self._encode_int_array(p, k)
        for i, _p in self._cat_params:
            s = self.slices[i]
            block = X2[:, s]
            onehot = np.zeros_like(block)
            onehot[np.arange(len(block)), np.argmax(block, axis=1)] = 1.0
            X2[:, s] = onehot
        return X2[0] if single else X2

    def _encode_int_array(self, p: Int, k: np.ndarray) -> np.ndarray:
        lo, hi = self._relaxed_bounds(p)
        v = np.log(k) if p.log else k
        return np.clip((v - lo) / (hi - lo), 0.0, 1.0)

    # ------------------------------------------------------------------ sampling
    def sobol(self, n: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """``(n, dim)`` scrambled Sobol points, already rounded to feasible encodings.

        One Sobol coordinate per parameter: numbers use it as the relaxed coordinate,
        a categorical with ``k`` choices picks choice ``floor(u * k)``.
        """
        n = _integer(n, "n")
        if n < 0:
            raise ValueError(f"n: must be >= 0, got {n}")
        if n == 0:
            return np.zeros((0, self.dim))
        sampler = _sobol_engine(len(self.params), seed)
        with warnings.catch_warnings():
            # balance properties want powers of two; callers ask for arbitrary n on purpose
            warnings.simplefilter("ignore", UserWarning)
            U = sampler.random(n)
        return self._from_unit(U)

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, dim)`` i.i.d. uniform feasible points (same per-parameter map as ``sobol``)."""
        return self._from_unit(rng.random((n, len(self.params))))

    def _from_unit(self, U: np.ndarray) -> np.ndarray:
        X = np.zeros((len(U), self.dim))
        for j, (p, s) in enumerate(zip(self.params, self.slices, strict=True)):
            if isinstance(p, Categorical):
                k = len(p.choices)
                idx = np.minimum((U[:, j] * k).astype(np.int64), k - 1)
                X[np.arange(len(U)), s.start + idx] = 1.0
            else:
                X[:, s.start] = U[:, j]
        return self.round(X)

    def neighbours(self, x: np.ndarray) -> np.ndarray:
        """Discrete neighbours of an encoded feasible point ``x`` (dim,) -> ``(k, dim)``.

        For each Int: the point with that integer one step lower and one step higher
        (when inside the bounds); for each Categorical: the point with each other choice.
        Floats are left as they are. ``k`` may be 0.
        """
        x = self.round(np.asarray(x, dtype=float))
        out: list[np.ndarray] = []
        for i, p in self._int_params:
            c = self.slices[i].start
            k = float(self._decode_number(p, np.array([x[c]]))[0])
            for step in (-1, 1):
                if p.low <= k + step <= p.high:
                    y = x.copy()
                    y[c] = self._encode_int_array(p, np.array([k + step]))[0]
                    out.append(y)
        for i, _p in self._cat_params:
            s = self.slices[i]
            cur = int(np.argmax(x[s]))
            for j in range(s.stop - s.start):
                if j != cur:
                    y = x.copy()
                    y[s] = 0.0
                    y[s.start + j] = 1.0
                    out.append(y)
        if not out:
            return np.zeros((0, self.dim))
        return np.array(out)

    def cells(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stretch of the unit cube that rounds to each coordinate of the rounded
        points ``X`` (n, dim): ``(lo, hi)``, both (n, dim). An Int's column spans its
        integer's interval of the continuous relaxation (k - 1/2 to k + 1/2, encoded);
        Float and one-hot columns are points (lo = hi = the value)."""
        X = self.round(np.atleast_2d(np.asarray(X, dtype=float)))
        lo, hi = X.copy(), X.copy()
        for i, p in self._int_params:
            c = self.slices[i].start
            k = self._decode_number(p, X[:, c])
            a, b = self._relaxed_bounds(p)
            for edge, out in ((-0.5, lo), (0.5, hi)):
                v = np.clip(k + edge, p.low - 0.5, p.high + 0.5)
                v = np.log(v) if p.log else v
                out[:, c] = np.clip((v - a) / (b - a), 0.0, 1.0)
        return lo, hi

    def is_discrete(self) -> np.ndarray:
        """``(dim,)`` bool mask of encoded columns that belong to Int or Categorical params."""
        mask = np.zeros(self.dim, dtype=bool)
        for p, s in zip(self.params, self.slices, strict=True):
            if not isinstance(p, Float):
                mask[s] = True
        return mask

    def is_numeric(self) -> np.ndarray:
        """``(dim,)`` bool mask of encoded columns that belong to Float or Int params (the
        columns that are not one-hot)."""
        mask = np.zeros(self.dim, dtype=bool)
        mask[self._num_cols] = True
        return mask

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description; ``Space.from_dict(s.to_dict()) == s``."""
        return {"params": [p.to_dict() for p in self.params]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Space:
        """Rebuild a space from :meth:`to_dict` output; malformed input -> ValueError."""
        if not isinstance(d, Mapping) or "params" not in d:
            raise ValueError("space: expected a mapping with a 'params' list")
        raw = d["params"]
        if not isinstance(raw, list | tuple):
            raise ValueError("space.params: expected a list")
        params: list[Param] = []
        for i, item in enumerate(raw):
            if not isinstance(item, Mapping):
                raise ValueError(f"space.params[{i}]: expected a mapping, got {item!r}")
            kind = item.get("type")
            try:
                if kind == "float":
                    params.append(Float(item["name"], item["low"], item["high"],
                                        item.get("log", False)))
                elif kind == "int":
                    params.append(Int(item["name"], item["low"], item["high"],
                                      item.get("log", False)))
                elif kind == "categorical":
                    params.append(Categorical(item["name"], item["choices"]))
                else:
                    raise ValueError(f"space.params[{i}].type: unknown type {kind!r}")
            except KeyError as e:
                raise ValueError(f"space.params[{i}]: missing field {e.args[0]!r}") from None
        return cls(params)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Space):
            return NotImplemented
        return list(self.params) == list(other.params)

    def __hash__(self) -> int:
        return hash(tuple(self.params))

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        return f"Space({self.params!r})"


def _sobol_engine(d: int, seed: int | np.random.Generator | None) -> Any:
    # scipy.stats is slow to import (it loads all of its distributions), and only the
    # initial design needs it: reading a journal or encoding points should not pay for it
    from scipy.stats import qmc

    return qmc.Sobol(d, scramble=True, rng=seed)
