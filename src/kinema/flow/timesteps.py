"""Which times to train on and which to sample at (t = 1 noise, t = 0 data; see path.py).

Training draws t from a logit-normal, which concentrates on the middle of the path where the velocity is hardest to
predict. Both training and sampling times can be shifted toward noise: with more tokens (larger frames, longer clips)
the same noise level destroys less of the signal, so more of the schedule must be spent near t = 1.

    t' = s t / (1 + (s - 1) t)        apply_shift (s > 1 moves t toward noise; s = 1 is the identity)
    s  = base_shift * (num_tokens / base_tokens) ** power        shift_for (power 1/2 is SD3's sqrt(m / n) rule)

References: Esser et al. 2024 (SD3, arXiv 2403.03206), sections 3.1 (logit-normal) and 5.3.2 (resolution-dependent
shift); Black Forest Labs' Flux applies the same map with a shift that grows with the sequence length.
"""

from __future__ import annotations

import torch
from torch import Tensor


def logit_normal(shape: tuple[int, ...] | int, generator: torch.Generator, mean: float = 0.0, std: float = 1.0, *,
                 device: torch.device | str | None = None) -> Tensor:
    """t = sigmoid(mean + std * z), z ~ N(0, 1): values in (0, 1), median sigmoid(mean)."""
    if std <= 0:
        raise ValueError(f"std must be > 0, got {std}")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    z = torch.randn(shape, generator=generator, device=generator.device)  # shape
    return torch.sigmoid(mean + std * z).to(device if device is not None else generator.device)


def shift_for(num_tokens: int, base_tokens: int = 256, *, base_shift: float = 1.0, power: float = 0.5) -> float:
    """The shift for a latent of `num_tokens` patches (latent frames x patch rows x patch columns).

    Duration counts like resolution: twice the frames is twice the tokens. `base_shift` is the shift at `base_tokens`.
    """
    if num_tokens < 1 or base_tokens < 1:
        raise ValueError(f"num_tokens and base_tokens must be >= 1, got {num_tokens} and {base_tokens}")
    if base_shift <= 0 or power < 0:
        raise ValueError(f"base_shift must be > 0 and power >= 0, got {base_shift} and {power}")
    return float(base_shift * (num_tokens / base_tokens) ** power)


def apply_shift(t: Tensor, shift: float) -> Tensor:
    """t' = s t / (1 + (s - 1) t): monotone, fixes 0 and 1, s > 1 spends more of the path near noise."""
    if shift <= 0:
        raise ValueError(f"shift must be > 0, got {shift}")
    if shift == 1.0:
        return t.clone()
    return shift * t / (1 + (shift - 1) * t)


def sampling_schedule(steps: int, shift: float = 1.0) -> Tensor:
    """steps + 1 times from exactly 1 (noise) down to exactly 0 (data), float64, shifted."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    ts = apply_shift(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift)  # (steps + 1,)
    ts[0], ts[-1] = 1.0, 0.0  # exact endpoints whatever the rounding of the shift
    return ts
