"""The tail probabilities and quantiles the diff's tests and intervals need, from the standard library.

Why not ``scipy.special``: importing it costs 0.16 s of CPU and starts scipy's own OpenBLAS threads,
in a cold diff whose whole budget is a second on two cores, and the diff needs only four functions
whose closed forms are exact and short: the normal quantile (``statistics.NormalDist``, Wichura's
AS241), the normal tail (``math.erfc``), the chi-square tail at an integer degree of freedom (a finite
sum of Poisson terms) and Kolmogorov's limiting distribution (its two classical series). The tests
hold each to scipy over the whole range the diff reaches. scipy stays for what has no closed form
here (Fisher's exact test, the exact small-sample KS, isotonic regression).
"""

from __future__ import annotations

import math
from statistics import NormalDist

_STANDARD_NORMAL = NormalDist()
_TERMS = 100  # far more than either Kolmogorov series needs at double precision (they fall like exp(-k^2))


def normal_quantile(p: float) -> float:
    """The standard normal's quantile at ``p`` in (0, 1) (``scipy.special.ndtri``)."""
    return _STANDARD_NORMAL.inv_cdf(p)


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z (``scipy.special.ndtr(-z)``), accurate far into the tail."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X > statistic) for X chi-square with an integer ``dof`` >= 1 (``scipy.special.chdtrc``).

    The upper regularized gamma function at a whole or half-whole shape is a finite sum: for an even
    dof, Q = e^-h * sum_{k<dof/2} h^k/k! (h = statistic/2); for an odd one, Q = erfc(sqrt h) plus
    e^-h * sum_{k=1..(dof-1)/2} h^(k-1/2)/Gamma(k+1/2). Every term is positive (no cancellation) and is
    computed from its logarithm, so neither h^k nor k! overflows at large dof."""
    if dof < 1 or int(dof) != dof:
        raise ValueError(f"chi-square degrees of freedom must be a whole number >= 1, not {dof!r}")
    if math.isnan(statistic):
        return math.nan
    if statistic <= 0:
        return 1.0
    if math.isinf(statistic):
        return 0.0
    h = statistic / 2.0
    log_h = math.log(h)
    if dof % 2 == 0:
        return min(1.0, math.fsum(math.exp(-h + k * log_h - math.lgamma(k + 1.0)) for k in range(dof // 2)))
    terms = (math.exp(-h + (k - 0.5) * log_h - math.lgamma(k + 0.5)) for k in range(1, (dof - 1) // 2 + 1))
    return min(1.0, math.fsum([math.erfc(math.sqrt(h)), *terms]))


def kolmogorov_sf(y: float) -> float:
    """P(K > y) for Kolmogorov's limiting distribution K (``scipy.special.kolmogorov``): the KS
    p-value of samples large enough for the asymptotic form (sqrt(n m / (n + m)) * D).

    Below y = 1 the theta-function form converges fastest (its terms fall like exp(-(2k-1)^2 pi^2 /
    8y^2)) and gives the CDF, whose complement is at least 0.27 there, so nothing cancels; from 1 up
    the alternating series 2 * sum (-1)^(k-1) exp(-2 k^2 y^2) gives the tail directly."""
    if math.isnan(y):
        return math.nan
    if y <= 0:
        return 1.0
    if y < 1.0:
        w = -(math.pi**2) / (8.0 * y * y)
        cdf = math.sqrt(2.0 * math.pi) / y * math.fsum(math.exp(w * (2 * k - 1) ** 2) for k in range(1, _TERMS))
        return min(1.0, max(0.0, 1.0 - cdf))
    terms = (2.0 * (-1.0) ** (k - 1) * math.exp(-2.0 * k * k * y * y) for k in range(1, _TERMS))
    return min(1.0, max(0.0, math.fsum(terms)))
