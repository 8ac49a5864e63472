#!/usr/bin/env python3
"""Writes stats_reference.tsv: reference values for src/analysis/stats_test.cc.

Run by hand, outside the build (`python3 generate_stats_reference.py > stats_reference.tsv`);
the output is committed. It needs only mpmath (50-digit arithmetic), not ramp: every value is
computed here from its textbook definition, independently of ramp's C++ code.

Columns: function, arguments (comma-separated), expected values (comma-separated).
"""
import mpmath as mp

mp.mp.dps = 50


def fmt(x):
    return mp.nstr(mp.mpf(x), 17, min_fixed=-30, max_fixed=30)


def row(name, args, values):
    print(name + "\t" + ",".join(str(a) for a in args) + "\t" + ",".join(fmt(v) for v in values))


def normal_cdf(z):
    return mp.ncdf(z)


def normal_quantile(p):
    return mp.sqrt(2) * mp.erfinv(2 * mp.mpf(p) - 1)


def log_beta(a, b):
    return mp.log(mp.beta(a, b))


def attribution_log_bf(x, n, pi, a=1, b=1):
    x, n, pi = mp.mpf(x), mp.mpf(n), mp.mpf(pi)
    return log_beta(a + x, b + n - x) - log_beta(a, b) - (x * mp.log(pi) + (n - x) * mp.log(1 - pi))


def mixture_interval(x, n, alpha, a=1, b=1):
    """Ends of {θ: ln B(a+x,b+n−x) − ln B(a,b) − x ln θ − (n−x) ln(1−θ) < ln(1/α)}."""
    x, n = mp.mpf(x), mp.mpf(n)
    lm = log_beta(a + x, b + n - x) - log_beta(a, b)
    thr = mp.log(1 / mp.mpf(alpha))

    def f(t):
        ll = 0
        if x > 0:
            ll += x * mp.log(t)
        if n - x > 0:
            ll += (n - x) * mp.log(1 - t)
        return lm - ll - thr

    mle = x / n if n > 0 else mp.mpf("0.5")
    lo = mp.mpf(0) if x == 0 else mp.findroot(f, (mp.mpf("1e-40"), mle), solver="bisect")
    hi = mp.mpf(1) if x == n else mp.findroot(f, (mle, 1 - mp.mpf("1e-40")), solver="bisect")
    return lo, hi


def kl(p, q):
    p, q = mp.mpf(p), mp.mpf(q)
    out = 0
    if p > 0:
        out += p * mp.log(p / q)
    if p < 1:
        out += (1 - p) * mp.log((1 - p) / (1 - q))
    return out


def sprt(p0, p1, alpha, beta, n, k):
    p0, p1 = mp.mpf(p0), mp.mpf(p1)
    llr = k * mp.log(p1 / p0) + (n - k) * mp.log((1 - p1) / (1 - p0))
    return llr, mp.log((1 - mp.mpf(beta)) / alpha), mp.log(mp.mpf(beta) / (1 - mp.mpf(alpha)))


def wald_expected(p0, p1, alpha, beta):
    a = mp.log((1 - mp.mpf(beta)) / alpha)
    b = mp.log(mp.mpf(beta) / (1 - mp.mpf(alpha)))
    return ((1 - beta) * a + beta * b) / kl(p1, p0), (alpha * a + (1 - alpha) * b) / -kl(p0, p1)


def mann_whitney(x, y):
    """U of x, σ_U with the tie correction, continuity-corrected z, two-sided p."""
    pooled = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks = [0] * len(pooled)
    i, ties = 0, []
    while i < len(pooled):
        j = i
        while j < len(pooled) and pooled[j][0] == pooled[i][0]:
            j += 1
        for k in range(i, j):
            ranks[k] = mp.mpf(i + 1 + j) / 2
        ties.append(j - i)
        i = j
    n1, n2 = len(x), len(y)
    n = n1 + n2
    r1 = sum(ranks[k] for k in range(len(pooled)) if pooled[k][1] == 0)
    u = r1 - mp.mpf(n1 * (n1 + 1)) / 2
    sigma = mp.sqrt(mp.mpf(n1 * n2) / 12 * ((n + 1) - mp.mpf(sum(t ** 3 - t for t in ties)) / (n * (n - 1))))
    d = u - mp.mpf(n1 * n2) / 2
    z = (d - mp.sign(d) * mp.mpf("0.5")) / sigma
    return u, sigma, z, 2 * (1 - mp.ncdf(abs(z)))


for z in ["-3", "-1.5", "0", "0.5", "1.959963984540054", "2.326347874040841", "4"]:
    row("NormalCdf", [z], [normal_cdf(mp.mpf(z))])
for p in ["1e-10", "0.001", "0.01", "0.05", "0.3", "0.5", "0.9", "0.975", "0.999"]:
    row("NormalQuantile", [p], [normal_quantile(p)])
for x, n, pi in [(2, 2, "0.05"), (3, 5, "0.05"), (10, 40, "0.2"), (0, 30, "0.05"), (60, 100, "0.5"),
                 (7, 9, "0.01")]:
    lo, hi = mixture_interval(x, n, "0.01")
    row("ErrorAttribution", [x, n, pi, "0.01"], [attribution_log_bf(x, n, mp.mpf(pi)), lo, hi])
for x, n, alpha in [(0, 100, "0.01"), (0, 1000, "0.01"), (5, 1000, "0.01"), (50, 1000, "0.05"),
                    (3, 20, "0.01"), (300, 300, "0.01")]:
    lo, hi = mixture_interval(x, n, alpha)
    row("BernoulliConfidenceSequence", [x, n, alpha], [lo, hi])
for p0, p1, n, k in [("0.001", "0.05", 20, 2), ("0.001", "0.05", 100, 0), ("0.01", "0.03", 500, 9),
                     ("0.0144", "0.05", 165, 8)]:
    row("WaldSprt", [p0, p1, "0.01", "0.01", n, k], list(sprt(p0, p1, mp.mpf("0.01"), mp.mpf("0.01"), n, k)))
for p0, p1, alpha, beta in [("0.001", "0.05", "0.01", "0.01"), ("0.001", "0.01", "0.01", "0.01"),
                            ("0.001", "0.002", "0.01", "0.01"), ("0.0144", "0.05", "0.01", "0.01"),
                            ("0.001", "0.005", "0.05", "0.2")]:
    row("WaldExpectedSamples", [p0, p1, alpha, beta],
        list(wald_expected(mp.mpf(p0), mp.mpf(p1), mp.mpf(alpha), mp.mpf(beta))))
for p, q in [("0.05", "0.001"), ("0.001", "0.05"), ("0.003", "0.001"), ("0", "0.2"), ("1", "0.5")]:
    row("KlBernoulli", [p, q], [kl(p, q)])
samples = [
    ([12.1, 14.3, 14.3, 15.0, 16.2, 18.9, 21.4, 14.3, 17.7, 19.5],
     [11.0, 12.1, 12.9, 13.3, 14.3, 13.8, 12.5, 15.1, 12.2, 13.0, 14.0]),
    ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]),
    ([5, 5, 5, 6, 6, 7], [5, 6, 6, 6, 7, 7, 8]),
    ([0.25, 0.25, 0.5, 0.5, 0.5, 1.0], [0.1, 0.25, 0.25, 0.25, 0.5]),
]
for x, y in samples:
    row("MannWhitney", [" ".join(map(str, x)) + "|" + " ".join(map(str, y))], list(mann_whitney(x, y)))
