"""kinema.data: VideoFolder (captions, skipping broken files), token-budget buckets, the bucket batch sampler."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch

from kinema.data import (
    Bucket,
    BucketBatchSampler,
    VideoFolder,
    assign_bucket,
    collate,
    count_tokens,
    crop_per_side,
    fit_to_bucket,
    make_buckets,
)
from kinema.video import write_video


def counter_clip(frames: int, height: int, width: int) -> np.ndarray:
    """Frame i is a flat grey of level 4 * i. (T, H, W, 3) uint8."""
    levels = (np.arange(frames) * 4).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (frames, height, width, 3)).copy()


# ----------------------------------------------------------------------------------------------------------------------
# VideoFolder
# ----------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "clips"
    (root / "beach").mkdir(parents=True)
    write_video(root / "wide.mp4", counter_clip(45, 54, 96), 30)  # 16:9, 1.5 s
    (root / "wide.txt").write_text("a wide clip\n", encoding="utf-8")
    write_video(root / "beach" / "tall.mp4", counter_clip(20, 96, 54), 10)  # 9:16, 2 s
    write_video(root / "cat.png", counter_clip(1, 48, 64)[:, :, :, :] + 100, 1)  # 4:3 image
    write_video(root / "loop.gif", counter_clip(10, 32, 32), 10)
    write_video(root / "plain.png", counter_clip(1, 40, 40), 1)  # no caption anywhere
    (root / "captions.jsonl").write_text(json.dumps({"file": "beach/tall.mp4", "caption": "a tall clip"}) + "\n")
    (root / "captions.csv").write_text('file,caption\ncat.png,"a cat, sitting"\nloop.gif,a loop\nwide.mp4,ignored\n')
    # what must be skipped
    (root / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    (root / "empty.mp4").write_bytes(b"")
    (root / "orphan.txt").write_text("a caption with no video")
    (root / "notes.xyz").write_text("?")
    (root / ".hidden.mp4").write_bytes(b"ignored silently")
    return root


def test_video_folder_reads_captions_and_skips_bad_files_with_one_warning(folder):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = VideoFolder(folder, fps=10.0, max_frames=33)
    assert len(caught) == 1
    message = str(caught[0].message)
    for name in ("noise.mp4", "empty.mp4", "orphan.txt", "notes.xyz"):
        assert name in message
    assert ".hidden" not in message
    assert set(data.skipped) == {"noise.mp4", "empty.mp4", "orphan.txt", "notes.xyz"}
    assert "zero-length" in data.skipped["empty.mp4"] and "unsupported" in data.skipped["notes.xyz"]

    items = {item["path"].split("clips/")[1]: item for item in (data[i] for i in range(len(data)))}
    assert sorted(items) == ["beach/tall.mp4", "cat.png", "loop.gif", "plain.png", "wide.mp4"]
    assert items["wide.mp4"]["caption"] == "a wide clip"  # the sidecar wins over the csv
    assert items["beach/tall.mp4"]["caption"] == "a tall clip"
    assert items["cat.png"]["caption"] == "a cat, sitting"
    assert items["loop.gif"]["caption"] == "a loop"
    assert items["plain.png"]["caption"] == ""
    assert data.summary == {"items": 5, "images": 2, "videos": 3, "uncaptioned": 1, "skipped": 4}

    wide = items["wide.mp4"]["video"]  # 45 frames at 30 fps -> 15 at 10 fps: source frames 0, 3, 6, ...
    assert wide.shape == (15, 54, 96, 3) and wide.dtype == np.uint8 and items["wide.mp4"]["fps"] == 10.0
    assert np.round(wide[:, 27, 48, 0] / 4).astype(int).tolist() == list(range(0, 45, 3))
    assert items["beach/tall.mp4"]["video"].shape == (20, 96, 54, 3)
    assert items["cat.png"]["video"].shape == (1, 48, 64, 3)


def test_video_folder_with_buckets_keeps_native_aspect(folder):
    buckets = make_buckets(256, patch=(4, 8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = VideoFolder(folder, fps=10.0, buckets=buckets)
    for index in range(len(data)):
        item, entry = data[index], data.entries[index]
        bucket = buckets[data.bucket_of_item[index]]
        assert item["bucket"] == data.bucket_of_item[index]
        assert item["video"].shape == (bucket.frames, bucket.height, bucket.width, 3)
        native, result = entry.width / entry.height, bucket.width / bucket.height
        assert abs(math.log(result / native)) < math.log(1.1)  # never a square crop of a 16:9 clip
        assert bucket.tokens((4, 8, 8)) <= 256
    wide = data.entries.index(next(e for e in data.entries if e.relative == "wide.mp4"))
    assert buckets[data.bucket_of_item[wide]].frames == 9  # 15 frames at 10 fps: the longest 1 + 4k bucket that fits
    image = data.entries.index(next(e for e in data.entries if e.relative == "cat.png"))
    assert buckets[data.bucket_of_item[image]].frames == 1


def test_file_broken_at_read_time_is_skipped_once_and_deterministically(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = VideoFolder(folder, fps=10.0)
    order = [e.relative for e in data.entries]
    broken = order.index("beach/tall.mp4")
    (folder / "beach" / "tall.mp4").write_bytes(b"\x00" * 1000)  # it breaks after the scan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = data[broken]
        second = data[broken]
    assert len(caught) == 1 and "beach/tall.mp4" in str(caught[0].message)
    assert first["path"] == second["path"] == str(data.entries[broken + 1].path)  # the next item stands in
    assert list(data.broken) == ["beach/tall.mp4"]


def test_video_folder_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        VideoFolder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no usable"):
        VideoFolder(tmp_path)
    with pytest.raises(ValueError, match="exts"):
        VideoFolder(tmp_path, exts=(".xyz",))
    with pytest.raises(ValueError, match="min_frames"):
        VideoFolder(tmp_path, min_frames=0)


# ----------------------------------------------------------------------------------------------------------------------
# Buckets
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [16, 64, 256, 1024, 4096])
@pytest.mark.parametrize("patch", [(4, 8, 8), (4, 16, 16), (8, 16, 16)])
def test_buckets_stay_within_the_token_budget(budget, patch):
    buckets = make_buckets(budget, patch=patch)
    assert buckets and len(set(buckets)) == len(buckets)
    for bucket in buckets:
        assert bucket.tokens(patch) <= budget
        assert (bucket.frames - 1) % 4 == 0
        assert bucket.height % patch[1] == 0 and bucket.width % patch[2] == 0
        assert abs(math.log(bucket.width / bucket.height / bucket.aspect)) <= math.log(1.1) + 1e-9


def test_token_count_is_the_causal_latent_layout():
    assert count_tokens(1, 64, 64) == 64  # an image: one latent frame
    assert count_tokens(33, 64, 112) == (1 + 8) * 8 * 14  # 1 + 4k frames -> 1 + k latent frames
    assert count_tokens(17, 65, 63) == 5 * 9 * 8  # sizes ceil-divided


def test_make_buckets_rejects_bad_arguments():
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        make_buckets(256, frame_options=(1, 4))
    with pytest.raises(ValueError, match="token_budget"):
        make_buckets(0)
    with pytest.raises(ValueError, match="aspects"):
        make_buckets(256, aspects=(0.0,))
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        Bucket(4, 8, 8)


def test_assign_bucket_follows_aspect_then_duration_without_upscaling():
    buckets = make_buckets(1024)
    wide = assign_bucket(100, 1080, 1920, buckets)
    assert wide.aspect == pytest.approx(16 / 9) and wide.frames == 33
    tall = assign_bucket(100, 1920, 1080, buckets)
    assert tall.aspect == pytest.approx(9 / 16) and tall.frames == 33
    image = assign_bucket(1, 600, 800, buckets)
    assert image.aspect == pytest.approx(4 / 3) and image.frames == 1
    assert assign_bucket(12, 1080, 1920, buckets).frames == 9
    small = assign_bucket(100, 72, 128, buckets)  # a small clip is not blown up to a big short bucket
    assert small.height <= 72 * 1.25 and small.frames == 33
    assert assign_bucket(1, 40, 40, buckets) == Bucket(1, 256, 256)  # the only square image bucket: enlarged
    assert assign_bucket(1, 40, 40, buckets + make_buckets(64)) == Bucket(1, 64, 64)  # the least enlarging
    with pytest.raises(ValueError, match="fits no bucket"):
        assign_bucket(3, 64, 64, [Bucket(5, 8, 8)])


def test_fit_to_bucket_crops_little_and_never_squares():
    bucket = Bucket(5, 64, 112, aspect=16 / 9)
    clip = np.zeros((9, 108, 192, 3), np.uint8)
    clip[:, :, :96] = 200  # left half bright, right half dark
    fitted = fit_to_bucket(clip, bucket)
    assert fitted.shape == (5, 64, 112, 3)
    assert fitted[:, :, :50].min() == 200 and fitted[:, :, 62:].max() == 0  # halves stay halves: no crop needed
    # a 3:2 clip in a 16:9 bucket: rows are cut top and bottom, at most 10% each side
    assert crop_per_side(128, 192, bucket) == pytest.approx((1 - (192 / 128) / (112 / 64)) / 2)  # 110 of 128 rows
    striped = np.zeros((5, 128, 192, 3), np.uint8)
    striped[:, :9] = 255  # the top 9 rows, all cut away
    assert fit_to_bucket(striped, bucket).max() == 0
    with pytest.raises(ValueError, match="max_crop"):
        fit_to_bucket(np.zeros((5, 64, 64, 3), np.uint8), bucket)  # square into 16:9 would cut 22% per side
    with pytest.raises(ValueError, match="bucket needs 5"):
        fit_to_bucket(np.zeros((3, 64, 112, 3), np.uint8), bucket)


def test_fit_to_bucket_time_window():
    clip = counter_clip(20, 16, 16)
    bucket = Bucket(5, 16, 16)
    assert (fit_to_bucket(clip, bucket)[:, 0, 0, 0] // 4).tolist() == [0, 1, 2, 3, 4]
    a = fit_to_bucket(clip, bucket, rng=np.random.default_rng(3))
    b = fit_to_bucket(clip, bucket, rng=np.random.default_rng(3))
    start = int(a[0, 0, 0, 0]) // 4
    assert np.array_equal(a, b) and (a[:, 0, 0, 0] // 4).tolist() == list(range(start, start + 5))


def test_collate_maps_to_minus_one_one():
    bucket = Bucket(1, 8, 16)
    items = [
        {"video": np.zeros((1, 8, 16, 3), np.uint8), "caption": "black"},
        {"video": np.full((1, 16, 32, 3), 255, np.uint8), "caption": "white"},
    ]
    batch = collate(items, bucket)
    assert batch["video"].shape == (2, 3, 1, 8, 16) and batch["video"].dtype == torch.float32
    assert torch.all(batch["video"][0] == -1) and torch.all(batch["video"][1] == 1)
    assert batch["caption"] == ["black", "white"]
    with pytest.raises(ValueError, match="share a shape"):
        collate(items)


# ----------------------------------------------------------------------------------------------------------------------
# BucketBatchSampler
# ----------------------------------------------------------------------------------------------------------------------

BUCKET_OF_ITEM = [i % 3 for i in range(48)] + [-1, -1]  # three buckets of 16 items, two unassigned items


def epoch_batches(sampler: BucketBatchSampler) -> list[list[int]]:
    return [list(batch) for batch in sampler]


def test_sampler_batches_are_single_bucket_deterministic_and_cover_every_item():
    sampler = BucketBatchSampler(BUCKET_OF_ITEM, 4, seed=7)
    first = epoch_batches(sampler)
    again = epoch_batches(BucketBatchSampler(BUCKET_OF_ITEM, 4, seed=7))
    assert first == again
    assert len(first) == len(sampler) == 12
    for batch in first:
        assert len(batch) == 4 and len({BUCKET_OF_ITEM[i] for i in batch}) == 1
    assert sorted(i for batch in first for i in batch) == list(range(48))
    second = epoch_batches(sampler)  # the next epoch: a new order, the same items
    assert second != first and sorted(i for b in second for i in b) == list(range(48))
    assert epoch_batches(BucketBatchSampler(BUCKET_OF_ITEM, 4, seed=8)) != first


def test_sampler_drop_last_and_padding():
    uneven = [0] * 10 + [1] * 3
    assert sorted(len(b) for b in BucketBatchSampler(uneven, 4, seed=0)) == [4, 4]
    kept = epoch_batches(BucketBatchSampler(uneven, 4, seed=0, drop_last=False))
    assert sorted(len(b) for b in kept) == [2, 3, 4, 4]
    assert sorted(i for b in kept for i in b) == list(range(13))


@pytest.mark.parametrize("world_size", [2, 3, 5])
def test_sampler_shards_are_disjoint_equal_and_cover(world_size):
    shards = [
        epoch_batches(BucketBatchSampler(BUCKET_OF_ITEM, 2, seed=1, rank=r, world_size=world_size))
        for r in range(world_size)
    ]
    assert len({len(s) for s in shards}) == 1  # every rank runs the same number of steps
    seen = [i for shard in shards for batch in shard for i in batch]
    assert len(seen) == len(set(seen))  # disjoint
    total_batches = 48 // 2
    assert len(seen) == 2 * (total_batches // world_size) * world_size  # covers all but the leftover batches
    if total_batches % world_size == 0:
        assert sorted(seen) == list(range(48))


def test_sampler_resumes_exactly_from_its_state():
    reference = BucketBatchSampler(BUCKET_OF_ITEM, 4, seed=3)
    full = epoch_batches(reference) + epoch_batches(reference)
    for stop in (0, 5, 12, 17):
        sampler = BucketBatchSampler(BUCKET_OF_ITEM, 4, seed=3)
        taken = []
        iterator = iter(sampler)
        for _ in range(stop):
            try:
                taken.append(next(iterator))
            except StopIteration:
                iterator = iter(sampler)
                taken.append(next(iterator))
        state = json.loads(json.dumps(sampler.state_dict()))  # it travels inside a checkpoint as JSON
        resumed = BucketBatchSampler(BUCKET_OF_ITEM, 4, seed=3)
        resumed.load_state_dict(state)
        rest = []
        while len(taken) + len(rest) < len(full):
            rest.extend(epoch_batches(resumed))
        assert taken + rest[: len(full) - len(taken)] == full
    with pytest.raises(ValueError, match="seed"):
        BucketBatchSampler(BUCKET_OF_ITEM, 4, seed=4).load_state_dict(state)
