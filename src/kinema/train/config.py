"""The training configuration: one typed dataclass, saved as JSON beside every run and inside every checkpoint.

CLI flags map one-to-one onto the fields (``--lr 3e-4`` -> ``TrainConfig.lr``). Invalid values raise one ``ValueError``
naming the allowed range; nothing is silently corrected.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

PRECISIONS = ("bf16", "fp32")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """Everything the generic loop needs; the model, data and objective configs travel beside it in ``config.json``.

    steps:              optimizer steps in the whole run (the LR schedule spans exactly this many).
    batch_size:         GLOBAL batch in samples per optimizer step, over all processes and micro-batches.
                        Must be divisible by world_size * grad_accum.
    grad_accum:         micro-batches per optimizer step on each process.
    lr:                 peak learning rate, reached at the end of the linear warmup.
    warmup_steps:       linear warmup from lr/warmup_steps to lr.
    min_lr_ratio:       cosine decay from lr down to lr * min_lr_ratio at the last step.
    weight_decay:       AdamW decoupled decay on matrices (not on biases, norms or embeddings).
    betas:              AdamW betas.
    grad_clip:          clip the global gradient norm to this value; 0 = no clipping (the norm is still logged).
    ema_decay:          decay of the fp32 EMA of the weights (with a (1+n)/(10+n) ramp); 0 = no EMA.
    precision:          "bf16" = torch.autocast(bfloat16) on the model's device with fp32 master weights; "fp32".
    grad_checkpointing: not used by the loop: the caller passes it to the model it builds; kept here so it is recorded.
    ckpt_every:         checkpoint every N steps (and always at the end and on Ctrl-C/SIGTERM); 0 = only those.
    keep_last:          keep the K newest checkpoints; 0 = keep all.
    log_every:          write a metrics.jsonl line and refresh the bar's numbers every N steps.
    sample_every:       call sample_fn every N steps on rank 0; 0 = never.
    seed:               root of every random number the loop draws (step generators; data sources take their own).
    out_dir:            the run directory (config.json, metrics.jsonl, loss.png, ckpt-XXXXXX/, samples/).
    compile:            wrap the model in torch.compile (off by default: compile time dominates short CPU runs).
    fsdp:               shard parameters, gradients and optimizer state with FSDP2 (fully_shard) instead of DDP
                        (CPU gloo and GPU nccl alike; a single process trains unwrapped either way).
    device:             "auto" (cuda:LOCAL_RANK when CUDA is available, else cpu), "cpu" or "cuda".
    lr_mult:            {parameter name prefix: factor}: parameters whose names (or their tails after a dot) start
                        with the prefix train at factor x the learning rate (e.g. a zero-initialised layer added to a
                        warm-started model, which otherwise learns slowly; "warp" reaches every block's warp).
    """

    steps: int = 1000
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 3e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    precision: str = "bf16"
    grad_checkpointing: bool = False
    ckpt_every: int = 500
    keep_last: int = 3
    log_every: int = 10
    sample_every: int = 0
    seed: int = 0
    out_dir: str = "runs/train"
    compile: bool = False
    fsdp: bool = False
    device: str = "auto"
    lr_mult: dict[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # JSON gives a list
        self.lr_mult = {str(k): float(v) for k, v in dict(self.lr_mult).items()}
        bad = {k: v for k, v in self.lr_mult.items() if not (math.isfinite(v) and v > 0) or not k}
        if bad:
            raise ValueError(f"TrainConfig.lr_mult needs non-empty name prefixes and factors > 0, got {bad}")
        _check_int(self, "steps", 1)
        _check_int(self, "batch_size", 1)
        _check_int(self, "grad_accum", 1)
        _check_int(self, "warmup_steps", 0)
        _check_int(self, "ckpt_every", 0)
        _check_int(self, "keep_last", 0)
        _check_int(self, "log_every", 1)
        _check_int(self, "sample_every", 0)
        _check_int(self, "seed", 0)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"TrainConfig.lr must be a finite number > 0, got {self.lr!r}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"TrainConfig.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay!r}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"TrainConfig.betas must be two numbers in [0, 1), got {self.betas!r}")
        if not (math.isfinite(self.grad_clip) and self.grad_clip >= 0):
            raise ValueError(f"TrainConfig.grad_clip must be >= 0 (0 = off), got {self.grad_clip!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TrainConfig.ema_decay must be in [0, 1) (0 = off), got {self.ema_decay!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"TrainConfig.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.device not in DEVICES:
            raise ValueError(f"TrainConfig.device must be one of {DEVICES}, got {self.device!r}")
        if not isinstance(self.out_dir, str) or not self.out_dir:
            raise ValueError(f"TrainConfig.out_dir must be a non-empty path string, got {self.out_dir!r}")

    # ------------------------------------------------------------------------------------------------------------------
    # JSON
    # ------------------------------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; allowed: {sorted(names)}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        return cls.from_dict(json.loads(text))


def _check_int(cfg: TrainConfig, name: str, low: int) -> None:
    v = getattr(cfg, name)
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ValueError(f"TrainConfig.{name} must be an integer >= {low}, got {v!r}")
