"""Training-step throughput of kinema's DiT (and, with --peer, of diffusers' CogVideoX at a matched configuration).

One kinema step is the real DiT training path: kinema.train.recipes.DiTObjective (per-sample noise, logit-normal
time, conditioning modes with clean context frames, caption dropout, masked flow-matching loss) under bf16 autocast
with fp32 master weights, backward, gradient clipping at 1.0 and an AdamW step over the trainer's parameter groups.
The VAE and the text encoder are left out (the batch holds latents and text embeddings already): this measures the
DiT. The peer step is CogVideoX's forward on the same latents and text, an MSE loss, backward, clipping, AdamW.
Both run interleaved in one process (kinema, peer, kinema, ...), so a busy machine slows both alike.

Token count: `tokens` is the peer's joint sequence, video tokens + text_len text tokens (2,064 = 2,048 + 16); the
video tokens are laid out as F x Hp x Wp (8 x 16 x 16 for 2,048). kinema attends over the video tokens and
cross-attends to the text. MFU = analytic FLOPs per step (3 x forward: backward costs twice the forward) / time /
the bf16 (or fp32) matmul peak measured at the start of the same run, once by wall time and once by the process's
CPU time (the steadier on a shared machine; see machine.timed_cpu).

Attainable MFU (a roofline with two ceilings): the linear layers' FLOPs can at best run at the matmul peak, attention's
QK^T and AV at best at the SDPA throughput measured in the same run (on a CPU well below the matmul peak). So a step
takes at least linear / matmul peak + attention / SDPA peak seconds; "attainable MFU" is the MFU of a step that fast,
and "of attainable" is that bound over the measured time: how close each model runs to what this machine's kernels
allow. (The SDPA peak is a forward measurement; a backward that runs slower shows up as a lower "of attainable".)

Variants (`variants=`) are speed ideas for kinema's step, each timed interleaved with the baseline.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F

from kinema.bench.machine import median, table, timed_cpu
from kinema.bench.peak import Peak, measure_peak, mfu
from kinema.models.dit import PRESETS, DiT, DiTConfig, count_params, flops_split_per_token

# ----------------------------------------------------------------------------------------------------------------------
# Shapes
# ----------------------------------------------------------------------------------------------------------------------


def video_grid(tokens: int) -> tuple[int, int, int]:
    """(F, Hp, Wp) with F * Hp * Wp = tokens: the squarest frame (Hp <= Wp), then F closest to 8.

    2048 -> (8, 16, 16), 256 -> (4, 8, 8), 1024 -> (4, 16, 16), 16384 -> (4, 64, 64).
    """
    if tokens < 1:
        raise ValueError(f"tokens must be >= 1, got {tokens}")
    best = None
    for f in range(1, tokens + 1):
        if tokens % f:
            continue
        n = tokens // f
        h = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
        key = (n // h / h, abs(math.log(f / 8)))
        if best is None or key < best[0]:
            best = (key, (f, h, n // h))
    return best[1]


# ----------------------------------------------------------------------------------------------------------------------
# Variants of kinema's step
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    fused_adamw: bool = False  # torch.optim.AdamW(fused=True): one kernel over all parameters (CPU since torch 2.4)
    bf16_weights: bool = False  # nn.Linear weights stored in bf16 (no casts under autocast); fp32 masters for AdamW
    compile: bool = False  # torch.compile(model) (inductor; the first steps compile, time only the later ones)


VARIANTS: dict[str, Variant] = {
    "baseline": Variant(),
    "fused-adamw": Variant(fused_adamw=True),
    "bf16-weights": Variant(bf16_weights=True),
    "compile": Variant(compile=True),
    "all": Variant(fused_adamw=True, bf16_weights=True, compile=True),
}


def _param_groups(model: torch.nn.Module, params: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
    """The trainer's grouping (decay on matrices, not on biases, norms, embeddings) over `params` (name -> tensor)."""
    from kinema.train.schedule import param_groups

    groups = param_groups(model, 0.01)
    by_id = {id(p): n for n, p in model.named_parameters()}
    return [{**g, "params": [params[by_id[id(p)]] for p in g["params"]]} for g in groups]


