"""The vectorisable exp against 30-digit arithmetic, and a check that it vectorises."""

from __future__ import annotations

import re

import mpmath as mp
import numpy as np
from numba import njit

from mobo.vecmath import EXP_NEG_MIN, exp_neg

# the kernels inline exp_neg into their loops; a thin wrapper calls it from Python
_exp_neg = njit(lambda x: exp_neg(x))


def test_exp_neg_against_mpmath() -> None:
    rng = np.random.default_rng(11)
    ys = np.concatenate([
        rng.uniform(EXP_NEG_MIN, 0.0, 400),
        -(10.0 ** rng.uniform(-12, 2, 100)),
        # ends of the range, the reduction's boundaries, subnormal-sized arguments
        [0.0, -0.0, -0.5 * np.log(2), -1.5 * np.log(2), EXP_NEG_MIN, -703.125, -5e-324],
    ])
    for y in ys:
        want = mp.exp(mp.mpf(float(y)))
        assert abs(_exp_neg(float(y)) - want) <= 4e-16 * want, y


@njit
def _exp_loop(x: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - numba
    for i in range(x.shape[0]):
        out[i] = exp_neg(x[i])


def test_exp_neg_loop_vectorises_without_calls() -> None:
    # the point of exp_neg: the loop around it compiles to vector instructions with no
    # call to an exp routine (math.exp there becomes llvm.exp, a library call per lane)
    x = -np.linspace(0.0, 700.0, 1001)
    out = np.empty_like(x)
    _exp_loop(x, out)
    np.testing.assert_allclose(out, np.exp(x), rtol=4e-16, atol=0.0)
    llvm_ir = next(iter(_exp_loop.inspect_llvm().values()))
    assert not re.findall(r"call [^@\n]*@(?:llvm\.exp\.|exp\b)", llvm_ir)
    assert re.search(r"<\d+ x double>", llvm_ir)
