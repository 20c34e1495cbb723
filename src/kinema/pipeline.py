"""The Python API: a text encoder, a DiT and a VAE put together to make videos.

    from kinema import Pipeline
    pipe = Pipeline.from_pretrained("runs/dit")           # a DiT run directory or an exported model directory
    out = pipe.generate("a red ball moves right", frames=17, size=(64, 64), seed=0)
    out.save("ball.mp4")                                  # + ball.json: the provenance that reproduces it

A pipeline holds no sampling state: every call builds its own torch.Generator from `seed`, so one pipeline can serve
concurrent requests.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from kinema import __version__


@dataclass
class Output:
    """A generated clip: uint8 (T, H, W, 3) frames, its frame rate and everything needed to reproduce it."""

    video: np.ndarray
    fps: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Write the video (mp4/gif/png, provenance in the file's metadata) and a sidecar JSON beside it."""
        from kinema.video import write_video

        out = write_video(path, self.video, self.fps, metadata=self.metadata)
        out.with_suffix(".json").write_text(json.dumps(self.metadata, ensure_ascii=False, indent=1), encoding="utf-8")
        return out


class Pipeline:
    def __init__(self, *, vae, dit, text_encoder, flow, data, name: str = "kinema", source: str = "",
                 version: str = "") -> None:
        self.vae, self.dit, self.text, self.flow, self.data = vae, dit, text_encoder, flow, data
        self.name, self.source, self.version = name, source, version

    # ---- loading ---------------------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, path: str | Path, *, text_encoder: str | None = None) -> Pipeline:
        """Load from an exported model directory (config.json, vae.safetensors, dit.safetensors) or a DiT run
        directory (its latest checkpoint's EMA weights and the VAE it was trained on). Nothing is unpickled."""
        from kinema.models.dit import DiT, DiTConfig
        from kinema.models.text import load_text_encoder
        from kinema.train.checkpoint import latest_checkpoint
        from kinema.train.data import DataConfig
        from kinema.train.recipes import FlowConfig, load_trained, read_config

        p = Path(path)
        conf = read_config(p)
        kind = conf.get("kind")
        if kind not in ("pipeline", "dit"):
            raise ValueError(f"{p} is not a DiT run or an exported kinema model (config kind {kind!r})")
        vae, dit_weights, dit_cfg = load_trained(p, conf, run=kind == "dit")
        if kind == "pipeline":
            name = conf.get("version", f"step {conf.get('dit_step')}")
            version = f"{name} sha256:{_sha256(p / 'dit.safetensors')}"
        else:
            version = f"run checkpoint {latest_checkpoint(p).name}"
        dit = DiT(DiTConfig(**{**dit_cfg, "grad_checkpointing": False}))
        dit.load_state_dict(dit_weights)
        text = load_text_encoder(text_encoder or conf.get("text_encoder", "minilm+zh"))
        return cls(vae=vae, dit=dit.eval().requires_grad_(False), text_encoder=text,
                   flow=FlowConfig(**conf.get("flow", {})), data=DataConfig(**conf.get("data", {})),
                   name=conf.get("name", p.name), source=str(p), version=version)

    # ---- shapes and the trained range -----------------------------------------------------------------------------

    @property
    def time_factor(self) -> int:
        return self.vae.cfg.time_down

    @property
    def window(self) -> int:
        """Frames one sampling pass makes: the longest clip the model was trained on. Longer videos are chained."""
        return max(self.data.frames)

    @property
    def default_size(self) -> tuple[int, int]:
        from kinema.train.data import parse_wh

        return parse_wh(self.data.sizes[0])

    @property
    def default_steps(self) -> int:
        """Sampler steps when none are asked for: 4 for a shortcut model (trained for few steps: kinema train dit
        --shortcut), 16 for a flow-matching one."""
        return 4 if self.dit.cfg.step_embed else 16

    def resolve_steps(self, steps: int | None) -> int:
        return self.default_steps if steps is None else int(steps)

    def trained_range(self) -> dict[str, tuple[int, int]]:
        """The smallest and largest width and height the model was trained on (pixels)."""
        from kinema.train.data import parse_wh

        ws, hs = zip(*(parse_wh(s) for s in self.data.sizes))
        return {"width": (min(ws), max(ws)), "height": (min(hs), max(hs))}

    def check_request(self, frames: int, size: tuple[int, int]) -> None:
        """One clear error when a size is outside what the model was trained on (frames beyond the window chain)."""
        rng = self.trained_range()
        w, h = size
        (w0, w1), (h0, h1) = rng["width"], rng["height"]
        if not (w0 <= w <= w1 and h0 <= h <= h1):
            raise ValueError(f"size {w}x{h} is outside this model's trained range: width {w0}..{w1}, height {h0}..{h1} "
                             f"pixels (trained sizes: {', '.join(self.data.sizes)})")
        if frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")

    def latent_shape(self, frames: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """(C, T, H, W) of the latent for `frames` frames of `size` (width, height); one clear error if it can't be."""
        tf, sf = self.vae.cfg.time_down, self.vae.cfg.space_down
        pt, ph, pw = self.dit.cfg.patch
        w, h = size
        if frames < 1 or (frames - 1) % tf:
            raise ValueError(f"frames must be 1 + {tf}k for this model (1, {1 + tf}, {1 + 2 * tf}, ...), got {frames}")
        if w % (sf * pw) or h % (sf * ph) or w < 1 or h < 1:
            raise ValueError(f"size must be a multiple of {sf * pw}x{sf * ph} pixels for this model, got {w}x{h}")
        return self.vae.cfg.latent_channels, 1 + (frames - 1) // tf, h // sf, w // sf

    def valid_frames(self, frames: int) -> int:
        """The smallest frame count >= `frames` that the VAE's time layout (1 + f k) allows."""
        tf = self.time_factor
        return 1 + tf * math.ceil(max(frames - 1, 0) / tf)

    # ---- the shared sampler ----------------------------------------------------------------------------------------

    def _conds(self, prompt: str):
        from kinema.models.dit import DiTCond

        emb = self.text.encode([prompt])
        cond = DiTCond(text=emb.tokens, text_mask=emb.mask, drop_text=torch.tensor([False]))
        uncond = DiTCond(text=emb.tokens, text_mask=emb.mask, drop_text=torch.tensor([True]))
        return cond, uncond

    def _velocity(self, bf16: bool) -> Callable:
        def model(x, t, cond):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and x.device.type == "cpu"):
                return self.dit(x, t, cond).float()
        return model

    def _sample(self, prompt: str, shape: tuple[int, ...], *, seed: int, steps: int, guidance: float, sampler: str,
                bf16: bool, context: torch.Tensor | None = None, context_mask: torch.Tensor | None = None,
                start: tuple[torch.Tensor, float] | None = None, callback=None, timings: dict | None = None,
                history_guidance: bool = False):
        """Latent (1, C, T, H, W) from noise (or from `start` = (clean latent, strength): SDEdit), with context frames
        pinned where context_mask (1, T) is 1 and given t = 0 (the DiT sees them exactly as in training).
        history_guidance: the guidance's unconditional branch drops the context frames as well as the prompt
        (history_free_velocity), so guidance > 1 pushes the sample towards what the given frames imply."""
        from dataclasses import replace

        from kinema.flow.samplers import SAMPLERS, noise_like
        from kinema.flow.timesteps import sampling_schedule, shift_for

        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}")
        timings = {} if timings is None else timings
        _, _, T, H, W = shape
        pt, ph, pw = self.dit.cfg.patch
        shift = shift_for((T // pt) * (H // ph) * (W // pw), self.flow.shift_base_tokens)
        t0 = time.perf_counter()
        cond, uncond = self._conds(prompt)
        if context_mask is not None:
            cond, uncond = replace(cond, mask=context_mask.float()), replace(uncond, mask=context_mask.float())
        timings["text_s"] = timings.get("text_s", 0.0) + time.perf_counter() - t0
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(int(seed))
        x = noise_like(shape, gen)  # (1, C, T, H, W)
        ts = sampling_schedule(steps, shift)
        if start is not None:
            z0, strength = start
            ts = ts * strength  # the same schedule, started at t = strength instead of 1
            x = (1 - strength) * z0 + strength * x  # the clean latent noised to t = strength
        velocity = self._velocity(bf16)
        if history_guidance and context_mask is not None and guidance != 1:
            uncond = replace(uncond, mask=torch.zeros_like(context_mask, dtype=torch.float32))
            velocity = history_free_velocity(velocity, context, context_mask, x.clone())
        z = SAMPLERS[sampler](velocity, x, ts, cond, uncond=uncond, guidance=guidance, context=context,
                              context_mask=context_mask, callback=callback)
        timings["denoise_s"] = timings.get("denoise_s", 0.0) + time.perf_counter() - t0
        return z

    # ---- latents <-> frames ----------------------------------------------------------------------------------------

    @torch.no_grad()
    def encode(self, video: np.ndarray) -> torch.Tensor:
        """uint8 (T, H, W, 3) with T = 1 + f k -> normalised latent (1, C, 1 + k, H/s, W/s)."""
        from kinema.train.data import to_model_video
        from kinema.train.recipes import encode_latents

        return encode_latents(self.vae, to_model_video(video)[None])

    @torch.no_grad()
    def decode(self, z: torch.Tensor, *, bf16: bool = False) -> np.ndarray:
        """Normalised latent (1, C, T, H, W) -> uint8 (T', H', W', 3). bf16=True runs the decoder under bf16 autocast
        on CPU (the generating methods pass their own bf16): several times faster, within 2/255 of fp32 (tested)."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and z.device.type == "cpu"):
            x = self.vae.decode(self.vae.denormalize(z.float()))[0].float()  # (3, T', H', W')
        return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()

    def _frames_in(self, video, what: str) -> np.ndarray:
        """A path or uint8 (T, H, W, 3) / (H, W, 3) array -> uint8 (T, H, W, 3), checked against the trained range."""
        if isinstance(video, (str, Path)):
            from kinema.video import read_video

            video = read_video(video, fps=self.data.fps)[0]
        v = np.asarray(video)
        if v.ndim == 3:
            v = v[None]
        if v.ndim != 4 or v.shape[-1] != 3 or v.dtype != np.uint8 or v.shape[0] < 1:
            raise ValueError(f"{what} must be uint8 frames (T, H, W, 3) or an image (H, W, 3), got {v.dtype} "
                             f"{tuple(v.shape)}")
        self.check_request(v.shape[0], (v.shape[2], v.shape[1]))
        self.latent_shape(1, (v.shape[2], v.shape[1]))
        return v

    # ---- one pass: N frames with some frames given -----------------------------------------------------------------

    def _pass(self, prompt: str, frames: int, size: tuple[int, int], *, head: np.ndarray | None = None,
              tail: np.ndarray | None = None, timings: dict, **kw) -> np.ndarray:
        """Generate `frames` (a valid count) frames of `size`; `head` frames are kept at the start, `tail` at the end.

        The latent frames fully covered by the given frames become clean context (mask 1); the given pixels are
        pasted back over the decoded result, so they come out exactly as they went in.
        """
        C, T, H, W = self.latent_shape(frames, size)
        tf = self.time_factor
        z_ctx = torch.zeros(1, C, T, H, W)
        mask = torch.zeros(1, T)
        t0 = time.perf_counter()
        if head is not None and len(head):
            n = min(1 + (len(head) - 1) // tf, T)  # latent frames whose every pixel frame is known
            z_ctx[:, :, :n] = self.encode(head[:1 + tf * (n - 1)])[:, :, :n]
            mask[:, :n] = 1
        if tail is not None and len(tail):
            n = min(len(tail) // tf, T - 1)  # the last latent frames each hold f frames (frame 0 is alone)
            if n >= 1:
                # a causal encoder needs a past: the tail's first frame held still before it, like a paused video
                pad = np.repeat(tail[-tf * n:][:1], frames - tf * n, axis=0)
                z_ctx[:, :, T - n:] = self.encode(np.concatenate([pad, tail[-tf * n:]]))[:, :, T - n:]
                mask[:, T - n:] = 1
        timings["encode_s"] = timings.get("encode_s", 0.0) + time.perf_counter() - t0
        has_ctx = bool(mask.any())
        z = self._sample(prompt, (1, C, T, H, W), context=z_ctx if has_ctx else None,
                         context_mask=mask if has_ctx else None, timings=timings, **kw)
        t0 = time.perf_counter()
        out = self.decode(z, bf16=kw["bf16"])
        timings["decode_s"] = timings.get("decode_s", 0.0) + time.perf_counter() - t0
        if head is not None:
            out[:len(head)] = head[:frames]
        if tail is not None:
            out[frames - len(tail):] = tail[-frames:]
        return out

    def _forward(self, prompt: str, frames: int, size, *, head: np.ndarray | None, seed: int, timings: dict,
                 callback, progress: Callable[[int, int], None] | None, context_frames: int | None = None,
                 **kw) -> np.ndarray:
        """`frames` frames forward in time: one window (starting from `head`'s frames, kept exactly, or from noise),
        then chained extension past the window on the last `context_frames` frames (default 3, Phyworld's protocol,
        or fewer if the first window is shorter)."""
        n = self.valid_frames(min(frames, self.window))
        video = self._pass(prompt, n, size, head=head, seed=seed, timings=timings, callback=callback, **kw)
        if frames > len(video):
            k = min(3, len(video)) if context_frames is None else context_frames
            video = self._chain(prompt, video, frames, size, context_frames=k, seed=seed, progress=progress,
                                timings=timings, **kw)
        return video[:frames]

    def _chain(self, prompt: str, first: np.ndarray, frames: int, size, *, context_frames: int, seed: int,
               progress: Callable[[int, int], None] | None, timings: dict, **kw) -> np.ndarray:
        """Extend `first` forward, one window at a time, each conditioned on the last `context_frames` frames."""
        video = first
        window, k = self.window, context_frames
        if window - k < 1:
            raise ValueError(f"context_frames ({k}) must be smaller than the model's window ({window} frames)")
        i = 0
        while len(video) < frames:
            i += 1
            out = self._pass(prompt, window, size, head=video[-k:], seed=seed + i, timings=timings, **kw)
            video = np.concatenate([video, out[k:]])
            if progress is not None:
                progress(min(len(video), frames), frames)
        return video[:frames]

    def _check_frames_and_size(self, frames: int, size: tuple[int, int]) -> None:
        self.check_request(frames, size)
        self.latent_shape(1, size)

    # ---- the capabilities ------------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, prompt: str, *, frames: int = 17, size: tuple[int, int] | None = None, fps: float | None = None,
                 seed: int = 0, steps: int | None = None, guidance: float = 3.0, sampler: str = "euler",
                 bf16: bool = True, loop: bool = False, expand: bool = True,
                 callback: Callable[[int, int, torch.Tensor], None] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Output:
        """Text to video (frames=1: text to image). Longer than the model's window: chained extension, 3 context
        frames at a time (Phyworld's protocol). loop=True adds a generated transition from the last frame back to
        the first, so the clip plays seamlessly in a loop. size (width, height) defaults to the first trained size."""
        size = tuple(size) if size is not None else self.default_size
        self._check_frames_and_size(frames, size)
        steps = self.resolve_steps(steps)
        kw = dict(steps=steps, guidance=guidance, sampler=sampler, bf16=bf16)
        timings: dict = {}
        asked, prompt, expansion = prompt, *self.expand(prompt, expand, seed, frames)
        video = self._forward(prompt, frames, size, head=None, seed=seed, timings=timings, callback=callback,
                              progress=progress, **kw)
        extra = {}
        if loop:
            video, extra = self._close_loop(prompt, video, size, seed=seed, timings=timings, **kw)
        meta = self.provenance(prompt=asked, **expansion, task="generate", seed=seed, steps=steps, guidance=guidance,
                               sampler=sampler, frames=frames, size=list(size), loop=loop, timings=timings, **extra)
        return Output(video=video, fps=float(fps or self.data.fps), metadata=meta)

    def _close_loop(self, prompt: str, video: np.ndarray, size, *, seed: int, timings: dict, **kw):
        tf = self.time_factor
        bridge_len = self.valid_frames(max(2 * tf + 1, min(self.window, len(video) // 2 + 1)))
        bridge = self._pass(prompt, bridge_len, size, head=video[-1:], tail=video[:tf], seed=seed + 7919,
                            timings=timings, **kw)
        looped = np.concatenate([video, bridge[1:bridge_len - tf]])
        return looped, {"loop_transition_frames": int(bridge_len - 1 - tf), "frames_out": int(len(looped))}

    @torch.no_grad()
    def animate(self, image, *, prompt: str = "", frames: int = 17, fps: float | None = None, seed: int = 0,
                steps: int | None = None, guidance: float = 3.0, sampler: str = "euler", bf16: bool = True,
                expand: bool = True, callback=None, progress=None) -> Output:
        """Image to video: the image is frame 0, kept exactly; the rest is generated (chained past the window)."""
        img = self._frames_in(image, "image")[:1]
        size = (img.shape[2], img.shape[1])
        self._check_frames_and_size(frames, size)
        steps = self.resolve_steps(steps)
        kw = dict(steps=steps, guidance=guidance, sampler=sampler, bf16=bf16)
        timings: dict = {}
        asked, prompt, expansion = prompt, *self.expand(prompt, expand, seed, frames)
        video = self._forward(prompt, frames, size, head=img, seed=seed, timings=timings, callback=callback,
                              progress=progress, **kw)
        meta = self.provenance(prompt=asked, **expansion, task="animate", seed=seed, steps=steps, guidance=guidance,
                               sampler=sampler, frames=frames, size=list(size), timings=timings)
        return Output(video=video, fps=float(fps or self.data.fps), metadata=meta)

    @torch.no_grad()
    def extend(self, video, *, prompt: str = "", context_frames: int = 3, frames: int | None = None,
               backward: bool = False, fps: float | None = None, seed: int = 0, steps: int | None = None,
               guidance: float = 3.0, sampler: str = "euler", bf16: bool = True, expand: bool = True,
               history_guidance: bool = False, callback=None, progress=None) -> Output:
        """Keep the first `context_frames` frames of `video` (the last ones with backward=True) exactly and generate
        the rest, `frames` frames in all (default: the model's window). Forward extension chains past the window.
        history_guidance=True guides on the kept frames as well as the prompt (the unconditional branch has
        neither; Song et al. 2025, history guidance, arXiv 2502.06764)."""
        v = self._frames_in(video, "video")
        size = (v.shape[2], v.shape[1])
        k = int(context_frames)
        if not 1 <= k <= len(v):
            raise ValueError(f"context_frames must be in 1..{len(v)} (the video's length), got {k}")
        frames = self.window if frames is None else int(frames)
        if frames <= k:
            raise ValueError(f"frames ({frames}) must be larger than context_frames ({k}): it is the output's length")
        self._check_frames_and_size(frames, size)
        steps = self.resolve_steps(steps)
        kw = dict(steps=steps, guidance=guidance, sampler=sampler, bf16=bf16, history_guidance=history_guidance)
        timings: dict = {}
        asked, prompt, expansion = prompt, *self.expand(prompt, expand, seed, frames)
        if backward:
            if frames > self.window:
                raise ValueError(f"backward extension makes at most the model's window, {self.window} frames")
            if k < self.time_factor:
                raise ValueError(f"backward extension needs context_frames >= {self.time_factor} for this model")
            n = self.valid_frames(frames)
            out = self._pass(prompt, n, size, tail=v[-k:], seed=seed, timings=timings, callback=callback, **kw)
            out = out[n - frames:]
        else:
            out = self._forward(prompt, frames, size, head=v[:k], context_frames=k, seed=seed, timings=timings,
                                callback=callback, progress=progress, **kw)
        meta = self.provenance(prompt=asked, **expansion, task="extend", seed=seed, steps=steps, guidance=guidance,
                               sampler=sampler, frames=frames, size=list(size), context_frames=k, backward=backward,
                               history_guidance=history_guidance, timings=timings)
        return Output(video=out, fps=float(fps or self.data.fps), metadata=meta)

    @torch.no_grad()
    def connect(self, video_a, video_b, *, prompt: str = "", frames: int | None = None, fps: float | None = None,
                seed: int = 0, steps: int | None = None, guidance: float = 3.0, sampler: str = "euler",
                bf16: bool = True, expand: bool = True, callback=None) -> Output:
        """A then a generated transition then B: the transition (`frames` frames, default the window) starts at A's
        last frame and ends on B's first frames, which stay exact."""
        steps = self.resolve_steps(steps)
        a, b = self._frames_in(video_a, "video A"), self._frames_in(video_b, "video B")
        if a.shape[1:] != b.shape[1:]:
            raise ValueError(f"videos A and B must have the same size, got {a.shape[2]}x{a.shape[1]} and "
                             f"{b.shape[2]}x{b.shape[1]}")
        size, tf = (a.shape[2], a.shape[1]), self.time_factor
        frames = self.window if frames is None else int(frames)
        if not 2 * tf + 1 <= frames <= self.window:
            raise ValueError(f"the transition's frames must be in {2 * tf + 1}..{self.window} for this model, "
                             f"got {frames}")
        if len(b) < tf:
            raise ValueError(f"video B needs at least {tf} frames for this model")
        self._check_frames_and_size(frames, size)
        n = self.valid_frames(frames)
        timings: dict = {}
        asked, prompt, expansion = prompt, *self.expand(prompt, expand, seed, frames)
        bridge = self._pass(prompt, n, size, head=a[-1:], tail=b[:tf], seed=seed, timings=timings,
                            callback=callback, steps=steps, guidance=guidance, sampler=sampler, bf16=bf16)
        out = np.concatenate([a, bridge[1:n - tf], b])
        meta = self.provenance(prompt=asked, **expansion, task="connect", seed=seed, steps=steps, guidance=guidance,
                               sampler=sampler, frames=frames, size=list(size), timings=timings,
                               segments={"a": [0, len(a)], "transition": [len(a), len(a) + n - 1 - tf],
                                         "b": [len(a) + n - 1 - tf, len(out)]})
        return Output(video=out, fps=float(fps or self.data.fps), metadata=meta)

    @torch.no_grad()
    def edit(self, video, *, prompt: str, strength: float = 0.6, fps: float | None = None, seed: int = 0,
             steps: int | None = None, guidance: float = 3.0, sampler: str = "euler", bf16: bool = True,
             expand: bool = True, callback=None) -> Output:
        """Video to video (SDEdit, Meng et al. 2022): noise the video's latent to t = strength, then denoise it
        under `prompt`. strength 0 returns the (VAE-reconstructed) input, 1 ignores it."""
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {strength}")
        steps = self.resolve_steps(steps)
        v = self._frames_in(video, "video")
        size = (v.shape[2], v.shape[1])
        n = min(len(v), self.window)
        n = 1 + self.time_factor * ((n - 1) // self.time_factor)  # the longest valid count that fits
        v = v[:n]
        timings: dict = {}
        asked, prompt, expansion = prompt, *self.expand(prompt, expand, seed, n)
        t0 = time.perf_counter()
        z0 = self.encode(v)
        timings["encode_s"] = time.perf_counter() - t0
        z = self._sample(prompt, tuple(z0.shape), seed=seed, steps=steps, guidance=guidance, sampler=sampler,
                         bf16=bf16, start=(z0, float(strength)), callback=callback, timings=timings)
        t0 = time.perf_counter()
        out = self.decode(z, bf16=bf16)
        timings["decode_s"] = time.perf_counter() - t0
        meta = self.provenance(prompt=asked, **expansion, task="edit", seed=seed, steps=steps, guidance=guidance,
                               sampler=sampler, frames=n, size=list(size), strength=strength, timings=timings)
        return Output(video=out, fps=float(fps or self.data.fps), metadata=meta)

    @staticmethod
    def expand(prompt: str, expand: bool, seed: int, frames: int) -> tuple[str, dict[str, Any]]:
        """(the text the model is given, provenance fields): a short prompt becomes the detailed caption style the
        model was trained on (kinema.prompts.expand_prompt); expand=False gives the prompt as written."""
        if not expand or not prompt.strip():
            return prompt, {"expanded_prompt": None}
        from kinema.prompts import expand_prompt

        e = expand_prompt(prompt, seed=seed, frames=max(frames, 2))
        return e.text, {"expanded_prompt": e.text, "expansion_notes": e.notes}

    def provenance(self, **kw: Any) -> dict[str, Any]:
        translate = getattr(self.text, "translate", None)
        prompt = kw.get("expanded_prompt") or kw.get("prompt")
        if translate is not None and prompt:
            kw["prompt_as_encoded"] = translate(prompt)
        return {"generator": f"kinema {__version__}", "model": self.name, "model_version": self.version,
                "model_source": self.source, "flow": asdict(self.flow), **kw}


def history_free_velocity(velocity: Callable, context: torch.Tensor, context_mask: torch.Tensor,
                          noise: torch.Tensor) -> Callable:
    """velocity (x, t, cond) -> v, wrapped for history guidance: in a guided call (the rows [cond; uncond] batched,
    twice the rows of context (B, C, T, H, W)) the unconditional rows get no context frames: where context_mask
    (B, T) is 1 their latent is the context noised to the generated frames' time t along the sample's own noise
    (B, C, T, H, W), (1 - t) context + t noise, and their time is t, so that branch is text-to-video-like on the same
    path (the caller gives it a zero mask). Unguided calls (B rows) pass through."""
    m = context_mask.bool()  # (B, T)

    def wrapped(x: torch.Tensor, t: torch.Tensor, cond) -> torch.Tensor:
        B = context.shape[0]
        if x.shape[0] == B:
            return velocity(x, t, cond)
        t_gen = t[B:].amax(dim=1)  # (B,): the generated frames' time (context frames sit at 0)
        tt = t_gen.view(B, 1, 1, 1, 1).to(x.dtype)
        x_u = torch.where(m[:, None, :, None, None], (1 - tt) * context.to(x.dtype) + tt * noise.to(x.dtype), x[B:])
        t_u = torch.where(m, t_gen[:, None], t[B:])  # (B, T)
        return velocity(torch.cat([x[:B], x_u]), torch.cat([t[:B], t_u]), cond)

    return wrapped


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def default_model_dir() -> Path | None:
    """The shipped model (src/kinema/assets/kinema-physics), when this checkout has one."""
    p = Path(__file__).parent / "assets" / "kinema-physics"
    return p if (p / "config.json").is_file() else None