class KinemaStep:
    """One DiT training step on fixed latents, as the trainer runs it (see the module docstring)."""

    def __init__(self, cfg: DiTConfig, grid: tuple[int, int, int], batch: int, text_len: int, precision: str,
                 variant: Variant = Variant(), seed: int = 0) -> None:
        from kinema.train.recipes import DiTObjective, FlowConfig

        F_, Hp, Wp = grid
        pt, ph, pw = cfg.patch
        g = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):  # the DiT initialises from the global RNG; restore the caller's
            torch.manual_seed(seed)
            self.model = DiT(cfg).train()
        self.precision, self.variant = precision, variant
        named = dict(self.model.named_parameters())
        if variant.bf16_weights:
            self.master = {n: p.detach().clone().requires_grad_(True) for n, p in named.items()}  # fp32, for AdamW
            for m in self.model.modules():  # matmul weights in bf16; norms and embeddings stay fp32 (autocast's split)
                if isinstance(m, torch.nn.Linear):
                    m.to(torch.bfloat16)
            opt_params = self.master
        else:
            self.master, opt_params = None, named
        self.optimizer = torch.optim.AdamW(_param_groups(self.model, opt_params), lr=1e-4, betas=(0.9, 0.95),
                                           fused=variant.fused_adamw or None)
        text = SimpleNamespace(tokens=torch.randn(batch, text_len, cfg.text_dim, generator=g),  # (B, L, E)
                               mask=torch.ones(batch, text_len, dtype=torch.bool))  # (B, L)
        self.objective = DiTObjective(_Latents(), _FixedText(text), FlowConfig(), cfg.patch)
        self.batch = {
            "video": torch.randn(batch, cfg.latent_channels, F_ * pt, Hp * ph, Wp * pw, generator=g),  # (B,C,T,H,W)
            "caption": [""] * batch,
            "seed": torch.arange(batch) + seed,
        }
        self.net = torch.compile(self.model) if variant.compile else self.model
        self.generator = g

    def __call__(self) -> float:
        """Run one step; return its loss."""
        self.optimizer.zero_grad(set_to_none=True)
        self.model.zero_grad(set_to_none=True)  # with bf16 weights the optimizer holds the masters, not these
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            loss, _, _ = self.objective(self.net, self.batch, self.generator)
        loss.backward()
        if self.master is not None:
            for n, p in self.model.named_parameters():
                self.master[n].grad = None if p.grad is None else p.grad.float()
            params = list(self.master.values())
        else:
            params = list(self.model.parameters())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        self.optimizer.step()
        if self.master is not None:
            with torch.no_grad():
                for n, p in self.model.named_parameters():
                    p.copy_(self.master[n])
        return float(loss.detach())


class _Latents:
    """Stands in for the VAE in DiTObjective: the batch's "video" already holds normalised latents."""

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return x, None

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return z


class _FixedText:
    """Stands in for the text encoder in DiTObjective: the same precomputed embeddings every step."""

    def __init__(self, emb: SimpleNamespace) -> None:
        self.emb = emb

    def encode(self, captions: list[str]) -> SimpleNamespace:
        return self.emb


