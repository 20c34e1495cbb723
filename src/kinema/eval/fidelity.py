"""Pixel fidelity of a continuation to the true one: PSNR and SSIM over the generated frames.

References: Wang, Bovik, Sheikh & Simoncelli, "Image Quality Assessment: From Error Visibility to Structural
Similarity", IEEE TIP 2004 (SSIM: 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, mean over valid windows,
here per RGB channel and averaged). The worlds are deterministic, so the true continuation is unique and a pixel
metric is meaningful (it is not for open-ended generation).
"""

from __future__ import annotations

import math

import numpy as np


PSNR_MAX = 100.0  # dB reported for identical videos (keeps results valid JSON)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two uint8 arrays of one shape, over all their pixels (identical arrays: PSNR_MAX)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return PSNR_MAX if mse == 0 else min(PSNR_MAX, 10 * math.log10(255.0 ** 2 / mse))


def _window(n: int, size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """(n - size + 1, n) matrix whose rows are the normalised 1-D Gaussian at each valid offset."""
    g = np.exp(-0.5 * ((np.arange(size) - (size - 1) / 2) / sigma) ** 2)
    g /= g.sum()
    m = np.zeros((n - size + 1, n))
    for i in range(n - size + 1):
        m[i, i:i + size] = g
    return m


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two uint8 videos (T, H, W, 3) (or images (H, W, 3)), H and W >= 11."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.shape[-1] != 3 or min(a.shape[-3:-1]) < 11:
        raise ValueError(f"ssim needs two (..., H, W, 3) arrays of one shape with H, W >= 11, got {a.shape}, {b.shape}")
    a, b = a.reshape(-1, *a.shape[-3:]), b.reshape(-1, *b.shape[-3:])  # (T, H, W, 3)
    gh, gw = _window(a.shape[1]), _window(a.shape[2])

    def blur(x: np.ndarray) -> np.ndarray:
        x = np.einsum("ih,thwc->tiwc", gh, x)  # (T, H-10, W, 3)
        return np.einsum("tiwc,jw->tijc", x, gw)  # (T, H-10, W-10, 3)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def sharpness(frames: np.ndarray) -> np.ndarray:
    """Mean |4-neighbour Laplacian| of the luminance per frame: uint8 (T, H, W, 3) -> (T,). The ratio of a made
    video's to the true one's says how much fine detail it keeps (1 = as much, blur < 1, grain or noise > 1)."""
    y = np.asarray(frames, np.float64).mean(-1)  # (T, H, W)
    lap = 4 * y[:, 1:-1, 1:-1] - y[:, :-2, 1:-1] - y[:, 2:, 1:-1] - y[:, 1:-1, :-2] - y[:, 1:-1, 2:]
    return np.abs(lap).mean(axis=(1, 2))
