"""Training data for interactive play: explore-world walks with one action per frame, and action sequences for eval.

Each sample is a walk through a procedurally generated place (kinema.worlds.explore): the video, the action that led
to each frame (frame 0: START) and a caption of the *place* (no actions: in play the keyboard says what the camera
does, the prompt says where it is). Sample i is a pure function of (data seed, i): the trainer's step-indexed contract
(kinema.train.trainer), so resume is exact. World seeds stay below EVAL_SEED_START; evaluation uses seeds above it.

Action policies: "walker" is the world's own scripted walker (mostly forward, turning away from walls); "random" holds a
uniformly random key (or one drawn with PlayDataConfig.key_weights) for 1..max_run frames, so every key is seen in
every situation (including walking into walls);
"scripted" is a fixed tour of every key, for evaluation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kinema.interactive.model import KEYS, action_ids
from kinema.train.data import EVAL_SEED_START, parse_wh, to_model_video
from kinema.train.trainer import IndexedData, derive_seed

POLICIES = ("walker", "random", "scripted")
# One tour of every action: walk, turn both ways, strafe both ways, back up, stand still (40 frames at 10 fps).
SCRIPTED_TOUR = "W W W W W W A A A A A W W W W D D D D D D D D D D Q Q Q E E E E E E S S S . . ."


@dataclass
class PlayDataConfig:
    """What a play run trains on. Saved in the run's config.json."""

    scenarios: tuple[str, ...] = ("gallery", "garden", "street")
    size: str = "64x64"  # WIDTHxHEIGHT
    frames: int = 16  # frames per training clip (= latent frames: the VAE has time_down = 1)
    fps: float = 10.0
    walker_prob: float = 0.5  # fraction of clips driven by the world's walker; the rest by random key runs
    max_run: int = 8  # longest run of one key in random clips
    key_weights: dict[str, float] = field(default_factory=dict)  # random clips: a key's relative weight (else 1)
    num_videos: int = 0  # 0: a fresh world every sample; N: a fixed set of N worlds
    languages: tuple[str, ...] = ("en", "zh")
    caption_kinds: tuple[str, ...] = ("detailed", "short")

    def __post_init__(self) -> None:
        from kinema.worlds.explore import SCENARIOS

        self.scenarios, self.languages = tuple(self.scenarios), tuple(self.languages)
        self.caption_kinds = tuple(self.caption_kinds)
        parse_wh(self.size)
        if not self.scenarios or not set(self.scenarios) <= set(SCENARIOS):
            raise ValueError(f"scenarios must be a non-empty subset of {SCENARIOS}, got {self.scenarios}")
        if self.frames < 2:
            raise ValueError(f"frames must be >= 2 (a start view and at least one action), got {self.frames}")
        if not 0.0 <= self.walker_prob <= 1.0 or self.max_run < 1 or self.fps <= 0:
            raise ValueError("walker_prob must be in [0, 1], max_run >= 1 and fps > 0")
        self.key_weights = {str(k): float(v) for k, v in dict(self.key_weights).items()}
        bad = {k: v for k, v in self.key_weights.items() if k not in KEYS or not (math.isfinite(v) and v >= 0)}
        if bad or (self.key_weights and not any(self.key_weight(k) > 0 for k in KEYS)):
            raise ValueError(f"key_weights takes keys of {' '.join(KEYS)} with weights >= 0, not all 0; got "
                             f"{bad or self.key_weights}")
        if not 0 <= self.num_videos < EVAL_SEED_START:
            raise ValueError(f"num_videos must be in [0, {EVAL_SEED_START})")
        if not self.languages or not set(self.languages) <= {"en", "zh"}:
            raise ValueError(f"languages must be a subset of (en, zh), got {self.languages}")

    def key_weight(self, key: str) -> float:
        return self.key_weights.get(key, 1.0)

    def random_weights(self) -> list[float] | None:
        """The random policy's weight per key of KEYS, or None (uniform) when no key is weighted."""
        return [self.key_weight(k) for k in KEYS] if self.key_weights else None

    @property
    def wh(self) -> tuple[int, int]:
        return parse_wh(self.size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------------------------------------------------
# Action policies and captions
# ----------------------------------------------------------------------------------------------------------------------


def random_runs(n: int, rng: np.random.Generator, max_run: int = 8, weights: list[float] | None = None) -> list[str]:
    """n actions: a random key held for a uniformly random 1..max_run frames, again and again. The key is uniform, or
    drawn with the given relative weights (one per KEYS entry)."""
    p = None if weights is None else np.asarray(weights, dtype=np.float64) / sum(weights)
    keys: list[str] = []
    while len(keys) < n:
        key = KEYS[int(rng.integers(len(KEYS)))] if p is None else KEYS[int(rng.choice(len(KEYS), p=p))]
        keys += [key] * int(rng.integers(1, max_run + 1))
    return keys[:n]


def action_sequence(policy: str, world, n: int, fps: float, rng: np.random.Generator, max_run: int = 8,
                    weights: list[float] | None = None, pose=None) -> list[str]:
    """n actions from a policy in POLICIES for an explore world (kinema.worlds.explore.ExploreWorld); weights: the
    random policy's key weights (random_runs); pose: where the walker goes on from (default: the start pose)."""
    from kinema.worlds.explore import random_actions

    if policy == "walker":
        return random_actions(world, n, fps, rng, pose)
    if policy == "random":
        return random_runs(n, rng, max_run, weights)
    if policy == "scripted":
        tour = SCRIPTED_TOUR.split()
        return [tour[i % len(tour)] for i in range(n)]
    raise ValueError(f"unknown action policy {policy!r}; choose one of: {', '.join(POLICIES)}")


def scene_caption(world, fps: float = 10.0) -> dict[str, dict[str, str]]:
    """Captions of the place and the start view only (en/zh x detailed/short): the prompt of interactive play."""
    from kinema.worlds.explore import caption

    return caption(world, [], fps)


def pick_caption(cfg: PlayDataConfig, world, rng: np.random.Generator) -> str:
    """One of the world's captions (scene_caption), its language and kind drawn from cfg's with rng."""
    cap = scene_caption(world, cfg.fps)
    lang = cfg.languages[int(rng.integers(len(cfg.languages)))]
    return cap[lang][cfg.caption_kinds[int(rng.integers(len(cfg.caption_kinds)))]]


def walk(world, keys: list[str], width: int, height: int, fps: float) -> np.ndarray:
    """Ground truth of an ExploreWorld: uint8 (1 + len(keys), H, W, 3), the start view, then the view after each
    action."""
    return walk_on(world, keys, width, height, fps)[0]


def walk_on(world, keys: list[str], width: int, height: int, fps: float, pose=None) -> tuple[np.ndarray, Any]:
    """walk's frames from pose (default: the start pose), and the pose the walk ends at."""
    pose = world.start_pose() if pose is None else pose
    frames = [world.view(pose, width, height)]
    for k in keys:
        pose = world.step(pose, k, 1.0 / fps)
        frames.append(world.view(pose, width, height))
    return np.stack(frames), pose


# ----------------------------------------------------------------------------------------------------------------------
# The step-indexed data source
# ----------------------------------------------------------------------------------------------------------------------


class ExploreActionData(IndexedData):
    """Sample i: {"video": float (3, T, H, W) in [-1, 1], "actions": long (T,) with START first, "caption": str}."""

    def __init__(self, cfg: PlayDataConfig, batch_size: int, seed: int = 0) -> None:
        super().__init__(batch_size, seed)
        self.cfg = cfg

    def clip(self, index: int) -> tuple[str, int]:
        """(scenario, world seed) of sample `index`."""
        n = self.cfg.num_videos
        world_seed = index % EVAL_SEED_START if n == 0 else derive_seed(self.seed, index, 0x76) % n
        return self.cfg.scenarios[world_seed % len(self.cfg.scenarios)], world_seed

    def get(self, index: int, seed: int) -> dict[str, Any]:
        from kinema.worlds.explore import make_world

        cfg = self.cfg
        scenario, world_seed = self.clip(index)
        world = make_world(scenario, world_seed)
        rng = np.random.default_rng(derive_seed(seed, 0x616374))
        policy = "walker" if rng.random() < cfg.walker_prob else "random"
        keys = action_sequence(policy, world, cfg.frames - 1, cfg.fps, rng, cfg.max_run, cfg.random_weights())
        w, h = cfg.wh
        video = walk(world, keys, w, h, cfg.fps)  # (T, H, W, 3)
        return {"video": to_model_video(video), "actions": action_ids(keys), "caption": pick_caption(cfg, world, rng)}


class CarriedWalks:
    """Walks that go on from one training step to the next (PlayConfig.carry_rows, carry_clips): each of `rows` walks
    gives one clip per step whose first frame is the view the walk's previous clip ended on, for `clips` clips
    (clips x (frames - 1) steps from the start pose), then a fresh world starts from its start pose. Row r's first walk
    is cut to clips - r * clips // rows clips, so the rows stay spread over the walk's whole length. A fresh walk's
    world, policy and caption come from the seed it is started with (the batch row's sample seed), as
    ExploreActionData.get draws them. Not part of a checkpoint: a resumed run starts its walks afresh."""

    def __init__(self, cfg: PlayDataConfig, rows: int, clips: int) -> None:
        if rows < 1 or clips < 1:
            raise ValueError(f"carried walks need rows >= 1 and clips >= 1, got {rows} and {clips}")
        self.cfg, self.clips = cfg, clips
        self.state: list[dict[str, Any] | None] = [None] * rows
        self.left = [clips - r * clips // rows for r in range(rows)]  # clips left in each row's current walk
        self.depth = [0] * rows  # clips each row's current walk has gone before its latest clip

    def next(self, row: int, seed: int) -> tuple[dict[str, Any], bool]:
        """(sample, fresh): row's next clip as ExploreActionData.get makes one, except that frame 0's action is the
        key that led to its view (START on a fresh walk), and whether the walk started afresh with it (its frame 0
        the world's start view)."""
        from kinema.worlds.explore import make_world

        cfg, st = self.cfg, self.state[row]
        fresh = st is None or self.left[row] == 0
        if fresh:
            n = cfg.num_videos
            world_seed = derive_seed(seed, 0x77616C6B) % (EVAL_SEED_START if n == 0 else n)
            world = make_world(cfg.scenarios[world_seed % len(cfg.scenarios)], world_seed)
            rng = np.random.default_rng(derive_seed(seed, 0x616374))
            policy = "walker" if rng.random() < cfg.walker_prob else "random"
            st = {"world": world, "pose": world.start_pose(), "rng": rng, "policy": policy,
                  "caption": pick_caption(cfg, world, rng), "key": None}
            self.state[row], self.depth[row] = st, -1
            self.left[row] = self.left[row] or self.clips
        keys = action_sequence(st["policy"], st["world"], cfg.frames - 1, cfg.fps, st["rng"], cfg.max_run,
                               cfg.random_weights(), pose=st["pose"])
        w, h = cfg.wh
        video, st["pose"] = walk_on(st["world"], keys, w, h, cfg.fps, st["pose"])
        actions = action_ids(keys) if st["key"] is None else action_ids([st["key"], *keys], start=False)
        st["key"] = keys[-1]
        self.left[row] -= 1
        self.depth[row] += 1
        return {"video": to_model_video(video), "actions": actions, "caption": st["caption"]}, fresh
