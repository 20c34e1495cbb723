"""Evaluation sets: which world clips an evaluation scores, from fixed seeds that training never sees.

Every (world, scenario, split) cell owns one block of BLOCK seeds starting at EVAL_SEED_START (training uses world
seeds below it, see kinema.train.data), so the ID and OOD sets are disjoint seed ranges, scenarios never share a seed,
and a seed alone says which clip it is (`clip_of_seed`). That is what lets `SimulatorModel` re-render the ground truth
from the seed a model is handed, and anyone re-create an evaluation set from the seeds stored in a results file.

    seed = eval_seed("physics", "collision", "ood", 7)   # -> 10_300_007
    clip_of_seed(seed)                                   # -> ("physics", "collision", "ood", 7)
"""

from __future__ import annotations

import hashlib

import numpy as np

from kinema.train.data import EVAL_SEED_START
from kinema.worlds import physics, scenes
from kinema.worlds.base import Sample

BLOCK = 100_000  # seeds per (world, scenario, split) cell
SPLITS = ("id", "ood")
# The cells, in block order. Appending keeps every existing seed where it was.
CELLS: tuple[tuple[str, str, str], ...] = (
    *((("physics", s, sp) for s in physics.SCENARIOS for sp in SPLITS)),
    *((("scenes", t, "id") for t in scenes.HELDOUT_TEMPLATES)),
)


def eval_seed(world: str, scenario: str, split: str, index: int) -> int:
    """The world seed of clip `index` of an evaluation cell."""
    cell = (world, scenario, split)
    if cell not in CELLS:
        raise ValueError(f"no evaluation set for {world}/{scenario} split {split!r}; "
                         f"cells: {', '.join('/'.join(c) for c in CELLS)}")
    if not 0 <= index < BLOCK:
        raise ValueError(f"clip index must be in [0, {BLOCK - 1}], got {index}")
    return EVAL_SEED_START + CELLS.index(cell) * BLOCK + int(index)


def clip_of_seed(seed: int) -> tuple[str, str, str, int]:
    """(world, scenario, split, index) of an evaluation seed; ValueError for any other seed."""
    block, index = divmod(int(seed) - EVAL_SEED_START, BLOCK)
    if seed < EVAL_SEED_START or block >= len(CELLS):
        raise ValueError(f"{seed} is not an evaluation seed (they are {EVAL_SEED_START} .. "
                         f"{EVAL_SEED_START + len(CELLS) * BLOCK - 1})")
    return (*CELLS[block], index)


def video_sha256(video: np.ndarray) -> str:
    """Hash of a clip's bytes and shape: a results file names exactly which ground truth it scored."""
    v = np.ascontiguousarray(video)
    h = hashlib.sha256(f"{v.dtype}{v.shape}".encode())
    h.update(v.tobytes())
    return h.hexdigest()


def render_clip(world: str, scenario: str, split: str, seed: int, *, frames: int, width: int, height: int,
                fps: float = 10.0, extra: int = 0) -> Sample:
    """The evaluation clip of `seed`, with `extra` further frames of the same motion appended (a VAE with time
    compression f needs 1 + f*k frames; the first `frames` frames are byte-identical to the plain clip)."""
    ood = split == "ood"
    if world == "physics":
        # physics plans its initial conditions for the clip length: plan for `frames`, then simulate longer
        params = physics.sample_params(scenario, seed, ood, frames=frames, fps=fps)
        return physics.render(scenario, seed=seed, frames=frames + extra, width=width, height=height, fps=fps,
                              ood=ood, params=params)
    if world == "scenes":  # pymunk steps frame by frame: a longer clip starts with the shorter one
        return scenes.render(scenario, seed=seed, frames=frames + extra, width=width, height=height, fps=fps, ood=ood)
    raise ValueError(f"unknown evaluation world {world!r}; choose physics or scenes")


def padded_length(frames: int, time_down: int) -> int:
    """The smallest 1 + time_down * k >= frames."""
    return 1 + -(-(frames - 1) // time_down) * time_down


def check_clip_request(*, n: int, n_range: tuple[int, int], frames: int, context: int, size: tuple[int, int],
                       min_side: int = 16, why: str = "") -> None:
    """One clear ValueError for an evaluation's clip count, context, or size out of range (physics, scenes, fvd)."""
    if not n_range[0] <= n <= n_range[1]:
        raise ValueError(f"-n must be in [{n_range[0]}, {n_range[1]}], got {n}")
    if not 1 <= context <= frames - 3:
        raise ValueError(f"context must be in [1, frames - 3], got {context} of {frames} frames")
    w, h = size
    if not (min_side <= w <= 1024 and min_side <= h <= 1024):
        raise ValueError(f"size must be between {min_side}x{min_side} and 1024x1024{why}, got {w}x{h}")
