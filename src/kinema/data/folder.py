"""A folder of your own videos and images, with captions, as a dataset.

    clips/
      captions.jsonl         {"file": "beach/waves.mp4", "caption": "waves roll onto a beach"}  (optional)
      captions.csv           file,caption                                                        (optional)
      beach/waves.mp4
      beach/waves.txt        a sidecar caption: same folder, same stem (wins over jsonl, which wins over csv)
      cat.jpg

The folder is scanned recursively once, at construction, and every file is probed (size, frame count, duration; see
``kinema.video.probe``) so buckets are assigned without decoding the clips. Files that cannot be used (corrupt, empty,
an unsupported suffix, a caption file with no media, too short, an aspect no bucket takes) are skipped and listed in ONE
warning. A file that breaks later, when it is decoded, is skipped too: the item is replaced by the next readable item
of the same bucket (deterministically), the file is remembered and a warning names it once (per process: each
DataLoader worker remembers on its own). Hidden files and folders (names starting with ".") are ignored.

    buckets = make_buckets(1024)
    data = VideoFolder("clips", fps=10, buckets=buckets)
    sampler = BucketBatchSampler(data.bucket_of_item, batch_size=4, seed=0)
    loader = torch.utils.data.DataLoader(data, batch_sampler=sampler, collate_fn=collate)

Without ``buckets`` an item is the clip at its native size, resampled to ``fps``, its first ``max_frames`` frames.
With them it is fitted to its bucket (``fit_to_bucket``: the first ``bucket.frames`` frames, a small centre crop at
most, a resize) and carries the bucket's index.
"""

from __future__ import annotations

import csv
import json
import math
import os
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from kinema.data.buckets import Bucket, assign_bucket, crop_per_side, fit_to_bucket
from kinema.video import IMAGE_SUFFIXES, READ_SUFFIXES, exact_rate, probe, read_video

CAPTION_FILES = ("captions.jsonl", "captions.csv")


@dataclass(frozen=True)
class Entry:
    """One usable file, as probed: ``frames`` is how many frames it gives at the dataset's fps (capped at
    max_frames); ``bucket`` is its bucket's index, -1 without buckets."""

    path: Path
    relative: str
    caption: str
    height: int
    width: int
    frames: int
    bucket: int = -1


# ----------------------------------------------------------------------------------------------------------------------
# Captions
# ----------------------------------------------------------------------------------------------------------------------


