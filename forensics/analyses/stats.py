"""The three numerical routines the analyses need from statistics, written out so that no
process imports scipy for them (~0.4 s of CPU for scipy.special and scipy.optimize, paid by
every ingest's cache warm and every uncached findings run).

- `betainc(a, b, x)`: the regularized incomplete beta I_x(a, b) (scipy.special.betainc);
- `f_critical(dfn, dfd, q)`: the q-quantile of F(dfn, dfd) (scipy.special.fdtri);
- `nnls(a, b)`: non-negative least squares, Lawson and Hanson's active-set method
  (scipy.optimize.nnls).

The tests check each against scipy on random and edge cases.
"""

from __future__ import annotations

import math

import numpy as np

_EPS = 1e-15
_TINY = 1e-300


def _beta_cf(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz), good for x < (a + 1) / (a + b + 2)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        step = d * c
        h *= step
        if abs(step - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1.

    >>> round(betainc(2.0, 3.0, 0.4), 12)
    0.5248
    >>> betainc(1.0, 1.0, 0.25)
    0.25
    """
    if not (a > 0 and b > 0) or not (0.0 <= x <= 1.0):
        raise ValueError(f"betainc({a}, {b}, {x}): needs a, b > 0 and 0 <= x <= 1")
    if x == 0.0 or x == 1.0:
        return x
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_cf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_cf(b, a, 1.0 - x) / b


def f_critical(dfn: float, dfd: float, q: float) -> float:
    """The q-quantile of the F(dfn, dfd) distribution: the f with P(F <= f) = q.

    P(F <= f) = I_x(dfn / 2, dfd / 2) at x = dfn f / (dfn f + dfd), and P(F > f) = I_y(dfd / 2,
    dfn / 2) at y = 1 - x. The smaller of x and y is found by bisection (to the last bit), so
    that f = dfd x / (dfn y) keeps its precision in both tails.

    >>> round(f_critical(1, 10, 0.95), 6)  # t(10) at 0.975, squared
    4.964603
    """
    if not (dfn > 0 and dfd > 0) or not (0.0 < q < 1.0):
        raise ValueError(f"f_critical({dfn}, {dfd}, {q}): needs dfn, dfd > 0 and 0 < q < 1")
    upper = q > 0.5  # then y = 1 - x is the small one: solve I_y(dfd/2, dfn/2) = 1 - q
    a, b, target = (dfd / 2.0, dfn / 2.0, 1.0 - q) if upper else (dfn / 2.0, dfd / 2.0, q)
    lo, hi = 0.0, 1.0
    for _ in range(1100):  # enough halvings to reach the smallest doubles
        mid = (lo + hi) / 2.0
        if mid in (lo, hi):
            break
        if betainc(a, b, mid) < target:
            lo = mid
        else:
            hi = mid
    t = (lo + hi) / 2.0
    x, y = (1.0 - t, t) if upper else (t, 1.0 - t)
    return dfd * x / (dfn * y)


def nnls(a: np.ndarray, b: np.ndarray, *, max_iter: int | None = None) -> np.ndarray:
    """The x >= 0 minimising ||a x - b||, by Lawson and Hanson's active-set method.

    >>> nnls(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([2.0, -1.0])).tolist()
    [2.0, 0.0]
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    m, n = a.shape
    if b.shape != (m,):
        raise ValueError(f"nnls: a is {a.shape}, b is {b.shape}; b needs {m} values")
    max_iter = 3 * n if max_iter is None else max_iter
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    w = a.T @ (b - a @ x)
    tol = 10 * max(m, n) * np.finfo(float).eps * max(1.0, float(np.abs(a).sum(axis=0).max()))
    for _ in range(max_iter):
        if passive.all() or not (w[~passive] > tol).any():
            break
        j = int(np.argmax(np.where(passive, -np.inf, w)))
        passive[j] = True
        for _ in range(n + 1):  # each pass drops a column from the passive set, or ends
            s = np.zeros(n)
            cols = np.flatnonzero(passive)
            s[cols] = np.linalg.lstsq(a[:, cols], b, rcond=None)[0]
            if (s[cols] > 0).all():
                x = s
                break
            neg = cols[s[cols] <= 0]
            gap = x[neg] - s[neg]
            alpha = float(np.min(np.divide(x[neg], gap, out=np.zeros_like(gap), where=gap > 0)))
            x = x + alpha * (s - x)
            passive &= x > tol
            x[~passive] = 0.0
        w = a.T @ (b - a @ x)
    return x
