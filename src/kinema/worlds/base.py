"""What every world returns, and the small pieces the worlds share (colours, bilingual words, sizes).

A world is a module with a ``SCENARIOS`` tuple and a ``render(scenario, *, seed, frames, width, height, fps, ...)``
function returning a :class:`Sample`. Rendering is a pure function of its arguments: the same call gives the same
bytes, and nothing touches a global random state (each call builds its own ``numpy.random.Generator``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------------------------------------------------
# Colours: one palette for every world, with English and Chinese names, so captions and parsers agree.
# Saturated and far apart in RGB so a colour-mask parser separates them; none is close to white (the physics background)
# ----------------------------------------------------------------------------------------------------------------------

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 220),
    "yellow": (235, 200, 20),
    "purple": (140, 40, 180),
    "orange": (245, 120, 20),
    "cyan": (20, 190, 210),
    "black": (25, 25, 25),
}

COLOR_ZH: dict[str, str] = {
    "red": "红色",
    "green": "绿色",
    "blue": "蓝色",
    "yellow": "黄色",
    "purple": "紫色",
    "orange": "橙色",
    "cyan": "青色",
    "black": "黑色",
}


@dataclass
class Sample:
    """One rendered clip with everything known about it.

    video:   (T, H, W, 3) uint8, RGB.
    fps:     frames per second; simulated time advances 1/fps per frame.
    world:   "physics/uniform", "scenes/ramp_roll", "explore/gallery", ...
    seed:    the seed that reproduces it.
    state:   JSON-serialisable ground truth. Always has "units" ("world"), "pixels_per_unit" (float: pixels per world
             unit), "origin" (how world coordinates map to pixels, in words), "objects" (static facts per object: id,
             kind, color, rgb, size fields) and "frames" (one entry per frame). World-specific keys are documented in
             that world's module.
    caption: {"en": {"detailed": str, "short": str}, "zh": {"detailed": str, "short": str}}.
    """

    video: np.ndarray
    fps: float
    world: str
    seed: int
    state: dict[str, Any]
    caption: dict[str, dict[str, str]]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = self.video
        if v.dtype != np.uint8 or v.ndim != 4 or v.shape[-1] != 3:
            raise ValueError(f"Sample.video must be uint8 (T,H,W,3), got {v.dtype} {tuple(v.shape)}")
        if len(self.state.get("frames", [])) != v.shape[0]:
            raise ValueError("Sample.state['frames'] must have one entry per video frame")

    @property
    def frames(self) -> int:
        return int(self.video.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.video.shape[2]), int(self.video.shape[1])

    def state_json(self) -> str:
        """Ground truth and captions as one JSON document (what `kinema worlds render --state` writes)."""
        doc = {"world": self.world, "seed": self.seed, "fps": self.fps, "width": self.size[0],
               "height": self.size[1], "frames": self.frames, "caption": self.caption, **self.meta,
               "state": self.state}
        return json.dumps(doc, ensure_ascii=False, indent=1, default=_to_builtin)


def _to_builtin(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def check_size(frames: int, width: int, height: int, fps: float) -> None:
    """One clear error for impossible render requests."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if not (8 <= width <= 4096 and 8 <= height <= 4096):
        raise ValueError(f"size must be between 8x8 and 4096x4096 pixels, got {width}x{height}")
    if not (0 < fps <= 240):
        raise ValueError(f"fps must be in (0, 240], got {fps}")


def rng_for(seed: int, *salt: int) -> np.random.Generator:
    """A private generator per (seed, salt): no global RNG is ever touched."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *[int(s) & 0xFFFFFFFF for s in salt]])
