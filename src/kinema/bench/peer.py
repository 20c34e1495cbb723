"""The peer: diffusers' CogVideoX at a configuration matched to a kinema DiT, built with random weights.

diffusers is not a dependency of kinema: it is imported here lazily, and a missing install ends in one line that
names the extra (`pip install 'kinema[peer]'`). Nothing is downloaded: the transformer and the VAE are built from
configs, and prompt embeddings are passed in (no T5).

Matching (same width, depth, heads, head_dim, latent channels, text width and patch as the kinema DiT): CogVideoX's
blocks have no cross-attention but attend over text + video jointly, and modulate with two 6*dim adaLN vectors; at
dim 384, depth 8, 6 heads x 64 it has 29,143,824 parameters against kinema peer29m's 29,380,368 (0.8% fewer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from kinema.models.dit import DiTConfig

INSTALL = "pip install 'kinema[peer]'"


class PeerMissing(ImportError):
    """diffusers (or transformers, which its CogVideoX pipeline imports) is not installed."""


def import_diffusers():
    """The diffusers module, or PeerMissing with one line telling the user what to install."""
    try:
        import diffusers
        from diffusers import AutoencoderKLCogVideoX, CogVideoXPipeline, CogVideoXTransformer3DModel  # noqa: F401
    except ImportError as e:
        raise PeerMissing(f"--peer needs diffusers and transformers ({e.name or e} is missing): {INSTALL}") from None
    return diffusers


# ----------------------------------------------------------------------------------------------------------------------
# The matched transformer and its analytic FLOPs
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class PeerShape:
    """A CogVideoX transformer matched to a DiTConfig, for latents of F x H x W and text_len text tokens."""

    layers: int
    heads: int
    head_dim: int
    latent_channels: int
    text_dim: int
    patch: int
    frames: int  # latent frames F
    height: int  # latent height H
    width: int  # latent width W
    text_len: int
    time_down: int = 4  # the VAE's temporal compression (CogVideoX sizes its position table in pixel frames)

    @classmethod
    def matching(cls, cfg: DiTConfig, frames: int, height: int, width: int, text_len: int,
                 time_down: int = 4) -> PeerShape:
        pt, ph, pw = cfg.patch
        if pt != 1 or ph != pw:
            raise ValueError(f"the CogVideoX peer needs a DiT patch (1, p, p), got {cfg.patch}")
        return cls(layers=cfg.depth, heads=cfg.heads, head_dim=cfg.head_dim, latent_channels=cfg.latent_channels,
                   text_dim=cfg.text_dim, patch=ph, frames=frames, height=height, width=width, text_len=text_len,
                   time_down=time_down)

    @property
    def dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def video_tokens(self) -> int:
        return self.frames * (self.height // self.patch) * (self.width // self.patch)

    def forward_flops(self) -> float:
        """Analytic FLOPs (2 x multiply-adds) of one forward for ONE sample: linear layers + attention scores.

        Per block and token of the joint text + video sequence (S = L + N): q, k, v, out (4 d^2) and the 4x MLP
        (8 d^2), and attention QK^T + AV (2 d S). Outside the blocks: patch embedding and output projection per video
        token (2 C p^2 d), the text projection per text token (text_dim d). Per-sample adaLN vectors are left out.
        """
        return sum(self.forward_flops_split().values())

    def forward_flops_split(self) -> dict[str, float]:
        """forward_flops in two parts: {"linear": linear layers, "attention": QK^T and AV}."""
        d, S, N = self.dim, self.text_len + self.video_tokens, self.video_tokens
        io = N * 2 * self.latent_channels * self.patch**2 * d + self.text_len * self.text_dim * d
        return {"linear": 2.0 * (self.layers * S * 12 * d * d + io), "attention": 2.0 * self.layers * S * 2 * d * S}


def build_transformer(shape: PeerShape):
    """diffusers.CogVideoXTransformer3DModel for `shape` (random init from torch's global RNG), in train mode."""
    import_diffusers()
    from diffusers import CogVideoXTransformer3DModel

    return CogVideoXTransformer3DModel(
        num_attention_heads=shape.heads, attention_head_dim=shape.head_dim, in_channels=shape.latent_channels,
        out_channels=shape.latent_channels, num_layers=shape.layers, time_embed_dim=shape.dim,
        text_embed_dim=shape.text_dim, patch_size=shape.patch, sample_width=shape.width, sample_height=shape.height,
        sample_frames=(shape.frames - 1) * shape.time_down + 1, temporal_compression_ratio=shape.time_down,
        max_text_seq_length=shape.text_len,  # the joint position table holds exactly the text we pass
    )


def transformer_inputs(shape: PeerShape, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random latents (B, F, C, H, W), text embeddings (B, L, text_dim), integer timesteps (B,) for one step."""
    return {
        "hidden_states": torch.randn(batch, shape.frames, shape.latent_channels, shape.height, shape.width,
                                     generator=generator),  # (B, F, C, H, W): CogVideoX puts frames before channels
        "encoder_hidden_states": torch.randn(batch, shape.text_len, shape.text_dim, generator=generator),  # (B, L, E)
        "timestep": torch.randint(0, 1000, (batch,), generator=generator),  # (B,)
    }


# ----------------------------------------------------------------------------------------------------------------------
# The matched sampling pipeline
# ----------------------------------------------------------------------------------------------------------------------


def build_pipeline(shape: PeerShape, space_down: int, vae_channels: int = 16):
    """CogVideoXPipeline with `shape`'s transformer (bf16 autocast, as kinema's DiT samples), a small CogVideoX VAE
    compressing space by `space_down` and time by shape.time_down (latent frames 1 + (frames - 1) / time_down, as
    kinema's), a DDIM scheduler, and no tokenizer or text encoder (pass prompt_embeds)."""
    import_diffusers()
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline

    levels = int(round(math.log2(space_down))) + 1
    if 2 ** (levels - 1) != space_down or not 1 <= shape.time_down <= 2 ** (levels - 1):
        raise ValueError(f"the peer VAE needs a power-of-two space_down >= time_down, got {space_down}")
    chans = tuple(vae_channels * 2**i for i in range(levels))
    vae = AutoencoderKLCogVideoX(
        down_block_types=("CogVideoXDownBlock3D",) * levels, up_block_types=("CogVideoXUpBlock3D",) * levels,
        block_out_channels=chans, latent_channels=shape.latent_channels, layers_per_block=1,
        norm_num_groups=min(8, vae_channels), temporal_compression_ratio=shape.time_down,
        sample_height=shape.height * space_down, sample_width=shape.width * space_down,
    )
    transformer = build_transformer(shape).eval()
    # bf16 autocast on the transformer only: kinema's pipeline runs its DiT so and its VAE in fp32
    transformer.forward = torch.autocast("cpu", dtype=torch.bfloat16)(transformer.forward)
    pipe = CogVideoXPipeline(tokenizer=None, text_encoder=None, vae=vae.eval(), transformer=transformer,
                             scheduler=CogVideoXDDIMScheduler())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def count_params(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())