def _read_caption_tables(root: Path, problems: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(captions from captions.jsonl, captions from captions.csv), keyed by posix path relative to root."""
    from_jsonl: dict[str, str] = {}
    from_csv: dict[str, str] = {}
    jsonl = root / "captions.jsonl"
    if jsonl.is_file():
        for number, line in enumerate(jsonl.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                from_jsonl[Path(record["file"]).as_posix()] = str(record["caption"]).strip()
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                problems[f"captions.jsonl line {number}"] = f"not a {{'file', 'caption'}} JSON object ({error})"
    table = root / "captions.csv"
    if table.is_file():
        with table.open(newline="", encoding="utf-8-sig") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                if not row or (number == 1 and [c.strip().lower() for c in row[:2]] == ["file", "caption"]):
                    continue
                if len(row) < 2:
                    problems[f"captions.csv line {number}"] = "needs two columns: file,caption"
                    continue
                from_csv[Path(row[0].strip()).as_posix()] = row[1].strip()
    return from_jsonl, from_csv


# ----------------------------------------------------------------------------------------------------------------------
# The dataset
# ----------------------------------------------------------------------------------------------------------------------


class VideoFolder:
    """Videos and images under ``root`` with their captions; ``data[i]`` is a dict(video=uint8 (T, H, W, 3),
    caption=str, path=str, fps=float, bucket=int). See the module notes for captions, skipping and buckets.

    fps:        every clip is resampled to this rate (nearest frame); images are 1 frame.
    max_frames: at most this many frames per item (without buckets; with buckets, the bucket's frame count).
    min_frames: clips giving fewer frames at ``fps`` are skipped (images give 1).
    exts:       which suffixes are media (a subset of kinema.video.READ_SUFFIXES).
    buckets:    from ``make_buckets``; each item is assigned one (``bucket_of_item``) and fitted to it.
    max_crop, max_upscale: passed to ``fit_to_bucket`` / ``assign_bucket``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        fps: float = 10.0,
        max_frames: int = 33,
        min_frames: int = 1,
        exts: tuple[str, ...] = READ_SUFFIXES,
        buckets: list[Bucket] | None = None,
        max_crop: float = 0.1,
        max_upscale: float = 1.25,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"VideoFolder root {self.root} is not a folder")
        self.fps = float(exact_rate(fps))
        if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
            raise ValueError(f"max_frames must be an int >= 1, got {max_frames!r}")
        if isinstance(min_frames, bool) or not isinstance(min_frames, int) or not 1 <= min_frames <= max_frames:
            raise ValueError(f"min_frames must be an int in [1, max_frames={max_frames}], got {min_frames!r}")
        exts = tuple(e.lower() for e in exts)
        if not exts or any(e not in READ_SUFFIXES for e in exts):
            raise ValueError(f"exts must be a non-empty subset of {READ_SUFFIXES}, got {exts!r}")
        if buckets is not None and not buckets:
            raise ValueError("buckets must be None or a non-empty list from make_buckets")
        self.max_frames, self.min_frames, self.exts = max_frames, min_frames, exts
        self.buckets = list(buckets) if buckets is not None else None
        self.max_crop, self.max_upscale = max_crop, max_upscale

        self.skipped: dict[str, str] = {}  # relative path (or caption-file line) -> why
        self.entries: list[Entry] = self._scan()
        self._broken: dict[int, str] = {}  # entry index -> why, found while decoding
        self.summary: dict[str, Any] = {
            "items": len(self.entries),
            "images": sum(e.path.suffix.lower() in IMAGE_SUFFIXES for e in self.entries),
            "videos": sum(e.path.suffix.lower() not in IMAGE_SUFFIXES for e in self.entries),
            "uncaptioned": sum(not e.caption for e in self.entries),
            "skipped": len(self.skipped),
        }
        if self.skipped:
            lines = "\n".join(f"  {name}: {why}" for name, why in self.skipped.items())
            warnings.warn(f"VideoFolder({str(self.root)!r}): skipped {len(self.skipped)}:\n{lines}", stacklevel=2)
        if not self.entries:
            raise ValueError(f"VideoFolder: no usable videos or images under {self.root}")

    # -- scanning ------------------------------------------------------------------------------------------------------

    def _scan(self) -> list[Entry]:
        from_jsonl, from_csv = _read_caption_tables(self.root, self.skipped)
        files = sorted(
            (p for p in self.root.rglob("*") if p.is_file() and not _hidden(p.relative_to(self.root))),
            key=lambda p: p.relative_to(self.root).as_posix(),
        )
        media = [p for p in files if p.suffix.lower() in self.exts]
        media_stems = {p.with_suffix("") for p in media}
        entries: list[Entry] = []
        for path in files:
            relative = path.relative_to(self.root).as_posix()
            suffix = path.suffix.lower()
            if relative in CAPTION_FILES:
                continue
            if suffix == ".txt":
                if path.with_suffix("") not in media_stems:
                    self.skipped[relative] = "caption file with no video or image of the same name"
                continue
            if suffix not in self.exts:
                self.skipped[relative] = f"unsupported suffix {suffix or '(none)'!r}"
                continue
            sidecar = path.with_suffix(".txt")
            if sidecar.is_file():
                caption = sidecar.read_text(encoding="utf-8-sig", errors="replace").strip()
            else:
                caption = from_jsonl.get(relative, from_csv.get(relative, ""))
            entry = self._probe_entry(path, relative, caption)
            if entry is not None:
                entries.append(entry)
        known = {e.relative for e in entries} | set(self.skipped)
        orphans = sorted((set(from_jsonl) | set(from_csv)) - known)
        for name in orphans:
            self.skipped[name] = "named in captions.jsonl/csv but not found"
        return entries

    def _probe_entry(self, path: Path, relative: str, caption: str) -> Entry | None:
        try:
            info = probe(path)
        except ValueError as error:
            self.skipped[relative] = str(error).replace(f"{path}: ", "")
            return None
        if info["width"] < 1 or info["height"] < 1 or info["frames"] < 1:
            self.skipped[relative] = f"empty: {info['width']}x{info['height']}, {info['frames']} frames"
            return None
        frames = min(self.max_frames, self._frames_at_fps(info))
        if frames < self.min_frames:
            self.skipped[relative] = f"too short: {frames} frames at {self.fps:g} fps, min_frames={self.min_frames}"
            return None
        height, width = info["height"], info["width"]
        if self.buckets is None:
            return Entry(path, relative, caption, height, width, frames)
        try:
            bucket = assign_bucket(frames, height, width, self.buckets, max_upscale=self.max_upscale)
        except ValueError as error:
            self.skipped[relative] = str(error)
            return None
        crop = crop_per_side(height, width, bucket)
        if crop > self.max_crop + 1e-9:
            self.skipped[relative] = (
                f"aspect {width}x{height} needs a {crop:.0%} crop per side for the nearest bucket "
                f"{bucket.width}x{bucket.height} (max_crop={self.max_crop:.0%}); add its aspect to make_buckets"
            )
            return None
        return Entry(path, relative, caption, height, width, frames, self.buckets.index(bucket))

    def _frames_at_fps(self, info: dict[str, Any]) -> int:
        """How many frames read_video(fps=self.fps) returns: one per k / fps inside the clip's duration."""
        if info["frames"] == 1 or info["duration"] <= 0:
            return int(info["frames"])
        duration = Fraction(info["duration"]).limit_denominator(1_000_000)  # undo the float: 0.4004 -> 1001/2500
        return max(1, math.ceil(duration * exact_rate(self.fps)))

    # -- reading -------------------------------------------------------------------------------------------------------

    @property
    def bucket_of_item(self) -> list[int]:
        """Each item's bucket index (for BucketBatchSampler); -1 for every item without buckets."""
        return [e.bucket for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if isinstance(index, bool) or not isinstance(index, int) or not -len(self) <= index < len(self):
            raise IndexError(f"VideoFolder index must be in [0, {len(self) - 1}], got {index!r}")
        index %= len(self)
        bucket = self.buckets[self.entries[index].bucket] if self.buckets is not None else None
        for candidate in self._candidates(index, bucket):
            try:
                return self._load(candidate, bucket)
            except ValueError as error:
                self._broken[candidate] = str(error).replace(f"{self.entries[candidate].path}: ", "")
                warnings.warn(
                    f"VideoFolder: skipping {self.entries[candidate].relative} "
                    f"(broken when decoded: {self._broken[candidate]}); using the next readable item",
                    stacklevel=2,
                )
        raise RuntimeError(f"VideoFolder: no readable item left to stand in for item {index} under {self.root}")

    def _candidates(self, index: int, bucket: Bucket | None) -> list[int]:
        """The item itself, then the items after it (wrapping around) that could stand in for it: readable so far,
        in the same bucket first, then any that can be fitted to that bucket."""
        order = [(index + k) % len(self) for k in range(len(self))]
        order = [i for i in order if i not in self._broken]
        if bucket is None:
            return order
        target = self.entries[index].bucket
        same = [i for i in order if self.entries[i].bucket == target]
        other = [
            i
            for i in order
            if self.entries[i].bucket != target
            and self.entries[i].frames >= bucket.frames
            and crop_per_side(self.entries[i].height, self.entries[i].width, bucket) <= self.max_crop + 1e-9
        ]
        return same + other

    def _load(self, index: int, bucket: Bucket | None) -> dict[str, Any]:
        entry = self.entries[index]
        frames = bucket.frames if bucket is not None else entry.frames
        video, _ = read_video(entry.path, max_frames=frames, fps=self.fps)  # (T, H, W, 3) uint8
        if bucket is not None:
            if len(video) < bucket.frames:
                raise ValueError(f"decoded {len(video)} frames at {self.fps:g} fps, its bucket needs {bucket.frames}")
            video = fit_to_bucket(video, bucket, max_crop=self.max_crop)  # (F, h, w, 3)
        return {
            "video": video,
            "caption": entry.caption,
            "path": str(entry.path),
            "fps": self.fps,
            "bucket": self.buckets.index(bucket) if bucket is not None else -1,
        }

    @property
    def broken(self) -> dict[str, str]:
        """Files found broken while decoding (in this process): relative path -> why."""
        return {self.entries[i].relative: why for i, why in self._broken.items()}


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)
