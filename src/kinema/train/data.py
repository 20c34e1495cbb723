"""Training data for the recipes: the procedural worlds, or a folder of the user's own videos.

Both follow the trainer's step-indexed contract (see kinema.train.trainer): global batch `step` is a pure function of
(data seed, step), so a resumed or multi-process run sees exactly the batches an uninterrupted single-process run sees.
All samples of one global batch share one bucket (frames x height x width), chosen from the step, so variable sizes
train together without padding or square crops.

World seeds: training clips use world seeds below EVAL_SEED_START; evaluation sets (kinema.eval) start there, so the two
never overlap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from kinema.train.trainer import IndexedData, collate, derive_seed

EVAL_SEED_START = 10_000_000  # world seeds >= this are reserved for evaluation


@dataclass
class DataConfig:
    """What a run trains on. CLI flags map onto these fields; the whole thing is saved with every checkpoint."""

    source: str = "physics"  # comma-separated WORLD[/SCENARIO] list, or a folder of videos and images
    sizes: tuple[str, ...] = ("64x64",)  # WIDTHxHEIGHT buckets (each batch picks one)
    frames: tuple[int, ...] = (17,)  # frame-count buckets (1 + f*k for a VAE with time factor f; 1 = images)
    fps: float = 10.0
    num_videos: int = 0  # 0: a fresh world seed for every sample; N: a fixed training set of N clips
    ood: bool = False  # worlds: draw from the out-of-distribution ranges
    languages: tuple[str, ...] = ("en", "zh")  # caption languages, picked per sample
    caption_kinds: tuple[str, ...] = ("detailed", "short")

    def __post_init__(self) -> None:
        self.sizes = tuple(self.sizes)
        self.frames = tuple(int(f) for f in self.frames)
        self.languages = tuple(self.languages)
        self.caption_kinds = tuple(self.caption_kinds)
        for s in self.sizes:
            parse_wh(s)
        if not self.frames or min(self.frames) < 1:
            raise ValueError(f"frames must be a non-empty list of counts >= 1, got {self.frames}")
        if self.num_videos < 0:
            raise ValueError(f"num_videos must be >= 0, got {self.num_videos}")
        if self.num_videos >= EVAL_SEED_START:
            raise ValueError(f"num_videos must be < {EVAL_SEED_START} (higher seeds are evaluation seeds)")
        if not set(self.languages) <= {"en", "zh"} or not self.languages:
            raise ValueError(f"languages must be a subset of (en, zh), got {self.languages}")

    def buckets(self) -> list[tuple[int, int, int]]:
        """Every (frames, height, width) combination."""
        return [(f, parse_wh(s)[1], parse_wh(s)[0]) for s in self.sizes for f in self.frames]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_wh(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like WIDTHxHEIGHT (e.g. 64x64), got {text!r}") from None
    if w < 1 or h < 1:
        raise ValueError(f"size must be positive, got {text!r}")
    return w, h


def to_model_video(video: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (3, T, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(video)).permute(3, 0, 1, 2)  # (3, T, H, W) uint8
    return x.float().div_(127.5).sub_(1.0)  # (3, T, H, W)


def pick_caption(caption: dict[str, dict[str, str]], seed: int, cfg: DataConfig) -> str:
    rng = np.random.default_rng(derive_seed(seed, 0x636170))
    lang = cfg.languages[int(rng.integers(len(cfg.languages)))]
    kind = cfg.caption_kinds[int(rng.integers(len(cfg.caption_kinds)))]
    return caption[lang][kind]


# ----------------------------------------------------------------------------------------------------------------------
# The procedural worlds
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class WorldData(IndexedData):
    """Clips rendered on the fly from the built-in worlds: sample i of global batch `step` is rendered from a world
    seed derived from (data seed, i), in the bucket of `step`."""

    cfg: DataConfig = field(default_factory=DataConfig)
    batch_size: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        from kinema.worlds import parse_name

        IndexedData.__init__(self, self.batch_size, self.seed)
        self.sources = [s.strip() for s in self.cfg.source.split(",") if s.strip()]
        if not self.sources:
            raise ValueError("data source is empty")
        for s in self.sources:
            parse_name(s)  # one clear error for an unknown world or scenario
        self._buckets = self.cfg.buckets()

    def bucket(self, step: int) -> tuple[int, int, int]:
        return self._buckets[derive_seed(self.seed, step, 0x62) % len(self._buckets)]

    def clip(self, index: int) -> tuple[str, int]:
        """(world name, world seed) of sample `index`: a fixed pool of num_videos clips, or a fresh seed each time."""
        n = self.cfg.num_videos
        clip_id = index % EVAL_SEED_START if n == 0 else derive_seed(self.seed, index, 0x76) % n
        return self.sources[clip_id % len(self.sources)], clip_id

    def get(self, index: int, seed: int) -> dict[str, Any]:
        from kinema.worlds import render

        frames, h, w = self.bucket(index // self.batch_size)
        name, world_seed = self.clip(index)
        s = render(name, seed=world_seed, frames=frames, width=w, height=h, fps=self.cfg.fps, ood=self.cfg.ood)
        return {"video": to_model_video(s.video), "caption": pick_caption(s.caption, seed, self.cfg)}


# ----------------------------------------------------------------------------------------------------------------------
# A folder of the user's videos
# ----------------------------------------------------------------------------------------------------------------------


class FolderData(IndexedData):
    """The user's videos (kinema.data.VideoFolder), each fitted to the nearest bucket of `cfg` (never square-cropped).

    Global batch `step` is batch (step mod n) of epoch (step div n) of a seeded bucket sampler over the whole folder:
    a pure function of the step, so resume needs nothing but the step.
    """

    def __init__(self, cfg: DataConfig, batch_size: int, seed: int = 0) -> None:
        from kinema.data import BucketBatchSampler, VideoFolder
        from kinema.data.buckets import Bucket

        super().__init__(batch_size, seed)
        self.cfg = cfg
        buckets = [Bucket(f, h, w) for f, h, w in cfg.buckets()]
        self.folder = VideoFolder(cfg.source, fps=cfg.fps, max_frames=max(cfg.frames), buckets=buckets)
        self.sampler = BucketBatchSampler(self.folder.bucket_of_item, batch_size, seed=seed, drop_last=True)
        self._epoch_cache: dict[int, list[list[int]]] = {}

    def global_batch(self, step: int) -> list[int]:
        per_epoch = len(self.sampler)
        if per_epoch == 0:
            raise ValueError(f"{self.cfg.source}: no bucket holds a full batch of {self.batch_size} clips; "
                             "lower --batch-size or add videos")
        epoch, pos = divmod(step, per_epoch)
        if epoch not in self._epoch_cache:
            self._epoch_cache = {epoch: self.sampler.batches(epoch)}
        return self._epoch_cache[epoch][pos]

    def batch(self, step: int, rank: int, world_size: int) -> dict[str, Any]:
        items = self.global_batch(step)
        shard = self.shard(step, rank, world_size)
        out = []
        for i in shard:
            item = self.folder[items[i - step * self.batch_size]]
            s = derive_seed(self.seed, i)
            out.append({"video": to_model_video(item["video"]), "caption": item["caption"], "seed": s, "index": i})
        return collate(out)


def make_data(cfg: DataConfig, batch_size: int, seed: int) -> IndexedData:
    """Worlds for names like "physics,scenes/ramp_roll"; a folder when the source is an existing directory."""
    from pathlib import Path

    if Path(cfg.source).is_dir():
        return FolderData(cfg, batch_size, seed)
    return WorldData(cfg=cfg, batch_size=batch_size, seed=seed)
