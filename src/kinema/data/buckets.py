"""Token-budget buckets: train on native sizes and aspect ratios, batch clips of one shape together.

Sora trains on videos at their native aspect ratio instead of square crops. kinema does it the NaViT/Open-Sora way with
buckets: a bucket is one exact shape (frames, height, width); ``make_buckets`` lists, for each aspect ratio and frame
count, the largest size whose number of DiT tokens stays within a budget; ``assign_bucket`` sends each clip to the
bucket of its own aspect ratio; ``fit_to_bucket`` resizes it there with at most a small centre crop; a
``BucketBatchSampler`` draws every batch from one bucket, deterministically and resumably, across ranks.

Token count of a bucket: ceil(frames / pt) * ceil(height / ph) * ceil(width / pw) with ``patch = (pt, ph, pw)`` the
pixels per token (VAE compression x DiT patch). For frame counts 1 + 4k and pt = 4 this is the causal VAE's 1 + k
latent frames (the first frame is encoded alone, so an image is a 1-frame video).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_ASPECTS = (16 / 9, 4 / 3, 1.0, 3 / 4, 9 / 16)  # width / height
DEFAULT_FRAMES = (1, 5, 9, 17, 33)  # 1 + 4k: the causal VAE's layout
ASPECT_TOLERANCE = 1.1  # a bucket's real aspect (after rounding to `multiple`) is within 10% of its nominal aspect

# ----------------------------------------------------------------------------------------------------------------------
# Buckets
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """One exact clip shape. ``aspect`` is the nominal aspect (width / height) it was made for; buckets compare equal
    by shape alone. Made by ``make_buckets``; a hand-made Bucket's nominal aspect is its real one."""

    frames: int
    height: int
    width: int
    aspect: float = field(default=0.0, compare=False)

    def __post_init__(self) -> None:
        for name in ("frames", "height", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Bucket.{name} must be an int >= 1, got {value!r}")
        if (self.frames - 1) % 4:
            raise ValueError(f"Bucket.frames must be 1 + 4k (1, 5, 9, 17, 33, ...), got {self.frames}")
        if self.aspect <= 0:
            object.__setattr__(self, "aspect", self.width / self.height)

    def tokens(self, patch: tuple[int, int, int] = (4, 8, 8)) -> int:
        return count_tokens(self.frames, self.height, self.width, patch)


def count_tokens(frames: int, height: int, width: int, patch: tuple[int, int, int] = (4, 8, 8)) -> int:
    """DiT tokens of a (frames, height, width) clip: each dimension ceil-divided by its patch."""
    pt, ph, pw = patch
    return math.ceil(frames / pt) * math.ceil(height / ph) * math.ceil(width / pw)


def _check_patch(patch: Sequence[int]) -> tuple[int, int, int]:
    if len(patch) != 3 or any(isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in patch):
        raise ValueError(f"patch must be three ints >= 1 (frames, height, width per token), got {patch!r}")
    return (patch[0], patch[1], patch[2])


def make_buckets(
    token_budget: int,
    *,
    patch: tuple[int, int, int] = (4, 8, 8),
    aspects: Sequence[float] = DEFAULT_ASPECTS,
    frame_options: Sequence[int] = DEFAULT_FRAMES,
    multiple: int | None = None,
) -> list[Bucket]:
    """For each aspect (width / height) and frame count: the largest size with height and width multiples of
    ``multiple`` (default: the patch's spatial size, so no token is half empty), real aspect within 10% of the
    nominal one, and at most ``token_budget`` tokens. Combinations with no such size are left out; duplicates are
    removed. Ordered by aspect as given, then frames.

    Every bucket nearly fills the budget, so a clip much smaller than the budget's sizes would be enlarged; for
    smaller sources add smaller buckets: ``make_buckets(1024) + make_buckets(256)`` (assign_bucket takes any list)."""
    if isinstance(token_budget, bool) or not isinstance(token_budget, int) or token_budget < 1:
        raise ValueError(f"token_budget must be an int >= 1, got {token_budget!r}")
    pt, ph, pw = _check_patch(patch)
    if not aspects or any(not (isinstance(a, (int, float)) and 0 < a < math.inf) for a in aspects):
        raise ValueError(f"aspects must be a non-empty list of positive numbers (width / height), got {aspects!r}")
    for frames in frame_options:
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1 or (frames - 1) % 4:
            raise ValueError(f"frame_options must be ints of the form 1 + 4k (1, 5, 9, 17, 33, ...), got {frames!r}")
    if not frame_options:
        raise ValueError("frame_options must not be empty")
    step = multiple if multiple is not None else math.lcm(ph, pw)
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ValueError(f"multiple must be an int >= 1 or None, got {multiple!r}")

    buckets: list[Bucket] = []
    for aspect in aspects:
        for frames in frame_options:
            per_frame = token_budget // math.ceil(frames / pt)  # spatial tokens each latent frame may use
            best: tuple[int, int] | None = None
            height = step
            tallest = math.sqrt(per_frame * ph * pw / aspect) * ASPECT_TOLERANCE + step  # taller never fits
            while height <= tallest:
                width = max(step, round(height * aspect / step) * step)
                fits = math.ceil(height / ph) * math.ceil(width / pw) <= per_frame
                close = abs(math.log(width / height / aspect)) <= math.log(ASPECT_TOLERANCE)
                if fits and close and (best is None or height * width > best[0] * best[1]):
                    best = (height, width)
                height += step
            if best is not None:
                bucket = Bucket(frames, best[0], best[1], aspect=float(aspect))
                if bucket not in buckets:
                    buckets.append(bucket)
    return buckets


# ----------------------------------------------------------------------------------------------------------------------
# Assigning a clip to a bucket, and fitting it there
# ----------------------------------------------------------------------------------------------------------------------


def crop_per_side(height: int, width: int, bucket: Bucket) -> float:
    """The fraction of the clip's width (or height) cut from each side to reach the bucket's exact aspect."""
    if width * bucket.height > bucket.width * height:  # clip is wider than the bucket: cut left and right
        return (1 - bucket.width * height / (bucket.height * width)) / 2
    return (1 - bucket.height * width / (bucket.width * height)) / 2


def upscale_factor(height: int, width: int, bucket: Bucket) -> float:
    """How much the clip is enlarged to cover the bucket (< 1 means it is shrunk)."""
    return max(bucket.height / height, bucket.width / width)


def assign_bucket(
    frames: int, height: int, width: int, buckets: Sequence[Bucket], *, max_upscale: float = 1.25
) -> Bucket:
    """The bucket for a clip of ``frames`` frames (at the training fps) and size height x width.

    1. Aspect first: the nominal aspect nearest the clip's in log-ratio, among buckets with at most ``frames`` frames.
    2. Within it, the buckets that enlarge the clip at most ``max_upscale`` times; of those the one with the most
       frames (motion is what a video model learns), then the most pixels. If every one enlarges more, the one that
       enlarges least.
    Raises ValueError if no bucket is short enough (an image only fits 1-frame buckets).
    """
    if min(frames, height, width) < 1:
        raise ValueError(f"frames, height, width must be >= 1, got {frames}, {height}, {width}")
    fitting = [b for b in buckets if b.frames <= frames]
    if not fitting:
        shortest = min((b.frames for b in buckets), default=None)
        raise ValueError(f"a {frames}-frame clip fits no bucket: the shortest bucket has {shortest} frames")
    log_aspect = math.log(width / height)
    nominal = min({b.aspect for b in fitting}, key=lambda a: (abs(math.log(a) - log_aspect), a))
    group = [b for b in fitting if b.aspect == nominal]
    gentle = [b for b in group if upscale_factor(height, width, b) <= max_upscale]
    if gentle:
        return max(gentle, key=lambda b: (b.frames, b.height * b.width))
    return min(group, key=lambda b: (upscale_factor(height, width, b), -b.frames))


def fit_to_bucket(
    video: np.ndarray, bucket: Bucket, *, max_crop: float = 0.1, rng: np.random.Generator | None = None
) -> np.ndarray:
    """uint8 (T, H, W, 3) -> uint8 (bucket.frames, bucket.height, bucket.width, 3), never a square crop.

    Space: a centre crop to the bucket's exact aspect (at most ``max_crop`` of the width or height from each side,
    else ValueError), then an antialiased bilinear resize. Time: the first ``bucket.frames`` frames, or a random
    window drawn from ``rng``. Raises ValueError if the clip is shorter than the bucket.
    """
    video = np.asarray(video)
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3 or 0 in video.shape:
        raise ValueError(f"video must be non-empty uint8 (T, H, W, 3), got {video.dtype} {tuple(video.shape)}")
    total, height, width, _ = video.shape
    if total < bucket.frames:
        raise ValueError(f"clip has {total} frames, bucket needs {bucket.frames}")
    start = 0 if rng is None else int(rng.integers(0, total - bucket.frames + 1))
    video = video[start : start + bucket.frames]

    crop = crop_per_side(height, width, bucket)
    if crop > max_crop + 1e-9:
        raise ValueError(
            f"a {width}x{height} clip needs {crop:.1%} cut from each side to reach bucket {bucket.width}x"
            f"{bucket.height}, more than max_crop={max_crop:.0%}; "
            f"add an aspect near {width / height:.3f} to make_buckets"
        )
    if width * bucket.height > bucket.width * height:
        keep_h, keep_w = height, min(width, round(height * bucket.width / bucket.height))
    else:
        keep_h, keep_w = min(height, round(width * bucket.height / bucket.width)), width
    top, left = (height - keep_h) // 2, (width - keep_w) // 2
    video = video[:, top : top + keep_h, left : left + keep_w]  # (T, h, w, 3)
    if (keep_h, keep_w) == (bucket.height, bucket.width):
        return np.ascontiguousarray(video)
    x = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float()  # (T, 3, h, w)
    x = F.interpolate(x, size=(bucket.height, bucket.width), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()  # (T, H, W, 3)


def collate(items: Sequence[dict[str, Any]], bucket: Bucket | None = None) -> dict[str, Any]:
    """Items (dicts with uint8 "video" (T, H, W, 3) and "caption") -> dict(video=float (B, 3, T, H, W) in [-1, 1],
    caption=list[str], path=list[str]). With ``bucket``, videos are first fitted to it; without, they must already
    share one shape."""
    if not items:
        raise ValueError("collate needs at least one item")
    videos = [item["video"] if bucket is None else fit_to_bucket(item["video"], bucket) for item in items]
    shapes = {tuple(v.shape) for v in videos}
    if len(shapes) != 1:
        raise ValueError(f"videos in one batch must share a shape (pass a bucket to fit them), got {sorted(shapes)}")
    x = torch.from_numpy(np.stack(videos))  # (B, T, H, W, 3) uint8
    x = x.permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0  # (B, 3, T, H, W) in [-1, 1]
    return {
        "video": x.contiguous(),
        "caption": [str(item.get("caption", "")) for item in items],
        "path": [str(item.get("path", "")) for item in items],
    }


# ----------------------------------------------------------------------------------------------------------------------
# Batches from one bucket: deterministic, sharded, resumable
# ----------------------------------------------------------------------------------------------------------------------


class BucketBatchSampler:
    """Yields lists of item indices, every list from one bucket.

    Epoch e: the items of each bucket are shuffled with ``numpy.random.default_rng([seed, e])`` and cut into batches
    of ``batch_size`` (the short tail dropped if ``drop_last``), then the batches of all buckets are shuffled together.
    Rank r of ``world_size`` takes batches r, r + world_size, ...; every rank gets the same number: with drop_last the
    leftover batches are dropped, without it the list is padded by repeating batches from its start. Items whose
    bucket is negative (unassigned) are never drawn.

    Iterating runs from the current position to the end of the epoch, then moves to the next epoch. ``state_dict()``
    is that position (epoch, batch index); ``load_state_dict`` resumes exactly there. When a DataLoader with workers
    prefetches batches, the sampler runs ahead of training: save the position of the last batch trained on instead,
    as ``{"epoch": e, "batch_index": batches_done_this_epoch}``.
    """

    def __init__(
        self,
        bucket_of_item: Sequence[int],
        batch_size: int,
        *,
        seed: int,
        drop_last: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
            raise ValueError(f"world_size must be an int >= 1, got {world_size!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
            raise ValueError(f"rank must be an int in [0, {world_size - 1}], got {rank!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.bucket_of_item = [int(b) for b in bucket_of_item]
        self.batch_size, self.seed, self.drop_last = batch_size, seed, drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch, self.batch_index = 0, 0

    def batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of ``epoch``, in order (a pure function of the arguments and the constructor's)."""
        rng = np.random.default_rng([self.seed, epoch])
        members: dict[int, list[int]] = {}
        for index, bucket in enumerate(self.bucket_of_item):
            if bucket >= 0:
                members.setdefault(bucket, []).append(index)
        all_batches: list[list[int]] = []
        for bucket in sorted(members):
            items = np.asarray(members[bucket])[rng.permutation(len(members[bucket]))].tolist()
            for start in range(0, len(items), self.batch_size):
                batch = items[start : start + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    all_batches.append(batch)
        all_batches = [all_batches[i] for i in rng.permutation(len(all_batches))]
        if self.drop_last:
            per_rank = len(all_batches) // self.world_size
        else:
            per_rank = math.ceil(len(all_batches) / self.world_size)
            while all_batches and len(all_batches) < per_rank * self.world_size:
                all_batches += all_batches[: per_rank * self.world_size - len(all_batches)]
        return all_batches[self.rank :: self.world_size][:per_rank]

    def __len__(self) -> int:
        """Batches per epoch on this rank (the same on every rank)."""
        return len(self.batches(self.epoch))

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.batches(self.epoch)
        while self.batch_index < len(batches):
            batch = batches[self.batch_index]
            self.batch_index += 1
            yield batch
        self.epoch, self.batch_index = self.epoch + 1, 0

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its first batch."""
        self.epoch, self.batch_index = int(epoch), 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batch_index": self.batch_index, "seed": self.seed,
                "world_size": self.world_size, "items": len(self.bucket_of_item)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume at ``state["epoch"]``, ``state["batch_index"]``; the other keys, if present, must match."""
        mine = self.state_dict()
        for key in ("seed", "world_size", "items"):
            if key in state and int(state[key]) != mine[key]:
                raise ValueError(f"sampler state has {key}={state[key]}, this sampler has {key}={mine[key]}")
        epoch, index = int(state["epoch"]), int(state["batch_index"])
        if epoch < 0 or index < 0:
            raise ValueError(f"epoch and batch_index must be >= 0, got {epoch}, {index}")
        self.epoch, self.batch_index = epoch, index
