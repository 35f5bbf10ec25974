"""The statistics routines written out in `forensics.analyses.stats` give scipy's values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special

from forensics.analyses import stats


def test_betainc_is_scipy_betainc_on_random_and_edge_cases() -> None:
    rng = np.random.default_rng(7)
    cases = [(1.0, 1.0, 0.5), (0.5, 0.5, 1e-9), (1.0, 1e6, 1e-6), (3e4, 2e4, 0.6), (2, 900, 0.0)]
    cases += [(1.0, 5.0, 1.0), (40_000.0, 3.0, 0.99999)]
    for _ in range(300):
        a, b = np.exp(rng.uniform(-2, 9, size=2))
        cases.append((float(a), float(b), float(rng.uniform())))
    for k in range(1, 60):  # the binomial tail the release analysis asks for
        cases.append((float(k), float(200 - k + 1), 0.05 + k / 100))
    for a, b, x in cases:
        ref = float(special.betainc(a, b, x))
        assert stats.betainc(a, b, x) == pytest.approx(ref, rel=1e-9, abs=1e-300), (a, b, x)


def test_betainc_refuses_arguments_outside_its_domain() -> None:
    with pytest.raises(ValueError, match="needs a, b > 0"):
        stats.betainc(0.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="0 <= x <= 1"):
        stats.betainc(1.0, 1.0, 1.5)


@pytest.mark.parametrize("dfd", [1, 2, 3, 5, 10, 47, 300, 10_000])
@pytest.mark.parametrize("q", [0.5, 0.95, 0.99, 1 - 0.01 / 40, 1 - 1e-7])
def test_f_critical_is_scipy_fdtri(dfd: int, q: float) -> None:
    for dfn in (1, 3):
        ref = float(special.fdtri(dfn, dfd, q))
        assert stats.f_critical(dfn, dfd, q) == pytest.approx(ref, rel=1e-9)


def test_nnls_is_scipy_nnls_on_random_problems() -> None:
    rng = np.random.default_rng(11)
    for _ in range(300):
        m, n = int(rng.integers(2, 40)), int(rng.integers(1, 8))
        a = rng.normal(size=(m, n)) * rng.uniform(0.1, 1e4, size=n)
        if rng.uniform() < 0.5:  # cumulative counts, as the attribution fits: positive, collinear
            a = np.cumsum(np.abs(a), axis=0)
        b = a @ rng.normal(size=n) + rng.normal(size=m) * rng.uniform(0, 10)
        ref, _ = optimize.nnls(a, b)
        got = stats.nnls(a, b)
        assert (got >= 0).all()
        res_ref, res_got = np.linalg.norm(a @ ref - b), np.linalg.norm(a @ got - b)
        assert res_got <= res_ref * (1 + 1e-9) + 1e-9, (m, n)
        if m >= n and np.linalg.matrix_rank(a) == n:  # then the solution is unique
            np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-8 * np.abs(ref).max(initial=1))


def test_nnls_checks_shapes() -> None:
    with pytest.raises(ValueError, match="b needs 3 values"):
        stats.nnls(np.ones((3, 2)), np.ones(2))