class PeerStep:
    """One training step of diffusers' CogVideoX transformer, matched to a kinema DiTConfig."""

    def __init__(self, cfg: DiTConfig, grid: tuple[int, int, int], batch: int, text_len: int, precision: str,
                 seed: int = 0) -> None:
        from kinema.bench.peer import PeerShape, build_transformer, transformer_inputs

        F_, Hp, Wp = grid
        self.shape = PeerShape.matching(cfg, F_, Hp * cfg.patch[1], Wp * cfg.patch[2], text_len)
        g = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = build_transformer(self.shape).train()
        self.inputs = transformer_inputs(self.shape, batch, g)
        self.target = torch.randn(self.inputs["hidden_states"].shape, generator=g)  # (B, F, C, H, W)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.01)
        self.precision = precision

    def __call__(self) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            out = self.model(**self.inputs, return_dict=False)[0]  # (B, F, C, H, W)
        loss = F.mse_loss(out.float(), self.target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        return float(loss.detach())


# ----------------------------------------------------------------------------------------------------------------------
# FLOPs
# ----------------------------------------------------------------------------------------------------------------------


def kinema_step_flops(cfg: DiTConfig, video_tokens: int, text_len: int, batch: int) -> dict[str, float]:
    """Analytic FLOPs of one training step, {"linear", "attention"}: 3 x forward
    (kinema.models.dit.flops_split_per_token per video token)."""
    per_token = flops_split_per_token(cfg, video_tokens, text_len)
    return {k: 3.0 * batch * video_tokens * v for k, v in per_token.items()}


def attainable_seconds(flops: dict[str, float], peak: Peak, precision: str, clock: str = "wall") -> float:
    """The shortest time a step of `flops` ({"linear", "attention"}) could take: linear layers at the matmul peak,
    attention at the measured SDPA throughput (bf16; in fp32 the matmul peak stands in for both)."""
    attn_peak = peak.attention_bf16_tflops if clock == "wall" else peak.cpu["attention_bf16_tflops"]
    if precision != "bf16":
        attn_peak = peak.of(precision, clock)
    return (flops["linear"] / peak.of(precision, clock) + flops["attention"] / attn_peak) / 1e12


# ----------------------------------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class TrainSpec:
    preset: str = "peer29m"
    tokens: int = 2064  # the peer's joint sequence: video + text tokens
    text_len: int = 16
    batch: int = 4
    precision: str = "bf16"
    steps: int = 5  # timed steps per model
    warmup: int = 1  # untimed steps first (allocations; with compile: the compilation)
    peer: bool = False
    variants: tuple[str, ...] = ("baseline",)
    dim: int | None = None  # override the preset's width (reduced-size runs)
    depth: int | None = None  # override the preset's depth

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown DiT preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        if self.precision not in ("bf16", "fp32"):
            raise ValueError(f"precision must be 'bf16' or 'fp32', got {self.precision!r}")
        if min(self.steps, self.batch, self.text_len) < 1 or self.warmup < 0:
            raise ValueError("steps, batch and text_len must be >= 1 and warmup >= 0")
        if self.tokens <= self.text_len:
            raise ValueError(f"tokens ({self.tokens}) must exceed text_len ({self.text_len}): tokens = video + text")
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown or not self.variants:
            raise ValueError(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")

    def config(self) -> DiTConfig:
        return resized(PRESETS[self.preset], self.dim, self.depth)


def resized(cfg: DiTConfig, dim: int | None = None, depth: int | None = None) -> DiTConfig:
    """cfg with another width (heads of 64 channels, one head below 64) and/or depth, for reduced-size runs."""
    if dim is not None:
        cfg = replace(cfg, dim=dim, heads=max(1, dim // 64))
    if depth is not None:
        cfg = replace(cfg, depth=depth)
    return cfg


def run_train(spec: TrainSpec, peak: Peak | None = None, peak_size: int = 4096) -> tuple[dict[str, Any], str]:
    """Measure the peak, then time kinema's step (each variant) and the peer's, interleaved. -> (result, table)."""
    cfg = spec.config()
    video = spec.tokens - spec.text_len
    grid = video_grid(video)
    peak = peak or measure_peak(peak_size, repeat=3)
    runners: dict[str, Any] = {
        f"kinema {v}" if len(spec.variants) > 1 else "kinema": KinemaStep(cfg, grid, spec.batch, spec.text_len,
                                                                          spec.precision, VARIANTS[v])
        for v in spec.variants
    }
    split = {name: kinema_step_flops(cfg, video, spec.text_len, spec.batch) for name in runners}
    params = {name: count_params(cfg) for name in runners}
    if spec.peer:
        peer = PeerStep(cfg, grid, spec.batch, spec.text_len, spec.precision)
        runners["peer"] = peer
        split["peer"] = {k: 3.0 * spec.batch * v for k, v in peer.shape.forward_flops_split().items()}
        params["peer"] = sum(p.numel() for p in peer.model.parameters())
    flops = {name: sum(parts.values()) for name, parts in split.items()}
    warmup = spec.warmup
    if any(VARIANTS[v].compile for v in spec.variants):
        warmup = max(warmup, 3)  # compilation happens over the first two calls (a recompile once the RoPE cache fills)
    wall: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    for i in range(warmup + spec.steps):
        for name, step in runners.items():
            w, c = timed_cpu(step)
            if i >= warmup:
                wall[name].append(w)
                cpu[name].append(c)

    models = {}
    for name in runners:
        s, c = median(wall[name]), median(cpu[name])
        bound = attainable_seconds(split[name], peak, spec.precision)  # the roofline's shortest step
        models[name] = {"params": params[name], "s_per_step": s, "cpu_s_per_step": c,
                        "tokens_per_s": spec.batch * video / s, "flops_per_step": flops[name],
                        "tflops": flops[name] / s / 1e12, "mfu": mfu(flops[name], s, peak.of(spec.precision)),
                        "mfu_cpu": mfu(flops[name], c, peak.of(spec.precision, "cpu")),
                        "flops_split": split[name], "attainable_s": bound,
                        "attainable_mfu": mfu(flops[name], bound, peak.of(spec.precision)),
                        "of_attainable": bound / s,
                        "of_attainable_cpu": attainable_seconds(split[name], peak, spec.precision, "cpu") / c,
                        "wall_s": wall[name], "cpu_s": cpu[name]}
    first = next(iter(runners))
    ratio = {name: models[name]["s_per_step"] / models[first]["s_per_step"] for name in runners}
    cpu_ratio = {name: models[name]["cpu_s_per_step"] / models[first]["cpu_s_per_step"] for name in runners}
    result: dict[str, Any] = {
        "peak": asdict(peak),
        "config": {**asdict(spec), "variants": list(spec.variants), "warmup": warmup, "video_tokens": video,
                   "grid": list(grid), "dit": asdict(cfg)},
        "models": models,
        "ratios": ratio,
        "cpu_ratios": cpu_ratio,
    }
    if spec.peer:
        result["peer_over_kinema"] = ratio["peer"] / ratio[first]
        result["peer_over_kinema_cpu"] = cpu_ratio["peer"] / cpu_ratio[first]
        result["param_ratio"] = params["peer"] / params[first]
    rows = [{"model": n, "params": m["params"], "s/step": m["s_per_step"], "tokens/s": m["tokens_per_s"],
             "TFLOP/s": m["tflops"], "MFU": f"{100 * m['mfu']:.1f}%", f"/ {first}": ratio[n],
             "CPU s/step": m["cpu_s_per_step"], "MFU (CPU)": f"{100 * m['mfu_cpu']:.1f}%",
             f"/ {first} (CPU)": cpu_ratio[n],
             "attn share": f"{100 * m['flops_split']['attention'] / m['flops_per_step']:.0f}%",
             "attainable MFU": f"{100 * m['attainable_mfu']:.1f}%", "of attainable": f"{100 * m['of_attainable']:.0f}%"}
            for n, m in models.items()]
    text = (f"{spec.preset}: dim {cfg.dim}, depth {cfg.depth}, {cfg.heads} heads x {cfg.head_dim}; batch {spec.batch}, "
            f"{video} video tokens ({grid[0]} x {grid[1]} x {grid[2]}) + {spec.text_len} text = {spec.tokens}; "
            f"{spec.precision}; medians of {spec.steps} steps after {warmup} warm-up, interleaved\n"
            f"MFU against this run's {spec.precision} matmul peak: {peak.of(spec.precision):.3g} TFLOP/s by wall time, "
            f"{peak.of(spec.precision, 'cpu'):.3g} by CPU time (CPU time: the steadier on a shared machine); "
            f"SDPA {peak.attention_bf16_tflops:.3g} TFLOP/s (attainable MFU: linear layers at the matmul peak, "
            f"attention at the SDPA one)\n"
            + table(rows, list(rows[0])))
    if spec.peer:
        text += (f"\npeer / kinema time per step: {result['peer_over_kinema']:.3g} (wall), "
                 f"{result['peer_over_kinema_cpu']:.3g} (CPU); params {params['peer']:,} vs {params[first]:,}, "
                 f"ratio {result['param_ratio']:.3f}")
    return result, text
