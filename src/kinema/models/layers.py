"""Building blocks of the spacetime Diffusion Transformer (kinema.models.dit).

References: DiT (Peebles & Xie 2023, arXiv 2212.09748) for the timestep embedding and adaLN modulation;
RoFormer / RoPE (Su et al. 2021, arXiv 2104.09864) extended to three axes (t, h, w) as in video DiTs;
QK-norm (Dehghani et al. 2023, arXiv 2302.05442); "Video generation models as world simulators" (Sora report, 2024).

Everything here is shape-generic: no layer knows the grid size, so one model runs at any T x H x W.
Tensors inside attention are (B, heads, N, head_dim); tokens are ordered t-major, then h, then w.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# ----------------------------------------------------------------------------------------------------------------------
# Norms and modulation
# ----------------------------------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """Root-mean-square norm over the last axis, returned in the input dtype."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        # the fused kernel accumulates in float32 when input and weight share a dtype (bf16 under autocast)
        return F.rms_norm(x, (x.shape[-1],), self.weight.to(x.dtype), self.eps)  # (..., dim)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN modulation x * (1 + scale) + shift; shift/scale broadcast against x (e.g. one vector per frame)."""
    return torch.addcmul(shift, x, 1 + scale)  # one pass over x


# ----------------------------------------------------------------------------------------------------------------------
# Timestep embedding
# ----------------------------------------------------------------------------------------------------------------------


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal features of flow time t in [0, 1] (any shape) -> (*t.shape, dim) float32.

    t is multiplied by 1000 first so that the frequencies cover the same range as DiT's integer timesteps.
    """
    half = dim // 2
    steps = torch.arange(half, device=t.device, dtype=torch.float32) / half  # (half,)
    freqs = torch.exp(-math.log(max_period) * steps)  # (half,)
    args = (t.float() * 1000.0)[..., None] * freqs  # (..., half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (..., 2*half)
    if dim % 2:
        emb = F.pad(emb, (0, 1))  # (..., dim)
    return emb


class TimestepEmbedder(nn.Module):
    """t in [0, 1] -> sinusoidal features -> MLP -> (…, dim)."""

    def __init__(self, dim: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        emb = timestep_embedding(t, self.freq_dim).to(self.mlp[0].weight.dtype)  # (..., freq_dim)
        return self.mlp(emb)  # (..., dim)


# ----------------------------------------------------------------------------------------------------------------------
# 3D rotary position embedding
# ----------------------------------------------------------------------------------------------------------------------


def rope_split(head_dim: int) -> tuple[int, int, int]:
    """How head_dim is shared between the (t, h, w) axes: 3/8 each to h and w, the rest (>= 1/4) to t; all even.

    head_dim 16 -> (4, 6, 6), 32 -> (8, 12, 12), 64 -> (16, 24, 24), 128 -> (32, 48, 48).
    """
    if head_dim % 2 or head_dim < 8:
        raise ValueError(f"head_dim must be even and >= 8 for 3D RoPE, got {head_dim}")
    d_hw = 2 * round(3 * head_dim / 16)
    return head_dim - 2 * d_hw, d_hw, d_hw


def _axis_angles(pos: Tensor, d: int, theta: float) -> Tensor:
    """Rotation angles of one axis: positions (N,) -> (N, d // 2)."""
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)  # (d/2,)
    return (pos.double()[:, None] * freqs[None]).float()  # (N, d/2)


