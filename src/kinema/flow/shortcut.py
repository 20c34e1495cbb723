"""Shortcut-model self-consistency: the training target for a jump of size d, built from two jumps of size d / 2.

A shortcut model s(x_t, t, d) predicts the mean velocity over the jump from t down to t - d (kinema's convention:
t = 1 noise, t = 0 data, x_{t-d} = x_t - d * s). At d = 0 it is the flow-matching velocity, learned as usual. For
d > 0 its target is the average of two half jumps taken with the model itself (no gradient):

    s1 = s(x_t, t, d/2),  x' = x_t - d/2 * s1,  s2 = s(x', t - d/2, d/2),  target = (s1 + s2) / 2

so a model that is consistent across step sizes samples in a few large Euler steps (samplers.sample_euler passes
d = t - t_next). Half jumps smaller than `min_step` query d = 0, which anchors the small steps to the velocity.

Video specifics: t is per latent frame (B, T); clean context frames (mask 1) stay at t = 0 and are never moved.
The step size goes to the model through the condition's `.with_step(d)` (see samplers.with_step).

References: Frans, Hafner, Levine, Abbeel 2024, "One Step Diffusion via Shortcut Models" (arXiv 2410.12557).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from kinema.flow.path import expand_t
from kinema.flow.samplers import with_step

MIN_STEP = 1.0 / 128  # the shortcut grid's finest step (the paper's M = 128)


def sample_step_sizes(n: int, generator: torch.Generator, min_step: float = MIN_STEP) -> Tensor:
    """n step sizes log-uniform in [min_step, 1] (every octave equally often), float32 (n,)."""
    if not 0 < min_step < 1:
        raise ValueError(f"min_step must be in (0, 1), got {min_step}")
    u = torch.rand(n, generator=generator, device=generator.device)  # (n,)
    return torch.exp(u * torch.log(torch.tensor(min_step))).float()  # (n,) in [min_step, 1]


@torch.no_grad()
def shortcut_target(model: Callable[[Tensor, Tensor, Any], Tensor], x_t: Tensor, t: Tensor, cond: Any, d: Tensor,
                    context_mask: Tensor | None = None, *, min_step: float = MIN_STEP) -> Tensor:
    """The self-consistency target for s(x_t, t, d): the mean of two half jumps (see the module docstring).

    x_t (B, C, T, H, W); t (B, T) per-frame times with t >= d on every non-context frame; d (B,) in (0, 1], one jump
    for the whole sample, or (B, T), one per frame (then the model is asked with a per-frame step, 0 on context
    frames: interactive play, where the committed frames in the cache never move); context_mask (B, T), 1 = clean
    context frame (kept where it is, never moved). Returns float32 (B, C, T, H, W).
    """
    B, T = x_t.shape[0], x_t.shape[2]
    if tuple(t.shape) != (B, T) or tuple(d.shape) not in ((B,), (B, T)):
        raise ValueError(f"t must be (B, T) = ({B}, {T}) and d (B,) or (B, T); got {tuple(t.shape)}, {tuple(d.shape)}")
    m = torch.zeros(B, T, device=x_t.device) if context_mask is None else context_mask.to(x_t.device).float()
    free = 1 - m  # (B, T): frames that move
    per_frame = d.ndim == 2
    d_frames = d if per_frame else d[:, None]  # (B, T) | (B, 1)
    if bool(((t - d_frames) * free < -1e-6).any()):
        raise ValueError("every non-context frame needs t >= d (the jump must end at or above t = 0)")
    half = d / 2  # (B,) | (B, T)
    q = torch.where(half < min_step, torch.zeros_like(half), half)  # tiny half jumps use the velocity itself
    if per_frame:
        q = q * free  # (B, T): context frames are asked for no jump
    s1 = model(x_t, t, with_step(cond, q)).float()  # (B, C, T, H, W)
    h = d_frames / 2 * free  # (B, T): context frames jump by 0
    x_mid = x_t - expand_t(h, x_t).to(x_t.dtype) * s1.to(x_t.dtype)  # (B, C, T, H, W)
    s2 = model(x_mid, (t - h).clamp_min(0.0), with_step(cond, q)).float()  # (B, C, T, H, W)
    return (s1 + s2) / 2
