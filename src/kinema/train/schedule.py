"""The trainer's schedules and optimizer groups, pure functions of the config and the step (kinema.train.trainer).

Learning rate: linear warmup, then cosine to lr * min_lr_ratio (:func:`lr_at`). EMA decay ramps up so a young EMA is
not stuck at the initialisation (:func:`ema_decay_at`). AdamW groups: matrices decayed, biases, norm scales and
nn.Embedding tables not, each split by TrainConfig.lr_mult's per-name learning-rate factors (:func:`param_groups`).
"""

from __future__ import annotations

import math

from torch import nn

from kinema.train.config import TrainConfig


def lr_at(cfg: TrainConfig, step: int) -> float:
    """LR of optimizer step `step` (0-based): linear warmup, then cosine to lr * min_lr_ratio at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps - 1)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.lr * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def ema_decay_at(cfg: TrainConfig, steps_done: int) -> float:
    """EMA decay after `steps_done` optimizer steps: ramps up so a young EMA is not stuck at the initialisation."""
    return min(cfg.ema_decay, (1.0 + steps_done) / (10.0 + steps_done))


def name_matches(name: str, prefix: str) -> bool:
    """Whether a parameter name, or its tail after any dot, starts with prefix ("warp" matches
    "blocks.3.warp.table.weight", "blocks.1." matches "blocks.1.bias")."""
    return name.startswith(prefix) or f".{prefix}" in name


def param_groups(module: nn.Module, weight_decay: float, lr_mult: dict[str, float] | None = None) -> list[dict]:
    """[decayed matrices, undecayed biases/norms/embeddings], each split by the factor of the first lr_mult prefix that
    a parameter's name matches (name_matches; else 1; a prefix that names nothing is refused); frozen parameters left
    out, empty groups dropped: with no lr_mult exactly the two groups, so older runs' optimizer states load."""
    lr_mult, named = lr_mult or {}, dict(module.named_parameters())
    unused = [k for k in lr_mult if not any(name_matches(n, k) for n in named)]
    if unused:
        raise ValueError(f"lr_mult names no parameter of this model: {unused}")
    embeddings = {id(m.weight) for m in module.modules() if isinstance(m, nn.Embedding)}
    groups = {(decays, m): {"params": [], "weight_decay": weight_decay if decays else 0.0, "lr_mult": m}
              for decays in (True, False) for m in sorted({1.0, *lr_mult.values()})}
    for name, p in named.items():
        if p.requires_grad:
            m = next((f for prefix, f in lr_mult.items() if name_matches(name, prefix)), 1.0)
            groups[(not (p.ndim < 2 or id(p) in embeddings), m)]["params"].append(p)
    return [g for g in groups.values() if g["params"]]
