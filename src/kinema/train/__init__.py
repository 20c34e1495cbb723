"""kinema.train: one generic training loop (VAE and DiT alike), atomic checkpoints, exact resume, torchrun DDP/FSDP2.

    from kinema.train import Trainer, TrainConfig, IndexedData
    Trainer(model, objective, data, TrainConfig(...), run_config={"model": ..., "data": ...}).fit()

The interfaces (objective, data, sample_fn) are documented in :mod:`kinema.train.trainer`.
"""

from kinema.train.checkpoint import export_model, latest_checkpoint, list_checkpoints, load_checkpoint, read_metrics
from kinema.train.config import TrainConfig
from kinema.train.dist import barrier, cleanup, init_distributed, is_main
from kinema.train.trainer import (
    IndexedData,
    Trainer,
    collate,
    derive_seed,
    ema_decay_at,
    lr_at,
    per_sample_generators,
)

__all__ = [
    "IndexedData",
    "TrainConfig",
    "Trainer",
    "barrier",
    "cleanup",
    "collate",
    "derive_seed",
    "ema_decay_at",
    "export_model",
    "init_distributed",
    "is_main",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "lr_at",
    "per_sample_generators",
    "read_metrics",
]
