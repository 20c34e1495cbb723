"""Spacetime Diffusion Transformer: latent video (B, C, T, H, W) + per-frame flow time + condition -> velocity.

References: DiT (Peebles & Xie 2023, arXiv 2212.09748: patchify, adaLN-zero, zero-initialised output);
"Video generation models as world simulators" (Sora report, OpenAI 2024: spacetime patches, variable sizes);
RoPE (Su et al. 2021, arXiv 2104.09864) over (t, h, w); SD3 (Esser et al. 2024) / Flux-style modulation applied per
token; Diffusion Forcing (Chen et al. 2024, arXiv 2407.01392) for an independent flow time per latent frame;
Shortcut models (Frans et al. 2024, arXiv 2410.12557) for the optional step-size input (few-step sampling).

Deviations from DiT, each on purpose:
- adaLN is per token, not per sample: every latent frame has its own conditioning vector (its flow time, whether it is
  a clean context frame, its action, plus the pooled text), and each token is modulated by its own frame's vector.
  Context frames and noisy frames share one sequence, so image-to-video, extension and interactive control are one
  model call with t = 0 on the given frames.
- Text enters through cross-attention (ungated, as in PixArt) and as a pooled vector in the conditioning.
- Positions come from 3D RoPE computed for each grid, so every call may use a different T x H x W. RoPE is relative
  only: a token's content never says where in the frame it is, so the network is (nearly) translation-equivariant in
  space and cannot make a motion that depends on the place in the picture, such as the zoom of a camera stepping
  forward (the left half moves left, the right half right). abs_pos=True adds each token's place relative to the
  frame's centre (sin-cos features of coordinates normalised by the frame height, any grid size) through a
  zero-initialised linear layer, so a model warm-started without it computes the same until training uses it.
- action_warp=True (interactive play): each self-attention head also adds the previous frame's values read at fixed
  zooms about the centre and one-token shifts (bilinear: a fraction of a token), mixed by learned gains per action
  (ActionWarp), a direct path for the motion a key makes; the gains start at zero (warm starts are exact).
- causal_time=True makes self-attention block-causal over (temporal patches of) latent frames, which is what lets
  frames be generated one at a time with a KV cache (DiTCache) and match a full forward pass exactly.

The model knows nothing about noise: t is only an input (t = 1 noise, t = 0 data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from kinema.models.layers import (
    MLP,
    Attention,
    CrossAttention,
    KVCache,
    TimestepEmbedder,
    modulate,
    rope_3d,
    rope_split,
)

# ----------------------------------------------------------------------------------------------------------------------
# Config and presets
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class DiTConfig:
    latent_channels: int
    dim: int
    depth: int
    heads: int
    patch: tuple[int, int, int] = (1, 2, 2)  # (t, h, w) in latent units
    mlp_ratio: float = 4.0
    text_dim: int = 384  # width of the text encoder's tokens (all-MiniLM-L6-v2: 384)
    num_actions: int = 0  # 0 = no action embedding
    qk_norm: bool = True
    causal_time: bool = False  # block-causal self-attention across latent frames (interactive / autoregressive mode)
    grad_checkpointing: bool = False
    rope_theta: float = 10000.0
    freq_dim: int = 256  # sinusoidal features of the flow time
    step_embed: bool = False  # shortcut model: also conditioned on the step size d of the jump (DiTCond.step)
    abs_pos: bool = False  # add each token's place in the frame (centred, see the module docstring) to its content
    action_warp: bool = False  # per action, a learned mix of zoomed / shifted reads of the previous frame (ActionWarp)

    def __post_init__(self):
        self.patch = tuple(int(p) for p in self.patch)  # JSON round-trips give lists
        if len(self.patch) != 3 or min(self.patch) < 1:
            raise ValueError(f"patch must be three positive ints (t, h, w), got {self.patch}")
        if min(self.latent_channels, self.dim, self.depth, self.heads, self.text_dim) < 1 or self.num_actions < 0:
            raise ValueError("latent_channels, dim, depth, heads, text_dim must be >= 1 and num_actions >= 0")
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        rope_split(self.dim // self.heads)  # raises for a head_dim that 3D RoPE cannot split
        if self.action_warp and not (self.causal_time and self.num_actions > 0 and self.patch[0] == 1):
            raise ValueError("action_warp needs causal_time=True, num_actions > 0 and a time patch of 1 (one action "
                             "per latent frame)")

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads


# Parameter counts (count_params, latent_channels=4, text_dim=384, patch (1, 2, 2)):
#   tiny 85,104 | XS 9,219,728 | S 27,018,000 | peer29m 29,380,368 | B 159,087,760 | L 559,455,632 | XL 824,717,200
# peer29m matches diffusers' CogVideoXTransformer3DModel(num_layers=8, num_attention_heads=6, attention_head_dim=64,
# time_embed_dim=384, text_embed_dim=384), which has 29,143,824 (in_channels 4) to 29,180,736 (in_channels 16)
# parameters (diffusers 0.42.1): peer29m is 0.8% above. Its blocks have no cross-attention but two 6*dim modulations
# (video and text tokens); to match the count with the same width and depth, our MLP is 5x wide instead of 4x (so ours
# spends ~16 dim^2 multiply-adds per token per block against the peer's 12 dim^2, plus the peer attends over text+video
# jointly).
PRESETS: dict[str, DiTConfig] = {
    "tiny": DiTConfig(latent_channels=4, dim=32, depth=2, heads=2),  # tests
    "XS": DiTConfig(latent_channels=4, dim=256, depth=6, heads=4),  # trains on a 2-core CPU in hours
    # the shipped physics model: XS over 4x4 latent patches (16 tokens per 64x64 frame), so 33-frame clips train on
    # a CPU
    "XS4": DiTConfig(latent_channels=4, dim=256, depth=6, heads=4, patch=(1, 4, 4)),
    "S": DiTConfig(latent_channels=4, dim=384, depth=8, heads=6),
    "peer29m": DiTConfig(latent_channels=4, dim=384, depth=8, heads=6, mlp_ratio=5.0),  # benchmarks vs CogVideoX
    "B": DiTConfig(latent_channels=4, dim=768, depth=12, heads=12),
    "L": DiTConfig(latent_channels=4, dim=1024, depth=24, heads=16),
    "XL": DiTConfig(latent_channels=4, dim=1152, depth=28, heads=16),
}


# ----------------------------------------------------------------------------------------------------------------------
# Condition
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class DiTCond:
    """Everything but the latent and the flow time. All fields optional; DiTCond() is fully unconditional.

    text None means the learned null text embedding (classifier-free guidance). drop_text marks samples of a batch
    that use the null text although text is given (CFG dropout in training, cond + uncond in one sampling batch).
    """

    text: Tensor | None = None  # (B, L, text_dim) text encoder tokens
    text_mask: Tensor | None = None  # (B, L) bool, True = real token, False = padding
    mask: Tensor | None = None  # (B, T) float/bool, 1 = this latent frame is clean context
    actions: Tensor | None = None  # (B, T) long in [0, num_actions)
    drop_text: Tensor | None = None  # (B,) bool, True = use the null text for this sample
    # (B,) step size d in [0, 1] of the jump t -> t - d, or (B, T) one per latent frame (interactive play: 0 on the
    # committed frames, which do not move); None = 0 (the velocity itself)
    step: Tensor | None = None

    def with_step(self, d: Tensor) -> DiTCond:
        """The same condition asking for the mean velocity over a jump of size d (B,) or (B, T): the samplers' step
        protocol."""
        return replace(self, step=d)

    def take(self, idx: Tensor) -> DiTCond:
        """The samples idx (long (n,)) of this condition: every tensor field indexed along the batch."""
        return replace(self, **{f.name: getattr(self, f.name)[idx] for f in fields(self)
                                if isinstance(getattr(self, f.name), Tensor)})

    def without_text(self) -> DiTCond:
        """The same condition with the null text (keeps context mask and actions): the unconditional branch of CFG."""
        return replace(self, text=None, text_mask=None, drop_text=None)


# ----------------------------------------------------------------------------------------------------------------------
# KV cache for frame-by-frame generation
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class DiTCache:
    """Per-block self-attention keys/values of earlier latent frames (needs causal_time=True).

    Usage: cache = model.new_cache(); cache.write = True; model(context, t0, cond, cache=cache) stores the context;
    cache.write = False; each denoising step of the next frame calls model(x_new, t, cond, cache=cache), which sees
    the cached frames and leaves the cache alone; cache.write = True and one call on the finished frame (t = 0)
    appends it. RoPE time positions continue after the cached frames. Batch and H x W must not change.
    """

    layers: list[KVCache]
    write: bool = False
    grid: tuple[int, int] | None = None  # (H, W) of the latent frames in the cache, set by the first call

    @property
    def tokens(self) -> int:
        return self.layers[0].length


# ----------------------------------------------------------------------------------------------------------------------
# Blocks
# ----------------------------------------------------------------------------------------------------------------------


def _per_frame(x: Tensor, frames: int) -> Tensor:
    """(B, N, D) tokens -> (B, frames, N / frames, D) view, so per-frame vectors (B, frames, 1, D) broadcast."""
    B, N, D = x.shape
    return x.view(B, frames, N // frames, D)


# ActionWarp's fixed reads of the previous frame: (read scale about the centre, read shift in tokens along x). A token
# at u reads the previous frame at scale * u + shift: scale < 1 reads inward (the view came closer: W), > 1 outward
# (it backed away: S). The explore world's steps scale its view by about 0.91-1.1
# (docs/eval/candidates/kinema-explore-position-2026-12-05.md).
WARP_READS = ((0.84, 0.0), (0.92, 0.0), (1.0, 0.0), (1.09, 0.0), (1.19, 0.0), (1.0, -1.0), (1.0, 1.0))


class ActionWarp(nn.Module):
    """Per action and self-attention head, a mix of the previous frame's values read at fixed places (WARP_READS:
    zooms about the frame's centre and one-token shifts, bilinear, zero outside the frame), added to each head's
    attention output: a motion-compensated copy of the last frame, exact to a fraction of a token.

    A camera step is close to one such read per key: stepping forward or back scales the view about the centre (the
    left half moves left, the right half right, by less than a token), which RoPE's relative positions cannot express.
    The reads are fixed and only their gains are learned (an embedding row per action: heads x reads), so each gain
    gets a steady gradient from the start (a learned map read through a near-zero gain random-walks instead: session
    12's first try). The gains start at 0: a model warm-started without them computes exactly the same."""

    def __init__(self, num_actions: int, heads: int):
        super().__init__()
        self.heads = heads
        self.table = nn.Embedding(num_actions, heads * len(WARP_READS))  # no weight decay (an embedding)
        self.reset()

    def reset(self) -> None:
        nn.init.zeros_(self.table.weight)

    def forward(self, actions: Tensor) -> Tensor:
        """actions (B, F) long -> gains (B, F, heads, len(WARP_READS))."""
        B, F = actions.shape
        return self.table(actions).view(B, F, self.heads, len(WARP_READS))


def warp_reads(Hp: int, Wp: int, device: torch.device | None = None) -> Tensor:
    """WARP_READS as matrices (len(WARP_READS), S, S) for an Hp x Wp token grid: row q of read k holds the bilinear
    weights of the previous frame's tokens at the place token q reads (zero outside the frame; places as in
    frame_positions, in half heights). The same for every block: DiT computes them once per grid, by F.grid_sample on
    one-hot frames."""
    pos, S, places = frame_positions(Hp, Wp, device)[:, :2], Hp * Wp, []
    for scale, shift in WARP_READS:
        y, x = pos[:, 0] * scale, pos[:, 1] * scale + shift * 2.0 / Hp  # one token = 2 / Hp half heights
        places.append(torch.stack([x * (Hp / Wp), y], dim=-1))  # grid_sample's (x, y), x by the width
    grid = torch.stack(places)[:, :, None, :]  # (K, S, 1, 2)
    onehot = torch.eye(S, device=device).view(S, 1, Hp, Wp).expand(S, len(WARP_READS), Hp, Wp)
    w = torch.nn.functional.grid_sample(onehot.transpose(0, 1), grid, mode="bilinear", padding_mode="zeros",
                                        align_corners=False)  # (K, S source, S query, 1)
    return w[..., 0].transpose(1, 2).contiguous()  # (K, S query, S source)


def warped_values(v: Tensor, gains: Tensor, reads: Tensor, past: int, Hp: int, Wp: int) -> Tensor:
    """Each query frame's previous frame's values read by ActionWarp's reads and mixed by its gains.

    v (B, heads, (past + F) * S, hd): the keys' values (past frames, then the call's F frames); gains (B, F, heads, K);
    reads (K, S, S) (warp_reads) -> (B, heads, F * S, hd); zero for a frame with no previous frame."""
    B, F, h, K = gains.shape
    S, hd = Hp * Wp, v.shape[-1]
    prev = torch.arange(past - 1, past + F - 1, device=v.device)  # key frame before each query frame
    vp = v.view(B, h, past + F, S, hd)[:, :, prev.clamp(min=0)]  # (B, h, F, S, hd)
    w = (gains * (prev >= 0)[None, :, None, None]).to(vp.dtype)  # (B, F, h, K)
    mix = torch.einsum("bfhk,kqs->bhfqs", w, reads.to(vp.dtype))  # (B, h, F, S, S): one read matrix per frame, head
    return (mix @ vp).reshape(B, h, F * S, hd)  # (B, h, F * S, hd)


class DiTBlock(nn.Module):
    """adaLN-zero self-attention (3D RoPE) -> cross-attention to text -> adaLN-zero MLP, modulated per frame."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        d = cfg.dim
        self.warp = ActionWarp(cfg.num_actions, cfg.heads) if cfg.action_warp else None
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, cfg.heads, qk_norm=cfg.qk_norm)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.cross = CrossAttention(d, d, cfg.heads, qk_norm=cfg.qk_norm)
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(d, cfg.mlp_ratio)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(
        self,
        x: Tensor,
        c: Tensor,
        text: Tensor,
        text_mask: Tensor | None,
        rope: tuple[Tensor, Tensor],
        mask: Tensor | None,
        kv_cache: KVCache | None = None,
        warp: tuple | None = None,
    ) -> Tensor:
        """x (B, N, D) tokens of F temporal patches; c (B, F, D) one conditioning vector per temporal patch; warp:
        (actions (B, F), warp_reads (K, S, S), past frames in the keys, Hp, Wp) for the block's ActionWarp, or None."""
        B, N, D = x.shape
        F = c.shape[1]
        mod = self.ada(c).unsqueeze(2)  # (B, F, 1, 6D)
        shift1, scale1, gate1, shift2, scale2, gate2 = mod.chunk(6, dim=-1)  # (B, F, 1, D) each
        h = modulate(_per_frame(self.norm1(x), F), shift1, scale1).view(B, N, D)  # (B, N, D)
        if warp is not None and self.warp is not None:
            actions, reads, past, Hp, Wp = warp
            gains = self.warp(actions)  # (B, F, h, K)
            h = self.attn(h, rope, mask, kv_cache, extra=lambda v: warped_values(v, gains, reads, past, Hp, Wp))
        else:
            h = self.attn(h, rope, mask, kv_cache)  # (B, N, D)
        x = torch.addcmul(_per_frame(x, F), gate1, _per_frame(h, F)).view(B, N, D)  # x + gate * h, (B, N, D)
        x = x + self.cross(self.norm2(x), text, text_mask)  # (B, N, D)
        h = modulate(_per_frame(self.norm3(x), F), shift2, scale2).view(B, N, D)  # (B, N, D)
        h = self.mlp(h)  # (B, N, D)
        return torch.addcmul(_per_frame(x, F), gate2, _per_frame(h, F)).view(B, N, D)  # (B, N, D)


class FinalLayer(nn.Module):
    """adaLN (shift, scale per frame) + Linear to patch values."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        pt, ph, pw = cfg.patch
        self.norm = nn.LayerNorm(cfg.dim, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cfg.dim, 2 * cfg.dim))
        self.proj = nn.Linear(cfg.dim, cfg.latent_channels * pt * ph * pw)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        B, N, D = x.shape
        shift, scale = self.ada(c).unsqueeze(2).chunk(2, dim=-1)  # (B, F, 1, D) each
        h = modulate(_per_frame(self.norm(x), c.shape[1]), shift, scale).view(B, N, D)  # (B, N, D)
        return self.proj(h)  # (B, N, C*pt*ph*pw)


# ----------------------------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------------------------


POS_FREQS = (math.pi / 2, math.pi, 2 * math.pi)  # radians per unit of centred, height-normalised coordinate


def frame_positions(Hp: int, Wp: int, device: torch.device | None = None) -> Tensor:
    """(Hp*Wp, 2 * (1 + 2 * len(POS_FREQS))) features of each token's place, rows first: the offsets (y, x) of its
    centre from the frame's centre in units of half the frame height (y in [-1, 1]; a pinhole camera's image
    coordinates up to its focal length, so a camera motion moves a place the same way at every grid size), each
    with sin and cos at POS_FREQS."""
    y = (torch.arange(Hp, device=device, dtype=torch.float32) - (Hp - 1) / 2) / (Hp / 2)  # (Hp,)
    x = (torch.arange(Wp, device=device, dtype=torch.float32) - (Wp - 1) / 2) / (Hp / 2)  # (Wp,)
    yx = torch.stack(torch.meshgrid(y, x, indexing="ij"), dim=-1).view(-1, 2)  # (Hp*Wp, 2)
    w = torch.tensor(POS_FREQS, device=device)  # (K,)
    ang = yx[:, :, None] * w  # (N, 2, K)
    return torch.cat([yx, ang.sin().flatten(1), ang.cos().flatten(1)], dim=1)  # (N, 2 + 4K)


class DiT(nn.Module):
    """model(x, t, cond) -> velocity, same shape as x. See the module docstring and DiTCond / DiTCache."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        pt, ph, pw = cfg.patch
        d = cfg.dim
        self.x_embed = nn.Linear(cfg.latent_channels * pt * ph * pw, d)
        self.t_embed = TimestepEmbedder(d, cfg.freq_dim)
        self.step_embed = TimestepEmbedder(d, cfg.freq_dim) if cfg.step_embed else None  # zero output at init
        self.context_embed = nn.Parameter(torch.zeros(d))  # added (times mask) to clean context frames
        self.action_embed = nn.Embedding(cfg.num_actions, d) if cfg.num_actions > 0 else None
        self.null_text = nn.Parameter(torch.zeros(1, 1, cfg.text_dim))  # the "no text" token
        self.text_proj = nn.Sequential(nn.Linear(cfg.text_dim, d), nn.GELU(approximate="tanh"), nn.Linear(d, d))
        self.pool_proj = nn.Linear(cfg.text_dim, d)  # masked mean of text tokens -> conditioning vector
        self.blocks = nn.ModuleList([DiTBlock(cfg) for _ in range(cfg.depth)])
        self.final = FinalLayer(cfg)
        self.pos_embed = nn.Linear(2 * (1 + 2 * len(POS_FREQS)), d) if cfg.abs_pos else None  # zero output at init
        self._rope_cache: dict[tuple, tuple[Tensor, Tensor]] = {}  # per grid shape, not saved
        self._mask_cache: dict[tuple, Tensor] = {}
        self._pos_cache: dict[tuple, Tensor] = {}  # frame_positions and warp_reads per grid, not saved
        self.initialize_weights()

    @classmethod
    def from_config(cls, cfg: DiTConfig | str) -> DiT:
        """Build from a DiTConfig or a PRESETS name."""
        if isinstance(cfg, str):
            if cfg not in PRESETS:
                raise ValueError(f"unknown DiT preset {cfg!r}; choose one of {sorted(PRESETS)}")
            cfg = PRESETS[cfg]
        return cls(cfg)

    def initialize_weights(self) -> None:
        """Xavier for linear layers, N(0, 0.02) for embeddings; zero adaLN modulation and output (fresh DiT -> 0)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for w in (self.t_embed.mlp[0].weight, self.t_embed.mlp[2].weight, self.context_embed, self.null_text):
            nn.init.normal_(w, std=0.02)
        if self.action_embed is not None:
            nn.init.normal_(self.action_embed.weight, std=0.02)
        zero = [b.ada[-1] for b in self.blocks] + [self.final.ada[-1], self.final.proj]
        if self.pos_embed is not None:  # zero output: a DiT without it warm-starts one with it exactly
            zero.append(self.pos_embed)
        if self.step_embed is not None:  # zero output: a flow-matching DiT warm-starts a shortcut DiT exactly
            nn.init.normal_(self.step_embed.mlp[0].weight, std=0.02)
            zero.append(self.step_embed.mlp[2])
        for lin in zero:
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        for block in self.blocks:
            if block.warp is not None:  # gain 0: a DiT without the warp warm-starts one with it exactly
                block.warp.reset()

    def new_cache(self) -> DiTCache:
        """An empty KV cache for frame-by-frame generation (see DiTCache)."""
        return DiTCache(layers=[KVCache() for _ in self.blocks])

    # ---- input checks and conditioning ------------------------------------------------------------------------------

    def _check(self, x: Tensor, t: Tensor, cond: DiTCond, cache: DiTCache | None) -> None:
        cfg = self.cfg
        if x.ndim != 5 or x.shape[1] != cfg.latent_channels:
            raise ValueError(f"x must be (B, {cfg.latent_channels}, T, H, W), got {tuple(x.shape)}")
        B, _, T, H, W = x.shape
        if T % cfg.patch[0] or H % cfg.patch[1] or W % cfg.patch[2]:
            raise ValueError(f"(T, H, W) = {(T, H, W)} must be divisible by the patch {cfg.patch}")
        if t.shape not in ((B,), (B, T)):
            raise ValueError(f"t must be (B,) = ({B},) or (B, T) = ({B}, {T}), got {tuple(t.shape)}")
        if bool((t < 0).any()) or bool((t > 1).any()):
            raise ValueError("t must lie in [0, 1] (t = 1 noise, t = 0 data)")
        for name in ("mask", "actions"):
            v = getattr(cond, name)
            if v is not None and tuple(v.shape) != (B, T):
                raise ValueError(f"cond.{name} must be (B, T) = ({B}, {T}), got {tuple(v.shape)}")
        if cond.actions is not None:
            if cfg.num_actions == 0:
                raise ValueError("cond.actions given but the config has num_actions=0")
            if cond.actions.dtype.is_floating_point or bool((cond.actions < 0).any()) or bool(
                (cond.actions >= cfg.num_actions).any()
            ):
                raise ValueError(f"cond.actions must be integers in [0, {cfg.num_actions})")
        if cond.text is not None:
            if cond.text.ndim != 3 or cond.text.shape[0] != B or cond.text.shape[2] != cfg.text_dim:
                raise ValueError(f"cond.text must be (B, L, {cfg.text_dim}) with B = {B}, got {tuple(cond.text.shape)}")
            m = cond.text_mask
            if m is not None:
                if m.dtype != torch.bool or tuple(m.shape) != tuple(cond.text.shape[:2]):
                    raise ValueError(f"cond.text_mask must be bool (B, L) = {tuple(cond.text.shape[:2])}")
                if not bool(m.any(dim=1).all()):
                    raise ValueError("cond.text_mask keeps no token for some sample; use drop_text or text=None")
        if cond.drop_text is not None and tuple(cond.drop_text.shape) != (B,):
            raise ValueError(f"cond.drop_text must be (B,) = ({B},), got {tuple(cond.drop_text.shape)}")
        if cond.step is not None:
            if tuple(cond.step.shape) not in ((B,), (B, T)):
                raise ValueError(f"cond.step must be (B,) = ({B},) or (B, T) = ({B}, {T}), "
                                 f"got {tuple(cond.step.shape)}")
            if bool((cond.step < 0).any()) or bool((cond.step > 1).any()):
                raise ValueError("cond.step (the step size d) must lie in [0, 1]")
        if cache is not None:
            if not cfg.causal_time:
                raise ValueError("a KV cache needs causal_time=True (otherwise past frames would see the future)")
            if cache.grid is not None and cache.grid != (H, W):
                raise ValueError(f"the cache holds {cache.grid[0]} x {cache.grid[1]} latent frames, got {H} x {W}")
            if x.shape[0] != (cache.layers[0].k.shape[0] if cache.tokens else x.shape[0]):
                raise ValueError(f"the cache holds batch {cache.layers[0].k.shape[0]}, got batch {x.shape[0]}")

    def _frame_condition(self, t: Tensor, cond: DiTCond, B: int, T: int) -> Tensor:
        """One conditioning vector per temporal patch (B, T / pt, D): the mean over its latent frames of
        t_embed(t) + step_embed(d) + mask * context_embed + action_embed(action).

        Without step_embed (a flow-matching DiT) cond.step is ignored: the velocity at t is then the model's estimate
        of the mean velocity over any jump, which is what Euler assumes."""
        t = t[:, None].expand(B, T) if t.ndim == 1 else t  # (B, T)
        c = self.t_embed(t)  # (B, T, D)
        if self.step_embed is not None:  # always in the graph (DDP): d = 0 when not given
            d = torch.zeros(B, device=t.device) if cond.step is None else cond.step.to(t.device)  # (B,) | (B, T)
            e = self.step_embed(d)  # (B, D) | (B, T, D)
            c = c + (e[:, None, :] if d.ndim == 1 else e)  # (B, T, D)
        # no mask = all zeros, still in the graph: every parameter gets a gradient each step (DDP needs that)
        m = torch.zeros(B, T, device=t.device) if cond.mask is None else cond.mask
        c = c + m.to(c.dtype)[..., None] * self.context_embed  # (B, T, D)
        if cond.actions is not None:
            c = c + self.action_embed(cond.actions.long())  # (B, T, D)
        return rearrange(c, "b (f pt) d -> b f pt d", pt=self.cfg.patch[0]).mean(2)  # (B, F, D)

    def _text(self, cond: DiTCond, B: int) -> tuple[Tensor, Tensor | None, Tensor]:
        """-> projected text tokens (B, L, D), key mask (B, L) | None, pooled text vector (B, D)."""
        if cond.text is None:
            text, mask = self.null_text.expand(B, 1, -1), None  # (B, 1, text_dim)
        else:
            text, mask = cond.text, cond.text_mask  # (B, L, text_dim), (B, L)
            # dropped samples see the null token at every position (same attention output as one null token);
            # without drop_text the where() still runs so that null_text always gets a (zero) gradient
            drop = torch.zeros(B, dtype=torch.bool, device=text.device) if cond.drop_text is None else cond.drop_text
            drop = drop.bool()  # (B,)
            text = torch.where(drop[:, None, None], self.null_text.to(text.dtype), text)  # (B, L, text_dim)
            mask = None if mask is None else mask | drop[:, None]  # (B, L)
        if mask is None:
            pooled = text.mean(dim=1)  # (B, text_dim)
        else:
            w = mask.to(text.dtype)[..., None]  # (B, L, 1)
            pooled = (text * w).sum(dim=1) / w.sum(dim=1)  # (B, text_dim)
        return self.text_proj(text), mask, self.pool_proj(pooled)

    # ---- grid-dependent tensors, cached per shape -------------------------------------------------------------------

    def _rope(self, F: int, Hp: int, Wp: int, t_start: int, device: torch.device) -> tuple[Tensor, Tensor]:
        key = (F, Hp, Wp, t_start, str(device))
        rope = self._rope_cache.get(key)
        if rope is None:
            rope = rope_3d(F, Hp, Wp, self.cfg.head_dim, theta=self.cfg.rope_theta, t_start=t_start, device=device)
            if len(self._rope_cache) > 64:
                self._rope_cache.clear()
            self._rope_cache[key] = rope  # (N, head_dim) x 2
        return rope

    def _causal_mask(self, F: int, S: int, t_start: int, device: torch.device) -> Tensor | None:
        """Block-causal bool mask (N, N_past + N): a token sees every token of its own and earlier temporal patches."""
        if not self.cfg.causal_time or F == 1:
            return None  # a single new frame sees all cached frames and itself: no mask needed
        key = (F, S, t_start, str(device))
        mask = self._mask_cache.get(key)
        if mask is None:
            q_frame = torch.arange(t_start, t_start + F, device=device).repeat_interleave(S)  # (N,)
            k_frame = torch.arange(t_start + F, device=device).repeat_interleave(S)  # (N_past + N,)
            mask = k_frame[None, :] <= q_frame[:, None]  # (N, N_past + N)
            if len(self._mask_cache) > 64:
                self._mask_cache.clear()
            self._mask_cache[key] = mask
        return mask

    def _per_grid(self, fn, Hp: int, Wp: int, device: torch.device) -> Tensor:
        """fn(Hp, Wp, device) (frame_positions or warp_reads), computed once per grid."""
        key = (fn.__name__, Hp, Wp, str(device))
        if key not in self._pos_cache:
            self._pos_cache[key] = fn(Hp, Wp, device)
        return self._pos_cache[key]

    def _past_frames(self, t_start: int) -> int:
        """How many cached temporal patches a call's keys start with (all of them; PlayDiT keeps a window)."""
        return t_start

    # ---- forward ----------------------------------------------------------------------------------------------------

    def forward(self, x: Tensor, t: Tensor, cond: DiTCond | None = None, cache: DiTCache | None = None) -> Tensor:
        """x (B, C, T, H, W) latent video; t (B,) or (B, T) flow time per latent frame in [0, 1] -> velocity like x.

        Noisy frames and clean context frames share the sequence (give context frames t = 0 and cond.mask = 1).
        With patch t-size pt > 1, a token's conditioning is the mean of its pt frames' vectors and causality is per
        temporal patch. With a cache, x holds only the new frames; see DiTCache.
        """
        cfg = self.cfg
        cond = DiTCond() if cond is None else cond
        if not torch.compiler.is_compiling():  # the value checks would split a compiled graph (a graph break)
            self._check(x, t, cond, cache)
        B, _, T, H, W = x.shape
        pt, ph, pw = cfg.patch
        F, Hp, Wp = T // pt, H // ph, W // pw

        c = self._frame_condition(t, cond, B, T)  # (B, F, D)
        text, text_mask, pooled = self._text(cond, B)  # (B, L, D), (B, L) | None, (B, D)
        c = c + pooled[:, None, :]  # (B, F, D)

        h = rearrange(x, "b c (f pt) (h ph) (w pw) -> b (f h w) (c pt ph pw)", pt=pt, ph=ph, pw=pw)  # (B, N, C*p)
        h = self.x_embed(h).to(x.dtype)  # (B, N, D); the residual stream keeps x's dtype (float32 under autocast)
        if self.pos_embed is not None:
            pos = self.pos_embed(self._per_grid(frame_positions, Hp, Wp, x.device))  # (Hp*Wp, D): every frame
            h = (h.view(B, F, Hp * Wp, -1) + pos.to(h.dtype)).view(B, F * Hp * Wp, -1)  # (B, N, D)

        t_start = 0 if cache is None else cache.tokens // (Hp * Wp)  # cached temporal patches
        if cache is not None and cache.write:
            cache.grid = (H, W)
        rope = self._rope(F, Hp, Wp, t_start, x.device)  # (N, head_dim) x 2
        mask = self._causal_mask(F, Hp * Wp, t_start, x.device)  # (N, N_past + N) | None
        warp = None
        if cfg.action_warp and cond.actions is not None:
            reads = self._per_grid(warp_reads, Hp, Wp, x.device)  # (K, S, S)
            warp = (cond.actions.to(x.device).long(), reads, self._past_frames(t_start), Hp, Wp)
        use_ckpt = cfg.grad_checkpointing and self.training and torch.is_grad_enabled() and cache is None
        for i, block in enumerate(self.blocks):
            kv = None
            if cache is not None:
                kv = cache.layers[i]
                kv.write = cache.write
            if use_ckpt:
                h = checkpoint(block, h, c, text, text_mask, rope, mask, None, warp, use_reentrant=False)  # (B, N, D)
            else:
                h = block(h, c, text, text_mask, rope, mask, kv, warp)  # (B, N, D)

        out = self.final(h, c)  # (B, N, C*pt*ph*pw)
        out = rearrange(out, "b (f h w) (c pt ph pw) -> b c (f pt) (h ph) (w pw)", f=F, h=Hp, w=Wp, pt=pt, ph=ph, pw=pw)
        return out.to(x.dtype)  # (B, C, T, H, W)


# ----------------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------------


def count_params(cfg: DiTConfig | str) -> int:
    """Exact parameter count of a config or preset name, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        model = DiT.from_config(cfg)
    return sum(p.numel() for p in model.parameters())


def flops_per_token(cfg: DiTConfig, tokens: int, text_len: int = 0) -> float:
    """Approximate forward multiply-adds x 2 per video token (linear layers + attention scores), for benchmarks."""
    return sum(flops_split_per_token(cfg, tokens, text_len).values())


def flops_split_per_token(cfg: DiTConfig, tokens: int, text_len: int = 0) -> dict[str, float]:
    """flops_per_token in two parts, {"linear": ..., "attention": ...}: the matmuls of linear layers (they run at the
    machine's matmul peak at best) and attention's QK^T and AV (at its SDPA kernel's throughput at best)."""
    d, r = cfg.dim, cfg.mlp_ratio
    linear = cfg.depth * (4 * d * d + 2 * d * d + 2 * r * d * d)  # self-attn qkv+proj, cross q+proj, MLP
    attn = cfg.depth * 2 * d * (tokens + text_len)  # QK^T and AV
    return {"linear": 2.0 * (linear + math.prod(cfg.patch) * cfg.latent_channels * d * 2), "attention": 2.0 * attn}
