"""ODE samplers for flow matching: pure functions with one shared signature and no hidden state.

    x = sample_euler(model, noise, sampling_schedule(20, shift=3.0), cond, uncond=empty, guidance=4.0)

The contract with models is `model(x, t, cond) -> velocity` with x (B, C, T, H, W) and t (B, T): one time per latent
frame, so that clean context frames (t = 0) can sit beside frames being generated. Samplers know nothing about
architectures, and models know nothing about noise. Time runs from 1 (noise) to 0 (data); see path.py.

Every call is self-contained: the only randomness is the initial noise, drawn by `sample` from the caller's
`torch.Generator`; Euler and Heun are deterministic given it. Two calls can run interleaved or in different threads.

Classifier-free guidance: v = v_uncond + g * (v_cond - v_uncond) on every channel (DiT's code guided only 3 of 4).
cond and uncond go through the model in ONE forward pass of batch 2B. They are opaque to the sampler and are joined
by `cat_conds(cond, uncond)`: objects with a `.cat(other)` method (e.g. kinema's TextEmbedding) do it themselves;
tensors are concatenated along dim 0; None, dicts, lists, tuples and dataclasses are joined field by field. Pass your
own `cat=` for anything else.

Step sizes (shortcut models): Euler asks for the mean velocity over each jump t -> t_next. A cond object with a
`.with_step(d)` method (d of shape (B,), d = t - t_next) gets it before every Euler call (cond and uncond alike); a
model without a step input answers with its velocity at t, which is exactly the Euler step it always was. Heun
evaluates instantaneous velocities and passes no step.

Context frames: where context_mask (B, T) is true, the latent frame is replaced by the clean `context` before every
model call and given t = 0, and the result holds exactly the context there. This is image-to-video (first frame),
extension (first or last frames) and interpolation (both ends).

References: Euler's method; Frans et al. 2024 (shortcut models, arXiv 2410.12557: the step-size input);
Heun's method as used by Karras et al. 2022 (EDM, arXiv 2206.00364, Algorithm 1);
Ho & Salimans 2022 (classifier-free guidance, arXiv 2207.12598).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from kinema.flow.timesteps import sampling_schedule

Model = Callable[[Tensor, Tensor, Any], Tensor]
Callback = Callable[[int, int, Tensor], None]

# ----------------------------------------------------------------------------------------------------------------------
# Pieces shared by every sampler
# ----------------------------------------------------------------------------------------------------------------------


def noise_like(shape: tuple[int, ...], generator: torch.Generator, *, dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> Tensor:
    """Standard normal noise drawn from `generator` (on the generator's device), then moved to `device`."""
    eps = torch.randn(tuple(shape), generator=generator, device=generator.device, dtype=dtype)
    return eps.to(device) if device is not None else eps


def cat_conds(a: Any, b: Any) -> Any:
    """Join two conditioning objects along the batch: `.cat` protocol first, then structure (see module docstring)."""
    if hasattr(a, "cat") and callable(a.cat) and not isinstance(a, Tensor):
        return a.cat(b)
    if a is None and b is None:
        return None
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return torch.cat([a, b])
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return {k: cat_conds(a[k], b[k]) for k in a}
    if isinstance(a, (list, tuple)) and type(a) is type(b) and len(a) == len(b):
        return type(a)(cat_conds(x, y) for x, y in zip(a, b))
    if dataclasses.is_dataclass(a) and type(a) is type(b):
        return dataclasses.replace(a, **{f.name: cat_conds(getattr(a, f.name), getattr(b, f.name))
                                         for f in dataclasses.fields(a) if f.init})
    if isinstance(a, (int, float, str, bool)) and a == b:
        return a  # a shared setting, not per-sample data
    raise ValueError(f"cannot batch cond {type(a).__name__} with uncond {type(b).__name__}: give the cond a "
                     ".cat(other) method, or pass cat=your_function to the sampler")


def guided_velocity(model: Model, x: Tensor, t: Tensor, cond: Any, uncond: Any = None, guidance: float = 1.0, *,
                    cat: Callable[[Any, Any], Any] = cat_conds) -> Tensor:
    """The velocity at (x, t), with classifier-free guidance on all channels when guidance != 1 (one forward pass)."""
    if guidance == 1.0:
        return model(x, t, cond)  # (B, C, T, H, W): the unconditional branch would cancel exactly, so skip it
    if uncond is None:
        raise ValueError(f"guidance {guidance} != 1 needs an uncond (the empty prompt's conditioning)")
    v = model(torch.cat([x, x]), torch.cat([t, t]), cat(cond, uncond))  # (2B, C, T, H, W)
    v_cond, v_uncond = v.chunk(2)  # (B, C, T, H, W) each
    return v_uncond + guidance * (v_cond - v_uncond)


def with_step(cond: Any, d: Tensor) -> Any:
    """cond asking for the mean velocity over a jump of size d (B,), for conds with a `.with_step` method; else cond."""
    return cond.with_step(d) if hasattr(cond, "with_step") and callable(cond.with_step) else cond


def _check_context(x: Tensor, context: Tensor | None, context_mask: Tensor | None) -> Tensor | None:
    """Validate, and return the mask as (B, 1, T, 1, 1) bool (None when there is no context)."""
    if context is None and context_mask is None:
        return None
    if context is None or context_mask is None:
        raise ValueError("context and context_mask go together: give both or neither")
    B, _, T = x.shape[:3]
    if tuple(context.shape) != tuple(x.shape) or tuple(context_mask.shape) != (B, T):
        raise ValueError(f"context must have x's shape {tuple(x.shape)} and context_mask shape (B, T) = ({B}, {T}); "
                         f"got {tuple(context.shape)} and {tuple(context_mask.shape)}")
    return context_mask.to(device=x.device, dtype=torch.bool)[:, None, :, None, None]  # (B, 1, T, 1, 1)


def _pin(x: Tensor, context: Tensor | None, m: Tensor | None) -> Tensor:
    return x if m is None else torch.where(m, context.to(x.dtype), x)  # (B, C, T, H, W)


def _frame_times(t: float, x: Tensor, m: Tensor | None) -> Tensor:
    """One time per latent frame, (B, T); context frames get t = 0 (clean data)."""
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    tt = torch.full((x.shape[0], x.shape[2]), t, dtype=dtype, device=x.device)  # (B, T)
    return tt if m is None else tt.masked_fill(m[:, 0, :, 0, 0], 0.0)


def _check_schedule(ts: Tensor) -> list[float]:
    if ts.ndim != 1 or ts.numel() < 2:
        raise ValueError(f"ts must be a 1-D tensor of at least 2 times (1 -> 0), got shape {tuple(ts.shape)}")
    times = [float(t) for t in ts]
    if any(b >= a for a, b in zip(times, times[1:])):
        raise ValueError("ts must be strictly decreasing (t = 1 is noise, t = 0 is data)")
    return times


# ----------------------------------------------------------------------------------------------------------------------
# Samplers: (model, x at ts[0], ts, cond, *, uncond, guidance, context, context_mask, callback, cat) -> x at ts[-1]
# ----------------------------------------------------------------------------------------------------------------------


def sample_euler(model: Model, x: Tensor, ts: Tensor, cond: Any, *, uncond: Any = None, guidance: float = 1.0,
                 context: Tensor | None = None, context_mask: Tensor | None = None, callback: Callback | None = None,
                 cat: Callable[[Any, Any], Any] = cat_conds) -> Tensor:
    """First-order: x <- x + (t_next - t) v(x, t | d = t - t_next). One model evaluation per step."""
    times = _check_schedule(ts)
    m = _check_context(x, context, context_mask)
    steps = len(times) - 1
    x = _pin(x, context, m)
    for i, (t, t_next) in enumerate(zip(times, times[1:])):
        d = torch.full((x.shape[0],), t - t_next, dtype=torch.float32, device=x.device)  # (B,) the jump's size
        c, u = with_step(cond, d), with_step(uncond, d)  # None (no uncond) has no with_step: it stays None
        v = guided_velocity(model, x, _frame_times(t, x, m), c, u, guidance, cat=cat)  # (B, C, T, H, W)
        x = _pin(x + (t_next - t) * v, context, m)
        if callback is not None:
            callback(i, steps, x)
    return x


def sample_heun(model: Model, x: Tensor, ts: Tensor, cond: Any, *, uncond: Any = None, guidance: float = 1.0,
                context: Tensor | None = None, context_mask: Tensor | None = None, callback: Callback | None = None,
                cat: Callable[[Any, Any], Any] = cat_conds) -> Tensor:
    """Second-order (explicit trapezoid): an Euler predictor, then the mean of the velocities at both ends.

    Two model evaluations per step, the last step included (a flow-matching velocity is defined at t = 0, unlike a
    denoiser at sigma = 0, so EDM's final Euler step is not needed).
    """
    times = _check_schedule(ts)
    m = _check_context(x, context, context_mask)
    steps = len(times) - 1
    x = _pin(x, context, m)
    for i, (t, t_next) in enumerate(zip(times, times[1:])):
        h = t_next - t
        v = guided_velocity(model, x, _frame_times(t, x, m), cond, uncond, guidance, cat=cat)  # (B, C, T, H, W)
        x_pred = _pin(x + h * v, context, m)
        v_next = guided_velocity(model, x_pred, _frame_times(t_next, x, m), cond, uncond, guidance, cat=cat)
        x = _pin(x + h * 0.5 * (v + v_next), context, m)
        if callback is not None:
            callback(i, steps, x)
    return x


SAMPLERS = {"euler": sample_euler, "heun": sample_heun}


def sample(model: Model, shape: tuple[int, ...], cond: Any, *, steps: int, generator: torch.Generator,
           sampler: str = "euler", guidance: float = 1.0, shift: float = 1.0, uncond: Any = None,
           context: Tensor | None = None, context_mask: Tensor | None = None, callback: Callback | None = None,
           cat: Callable[[Any, Any], Any] = cat_conds, dtype: torch.dtype = torch.float32,
           device: torch.device | str | None = None) -> Tensor:
    """Draw the initial noise (B, C, T, H, W) from `generator`, then integrate from t = 1 to 0 in `steps` steps."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}")
    if len(shape) != 5:
        raise ValueError(f"shape must be (B, C, T, H, W), got {tuple(shape)}")
    x = noise_like(shape, generator, dtype=dtype, device=device)  # (B, C, T, H, W)
    return SAMPLERS[sampler](model, x, sampling_schedule(steps, shift), cond, uncond=uncond, guidance=guidance,
                             context=context, context_mask=context_mask, callback=callback, cat=cat)
