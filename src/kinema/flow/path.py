"""The flow-matching path, in kinema's one time convention (defined here, nowhere else).

    t = 1 is pure noise, t = 0 is data.
    x_t = (1 - t) * x0 + t * eps        interpolate(x0, eps, t)
    v   = d x_t / dt = eps - x0         target_velocity(x0, eps)   (what the model learns)
    x0  = x_t - t * v                   x0_from_velocity(x_t, v, t)
    eps = x_t + (1 - t) * v             eps_from_velocity(x_t, v, t)

Sampling integrates dx/dt = v from t = 1 down to t = 0 (see samplers.py). `t` is either one time per sample, shape
(B,), or one time per latent frame, shape (B, T), for video tensors (B, C, T, H, W); per-frame times are how context
frames (t = 0) sit beside frames being generated.

References: Lipman et al. 2023 (Flow Matching, arXiv 2210.02747); Liu et al. 2023 (Rectified Flow, arXiv 2209.03003);
Esser et al. 2024 (SD3, arXiv 2403.03206), whose convention (t = 1 noise) this is.
"""

from __future__ import annotations

from torch import Tensor

NOISE_T = 1.0  # the time of pure noise
DATA_T = 0.0  # the time of clean data


def expand_t(t: Tensor, x: Tensor) -> Tensor:
    """(B,) -> (B, 1, ..., 1); (B, T) -> (B, 1, T, 1, 1) for x of shape (B, C, T, H, W)."""
    B = x.shape[0]
    if t.ndim == 1 and t.shape[0] == B:
        return t.reshape(B, *([1] * (x.ndim - 1)))  # (B, 1, 1, 1, 1)
    if t.ndim == 2 and x.ndim == 5 and tuple(t.shape) == (B, x.shape[2]):
        return t[:, None, :, None, None]  # (B, 1, T, 1, 1)
    raise ValueError(f"t must have shape (B,) = ({B},) or (B, T) = ({B}, {x.shape[2] if x.ndim == 5 else 'T'}) "
                     f"for x of shape {tuple(x.shape)}; got {tuple(t.shape)}")


def interpolate(x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
    """The point at time t on the straight line from data x0 (t = 0) to noise eps (t = 1)."""
    tt = expand_t(t, x0).to(x0.dtype)
    return (1 - tt) * x0 + tt * eps  # (B, C, T, H, W)


def target_velocity(x0: Tensor, eps: Tensor) -> Tensor:
    return eps - x0  # (B, C, T, H, W)


def x0_from_velocity(x_t: Tensor, v: Tensor, t: Tensor) -> Tensor:
    return x_t - expand_t(t, x_t).to(x_t.dtype) * v  # (B, C, T, H, W)


def eps_from_velocity(x_t: Tensor, v: Tensor, t: Tensor) -> Tensor:
    return x_t + (1 - expand_t(t, x_t).to(x_t.dtype)) * v  # (B, C, T, H, W)
