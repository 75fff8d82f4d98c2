"""The statistics of online metrics and experiments, as pure functions (no Django, no SciPy).

- ``wilson_interval``: a confidence interval for a proportion (CTR, conversion rate), sound at small counts.
- ``two_proportion_z_test``: the fixed-horizon test of two rates, with a confidence interval of their
  difference. Valid when read once, at a sample size chosen in advance.
- ``msprt``: the mixture sequential probability ratio test (Johari, Pekelis and Walsh, "Always valid
  inference", 2017) with a normal mixture of variance ``tau**2`` over the difference; ``always_valid_p``
  turns the ratios at each look into a p-value that stays valid however often it is looked at.
- ``sample_ratio_mismatch``: Pearson's chi-square test of the users each arm received against its split.
"""

import math
from dataclasses import dataclass

# The mixture's standard deviation over the difference of two rates: effects of about two points
# (0.05 → 0.07) are those the test is most sensitive to.
MSPRT_TAU = 0.02
SRM_ALPHA = 0.001


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def normal_quantile(p: float) -> float:
    """The standard normal quantile, by bisection on ``normal_cdf`` (exact to 1e-12)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be strictly between 0 and 1")
    low, high = -40.0, 40.0
    for _ in range(200):
        middle = (low + high) / 2
        if normal_cdf(middle) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson's score interval for ``successes / trials``; None without trials."""
    if trials <= 0:
        return None
    z = normal_quantile(0.5 + confidence / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class ZTest:
    difference: float  # rate of b minus rate of a
    z: float
    p_value: float  # two-sided
    ci_low: float
    ci_high: float


def two_proportion_z_test(x_a: int, n_a: int, x_b: int, n_b: int, confidence: float = 0.95) -> ZTest | None:
    """Two-sided z test of ``x_b/n_b`` against ``x_a/n_a`` (pooled under the null), with a Wald interval."""
    if n_a <= 0 or n_b <= 0:
        return None
    p_a, p_b = x_a / n_a, x_b / n_b
    pooled = (x_a + x_b) / (n_a + n_b)
    se_null = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    difference = p_b - p_a
    if se_null == 0:
        z, p_value = 0.0, 1.0
    else:
        z = difference / se_null
        p_value = min(1.0, 2 * normal_cdf(-abs(z)))
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    half = normal_quantile(0.5 + confidence / 2) * se
    return ZTest(difference, z, p_value, difference - half, difference + half)


def msprt(x_a: int, n_a: int, x_b: int, n_b: int, tau: float = MSPRT_TAU) -> float:
    """The mixture likelihood ratio for "the two rates differ", from the counts so far (1.0 without data).

    Λ = sqrt(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²))), where θ̂ is the observed difference and V its
    estimated variance. Rejecting when Λ ≥ 1/α keeps the chance of ever rejecting a true null below α.
    """
    if n_a <= 0 or n_b <= 0:
        return 1.0
    p_a, p_b = x_a / n_a, x_b / n_b
    variance = p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b
    if variance <= 0:
        return 1.0
    tau2 = tau * tau
    exponent = tau2 * (p_b - p_a) ** 2 / (2 * variance * (variance + tau2))
    return math.sqrt(variance / (variance + tau2)) * math.exp(min(exponent, 700.0))


def always_valid_p(looks, tau: float = MSPRT_TAU) -> float:
    """The always-valid p-value after cumulative looks ``[(x_a, n_a, x_b, n_b), ...]``: min(1, 1/max Λ)."""
    p = 1.0
    for x_a, n_a, x_b, n_b in looks:
        p = min(p, 1.0 / msprt(x_a, n_a, x_b, n_b, tau))
    return p


def regularized_gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Γ(a, x) / Γ(a): the upper regularized incomplete gamma function (Numerical Recipes 6.2)."""
    if x < 0 or a <= 0:
        raise ValueError("need x >= 0 and a > 0")
    if x == 0:
        return 1.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:  # the series of P converges fast here
        term = total = 1.0 / a
        denominator = a
        for _ in range(1000):
            denominator += 1
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    # Lentz's continued fraction for Q.
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * h)


def chi_square_sf(statistic: float, df: int) -> float:
    """P(X ≥ statistic) for a chi-square variable with ``df`` degrees of freedom."""
    return regularized_gamma_q(df / 2, statistic / 2)


@dataclass(frozen=True)
class SrmCheck:
    statistic: float
    p_value: float
    mismatch: bool


def sample_ratio_mismatch(observed, shares, alpha: float = SRM_ALPHA) -> SrmCheck | None:
    """Chi-square goodness of fit of ``observed`` counts to the expected ``shares``; None without data."""
    total = sum(observed)
    share_total = sum(shares)
    if total <= 0 or len(observed) < 2:
        return None
    statistic = 0.0
    for count, share in zip(observed, shares, strict=True):
        expected = total * share / share_total
        statistic += (count - expected) ** 2 / expected if expected > 0 else 0.0
    p_value = chi_square_sf(statistic, len(observed) - 1)
    return SrmCheck(statistic, p_value, p_value < alpha)
