#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Independent reference values for test_stats.c (no scipy needed).

U is counted pair by pair (ties 1/2); the exact two-sided p-value is
min(1, 2 * min(P(U <= u), P(U >= u))) over every way of splitting the
pooled values into the two groups (brute force, no rank arithmetic);
the large-sample p uses the normal approximation with tie and continuity
correction. Run: python3 mwu_ref.py
"""
import itertools
import math
import random
from collections import Counter


def u_of(a, b):
    return sum(1.0 if y > x else 0.5 if y == x else 0.0 for x in a for y in b)


def exact(a, b):
    pool = list(a) + list(b)
    n, nb = len(pool), len(b)
    u = u_of(a, b)
    le = ge = tot = 0
    for idx in itertools.combinations(range(n), nb):
        s = set(idx)
        uu = u_of([pool[i] for i in range(n) if i not in s], [pool[i] for i in idx])
        tot += 1
        le += uu <= u + 1e-9
        ge += uu >= u - 1e-9
    return u, min(1.0, 2 * min(le, ge) / tot)


def normal(a, b):
    na, nb = len(a), len(b)
    n = na + nb
    u = u_of(a, b)
    t = sum(c ** 3 - c for c in Counter(list(a) + list(b)).values())
    var = na * nb / 12 * ((n + 1) - t / (n * (n - 1)))
    z = max(0, (abs(u - na * nb / 2) - 0.5) / math.sqrt(var))
    return u, math.erfc(z / math.sqrt(2))


CASES = {
    "separated n=5": ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]),
    "U=2 n=5": ([1, 2, 3, 4, 7], [5, 6, 8, 9, 10]),
    "U=3 n=5": ([1, 2, 3, 5, 7], [4, 6, 8, 9, 10]),
    "n=4+6": ([1.1, 2.2, 3.3, 4.4], [0.5, 2.5, 5.0, 6.0, 7.0, 8.0]),
    "ties": ([1, 2, 2, 3, 4], [2, 3, 3, 5, 6]),
    "n=10": ([10, 12, 13, 15, 16, 18, 19, 21, 22, 24], [14, 17, 20, 23, 25, 26, 27, 28, 29, 30]),
    "n=3": ([1, 2, 3], [4, 5, 6]),
}

if __name__ == "__main__":
    for name, (a, b) in CASES.items():
        print(name, exact(a, b))
    random.seed(7)
    a = [round(random.gauss(100, 5), 3) for _ in range(25)]
    b = [round(random.gauss(104, 5), 3) for _ in range(30)]
    print("normal", a, b, normal(a, b))
    print("normal ties", normal([1] * 10 + [2] * 10 + [3] * 5, [2] * 8 + [3] * 10 + [4] * 7))
    print("normal separated 21+21", normal(list(range(21)), [100 + i for i in range(21)]))
