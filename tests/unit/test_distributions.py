"""The diff's tail probabilities and quantiles (``stats/distributions.py``) against scipy's, over the
whole range the tests reach, and the cold diff's promise that it no longer imports scipy."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import special

from driftline.analysis.stats.distributions import chi2_sf, kolmogorov_sf, normal_quantile, normal_sf


def _relative(ours: float, theirs: float) -> float:
    return abs(ours - theirs) / abs(theirs) if theirs else abs(ours)


@pytest.mark.parametrize("dof", [*range(1, 41), 99, 100, 255, 256, 1000, 1001, 4999])
def test_the_chi_square_tail_is_scipys_from_the_center_to_the_far_tail(dof: int) -> None:
    xs = np.concatenate([np.geomspace(1e-6, 1e5, 300), dof * np.linspace(0.2, 3.0, 57)])
    for x in xs:
        theirs = float(special.chdtrc(dof, x))
        if theirs < 1e-300:  # both underflow; ours may reach 0 a few terms earlier
            assert chi2_sf(float(x), dof) < 1e-290
            continue
        assert _relative(chi2_sf(float(x), dof), theirs) < 1e-10, (dof, x)


def test_the_chi_square_tail_at_its_edges() -> None:
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(-1.0, 3) == 1.0
    assert chi2_sf(math.inf, 3) == 0.0
    assert math.isnan(chi2_sf(math.nan, 3))
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="degrees of freedom"):
            chi2_sf(1.0, bad)  # type: ignore[arg-type]


def test_kolmogorovs_tail_is_scipys_on_both_sides_of_the_series_switch() -> None:
    ys = np.concatenate([np.geomspace(1e-3, 40, 4000), np.linspace(0.95, 1.05, 1001)])
    for y in ys:
        theirs = float(special.kolmogorov(y))
        if theirs < 1e-300:
            assert kolmogorov_sf(float(y)) < 1e-290
            continue
        assert _relative(kolmogorov_sf(float(y)), theirs) < 1e-12, y
    assert kolmogorov_sf(0.0) == 1.0
    assert math.isnan(kolmogorov_sf(math.nan))


def test_the_normal_quantile_and_tail_are_scipys() -> None:
    for p in np.concatenate([np.geomspace(1e-300, 0.5, 1500), 1 - np.geomspace(1e-16, 0.5, 1500)]):
        assert _relative(normal_quantile(float(p)), float(special.ndtri(p))) < 1e-13, p
    for z in np.linspace(-37.5, 37.5, 15001):
        assert _relative(normal_sf(float(z)), float(special.ndtr(-z))) < 1e-11, z
    assert normal_quantile(0.975) == pytest.approx(1.959963984540054, rel=1e-15)


def test_a_diff_of_large_sides_does_not_import_scipy() -> None:
    """The cold diff's budget is a second on two cores; scipy.special alone costs a sixth of it. The
    large-sample tests (chi-square, asymptotic KS, score intervals) need only ``distributions``."""
    code = """
import sys
import numpy as np
from driftline.analysis.diff.engine import StatSettings, compare
rng = np.random.default_rng(3)
n = 3000
def side(shift):
    return {
        "outcome": np.where(rng.random(n) < 0.1 + shift, "failure", "success").astype(object),
        "duration_ms": rng.lognormal(6 + shift, 0.3, n),
        "input_tokens": rng.lognormal(6.4, 0.35, n).round(),
    }
comparison = compare(side(0.0), side(0.05), StatSettings())
assert {r.name for r in comparison.results} >= {"outcome", "duration_ms", "input_tokens"}
assert any(r.p_value < 1e-6 for r in comparison.results), [(r.name, r.p_value) for r in comparison.results]
print(sorted(m for m in sys.modules if m.split(".")[0] == "scipy"))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout
