"""Tail probabilities for the learner's two tests, in pure Python (no SciPy at run time).

The causal learner decides with significance levels rather than tuned thresholds, so it
needs an upper-tail Poisson test (is a co-occurrence count above what the base rates
explain?), a one-sided sign test (does one kind come first more often than a fair
coin says?) and a one-sided two-proportion test (does one kind start spontaneously
more often than another?).  Exact for the small counts where it matters; normal approximations with
a continuity correction above ``EXACT_LIMIT``, where they are accurate far below any
level we test at.
"""

from __future__ import annotations

import math

EXACT_LIMIT = 1000


def normal_sf(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def poisson_sf(k: float, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu)."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    if k > EXACT_LIMIT:
        # Wilson-Hilferty: P(X >= k) = P(chi2_{2k} <= 2 mu)
        a = k
        z = ((mu / a) ** (1 / 3) - (1 - 1 / (9 * a))) / math.sqrt(1 / (9 * a))
        return 1.0 - normal_sf(z)
    return _lower_gamma_regularised(float(k), mu)


def _lower_gamma_regularised(a: float, x: float) -> float:
    """P(a, x), the regularised lower incomplete gamma (= P(Poisson(x) >= a))."""
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        for _ in range(10 * EXACT_LIMIT):
            n += 1
            term *= x / n
            total += term
            if term < total * 1e-14:
                break
        return min(1.0, total * math.exp(log_front))
    # continued fraction for the upper tail Q(a, x) (Lentz)
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10 * EXACT_LIMIT):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-14:
            break
    return max(0.0, 1.0 - math.exp(log_front) * h)


def sign_test_sf(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2): how surprising k 'firsts' out of n are."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if n > EXACT_LIMIT:
        return normal_sf((k - 0.5 - n / 2) / math.sqrt(n / 4))
    log_half_n = -n * math.log(2.0)
    lg_n = math.lgamma(n + 1)
    return min(
        1.0,
        sum(
            math.exp(lg_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n)
            for i in range(k, n + 1)
        ),
    )


def two_proportion_sf(k1: float, n1: float, k2: float, n2: float) -> float:
    """One-sided p-value that share ``k1/n1`` exceeds ``k2/n2`` by chance (pooled z-test;
    1.0 when either count is empty or the pooled share is 0 or 1: no evidence)."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 1.0
    return normal_sf((k1 / n1 - k2 / n2) / math.sqrt(variance))
