"""kinema's own video feature encoder: a small 3D CNN trained on the worlds' ground truth, whose penultimate layer is
the feature space of kinema-FVD (kinema.eval.fvd).

References: Unterthiner et al., "Towards Accurate Generative Models of Video: A New Metric & Challenges" (FVD),
arXiv 1812.01717, 2018 (Frechet distance on the features of a video classifier, there I3D trained on Kinetics);
Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium" (FID), NeurIPS 2017.

    kinema eval fvd-encoder --out src/kinema/assets/kinema-fvd-encoder    # ~10 min on one core

Deviation from the references, on purpose: no I3D. Its weights are not ours to ship, it was trained on real video, and
it needs a download. This encoder is trained by kinema on the worlds (so numbers are labelled kinema-FVD and are not
comparable with I3D-FVD), from training seeds only, with supervised targets read from each clip's own state:

  scenario    which world/scenario (3 physics scenarios + every scenes template), one class of CLASSES
  count       number of moving (non-static) objects, 1 .. MAX_COUNT (the last class is "MAX_COUNT or more")
  colours     which palette colours the moving objects have (multi-label)
  kinds       which kinds of moving object occur: ball, box, triangle, domino, plank (multi-label)
  trajectory  the mean pixel position (x / W, y / H) of the moving objects at 8 evenly spaced input frames
  time        whether the clip plays forward, reversed or with its frames shuffled (Misra et al., "Shuffle and
              Learn", ECCV 2016; Wei et al., "Learning and Using the Arrow of Time", CVPR 2018): during training a
              quarter of the clips are shown reversed and a quarter shuffled (content targets unchanged, trajectory
              not scored on them)

The trajectory and time targets make the features depend on where things are, how they move and whether time runs
coherently, not only on what is in the scene: a flickering or frozen generation lands away from every real clip.

Input rule (any model size compares on one footing): a clip of T >= INPUT_FRAMES frames is sampled at stride
s = T // 16 (frames 0, s, ..., 15 s: at the evaluation's 32 frames, every other frame); each frame is centre-cropped
to a square of side min(W, H) and resized to 32 x 32 (bilinear, antialiased); values map to [-1, 1].
Features are the 128-d penultimate activations, computed in float32 (weights are stored in bf16).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from kinema.train.data import EVAL_SEED_START
from kinema.worlds import physics, scenes
from kinema.worlds.base import PALETTE, Sample

INPUT_FRAMES, INPUT_SIZE = 16, 32
CLASSES: tuple[str, ...] = (*(f"physics/{s}" for s in physics.SCENARIOS), *(f"scenes/{s}" for s in scenes.SCENARIOS))
COLOURS: tuple[str, ...] = tuple(PALETTE)
KINDS: tuple[str, ...] = scenes.DYNAMIC_KINDS
MAX_COUNT = 8
TRAJ_POINTS = 8  # trajectory positions at input frames 0, 2, ..., 14
# Encoder training seeds: its own ranges, both below EVAL_SEED_START (never an evaluation clip)
TRAIN_SEED_START = 5_000_000
VAL_SEED_START = 9_000_000
assert VAL_SEED_START + 1_000_000 <= EVAL_SEED_START
TIME_MODES = ("forward", "reversed", "shuffled")
TIME_PROBS = (0.5, 0.25, 0.25)
HEADS = {"scenario": len(CLASSES), "count": MAX_COUNT, "colours": len(COLOURS), "kinds": len(KINDS),
         "trajectory": 2 * TRAJ_POINTS, "time": len(TIME_MODES)}

# ----------------------------------------------------------------------------------------------------------------------
# Configs
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class EncoderConfig:
    channels: tuple[int, ...] = (16, 32, 48, 96)  # one strided conv block each: 16x32x32 -> 16x16x16 -> ... -> 2x2x2
    feature_dim: int = 128
    groups: int = 8  # GroupNorm groups

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)
        if len(self.channels) != 4 or any(c % self.groups for c in self.channels):
            raise ValueError(f"channels must be 4 multiples of groups={self.groups}, got {self.channels}")


PRESETS = {"tiny": EncoderConfig(channels=(8, 8, 16, 16), feature_dim=16), "small": EncoderConfig()}


@dataclass
class EncoderTrainConfig:
    preset: str = "small"
    steps: int = 4000
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    clips: int = 16000  # fixed training set (pre-rendered once), seeds TRAIN_SEED_START + i
    val_clips: int = 1000  # held out, seeds VAL_SEED_START + i
    physics_share: float = 0.5  # the rest are scenes clips, every template equally likely
    ood_share: float = 0.2  # of the physics clips: Phyworld's out-of-distribution sizes and speeds
    frames: int = 32
    size: tuple[int, int] = (64, 64)  # (width, height) rendered, then the input rule
    bf16: bool = True  # autocast for training; features are always float32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown encoder preset {self.preset!r}; choose one of: {', '.join(PRESETS)}")
        self.size = tuple(self.size)
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}")
        if not 1 <= self.clips <= 1_000_000 or not 1 <= self.val_clips <= 1_000_000:
            raise ValueError(f"clips and val_clips must be in [1, 1000000], got {self.clips}, {self.val_clips}")
        if self.frames < INPUT_FRAMES:
            raise ValueError(f"frames must be >= {INPUT_FRAMES}, got {self.frames}")

# ----------------------------------------------------------------------------------------------------------------------
# The input rule and the targets
# ----------------------------------------------------------------------------------------------------------------------


def frame_indices(t: int) -> np.ndarray:
    """The INPUT_FRAMES frames the encoder sees of a T-frame clip: 0, s, ..., 15 s with s = T // 16."""
    if t < INPUT_FRAMES:
        raise ValueError(f"kinema-FVD needs clips of at least {INPUT_FRAMES} frames, got {t}")
    return np.arange(INPUT_FRAMES) * (t // INPUT_FRAMES)


def preprocess(video: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (3, 16, 32, 32) in [-1, 1] by the input rule (module docstring)."""
    v = np.asarray(video)
    if v.dtype != np.uint8 or v.ndim != 4 or v.shape[-1] != 3:
        raise ValueError(f"video must be uint8 (T, H, W, 3), got {v.dtype} {tuple(v.shape)}")
    h, w = v.shape[1:3]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    x = torch.from_numpy(np.ascontiguousarray(v[frame_indices(len(v)), y0:y0 + side, x0:x0 + side]))  # (16, S, S, 3)
    x = x.permute(0, 3, 1, 2).float()  # (16, 3, S, S)
    if side != INPUT_SIZE:
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)
    return (x / 127.5 - 1.0).clamp(-1, 1).permute(1, 0, 2, 3).contiguous()  # (3, 16, 32, 32)


def _moving_positions(sample: Sample) -> np.ndarray:
    """(T, K, 2) pixel positions of the moving objects in every frame."""
    st = sample.state
    if sample.world.startswith("physics/"):
        w, h = sample.size
        xy = np.array([[[o["x"], o["y"]] for o in f["objects"]] for f in st["frames"]], dtype=np.float64)
        return physics.world_to_pixels(xy, w, h)  # (T, K, 2)
    return np.array([[[o["px"], o["py"]] for o in f["objects"]] for f in st["frames"]], dtype=np.float64)


def targets(sample: Sample) -> dict[str, np.ndarray]:
    """The supervised targets of one clip, from its state (module docstring)."""
    moving = [o for o in sample.state["objects"] if not o.get("static", False)]
    colours = np.zeros(len(COLOURS), np.float32)
    kinds = np.zeros(len(KINDS), np.float32)
    for o in moving:
        colours[COLOURS.index(o["color"])] = 1
        kinds[KINDS.index(o.get("kind", "ball"))] = 1
    w, h = sample.size
    idx = frame_indices(sample.frames)[:: INPUT_FRAMES // TRAJ_POINTS]  # (8,)
    pos = _moving_positions(sample)[idx].mean(1) / np.array([w, h])  # (8, 2) in ~[0, 1]
    traj = np.clip((pos - 0.5) * 4.0, -4.0, 4.0).reshape(-1).astype(np.float32)  # (16,) ~unit scale
    return {"scenario": np.int64(CLASSES.index(sample.world)), "count": np.int64(min(len(moving), MAX_COUNT) - 1),
            "colours": colours, "kinds": kinds, "trajectory": traj}


def training_clip(index: int, seed_start: int, cfg: EncoderTrainConfig) -> Sample:
    """Clip `index` of an encoder training set: world, scenario and split drawn from (seed_start, index)."""
    seed = seed_start + int(index)
    if seed >= EVAL_SEED_START:
        raise ValueError(f"encoder training seed {seed} is an evaluation seed (>= {EVAL_SEED_START})")
    rng = np.random.default_rng([seed, cfg.seed, 0xFD])
    w, h = cfg.size
    if rng.random() < cfg.physics_share:
        scenario = physics.SCENARIOS[int(rng.integers(len(physics.SCENARIOS)))]
        return physics.render(scenario, seed=seed, frames=cfg.frames, width=w, height=h,
                              ood=bool(rng.random() < cfg.ood_share))
    scenario = scenes.SCENARIOS[int(rng.integers(len(scenes.SCENARIOS)))]
    return scenes.render(scenario, seed=seed, frames=cfg.frames, width=w, height=h)


def build_set(n: int, seed_start: int, cfg: EncoderTrainConfig, *, desc: str = "render",
              progress: bool = True) -> dict[str, torch.Tensor]:
    """n clips, preprocessed: {"video": uint8 (n, 3, 16, 32, 32) (the input rule, rounded), targets...}."""
    from tqdm.auto import tqdm

    videos, tgts = [], {k: [] for k in HEADS if k != "time"}
    for i in tqdm(range(n), desc=desc, unit="clip", leave=False, disable=not progress):
        s = training_clip(i, seed_start, cfg)
        x = preprocess(s.video)  # (3, 16, 32, 32)
        videos.append(((x + 1) * 127.5).round().to(torch.uint8))
        for k, v in targets(s).items():
            tgts[k].append(v)
    return {"video": torch.stack(videos), **{k: torch.from_numpy(np.stack(v)) for k, v in tgts.items()}}

# ----------------------------------------------------------------------------------------------------------------------
# The encoder
# ----------------------------------------------------------------------------------------------------------------------


class VideoFeatureEncoder(nn.Module):
    """(B, 3, 16, 32, 32) in [-1, 1] -> features (B, feature_dim) and one linear head per target on them."""

    def __init__(self, cfg: EncoderConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        blocks, c_in = [], 3
        for i, c in enumerate(cfg.channels):
            stride = (1, 2, 2) if i == 0 else (2, 2, 2)
            blocks.append(nn.Sequential(nn.Conv3d(c_in, c, 3, stride, 1), nn.GroupNorm(cfg.groups, c), nn.SiLU()))
            c_in = c
        self.blocks = nn.ModuleList(blocks)
        self.embed = nn.Linear(c_in * 2 * 2 * 2 + sum(cfg.channels), cfg.feature_dim)
        self.heads = nn.Linear(cfg.feature_dim, sum(HEADS.values()))
        self.initialize_weights(generator)

    def initialize_weights(self, generator: torch.Generator | None = None) -> None:
        """Kaiming-uniform weights (gain for SiLU/GELU ~ ReLU's), zero biases and a zero head (every target starts at
        its uninformed guess), GroupNorm at identity (its default)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu", generator=generator)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.heads.weight)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != (3, INPUT_FRAMES, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"encoder input must be (B, 3, {INPUT_FRAMES}, {INPUT_SIZE}, {INPUT_SIZE}), "
                             f"got {tuple(x.shape)}")
        pooled = []
        h = x
        for block in self.blocks:
            h = block(h)  # (B, C_i, T_i, H_i, W_i)
            pooled.append(h.amax((2, 3, 4)))  # (B, C_i): what is anywhere (colours are a level-1 feature)
        h = torch.cat([h.flatten(1), *pooled], dim=1)  # (B, 8 C_4 + sum C_i): where, and what
        return F.gelu(self.embed(h))  # (B, D)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(x)  # (B, D)
        out = self.heads(f)  # (B, sum(HEADS))
        return {"features": f, **dict(zip(HEADS, out.split(list(HEADS.values()), dim=1)))}


def time_augment(videos: torch.Tensor, modes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, 16, H, W) clips shown as TIME_MODES[modes[i]]: unchanged, reversed, or frames shuffled (a random
    permutation that is not the identity)."""
    out = videos.clone()
    n = videos.shape[2]
    for i, m in enumerate(modes.tolist()):
        if m == 1:
            out[i] = videos[i].flip(1)
        elif m == 2:
            perm = torch.randperm(n, generator=generator)
            while bool((perm == torch.arange(n)).all()):
                perm = torch.randperm(n, generator=generator)
            out[i] = videos[i][:, perm]
    return out


def head_losses(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per clip: cross-entropy of each class head, binary cross-entropy summed over the labels of each multi-label
    head (a mean over 8 labels starves the colours of gradient), smooth L1 summed over the trajectory (forward
    clips only)."""
    def bce(k: str) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(out[k].float(), batch[k], reduction="none").sum(1).mean()

    fwd = (batch["time"] == 0).float()  # (B,)
    traj = F.smooth_l1_loss(out["trajectory"].float(), batch["trajectory"], reduction="none").sum(1)  # (B,)
    return {"scenario": F.cross_entropy(out["scenario"].float(), batch["scenario"]),
            "count": F.cross_entropy(out["count"].float(), batch["count"]),
            "colours": bce("colours"), "kinds": bce("kinds"),
            "trajectory": (traj * fwd).sum() / fwd.sum().clamp(min=1.0),
            "time": F.cross_entropy(out["time"].float(), batch["time"])}


def _inputs(videos_u8: torch.Tensor) -> torch.Tensor:
    return videos_u8.float().div(127.5).sub(1.0)  # (B, 3, 16, 32, 32)


@torch.no_grad()
def evaluate_heads(model: VideoFeatureEncoder, data: dict[str, torch.Tensor], batch: int = 64) -> dict[str, float]:
    """Held-out scores on forward clips: accuracies of the class heads, per-label and exact-set accuracy of the
    multi-label heads, R^2 of the trajectory; and the time head's accuracy over each clip shown in all three modes."""
    model.eval()
    outs = [model(_inputs(data["video"][i:i + batch])) for i in range(0, len(data["video"]), batch)]
    o = {k: torch.cat([d[k] for d in outs]).float() for k in HEADS}
    gen = torch.Generator().manual_seed(0)
    hits = []
    for m in range(len(TIME_MODES)):
        for i in range(0, len(data["video"]), batch):
            v = data["video"][i:i + batch]
            modes = torch.full((len(v),), m)
            hits.append(model(_inputs(time_augment(v, modes, gen)))["time"].argmax(1) == modes)
    res = {k: float((o[k].argmax(1) == data[k]).float().mean()) for k in ("scenario", "count")}
    for k in ("colours", "kinds"):
        hit = (o[k] > 0) == (data[k] > 0.5)  # (N, L)
        res[f"{k}_label"] = float(hit.float().mean())
        res[f"{k}_exact"] = float(hit.all(1).float().mean())
    t = data["trajectory"]
    res["trajectory_r2"] = float(1 - ((o["trajectory"] - t) ** 2).sum() / ((t - t.mean(0)) ** 2).sum())
    res["time"] = float(torch.cat(hits).float().mean())
    return {k: round(v, 4) for k, v in res.items()}

# ----------------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------------


def train_encoder(cfg: EncoderTrainConfig, *, progress: bool = True,
                  log=print) -> tuple[VideoFeatureEncoder, dict[str, Any]]:
    """Render the training and held-out sets, train, and score the held-out set.
    Returns (encoder in eval mode, float32; metrics {"losses": [...], "heldout": {...}, "runtime": {...}})."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    train = build_set(cfg.clips, TRAIN_SEED_START, cfg, desc="render train set", progress=progress)
    val = build_set(cfg.val_clips, VAL_SEED_START, cfg, desc="render held-out set", progress=progress)
    t_data = time.perf_counter() - t0
    log(f"rendered {cfg.clips} training and {cfg.val_clips} held-out clips in {t_data:.0f} s")

    gen = torch.Generator().manual_seed(cfg.seed)
    model = VideoFeatureEncoder(PRESETS[cfg.preset], generator=gen)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def lr_at(step: int) -> float:
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        p = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))

    model.train()
    losses = []
    bar = tqdm(range(cfg.steps), desc="train fvd encoder", disable=not progress, dynamic_ncols=True)
    for step in bar:
        idx = torch.randint(0, cfg.clips, (cfg.batch_size,), generator=gen)
        batch = {k: v[idx] for k, v in train.items()}
        batch["time"] = torch.multinomial(torch.tensor(TIME_PROBS), cfg.batch_size, replacement=True,
                                          generator=gen)  # (B,)
        batch["video"] = time_augment(batch["video"], batch["time"], gen)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            out = model(_inputs(batch["video"]))
        parts = head_losses(out, batch)
        loss = sum(parts.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(round(float(loss.detach()), 5))
        if step % 25 == 0 or step == cfg.steps - 1:
            bar.set_postfix(loss=f"{np.mean(losses[-25:]):.3f}")
        if (step + 1) % max(1, cfg.steps // 10) == 0:
            log(f"step {step + 1}/{cfg.steps} loss {np.mean(losses[-50:]):.4f} "
                + " ".join(f"{k} {float(v.detach()):.3f}" for k, v in parts.items()))
    bar.close()
    heldout = evaluate_heads(model, val)
    train_fit = evaluate_heads(model, {k: v[:cfg.val_clips] for k, v in train.items()})
    model.eval()
    log("held-out: " + " ".join(f"{k} {v:.3f}" for k, v in heldout.items()))
    metrics = {"losses": losses, "heldout": heldout, "train_subset": train_fit,
               "runtime": {"data_s": round(t_data, 1), "total_s": round(time.perf_counter() - t0, 1)}}
    return model, metrics

# ----------------------------------------------------------------------------------------------------------------------
# Save, load, features
# ----------------------------------------------------------------------------------------------------------------------


def save_encoder(model: VideoFeatureEncoder, out_dir: str | Path, cfg: EncoderTrainConfig,
                 metrics: dict[str, Any]) -> Path:
    """encoder.safetensors (bf16) + config.json (architecture, input rule, training config, held-out scores)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()},
              str(out / "encoder.safetensors"))
    doc = {"kind": "kinema-fvd-encoder", "encoder": asdict(model.cfg),
           "input": {"frames": INPUT_FRAMES, "size": INPUT_SIZE,
                     "rule": "frames 0, s, ..., 15s with s = T // 16; centre square crop; bilinear antialiased "
                             "resize to 32x32; [-1, 1]"},
           "targets": {"scenario": list(CLASSES), "count": f"1..{MAX_COUNT}+", "colours": list(COLOURS),
                       "kinds": list(KINDS), "trajectory": f"mean moving-object position at {TRAJ_POINTS} frames",
                       "time": {m: p for m, p in zip(TIME_MODES, TIME_PROBS)}},
           "seeds": {"train": [TRAIN_SEED_START, TRAIN_SEED_START + cfg.clips - 1],
                     "heldout": [VAL_SEED_START, VAL_SEED_START + cfg.val_clips - 1],
                     "evaluation_seeds_start": EVAL_SEED_START},
           "train": asdict(cfg), "heldout": metrics["heldout"], "train_subset": metrics.get("train_subset"),
           "final_loss": float(np.mean(metrics["losses"][-50:])), "runtime": metrics["runtime"],
           "params": sum(p.numel() for p in model.parameters()), "dtype": "bfloat16"}
    (out / "config.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return out


def default_encoder_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "assets" / "kinema-fvd-encoder"


def load_encoder(path: str | Path | None = None) -> tuple[VideoFeatureEncoder, dict[str, Any]]:
    """(encoder in float32 and eval mode, its config.json) from a directory save_encoder wrote (None: shipped)."""
    from safetensors.torch import load_file

    p = Path(path) if path is not None else default_encoder_dir()
    if not (p / "config.json").is_file() or not (p / "encoder.safetensors").is_file():
        raise FileNotFoundError(f"{p} has no kinema-FVD encoder (config.json + encoder.safetensors); train one "
                                "with `kinema eval fvd-encoder --out DIR`")
    doc = json.loads((p / "config.json").read_text(encoding="utf-8"))
    if doc.get("kind") != "kinema-fvd-encoder":
        raise ValueError(f"{p / 'config.json'} is not a kinema-FVD encoder (kind {doc.get('kind')!r})")
    model = VideoFeatureEncoder(EncoderConfig(**doc["encoder"]))
    model.load_state_dict({k: v.float() for k, v in load_file(str(p / "encoder.safetensors")).items()})
    return model.eval(), doc


@torch.no_grad()
def video_features(model: VideoFeatureEncoder, videos, *, batch: int = 32) -> np.ndarray:
    """uint8 videos (each (T, H, W, 3), T >= 16, any size) -> float64 (N, feature_dim) features (float32 compute)."""
    feats = []
    videos = list(videos)
    for i in range(0, len(videos), batch):
        x = torch.stack([preprocess(v) for v in videos[i:i + batch]])  # (B, 3, 16, 32, 32)
        feats.append(model.features(x).double().numpy())
    return np.concatenate(feats) if feats else np.zeros((0, model.cfg.feature_dim))
