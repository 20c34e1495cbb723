"""A tiny real problem for the trainer tests, and a torchrun entry point (not collected by pytest).

Regression of a fixed random "teacher" (a linear map plus a class-dependent offset) with a 2-layer MLP that has an
embedding and a LayerNorm (so all three AdamW parameter groups occur). The objective adds input noise drawn from each
sample's own seed, so the result does not depend on how the global batch is split across processes.

    python -m torch.distributed.run --nproc_per_node 2 tests/_train_toy.py --out DIR [--fsdp] [--grad-accum 2]
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kinema.train import IndexedData, TrainConfig, Trainer, cleanup, per_sample_generators

DIM, CLASSES, OUT = 8, 4, 4


class ToyNet(nn.Module):
    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(CLASSES, DIM)
        self.blocks = nn.ModuleList([nn.Linear(DIM, hidden), nn.Linear(hidden, OUT)])
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = x + self.embed(label)  # (B, DIM)
        h = F.gelu(self.norm(self.blocks[0](h)))  # (B, hidden)
        return self.blocks[1](h)  # (B, OUT)


def build_model(seed: int = 0) -> ToyNet:
    torch.manual_seed(seed)  # test code only: the library never seeds the global RNG
    return ToyNet()


class ToyData(IndexedData):
    def __init__(self, batch_size: int, seed: int = 0) -> None:
        super().__init__(batch_size, seed)
        rng = np.random.default_rng(1234)
        self.w = rng.normal(size=(OUT, DIM)).astype(np.float32) / np.sqrt(DIM)
        self.offset = rng.normal(size=(CLASSES, OUT)).astype(np.float32)

    def get(self, index: int, seed: int) -> dict:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=DIM).astype(np.float32)
        label = int(rng.integers(CLASSES))
        y = self.w @ x + self.offset[label]
        return {"x": torch.from_numpy(x), "label": label, "y": torch.from_numpy(y)}


def objective(model: nn.Module, batch: dict, generator: torch.Generator):
    x = batch["x"]  # (B, DIM)
    gens = per_sample_generators(batch["seed"], x.device)
    eps = torch.stack([torch.randn(DIM, generator=g, device=x.device) for g in gens])  # (B, DIM)
    pred = model(x + 0.05 * eps, batch["label"])  # (B, OUT)
    loss = F.mse_loss(pred.float(), batch["y"])
    return loss, {"abs_err": (pred.float() - batch["y"]).abs().mean().detach()}, x.shape[0]


def toy_config(out_dir: str, **overrides) -> TrainConfig:
    base = dict(
        steps=6,
        batch_size=8,
        grad_accum=1,
        lr=3e-2,
        warmup_steps=2,
        min_lr_ratio=0.1,
        weight_decay=0.1,
        grad_clip=1.0,
        ema_decay=0.9,
        precision="fp32",
        ckpt_every=3,
        keep_last=2,
        log_every=1,
        seed=7,
        out_dir=out_dir,
        device="cpu",
    )
    base.update(overrides)
    return TrainConfig(**base)


def run(cfg: TrainConfig, *, model_seed: int = 0, resume: bool = False, stop_at: int | None = None, **kw) -> Trainer:
    trainer = Trainer(
        build_model(model_seed),
        objective,
        ToyData(cfg.batch_size, seed=3),
        cfg,
        run_config={"model": {"name": "toy", "hidden": 32}, "data": {"name": "toy", "seed": 3}},
        resume=resume,
        **kw,
    )
    trainer.fit(stop_at=stop_at)
    return trainer


def main() -> None:
    ap = argparse.ArgumentParser(description="torchrun entry point for tests/test_distributed.py")
    ap.add_argument("--out", required=True, help="root directory: one run directory per mode is written under it")
    ap.add_argument("--modes", default="ddp", help="comma-separated runs: ddp, fsdp, ddp-resume, fsdp-resume")
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps")
    ap.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step on each process")
    ap.add_argument("--skew", action="store_true", help="initialise each rank differently (rank 0's weights must win)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", "0"))
    for mode in a.modes.split(","):
        fsdp = mode.startswith("fsdp")
        cfg = toy_config(f"{a.out}/{mode}", steps=a.steps, grad_accum=a.grad_accum, fsdp=fsdp)
        seed = rank if a.skew else 0
        if mode.endswith("-resume"):  # stop half-way, then a new Trainer (new weights) continues from the checkpoint
            run(cfg, model_seed=seed, stop_at=a.steps // 2)
            trainer = run(cfg, model_seed=seed + 50, resume=True)
        else:
            trainer = run(cfg, model_seed=seed)
        if rank == 0:
            info = trainer.info
            report = {"mode": mode, "world_size": info.world_size, "backend": info.backend, "step": trainer.step}
            print(json.dumps(report))
    cleanup()


if __name__ == "__main__":
    main()
