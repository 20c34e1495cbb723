"""What the physics and scenes evaluations score: anything that continues a video from its first frames.

    class Continuation(Protocol):
        name: str
        def continue_video(self, context, frames, *, caption, seed) -> video

context is uint8 (K, H, W, 3), the clip's first K ground-truth frames; the answer is the whole clip, uint8
(frames, H, W, 3), context included. caption is the world's English detailed caption of the clip; seed is the clip's
evaluation seed (kinema.eval.sets), which a generative model uses as its sampling seed, so every clip reproduces alone.

Implementations:
  PipelineModel             a trained kinema model (Pipeline.extend).
  SimulatorModel            the oracle: re-renders the clip of `seed` -- scores exactly at the ground-truth floor.
  RepeatLastModel           freezes the last context frame -- a model that learned no motion.
  LinearExtrapolationModel  shifts the last frame by the motion of the coloured pixels between the last two
                            context frames (whole pixels): a model that learned constant velocity and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from kinema.eval.sets import clip_of_seed, padded_length, render_clip

BASELINES = ("simulator", "repeat-last", "linear")


@runtime_checkable
class Continuation(Protocol):
    name: str

    def continue_video(self, context: np.ndarray, frames: int, *, caption: str, seed: int) -> np.ndarray:
        """uint8 (K, H, W, 3) context -> uint8 (frames, H, W, 3), the context included."""
        ...


def check_context(context: np.ndarray, frames: int) -> None:
    c = np.asarray(context)
    if c.dtype != np.uint8 or c.ndim != 4 or c.shape[-1] != 3 or c.shape[0] < 1:
        raise ValueError(f"context must be uint8 (K, H, W, 3) with K >= 1, got {c.dtype} {tuple(c.shape)}")
    if frames <= c.shape[0]:
        raise ValueError(f"frames ({frames}) must exceed the {c.shape[0]} context frames")


def check_continuation(video: np.ndarray, context: np.ndarray, frames: int, name: str) -> np.ndarray:
    """A model's answer, validated: uint8 (frames, H, W, 3) of the context's size."""
    v = np.asarray(video)
    want = (frames, *context.shape[1:])
    if v.dtype != np.uint8 or v.shape != want:
        raise ValueError(f"model {name!r} returned {v.dtype} {tuple(v.shape)}, expected uint8 {want}")
    return v


def timed_continuation(model: Continuation, gt: np.ndarray, context: int, *, caption: str,
                       seed: int) -> tuple[np.ndarray, float]:
    """(the model's continuation of gt's first `context` frames to len(gt) frames, validated; its wall seconds)."""
    import time

    t0 = time.perf_counter()
    video = model.continue_video(gt[:context], len(gt), caption=caption, seed=seed)
    seconds = time.perf_counter() - t0
    return check_continuation(video, gt, len(gt), getattr(model, "name", type(model).__name__)), seconds

# ----------------------------------------------------------------------------------------------------------------------
# A trained model
# ----------------------------------------------------------------------------------------------------------------------


class PipelineModel:
    """A kinema Pipeline continuing the clip with `extend` (the context frames are kept exactly).

    The VAE compresses time by f = vae.cfg.time_down, so a clip has 1 + f*k frames: the model generates the shortest
    such length >= `frames` (33 for 32 at f = 2 or 4) and the first `frames` frames are scored. `seed_offset` shifts
    every clip's sampling seed (the CLI's --seed); history_guidance is Pipeline.extend's.
    """

    def __init__(self, pipe, *, steps: int = 16, guidance: float = 3.0, seed_offset: int = 0,
                 name: str | None = None, history_guidance: bool = False) -> None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if guidance < 0:
            raise ValueError(f"guidance must be >= 0, got {guidance}")
        self.pipe, self.steps, self.guidance, self.seed_offset = pipe, int(steps), float(guidance), int(seed_offset)
        self.name = name or str(getattr(pipe, "name", "kinema"))
        self.history_guidance = bool(history_guidance)

    @property
    def vae(self):
        return getattr(self.pipe, "vae", None)

    def continue_video(self, context: np.ndarray, frames: int, *, caption: str, seed: int) -> np.ndarray:
        check_context(context, frames)
        vae = self.vae
        n = padded_length(frames, int(vae.cfg.time_down)) if vae is not None else frames
        out = self.pipe.extend(context, prompt=caption, context_frames=len(context), frames=n,
                               seed=int(seed) + self.seed_offset, steps=self.steps, guidance=self.guidance,
                               history_guidance=self.history_guidance)
        video = np.asarray(out.video)
        if video.shape[0] < frames:
            raise ValueError(f"Pipeline.extend returned {video.shape[0]} frames, asked for {n}")
        return check_continuation(video[:frames], context, frames, self.name)

# ----------------------------------------------------------------------------------------------------------------------
# Reference models
# ----------------------------------------------------------------------------------------------------------------------


class SimulatorModel:
    """The oracle: re-renders the evaluation clip of `seed` (the context must be that clip's first frames)."""

    name = "simulator"

    def continue_video(self, context: np.ndarray, frames: int, *, caption: str, seed: int) -> np.ndarray:
        check_context(context, frames)
        world, scenario, split, _ = clip_of_seed(seed)
        h, w = context.shape[1:3]
        video = render_clip(world, scenario, split, seed, frames=frames, width=w, height=h).video
        if not np.array_equal(video[:len(context)], context):
            raise ValueError(f"the context is not the first frames of evaluation clip {seed}")
        return video


class RepeatLastModel:
    """Repeats the last context frame: nothing moves after the context."""

    name = "repeat-last"

    def continue_video(self, context: np.ndarray, frames: int, *, caption: str, seed: int) -> np.ndarray:
        check_context(context, frames)
        tail = np.repeat(context[-1:], frames - len(context), axis=0)  # (frames - K, H, W, 3)
        return np.concatenate([context, tail])


class LinearExtrapolationModel:
    """Translates the last context frame's non-background pixels by the whole-pixel shift of their centroid between
    the last two context frames, once per new frame. Exact for one object at constant integer pixel velocity;
    approximate otherwise (sub-pixel motion is rounded, gravity and collisions are ignored)."""

    name = "linear"

    def continue_video(self, context: np.ndarray, frames: int, *, caption: str, seed: int) -> np.ndarray:
        check_context(context, frames)
        if len(context) < 2:
            return RepeatLastModel().continue_video(context, frames, caption=caption, seed=seed)
        bg = _background(context[-1])  # (3,)
        cents = [_ink_centroid(f, bg) for f in context[-2:]]
        step = np.zeros(2) if any(c is None for c in cents) else cents[1] - cents[0]  # (2,): (dx, dy) pixels
        last = context[-1]
        fg = np.any(last != bg, axis=-1)  # (H, W)
        out = [*context]
        for i in range(1, frames - len(context) + 1):
            dx, dy = (int(round(v)) for v in step * i)
            frame = np.empty_like(last)
            frame[:] = bg
            h, w = fg.shape
            ys, xs = np.nonzero(fg)
            ty, tx = ys + dy, xs + dx
            keep = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
            frame[ty[keep], tx[keep]] = last[ys[keep], xs[keep]]
            out.append(frame)
        return np.stack(out)


def _background(frame: np.ndarray) -> np.ndarray:
    """The most common colour of a frame."""
    colours, counts = np.unique(frame.reshape(-1, 3), axis=0, return_counts=True)
    return colours[counts.argmax()]


def _ink_centroid(frame: np.ndarray, bg: np.ndarray) -> np.ndarray | None:
    ink = np.abs(frame.astype(np.int32) - bg.astype(np.int32)).sum(-1).astype(np.float64)  # (H, W)
    if ink.sum() <= 0:
        return None
    ys, xs = np.indices(ink.shape)
    return np.array([(ink * xs).sum(), (ink * ys).sum()]) / ink.sum()

# ----------------------------------------------------------------------------------------------------------------------
# From a command-line name
# ----------------------------------------------------------------------------------------------------------------------


def load_model(spec: str | None, *, steps: int = 16, guidance: float = 3.0, seed_offset: int = 0,
               history_guidance: bool = False) -> Continuation:
    """A model directory or DiT run directory (None: the shipped model), or one of BASELINES."""
    from kinema.pipeline import Pipeline, default_model_dir

    if spec in BASELINES and not (spec and Path(spec).exists()):
        return {"simulator": SimulatorModel, "repeat-last": RepeatLastModel,
                "linear": LinearExtrapolationModel}[spec]()
    path = Path(spec) if spec else default_model_dir()
    if path is None:
        raise ValueError("no shipped model in this checkout yet: pass --model RUN_OR_MODEL_DIR "
                         f"or a baseline ({', '.join(BASELINES)})")
    if not path.exists():
        raise FileNotFoundError(f"--model {spec}: no such directory (nor a baseline: {', '.join(BASELINES)})")
    pipe = Pipeline.from_pretrained(path)
    if not hasattr(pipe, "extend"):
        raise ValueError("this kinema's Pipeline has no extend() yet: only the baselines can be evaluated")
    return PipelineModel(pipe, steps=steps, guidance=guidance, seed_offset=seed_offset,
                         history_guidance=history_guidance)
