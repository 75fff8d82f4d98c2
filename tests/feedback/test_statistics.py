"""The statistics against known values (SciPy's and R's) and the sequential test's promise under peeking."""

import numpy as np
import pytest

from recommender.feedback import statistics


@pytest.mark.parametrize(
    ("statistic", "df", "expected"),
    [
        (3.841458820694124, 1, 0.05),  # scipy.stats.chi2.isf(0.05, 1)
        (5.991464547107979, 2, 0.05),
        (10.0, 3, 0.01856613546304325),  # scipy.stats.chi2.sf(10, 3)
        (0.5, 4, 0.9735009788392561),
        (30.0, 20, 0.06985366069940976),  # closed form for even df: e^(-x/2) Σ (x/2)^i / i!
    ],
)
def test_chi_square_tail_matches_scipy(statistic, df, expected):
    assert statistics.chi_square_sf(statistic, df) == pytest.approx(expected, rel=1e-9)


def test_two_proportion_z_test_matches_r_prop_test():
    # R: prop.test(c(200, 250), c(1000, 1000), correct = FALSE) → X-squared = 7.1685, p-value = 0.007419
    result = statistics.two_proportion_z_test(200, 1000, 250, 1000)
    assert result.z**2 == pytest.approx(7.1685, abs=1e-4)
    assert result.p_value == pytest.approx(0.007419, abs=1e-6)
    assert result.difference == pytest.approx(0.05)
    # Wald interval: 0.05 ± 1.959964 · sqrt(0.2·0.8/1000 + 0.25·0.75/1000)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.0134636, 0.0865364), abs=1e-6)


def test_wilson_interval_matches_known_values():
    # 10 of 100 at 95%: (0.05523, 0.17437), as statsmodels' proportion_confint(method="wilson") gives.
    assert statistics.wilson_interval(10, 100) == pytest.approx((0.0552291, 0.1743657), abs=1e-6)
    assert statistics.wilson_interval(0, 0) is None
    low, high = statistics.wilson_interval(0, 20)
    assert low == 0.0 and 0 < high < 0.2


def test_normal_quantile():
    assert statistics.normal_quantile(0.975) == pytest.approx(1.959963984540054, abs=1e-10)
    assert statistics.normal_quantile(0.5) == pytest.approx(0.0, abs=1e-10)


def test_msprt_matches_the_closed_form():
    # θ = 0.03, V = 0.1·0.9/1000 + 0.13·0.87/1000 = 0.0002031, τ² = 0.0004
    variance, tau2, theta = 0.0002031, 0.0004, 0.03
    expected = np.sqrt(variance / (variance + tau2)) * np.exp(tau2 * theta**2 / (2 * variance * (variance + tau2)))
    assert statistics.msprt(100, 1000, 130, 1000) == pytest.approx(expected, rel=1e-9)
    assert statistics.msprt(0, 0, 0, 0) == 1.0


def test_sample_ratio_mismatch_flags_a_tampered_split_only():
    assert not statistics.sample_ratio_mismatch([5030, 4970], [50, 50]).mismatch
    tampered = statistics.sample_ratio_mismatch([5600, 4400], [50, 50])
    assert tampered.mismatch and tampered.p_value < 1e-30
    assert statistics.sample_ratio_mismatch([0, 0], [50, 50]) is None


def _peeking_false_positives(rng, *, sequential, runs=300, looks=40, per_look=200, rate=0.1, alpha=0.05):
    """Share of A/A tests declared significant at any of ``looks`` daily looks."""
    rejected = 0
    for _ in range(runs):
        a = rng.binomial(1, rate, size=looks * per_look).reshape(looks, per_look).sum(axis=1).cumsum()
        b = rng.binomial(1, rate, size=looks * per_look).reshape(looks, per_look).sum(axis=1).cumsum()
        n = per_look * np.arange(1, looks + 1)
        if sequential:
            p = statistics.always_valid_p(zip(a, n, b, n, strict=True))
            rejected += p < alpha
        else:
            rejected += any(
                statistics.two_proportion_z_test(int(x_a), int(k), int(x_b), int(k)).p_value < alpha
                for x_a, x_b, k in zip(a, b, n, strict=True)
            )
    return rejected / runs


def test_the_sequential_test_keeps_its_promise_when_peeked_at_and_the_z_test_does_not():
    rng = np.random.default_rng(16)
    assert _peeking_false_positives(rng, sequential=True) <= 0.05
    # The same A/A tests read with the fixed-horizon test at every look: false positives inflate.
    assert _peeking_false_positives(rng, sequential=False) > 0.12


def test_the_sequential_test_finds_a_real_difference():
    rng = np.random.default_rng(7)
    looks, per_look = 40, 500
    a = rng.binomial(1, 0.10, size=looks * per_look).reshape(looks, per_look).sum(axis=1).cumsum()
    b = rng.binomial(1, 0.13, size=looks * per_look).reshape(looks, per_look).sum(axis=1).cumsum()
    n = per_look * np.arange(1, looks + 1)
    assert statistics.always_valid_p(zip(a, n, b, n, strict=True)) < 0.01
