"""kinema.train: one generic training loop (VAE and DiT alike), atomic checkpoints, exact resume, torchrun DDP/FSDP2.

    from kinema.train import Trainer, TrainConfig, IndexedData
    Trainer(model, objective, data, TrainConfig(...), run_config={"model": ..., "data": ...}).fit()

The interfaces (objective, data, sample_fn) are documented in :mod:`kinema.train.trainer`.
"""

from importlib import import_module
from typing import Any

# Lazy exports (PEP 562): `import kinema.train.recipes` for loading a model must not import torch.distributed and
# sympy (about a second of a cold start); the trainer's modules load on first use of one of these names.
_EXPORTS = {
    "export_model": "checkpoint", "latest_checkpoint": "checkpoint", "list_checkpoints": "checkpoint",
    "load_checkpoint": "checkpoint", "read_metrics": "checkpoint",
    "TrainConfig": "config",
    "barrier": "dist", "cleanup": "dist", "init_distributed": "dist", "is_main": "dist",
    "IndexedData": "trainer", "Trainer": "trainer", "collate": "trainer", "derive_seed": "trainer",
    "per_sample_generators": "trainer", "ema_decay_at": "schedule", "lr_at": "schedule",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"kinema.train.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'kinema.train' has no attribute {name!r}")


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
