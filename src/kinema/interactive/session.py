"""Playing the world model frame by frame: Session (one player's state), scripted rollouts, the uncached reference.

    model = load_play("kinema-explore")                    # kinema.interactive.recipe
    s = Session(model, prompt="an exhibition hall with red walls", seed=0)
    frame = s.start_from_image(world.view(pose, 64, 64))   # or s.start_from_text(): the prompt alone
    frame = s.step("W")                                    # (64, 64, 3) uint8, one frame per action

Per frame: `steps` Euler steps on the new latent frame from noise (t = 1) to data (t = 0), attending to the cached
window (a model trained with PlayConfig.bridge starts from the last frame's latent plus noise instead, moved by the
key's camera motion with PlayConfig.ego_motion). The finished frame is then committed: re-noised to t = ctx_noise
(noise augmentation, as in training) and written into the KV cache with mask = 1. With fuse=True the commit of frame n
runs in the same forward as the first step of frame n + 1 (two frames, only the first is kept), so 1-step play is one
DiT forward per frame. Decoding is streaming (CausalVAE.decode_next, one latent frame -> one video frame) under bf16
autocast. A shortcut model (trained with PlayConfig.shortcut) is also told each frame's jump: the step size for the
frame being made, 0 for committed frames.

Randomness: one torch.Generator per session, seeded from `seed`, drawn in a fixed order (the commit's noise, then the
new frame's noise), so fused play, unfused play and `reference_rollout` (the uncached full forward) see the same
numbers. A Session holds all the mutable state; the model is shared read-only, so sessions can run side by side.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from kinema.flow.samplers import cat_conds, sample_euler
from kinema.flow.timesteps import sampling_schedule
from kinema.interactive.model import (KEYS, NULL_ACTION, START, PlayConfig, PlayDiT, bridge_start,
                                      check_action_guidance)
from kinema.models.dit import DiTCond

# ----------------------------------------------------------------------------------------------------------------------
# The model bundle
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class PlayModel:
    """A PlayDiT, its VAE (time_down = 1) and text encoder, and the PlayConfig they were trained with."""

    dit: PlayDiT
    vae: Any  # kinema.models.vae.CausalVAE
    text: Any  # kinema.models.text.TextEncoder
    cfg: PlayConfig
    size: tuple[int, int] = (64, 64)  # (width, height) it was trained at
    name: str = "kinema-explore"
    source: str = ""
    info: dict = field(default_factory=dict)  # provenance (training step, data) for metadata

    def __post_init__(self) -> None:
        if self.vae.cfg.time_down != 1:
            raise ValueError(f"interactive play needs a VAE with time_down=1 (one latent per frame), got "
                             f"{self.vae.cfg.time_down}")
        if self.vae.cfg.latent_channels != self.dit.cfg.latent_channels:
            raise ValueError("the VAE's latent_channels and the DiT's differ")

    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray) -> Tensor:
        """uint8 frames (T, H, W, 3), each encoded alone (the VAE's mean) -> DiT latents (1, C, T, h, w)."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)[:, :, None].float() / 127.5 - 1.0
        mean, _ = self.vae.encode(x)  # (T, C, 1, h, w): the frames as a batch of 1-frame videos
        return self.vae.normalize(mean).permute(2, 1, 0, 3, 4)  # (1, C, T, h, w)

    @torch.no_grad()
    def decode_frames(self, z: Tensor) -> np.ndarray:
        """DiT latents (1, C, T, h, w), each frame decoded alone -> uint8 frames (T, H, W, 3)."""
        y = self.vae.decode(self.vae.denormalize(z.permute(2, 1, 0, 3, 4)))  # (T, 3, 1, H, W)
        return ((y[:, :, 0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()

    @classmethod
    def random(cls, preset: str = "S", vae_preset: str = "f4t1", *, cfg: PlayConfig | None = None, seed: int = 0,
               text_encoder: str | Any = "minilm+zh") -> PlayModel:
        """Random weights at a preset size (benchmarks and tests). The DiT's zero-initialised output layers get small
        random values (the action warps' gains too), so the compute and the numbers are those of a trained model's
        shape. cfg.shortcut > 0 adds the step-size input, as training does."""
        from kinema.interactive.model import PRESETS, VAE_PRESETS, build_play_dit
        from kinema.models.text import load_text_encoder
        from kinema.models.vae import CausalVAE

        if vae_preset not in VAE_PRESETS:
            raise ValueError(f"unknown play VAE preset {vae_preset!r}; choose one of: {', '.join(VAE_PRESETS)}")
        cfg = cfg or PlayConfig()
        g = torch.Generator().manual_seed(seed)
        vae = CausalVAE(VAE_PRESETS[vae_preset], generator=g)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            arch = preset if cfg.shortcut == 0 or preset not in PRESETS else replace(PRESETS[preset], step_embed=True)
            dit = build_play_dit(arch, cfg.window, vae.cfg.latent_channels)
        with torch.no_grad():
            for p in list(dit.parameters()) + list(vae.parameters()):
                if p.ndim >= 2 and not p.any():
                    p.normal_(0.0, 0.02, generator=g)
            for block in dit.blocks:  # the action warps' gains start at 0 too
                if block.warp is not None:
                    block.warp.table.weight.normal_(0.0, 0.3, generator=g)
        text = load_text_encoder(text_encoder) if isinstance(text_encoder, str) else text_encoder
        return cls(dit=dit.eval(), vae=vae.eval(), text=text, cfg=cfg, name=f"random-{preset}")


# ----------------------------------------------------------------------------------------------------------------------
# The batched play step (Session, and the self-rollouts of training, kinema.interactive.recipe)
# ----------------------------------------------------------------------------------------------------------------------


def velocity(forward: Callable[..., Tensor], x: Tensor, t: Tensor, cond: DiTCond, guidance: float,
             cache=None) -> Tensor:
    """The velocity (B, C, T, h, w) of frames x (B, C, T, h, w) at times t (B, T); cond holds the per-frame actions
    and mask (B, T) (and step: the jump each frame takes, a shortcut model's mean velocity over it). forward(x, t,
    cond, cache) is the DiT. With action guidance g != 1 the noisy frames (mask 0) are also run with NULL_ACTION, in
    the same forward as rows B..2B-1 (context frames keep their actions in both halves, so both halves of the cache
    hold the same past), and v = v_null + g (v_action - v_null)."""
    if guidance == 1.0:
        return forward(x, t, cond, cache).float()
    B = x.shape[0]
    null = torch.where(cond.mask.bool(), cond.actions, NULL_ACTION)  # (B, T)
    two = cat_conds(cond, replace(cond, actions=null))  # every field batched twice, the actions null in the second
    v = forward(torch.cat([x, x]), torch.cat([t, t]), two, cache).float()  # (2B, C, T, h, w)
    return v[B:] + guidance * (v[:B] - v[B:])


def advance(forward: Callable[..., Tensor], cache, ctx: Tensor, x: Tensor, a_prev: Tensor, a: Tensor,
            times: list[float], tau: float, text: Tensor, text_mask: Tensor, guidance: float, *,
            step_embed: bool = False) -> Tensor:
    """One fused play step for B rollouts at once: commit the previous frames ctx (B, C, 1, h, w), already re-noised
    to t = tau, with their actions a_prev (B,) and take the first Euler step of the new frames from noise x
    (B, C, 1, h, w) with actions a (B,) in the same forward; then the remaining steps of `times` (1 -> 0) on the new
    frames alone. Returns their latents (B, C, 1, h, w). text (B, L, D), text_mask (B, L); step_embed: the DiT takes
    a per-frame jump (a shortcut model)."""
    B = x.shape[0]

    def cond(acts: list[Tensor], mask: list[float], jumps: list[float]) -> DiTCond:
        return DiTCond(text=text, text_mask=text_mask, mask=torch.tensor([mask]).expand(B, -1),
                       actions=torch.stack(acts, dim=1),
                       step=torch.tensor([jumps]).expand(B, -1) if step_embed else None)

    def at(*ts: float) -> Tensor:
        return torch.tensor([ts]).expand(B, -1)  # (B, T)

    cache.write, cache.keep = True, 1
    try:
        v = velocity(forward, torch.cat([ctx, x], dim=2), at(tau, times[0]),
                     cond([a_prev, a], [1.0, 0.0], [0.0, times[0] - times[1]]), guidance, cache)[:, :, 1:]
    finally:
        cache.write, cache.keep = False, None
    x = x + (times[1] - times[0]) * v  # (B, C, 1, h, w)
    for t, t_next in zip(times[1:-1], times[2:]):
        x = x + (t_next - t) * velocity(forward, x, at(t), cond([a], [0.0], [t - t_next]), guidance, cache)
    return x


# ----------------------------------------------------------------------------------------------------------------------
# One player's session
# ----------------------------------------------------------------------------------------------------------------------


class Session:
    """State of one interactive rollout: KV cache, VAE decoder cache, generator, the frame waiting to be committed."""

    def __init__(self, model: PlayModel, prompt: str = "", *, seed: int = 0, steps: int | None = None,
                 ctx_noise: float | None = None, shift: float | None = None, action_guidance: float | None = None,
                 fuse: bool = True, dit_bf16: bool = False, vae_bf16: bool = True, keep_latents: bool = False,
                 ego_gain: float | None = None, reproject: float | None = None) -> None:
        self.model, self.prompt = model, prompt
        if ego_gain is not None and model.cfg.ego_motion is None:
            raise ValueError(f"ego_gain raises the zooms each frame starts from; {model.name} has no ego motion "
                             "(kinema play train --ego-motion)")
        overrides = {k: float(v) for k, v in (("ego_gain", ego_gain), ("reproject", reproject)) if v is not None}
        self.cfg = replace(model.cfg, **overrides) if overrides else model.cfg  # PlayConfig checks them
        self.steps = int(steps if steps is not None else model.cfg.steps)
        self.ctx_noise = float(ctx_noise if ctx_noise is not None else model.cfg.ctx_noise)
        self.shift = float(shift if shift is not None else model.cfg.shift)
        g = float(action_guidance if action_guidance is not None else model.cfg.action_guidance)
        check_action_guidance(g)
        if g != 1.0 and not model.dit.has_null_action:
            raise ValueError(f"action guidance needs a model trained with a null action (kinema play train "
                             f"--action-dropout); {model.name} has none, so play it with action guidance 1")
        self.action_guidance = g
        if not 1 <= self.steps <= 64:
            raise ValueError(f"steps must be in [1, 64], got {self.steps}")
        if not 0.0 <= self.ctx_noise <= model.cfg.ctx_noise_max:
            raise ValueError(f"ctx_noise must be in [0, {model.cfg.ctx_noise_max}] (the context noise this model was "
                             f"trained with), got {self.ctx_noise}")
        self.times = [float(t) for t in sampling_schedule(self.steps, self.shift)]  # steps + 1 times, 1 -> 0
        self.fuse, self.dit_bf16, self.vae_bf16 = fuse, dit_bf16, vae_bf16
        self.generator = torch.Generator().manual_seed(int(seed))
        emb = model.text.encode([prompt])
        self.text, self.text_mask = emb.tokens, emb.mask  # (1, L, D), (1, L)
        self.cache = model.dit.new_cache()
        self.decoder_cache: dict = {}
        self.pending: tuple[Tensor, int] | None = None  # the last frame's latent (1, C, 1, h, w) and action
        self.latents: list[Tensor] | None = [] if keep_latents else None
        self.frames = 0
        self.timing = {"dit_s": 0.0, "decode_s": 0.0}  # of the last frame; decode_s: the VAE's (with reproject too)

    # ---- helpers -----------------------------------------------------------------------------------------------------

    def _cond(self, actions: list[int], mask: list[float], drop: bool | None = None) -> DiTCond:
        return DiTCond(text=self.text, text_mask=self.text_mask, mask=torch.tensor([mask]),
                       actions=torch.tensor([actions], dtype=torch.long),
                       drop_text=None if drop is None else torch.tensor([drop]))

    def _dit(self, x: Tensor, t: list[float] | Tensor, cond: DiTCond, cache=None) -> Tensor:
        """The velocity (B, C, T, h, w); t: one time per frame, a list (batch 1) or a (B, T) tensor."""
        t = t if isinstance(t, Tensor) else torch.tensor([t])  # (B, T)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.dit_bf16 and x.device.type == "cpu"):
            return self.model.dit(x, t, cond, cache).float()  # (B, C, T, h, w)

    def _velocity(self, x: Tensor, t: list[float], actions: list[int], mask: list[float], cache=None,
                  jumps: list[float] | None = None) -> Tensor:
        """The velocity (1, C, T, h, w) of frames x (1, C, T, h, w), one time, action and mask entry per frame; jumps:
        the step each frame takes (see :func:`velocity`)."""
        cond = DiTCond(text=self.text, text_mask=self.text_mask, mask=torch.tensor([mask]),
                       actions=torch.tensor([actions], dtype=torch.long),
                       step=torch.tensor([jumps or [0.0] * len(t)]) if self.model.dit.cfg.step_embed else None)
        return velocity(self._dit, x, torch.tensor([t]), cond, self.action_guidance, cache)

    def _renoise(self, z: Tensor) -> Tensor:
        """The committed frame as the cache sees it: (1 - tau) z + tau eps (noise augmentation)."""
        if self.ctx_noise == 0.0:
            return z
        eps = torch.randn(z.shape, generator=self.generator)  # (1, C, 1, h, w)
        return (1.0 - self.ctx_noise) * z + self.ctx_noise * eps

    def _finish(self, z: Tensor, action: int) -> np.ndarray:
        """Decode z to uint8 (H, W, 3) and keep it as the pending frame (with PlayConfig.reproject, after frame 0,
        moved that share of the way to the encoding of its picture)."""
        t0 = time.perf_counter()
        vae, r = self.model.vae, self.cfg.reproject
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.vae_bf16):
            x = vae.decode_next(vae.denormalize(z), self.decoder_cache)[0, :, -1].float().clamp(-1, 1)  # (3, H, W)
            if r > 0 and self.frames > 0:
                again = vae.normalize(vae.encode(x[None, :, None])[0].float())  # (1, C, 1, h, w): the picture's mean
                z = (1.0 - r) * z + r * again
        self.timing["decode_s"] = time.perf_counter() - t0
        self.pending = (z, action)
        self.frames += 1
        if self.latents is not None:
            self.latents.append(z)
        return ((x + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()

    # ---- starting ----------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def start_from_image(self, frame: np.ndarray) -> np.ndarray:
        """Begin at a given view (uint8 (H, W, 3), sides multiples of 8): encoded, it becomes frame 0."""
        self._check_fresh()
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
        self._check_size(frame.shape[1], frame.shape[0])
        return self._finish(self.model.encode_frames(frame[None]), START)  # (1, C, 1, h, w)

    @torch.no_grad()
    def start_from_text(self, size: tuple[int, int] | None = None, *, steps: int | None = None,
                        guidance: float | None = None) -> np.ndarray:
        """Begin at a view made from the prompt alone (frame 0 has no context): more steps, classifier-free guidance."""
        self._check_fresh()
        w, h = size or self.model.size
        self._check_size(w, h)
        f = self.model.vae.cfg.space_down
        steps = steps or self.model.cfg.first_steps
        guidance = self.model.cfg.first_guidance if guidance is None else guidance
        x = torch.randn((1, self.model.dit.cfg.latent_channels, 1, h // f, w // f), generator=self.generator)
        cond, uncond = self._cond([START], [0.0], False), self._cond([START], [0.0], True)
        z = sample_euler(self._dit, x, sampling_schedule(steps, self.shift),
                         cond, uncond=uncond, guidance=guidance)  # (1, C, 1, h, w)
        return self._finish(z, START)

    def _check_fresh(self) -> None:
        if self.pending is not None:
            raise ValueError("this session has already started; make a new Session to start again")

    def _check_size(self, w: int, h: int) -> None:
        m = self.model.vae.cfg.space_down * self.model.dit.cfg.patch[1]
        if w % m or h % m or w < m or h < m:
            raise ValueError(f"frame size must be a positive multiple of {m} pixels on both sides, got {w}x{h}")

    # ---- playing -----------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, key: str) -> np.ndarray:
        """Do action `key` (W S A D Q E .) and return the next frame, uint8 (H, W, 3)."""
        if key not in KEYS:
            raise ValueError(f"unknown action {key!r}; allowed: {' '.join(KEYS)}")
        if self.pending is None:
            raise ValueError("start the session first (start_from_image or start_from_text)")
        t0 = time.perf_counter()
        a, (z_prev, a_prev) = KEYS.index(key), self.pending
        ctx = self._renoise(z_prev)  # (1, C, 1, h, w)
        eps = torch.randn(z_prev.shape, generator=self.generator)  # (1, C, 1, h, w)
        x = bridge_start(self.cfg, z_prev, torch.tensor([[a]]), eps)  # noise, or a bridge from the last frame
        ts, tau, cache = self.times, self.ctx_noise, self.cache
        if self.fuse:  # commit the previous frame and take the first step of this one in one forward
            x = advance(self._dit, cache, ctx, x, torch.tensor([a_prev]), torch.tensor([a]), ts, tau, self.text,
                        self.text_mask, self.action_guidance, step_embed=self.model.dit.cfg.step_embed)
        else:
            cache.write = True
            self._velocity(ctx, [tau], [a_prev], [1.0], cache)
            cache.write = False
            for t, t_next in zip(ts[:-1], ts[1:]):
                x = x + (t_next - t) * self._velocity(x, [t], [a], [0.0], cache, [t - t_next])
        self.timing["dit_s"] = time.perf_counter() - t0
        return self._finish(x, a)


# ----------------------------------------------------------------------------------------------------------------------
# Scripted rollouts and the uncached reference
# ----------------------------------------------------------------------------------------------------------------------


def rollout(session: Session, keys: list[str], start: np.ndarray | None = None, *,
            size: tuple[int, int] | None = None, on_frame: Callable[[], Any] | None = None) -> np.ndarray:
    """Start (from `start`, or from the prompt) and do every action: uint8 (1 + len(keys), H, W, 3). on_frame is
    called after every frame (e.g. a progress bar's update)."""
    tick = on_frame or (lambda: None)
    frames = [session.start_from_image(start) if start is not None else session.start_from_text(size)]
    tick()
    for k in keys:
        frames.append(session.step(k))
        tick()
    return np.stack(frames)


@torch.no_grad()
def teacher_forced(model: PlayModel, truth: np.ndarray, keys: list[str], prompt: str = "", *, seed: int = 0,
                   **play: Any) -> Tensor:
    """Latents (1, C, T - 1, h, w) of frames 1 .. T - 1 of `truth` (uint8 (T, H, W, 3): a view, then the view after
    each of `keys`), each made by one play step from the true past: a Session (settings `play`: steps, ctx_noise,
    action_guidance, ...) that commits the true frame, encoded, in place of the one it made (teacher forcing). So the
    step is measured apart from the drift of a rollout (kinema eval play)."""
    truth = np.asarray(truth)
    if truth.ndim != 4 or len(truth) != len(keys) + 1:
        raise ValueError(f"truth must be uint8 (1 + len(keys), H, W, 3) = ({len(keys) + 1}, H, W, 3), got "
                         f"{truth.shape}")
    s = Session(model, prompt, seed=seed, **play)
    s.start_from_image(truth[0])
    true = model.encode_frames(truth[1:])  # (1, C, T-1, h, w): each frame alone, as start_from_image
    made = []
    for k, key in enumerate(keys):
        s.step(key)
        made.append(s.pending[0])
        s.pending = (true[:, :, k:k + 1], s.pending[1])  # the next step commits the truth
    return torch.cat(made, dim=2)  # (1, C, T-1, h, w)


@torch.no_grad()
def reference_rollout(model: PlayModel, z0: Tensor, keys: list[str], prompt: str = "", *, seed: int = 0,
                      steps: int | None = None, ctx_noise: float | None = None, shift: float | None = None,
                      action_guidance: float | None = None, ego_gain: float | None = None) -> list[Tensor]:
    """The latents a Session makes from frame-0 latent z0 (1, C, 1, h, w), computed without any cache: every model
    call is one full forward over all frames so far (quadratic; the test oracle for the KV cache and the window)."""
    s = Session(model, prompt, seed=seed, steps=steps, ctx_noise=ctx_noise, shift=shift,
                action_guidance=action_guidance, fuse=False, ego_gain=ego_gain)
    seq, times, acts, out = [], [], [], [z0]
    z, a_prev = z0, START
    for key in keys:
        a = KEYS.index(key)
        seq.append(s._renoise(z))
        times.append(s.ctx_noise)
        acts.append(a_prev)
        x = bridge_start(s.cfg, z, torch.tensor([[a]]), torch.randn(z.shape, generator=s.generator))
        mask = [1.0] * len(seq) + [0.0]
        for t, t_next in zip(s.times[:-1], s.times[1:]):
            jumps = [0.0] * len(seq) + [t - t_next]
            full = s._velocity(torch.cat(seq + [x], dim=2), times + [t], acts + [a], mask, jumps=jumps)
            # full: (1, C, n + 1, h, w)
            x = x + (t_next - t) * full[:, :, -1:]
        z, a_prev = x, a
        out.append(z)
    return out