def rope_3d(
    T: int,
    H: int,
    W: int,
    head_dim: int,
    *,
    theta: float = 10000.0,
    t_start: float = 0.0,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """cos and sin for a T x H x W token grid, each (T*H*W, head_dim) float32, tokens t-major then h then w.

    Channel i is paired with channel i + head_dim/2 and both get the same angle, so cos = [c, c]; sin = [-s, s]
    carries the sign of the rotation, which makes apply_rope two multiplies. Positions are real numbers
    (t_start + i, j, k): any grid works and a chunk of frames can continue a cached sequence (t_start = number of
    cached frames). Only position differences reach q.k. Angles are computed in float64 on the CPU (MPS has no
    float64), then stored as float32 on `device`.
    """
    d_t, d_h, d_w = rope_split(head_dim)
    tt = torch.arange(T, dtype=torch.float64) + t_start  # (T,)
    hh = torch.arange(H, dtype=torch.float64)  # (H,)
    ww = torch.arange(W, dtype=torch.float64)  # (W,)
    gt, gh, gw = torch.meshgrid(tt, hh, ww, indexing="ij")  # (T, H, W) each
    angles = torch.cat(
        [
            _axis_angles(gt.reshape(-1), d_t, theta),  # (N, d_t/2)
            _axis_angles(gh.reshape(-1), d_h, theta),  # (N, d_h/2)
            _axis_angles(gw.reshape(-1), d_w, theta),  # (N, d_w/2)
        ],
        dim=-1,
    )  # (N, head_dim/2)
    cos, sin = torch.cos(angles), torch.sin(angles)  # (N, head_dim/2) each
    cos, sin = torch.cat([cos, cos], dim=-1), torch.cat([-sin, sin], dim=-1)  # (N, head_dim) each
    return cos.to(device), sin.to(device)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs (i, i + head_dim/2) of x (B, heads, N, head_dim) by rope_3d's angles, cos/sin (N, hd).

    [x1, x2] -> [x1 c - x2 s, x2 c + x1 s], computed in x's dtype (cos/sin are cast to it).
    """
    swapped = x.unflatten(-1, (2, -1)).flip(-2).flatten(-2)  # (B, h, N, hd): [x2, x1]
    return torch.addcmul(x * cos.to(x.dtype), swapped, sin.to(x.dtype))  # (B, h, N, hd)


# ----------------------------------------------------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class KVCache:
    """Keys and values of earlier tokens for one self-attention layer (frame-by-frame generation).

    Each call attends to the cached past plus its own tokens. write=False leaves the cache as it was (the denoising
    steps of a new frame); write=True appends this call's keys/values (committing context or finished frames).
    """

    k: Tensor | None = None  # (B, heads, N_past, head_dim)
    v: Tensor | None = None  # (B, heads, N_past, head_dim)
    write: bool = False

    @property
    def length(self) -> int:
        """Number of cached tokens."""
        return 0 if self.k is None else self.k.shape[2]

    def extend(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Past + current keys/values (B, heads, N_past + N, head_dim); stored when write is True."""
        if self.k is not None:
            if self.k.shape[0] != k.shape[0]:
                raise ValueError(f"KV cache holds batch {self.k.shape[0]}, this call has batch {k.shape[0]}")
            k = torch.cat([self.k.to(k.dtype), k], dim=2)  # (B, h, N_past + N, hd)
            v = torch.cat([self.v.to(v.dtype), v], dim=2)  # (B, h, N_past + N, hd)
        if self.write:
            self.k, self.v = k.detach(), v.detach()
        return k, v


class Attention(nn.Module):
    """Multi-head self-attention: fused QKV projection, optional QK-RMSNorm, RoPE, SDPA, optional boolean mask."""

    def __init__(self, dim: int, heads: int, qk_norm: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: Tensor,
        rope: tuple[Tensor, Tensor] | None,
        mask: Tensor | None = None,
        kv_cache: KVCache | None = None,
        extra: Callable[[Tensor], Tensor] | None = None,
    ) -> Tensor:
        """x (B, N, dim); rope = (cos, sin) each (N, head_dim); mask bool (N, N_past + N), True = may attend; extra:
        values (B, h, N_past + N, hd) -> (B, h, N, hd) added to each head's output (kinema.models.dit.ActionWarp)."""
        B, N, D = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.heads, self.head_dim)  # (B, N, 3, h, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, h, N, hd) each
        q, k = self.q_norm(q), self.k_norm(k)  # (B, h, N, hd)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)  # (B, h, N, hd)
        if kv_cache is not None:
            k, v = kv_cache.extend(k, v)  # (B, h, N_past + N, hd)
        v = v.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, N, hd)
        if extra is not None:
            out = out + extra(v).to(out.dtype)  # (B, h, N, hd)
        out = out.transpose(1, 2).reshape(B, N, D)  # (B, N, dim)
        return self.proj(out)  # (B, N, dim)


class CrossAttention(nn.Module):
    """Video tokens (queries) attend to text tokens (keys/values) with a key padding mask."""

    def __init__(self, dim: int, context_dim: int, heads: int, qk_norm: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads, self.head_dim = heads, dim // heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim, 2 * dim)
        self.q_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor, context_mask: Tensor | None = None) -> Tensor:
        """x (B, N, dim); context (B, L, context_dim); context_mask (B, L) bool, True = real token, False = padding."""
        B, N, D = x.shape
        L = context.shape[1]
        q = self.q(x).view(B, N, self.heads, self.head_dim).transpose(1, 2)  # (B, h, N, hd)
        kv = self.kv(context).view(B, L, 2, self.heads, self.head_dim)  # (B, L, 2, h, hd)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, h, L, hd) each
        q, k = self.q_norm(q), self.k_norm(k)  # (B, h, ·, hd)
        mask = None if context_mask is None else context_mask[:, None, None, :]  # (B, 1, 1, L)
        out = F.scaled_dot_product_attention(q, k, v.to(q.dtype), attn_mask=mask)  # (B, h, N, hd)
        out = out.transpose(1, 2).reshape(B, N, D)  # (B, N, dim)
        return self.proj(out)  # (B, N, dim)


# ----------------------------------------------------------------------------------------------------------------------
# Feed-forward
# ----------------------------------------------------------------------------------------------------------------------


class MLP(nn.Module):
    """Linear -> GELU (tanh approximation) -> Linear, hidden = ratio * dim."""

    def __init__(self, dim: int, ratio: float = 4.0):
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))  # (..., dim)
