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
    def __init__(self, *, vae, dit, text_encoder, flow, data, name: str = "kinema", source: str = "") -> None:
        self.vae, self.dit, self.text, self.flow, self.data = vae, dit, text_encoder, flow, data
        self.name, self.source = name, source

    # ---- loading ---------------------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, path: str | Path, *, text_encoder: str | None = None) -> Pipeline:
        """Load from an exported model directory (config.json, vae.safetensors, dit.safetensors) or a DiT run
        directory (its latest checkpoint's EMA weights and the VAE it was trained on). Nothing is unpickled."""
        from safetensors.torch import load_file

        from kinema.models.dit import DiT, DiTConfig
        from kinema.models.text import load_text_encoder
        from kinema.models.vae import CausalVAE, VAEConfig
        from kinema.train.data import DataConfig
        from kinema.train.recipes import FlowConfig, load_vae, read_config, run_weights

        p = Path(path)
        conf = read_config(p)
        kind = conf.get("kind")
        if kind == "pipeline":
            vae = CausalVAE(VAEConfig(**conf["vae"]))
            vae.load_state_dict({k: v.float() for k, v in load_file(str(p / "vae.safetensors")).items()})
            dit_weights = load_file(str(p / "dit.safetensors"))
            dit_cfg = conf["dit"]
        elif kind == "dit":
            vae = load_vae(conf["vae_source"], cfg_override={k: conf["vae"][k] for k in ("latent_shift",
                                                                                          "latent_scale")})
            dit_weights, dit_cfg = run_weights(p), conf["model"]
        else:
            raise ValueError(f"{p} is not a DiT run or an exported kinema model (config kind {kind!r})")
        dit = DiT(DiTConfig(**{**dit_cfg, "grad_checkpointing": False}))
        dit.load_state_dict({k: v.float() for k, v in dit_weights.items()})
        text = load_text_encoder(text_encoder or conf.get("text_encoder", "minilm+zh"))
        return cls(vae=vae.eval().requires_grad_(False), dit=dit.eval().requires_grad_(False), text_encoder=text,
                   flow=FlowConfig(**conf.get("flow", {})), data=DataConfig(**conf.get("data", {})),
                   name=conf.get("name", p.name), source=str(p))

    # ---- shapes ----------------------------------------------------------------------------------------------------

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

    # ---- generation ------------------------------------------------------------------------------------------------

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

    @torch.no_grad()
    def generate(self, prompt: str, *, frames: int = 17, size: tuple[int, int] = (64, 64), fps: float | None = None,
                 seed: int = 0, steps: int = 16, guidance: float = 3.0, sampler: str = "euler", bf16: bool = True,
                 callback: Callable[[int, int, torch.Tensor], None] | None = None) -> Output:
        """Text to video (frames=1: text to image)."""
        from kinema.flow.samplers import sample
        from kinema.flow.timesteps import shift_for

        C, T, H, W = self.latent_shape(frames, size)
        pt, ph, pw = self.dit.cfg.patch
        shift = shift_for((T // pt) * (H // ph) * (W // pw), self.flow.shift_base_tokens)
        timings = {}
        t0 = time.perf_counter()
        cond, uncond = self._conds(prompt)
        timings["text_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        z = sample(self._velocity(bf16), (1, C, T, H, W), cond, steps=steps, sampler=sampler, guidance=guidance,
                   shift=shift, uncond=uncond, generator=torch.Generator().manual_seed(int(seed)), callback=callback)
        timings["denoise_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        video = self.decode(z)
        timings["decode_s"] = time.perf_counter() - t0
        meta = self.provenance(prompt=prompt, task="generate", seed=seed, steps=steps, guidance=guidance,
                               sampler=sampler, frames=frames, size=list(size), timings=timings)
        return Output(video=video, fps=float(fps or self.data.fps), metadata=meta)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> np.ndarray:
        """Normalised latent (1, C, T, H, W) -> uint8 (T', H', W', 3)."""
        x = self.vae.decode(self.vae.denormalize(z.float()))[0]  # (3, T', H', W')
        return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()

    def provenance(self, **kw: Any) -> dict[str, Any]:
        translate = getattr(self.text, "translate", None)
        prompt = kw.get("prompt")
        if translate is not None and prompt:
            kw["prompt_as_encoded"] = translate(prompt)
        return {"generator": f"kinema {__version__}", "model": self.name, "model_source": self.source,
                "flow": asdict(self.flow), **kw}


def default_model_dir() -> Path | None:
    """The shipped model (src/kinema/assets/kinema-physics), when this checkout has one."""
    p = Path(__file__).parent / "assets" / "kinema-physics"
    return p if (p / "config.json").is_file() else None
