"""Percentile-bootstrap confidence intervals over evaluation clips (Efron & Tibshirani, "An Introduction to the
Bootstrap", 1993, ch. 13). Every function takes its own numpy Generator: same seed, same interval."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

N_BOOT = 2000
BOOT_SEED = 0  # the evaluation's fixed bootstrap seed


def _clean(values: Sequence[float | None]) -> np.ndarray:
    return np.array([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)


def mean_ci(values: Sequence[float | None], rng: np.random.Generator, *, n_boot: int = N_BOOT,
            level: float = 0.95) -> dict:
    """{"mean", "ci95": [lo, hi], "n"} over the non-missing values (None -> mean None)."""
    x = _clean(values)
    if x.size == 0:
        return {"mean": None, "ci95": [None, None], "n": 0}
    idx = rng.integers(0, x.size, size=(n_boot, x.size))  # (B, n)
    boots = x[idx].mean(1)  # (B,)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return {"mean": float(x.mean()), "ci95": [float(lo), float(hi)], "n": int(x.size)}


def ratio_ci(num: Sequence[float | None], den: Sequence[float | None], rng: np.random.Generator, *,
             paired: bool, n_boot: int = N_BOOT, level: float = 0.95) -> dict:
    """mean(num) / mean(den) with a bootstrap interval.

    paired: num[i] and den[i] come from the same clip (model vs its floor): clips with either value missing are
    dropped and clips are resampled together. Unpaired (OOD vs ID sets): each side is resampled on its own.
    """
    if paired:
        pairs = [(a, b) for a, b in zip(num, den, strict=True)
                 if a is not None and b is not None and np.isfinite(a) and np.isfinite(b)]
        a = np.array([p[0] for p in pairs], dtype=np.float64)
        b = np.array([p[1] for p in pairs], dtype=np.float64)
    else:
        a, b = _clean(num), _clean(den)
    if a.size == 0 or b.size == 0 or b.mean() <= 0:
        return {"ratio": None, "ci95": [None, None], "n": int(min(a.size, b.size))}
    ia = rng.integers(0, a.size, size=(n_boot, a.size))  # (B, n)
    ib = ia if paired else rng.integers(0, b.size, size=(n_boot, b.size))
    with np.errstate(divide="ignore", invalid="ignore"):
        boots = a[ia].mean(1) / b[ib].mean(1)  # (B,)
    boots = boots[np.isfinite(boots)]
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return {"ratio": float(a.mean() / b.mean()), "ci95": [float(lo), float(hi)], "n": int(min(a.size, b.size))}


def rate_ci(flags: Sequence[bool], rng: np.random.Generator, **kw) -> dict:
    """A proportion (e.g. the abnormal rate) with its bootstrap interval: {"mean", "ci95", "n"}."""
    return mean_ci([float(bool(f)) for f in flags], rng, **kw)
