"""Phyworld's physical-law evaluation: does a video model continue uniform motion, collisions and parabolas the way
physics does, in and out of the training distribution?

References: Kang et al., "How Far is Video Generation from World Model: A Physical Law Perspective" (Phyworld),
arXiv 2411.02385, 2024.

    kinema eval physics --model runs/dit --scenario all --split both -n 20 --out eval-physics/

Protocol (ANCHORS.md). Each cell (scenario x split) is n clips of 32 frames at 10 fps from fixed evaluation seeds
(kinema.eval.sets; never training seeds). The model sees the first 3 frames and the clip's caption and generates the
rest; kinema.eval.parse finds each ball as the sub-pixel centroid of its colour and scores mean |v - v_hat| (world
units/s), dropping frames with a ball partly out of view and, for collisions, frames before the impact.

Choices this file makes, each recorded in the results' "protocol":
  * Scored velocities: frame k with k - 1 >= 3, so every central difference spans generated frames only.
  * Floors, on the same clips, frames and parser: "gt" (ground-truth video: the parser's own error) and "vae"
    (VAE(encode(GT)): what the model's autoencoder alone costs; no generated video can be expected below it).
  * Baseline, on the same clips: "repeat_last" (the last context frame held: nothing moves, so its error is the
    balls' true speed). A model whose error is not below it has learned no usable motion; `ratio_to_repeat_last`
    says so with a paired interval.
  * A clip's error averages its scored (frame, ball) pairs; a cell's error averages its clips. Pairs the parser
    misses (a ball vanished or left early) are not scored; their share is reported as missing_rate.
  * Collisions also get the post-impact momentum and kinetic-energy errors relative to the truth, as symmetric
    relative errors in [0, 2] (about |x_hat - x| / x when small, 2 when all is lost or made up from nothing):
    momentum 2 |P_hat - P| / (S + S_hat), P = sum m v, S = sum m |v| (the momentum scale: head-on totals can be ~0),
    energy 2 |E_hat - E| / (E + E_hat). Plain |E_hat - E| / E is unbounded where OOD balls are slow (E ~ 0): one such
    clip would outweigh all others in a mean. True masses (pi r^2), frames where both balls are scored.
  * Motion along the truth: per clip, the median over scored pairs of (v_hat . v) / |v|^2, pairs with |v| >=
    MIN_ALONG_SPEED: 1 = the true velocity, 0 = nothing moves, < 1 = too slow, < 0 = the wrong way. The median is
    robust to the parser's jumps between a blurred ball's pieces, which dominate the mean |v - v_hat| of a poor
    model; it separates "moves the right way, too slowly" from "moves at random".
  * Radius drift: mean over generated frames of |r_k / r_0 - 1|, r_k = sqrt(colour mass / pi) of each fully visible
    ball and r_0 its radius in frame 0 (a context frame).
  * Pixel fidelity of the generated frames to the true ones (PSNR, SSIM; kinema.eval.fidelity), for the model and
    the VAE floor: the worlds are deterministic, so the true continuation is unique.
  * Intervals: percentile bootstrap over clips (kinema.eval.stats, fixed seed); model/floor ratios resample clips in
    pairs, OOD/ID ratios resample each set on its own.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kinema.eval.continuation import Continuation, RepeatLastModel, timed_continuation
from kinema.eval.fidelity import psnr, ssim
from kinema.eval.parse import (colour_weights, finite_difference_velocity, pixels_to_world, track_balls,
                               velocity_error)
from kinema.eval.sets import SPLITS, check_clip_request, eval_seed, padded_length, render_clip, video_sha256
from kinema.eval.stats import BOOT_SEED, N_BOOT, mean_ci, ratio_ci
from kinema.worlds import physics

# Default clips per cell. `kinema eval physics` with the defaults generates 3 scenarios x 2 splits x 20 = 120 clips.
# Budget: 20 minutes on a 2-core CPU even if a 33-frame 64x64 clip takes 8 s (the slow end of 3-8 s expected for the
# shipped model at 16 steps), plus ~0.7 s per clip of rendering, VAE floor, parsing and PSNR/SSIM (CPU time).
# Measured: kinema-physics v0.1, 1 thread of an AMD EPYC: 1.68 s per clip, 312 s for the whole run. A 20-clip cell
# gives a bootstrap interval of about +-20% of the model's mean (uniform ID: 5.29 [4.25, 6.51]).
DEFAULT_N = 20
MIN_ALONG_SPEED = 0.25  # world units/s: slower true motion (OOD balls at rest or nearly) has no direction to follow
SOURCES = ("model", "gt", "vae", "repeat_last")  # scored on each clip: the model's video, two floors, a baseline


@dataclass
class PhysicsEvalConfig:
    scenarios: tuple[str, ...] = physics.SCENARIOS
    splits: tuple[str, ...] = SPLITS
    n: int = DEFAULT_N
    size: tuple[int, int] = (64, 64)  # (width, height)
    frames: int = 32
    context: int = 3
    fps: float = 10.0
    examples: int = 1  # clips per cell kept (in memory) for the report's contact sheet
    extra: dict[str, Any] = field(default_factory=dict)  # recorded as is (steps, guidance, seed, ...)

    def __post_init__(self) -> None:
        self.scenarios, self.splits, self.size = tuple(self.scenarios), tuple(self.splits), tuple(self.size)
        bad = [s for s in self.scenarios if s not in physics.SCENARIOS]
        if bad or not self.scenarios:
            raise ValueError(f"scenario must be one of {', '.join(physics.SCENARIOS)}, got {bad or 'none'}")
        if not self.splits or any(s not in SPLITS for s in self.splits):
            raise ValueError(f"split must be id, ood or both, got {self.splits}")
        check_clip_request(n=self.n, n_range=(1, 100_000), frames=self.frames, context=self.context, size=self.size)

# ----------------------------------------------------------------------------------------------------------------------
# One clip
# ----------------------------------------------------------------------------------------------------------------------


def _scored_pairs(state: dict, frames: range) -> np.ndarray:
    """(T, K) (frame, ball) pairs velocity_error may score: the same rule as kinema.eval.parse.velocity_error (ball
    fully in view at k-1, k, k+1, k in `frames`, collisions after the impact); tested to agree with its count."""
    n_t, k = len(state["frames"]), len(state["objects"])
    in_view = np.array([[o["in_view"] for o in f["objects"]] for f in state["frames"]], dtype=bool)  # (T, K)
    _, ok = finite_difference_velocity(np.zeros((n_t, k, 2)), 1.0, in_view)  # (T, K)
    chosen = np.zeros(n_t, dtype=bool)
    chosen[list(frames)] = True
    ok &= chosen[:, None]
    if state.get("scenario") == "collision":
        first = state.get("collision_frame")
        after = np.zeros(n_t, dtype=bool)
        if first is not None:
            after[first + 1:] = True
        ok &= after[:, None]
    return ok


def _radii(video: np.ndarray, colors, pos: np.ndarray, radius_px: np.ndarray) -> np.ndarray:
    """(T, K) equivalent radius sqrt(mass / pi), in pixels, of each ball's colour mass within 2 r + 3 px of its
    centroid."""
    w = colour_weights(video, colors)  # (T, H, W, K)
    h, w_ = video.shape[1:3]
    ys, xs = np.mgrid[0:h, 0:w_] + 0.5  # (H, W)
    out = np.full(pos.shape[:2], np.nan)
    for i in range(len(colors)):
        reach = 2.0 * radius_px[i] + 3.0
        d2 = (xs[None] - pos[:, i, 0, None, None]) ** 2 + (ys[None] - pos[:, i, 1, None, None]) ** 2  # (T, H, W)
        mass = (w[..., i] * (d2 <= reach ** 2)).sum((1, 2))  # (T,)
        out[:, i] = np.sqrt(mass / np.pi)
    return out


def score_clip(video: np.ndarray, state: dict, *, context: int = 3) -> dict[str, Any]:
    """Every number of one video (generated, ground truth or reconstructed) against the clip's true state.

    Returns JSON-ready {"velocity_error", "per_ball", "frames_used", "frames_eligible", "frames_missing",
    "missing_rate", "motion_along", "radius_drift", "momentum_error", "energy_error" (collisions, else None),
    "velocities": [[frame, ball, vx, vy, vx_hat, vy_hat], ...]} and "track" (T, K, 2) parsed pixel positions (not
    JSON).
    """
    n_t = len(state["frames"])
    frames = range(context + 1, n_t)  # k - 1 >= context: differences of generated frames only
    ve = velocity_error(video, state, frames=frames)
    colors = [tuple(o["rgb"]) for o in state["objects"]]
    pos, seen = track_balls(video, colors)  # (T, K, 2), (T, K)
    v_hat, ok = finite_difference_velocity(pixels_to_world(pos, state), 1.0 / float(state["dt"]), seen)  # (T, K, 2)
    v_true = np.array([[[o["vx"], o["vy"]] for o in f["objects"]] for f in state["frames"]])  # (T, K, 2)
    used = _scored_pairs(state, frames) & ok  # (T, K)
    ks, bs = np.nonzero(used)
    pairs = [[int(k), int(b), *np.round(v_true[k, b], 5).tolist(), *np.round(v_hat[k, b], 5).tolist()]
             for k, b in zip(ks, bs)]
    speed2 = (v_true[used] ** 2).sum(-1)  # (P,)
    moving = speed2 >= MIN_ALONG_SPEED ** 2
    along = ((v_hat[used] * v_true[used]).sum(-1)[moving] / speed2[moving])  # (P',)

    # radius drift: fully visible frames of the generated part against frame 0
    in_view = np.array([[o["in_view"] for o in f["objects"]] for f in state["frames"]], dtype=bool)  # (T, K)
    r_true = np.array([o["radius"] for o in state["objects"]]) * float(state["pixels_per_unit"])  # (K,)
    radii = _radii(video, colors, np.nan_to_num(pos, nan=-1e6), r_true)  # (T, K)
    ref = np.where(seen[0] & in_view[0], radii[0], r_true)  # (K,)
    vis = seen & in_view
    vis[:context] = False
    drift = np.abs(radii / ref - 1.0)[vis]

    mom = en = None
    if state.get("scenario") == "collision":
        both = used.all(1)  # (T,)
        if both.any():
            m = np.array([o["mass"] for o in state["objects"]])  # (K,)
            p_hat = (m[None, :, None] * v_hat[both]).sum(1)  # (F, 2)
            p = (m[None, :, None] * v_true[both]).sum(1)  # (F, 2)
            scale = (m[None] * np.linalg.norm(v_true[both], axis=-1)).sum(1)  # (F,)
            scale_hat = (m[None] * np.linalg.norm(v_hat[both], axis=-1)).sum(1)  # (F,)
            e_hat = 0.5 * (m[None] * (v_hat[both] ** 2).sum(-1)).sum(1)  # (F,)
            e = 0.5 * (m[None] * (v_true[both] ** 2).sum(-1)).sum(1)  # (F,)
            mom = float(np.mean(2 * np.linalg.norm(p_hat - p, axis=-1) / (scale + scale_hat)))
            en = float(np.mean(2 * np.abs(e_hat - e) / (e + e_hat)))
    eligible = ve["frames_eligible"]
    return {"velocity_error": ve["error"], "per_ball": ve["per_ball"], "frames_used": ve["frames_used"],
            "frames_eligible": eligible, "frames_missing": ve["frames_missing"],
            "missing_rate": ve["frames_missing"] / eligible if eligible else None,
            "motion_along": float(np.median(along)) if along.size else None,
            "radius_drift": float(drift.mean()) if drift.size else None,
            "momentum_error": mom, "energy_error": en, "velocities": pairs, "track": pos}

# ----------------------------------------------------------------------------------------------------------------------
# The evaluation
# ----------------------------------------------------------------------------------------------------------------------


def evaluate_physics(model: Continuation, cfg: PhysicsEvalConfig, *, vae=None,
                     progress: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score `model` on every cell of `cfg`. `vae` (default: the model's own `.vae`, if any) gives the VAE floor.

    Returns (results, examples): results is JSON-ready (protocol, one record per clip, summary); examples holds, for
    the first `cfg.examples` clips of each cell, the ground-truth and generated videos and their parsed tracks.
    """
    from tqdm.auto import tqdm

    from kinema.eval.recon import reconstruct

    vae = vae if vae is not None else getattr(model, "vae", None)
    w, h = cfg.size
    t_start = time.perf_counter()
    clips, examples, gen_s = [], [], []
    cells = [(sc, sp) for sc in cfg.scenarios for sp in cfg.splits]
    bar = tqdm(total=len(cells) * cfg.n, desc=f"eval physics ({model.name})", unit="clip", disable=not progress)
    for scenario, split in cells:
        for i in range(cfg.n):
            seed = eval_seed("physics", scenario, split, i)
            sample = render_clip("physics", scenario, split, seed, frames=cfg.frames, width=w, height=h, fps=cfg.fps)
            gt, state = sample.video, sample.state
            caption = sample.caption["en"]["detailed"]
            video, seconds = timed_continuation(model, gt, cfg.context, caption=caption, seed=seed)
            gen_s.append(seconds)
            still = RepeatLastModel().continue_video(gt[:cfg.context], cfg.frames, caption=caption, seed=seed)
            scores = {"model": score_clip(video, state, context=cfg.context),
                      "gt": score_clip(gt, state, context=cfg.context), "vae": None,
                      "repeat_last": score_clip(still, state, context=cfg.context)}
            rec = None
            if vae is not None:
                n_pad = padded_length(cfg.frames, int(vae.cfg.time_down))
                long = render_clip("physics", scenario, split, seed, frames=cfg.frames, width=w, height=h,
                                   fps=cfg.fps, extra=n_pad - cfg.frames).video
                assert np.array_equal(long[:cfg.frames], gt)  # the padding frames only extend the same motion
                rec = reconstruct(vae, long)[:cfg.frames]
                scores["vae"] = score_clip(rec, state, context=cfg.context)
            for src, v in (("model", video), ("vae", rec), ("repeat_last", still)):
                if scores[src] is not None:  # fidelity of the generated frames to the true continuation
                    scores[src]["psnr_db"] = round(psnr(v[cfg.context:], gt[cfg.context:]), 4)
                    scores[src]["ssim"] = round(ssim(v[cfg.context:], gt[cfg.context:]), 5)
            if i < cfg.examples:
                examples.append({"scenario": scenario, "split": split, "seed": seed, "gt": gt, "model": video,
                                 "gt_track": scores["gt"]["track"], "model_track": scores["model"]["track"]})
            for sc in scores.values():
                if sc is not None:
                    sc.pop("track")
                    if sc is not scores["model"]:
                        sc.pop("velocities")  # the scatter plot shows the model's velocities only
            clips.append({"scenario": scenario, "split": split, "seed": seed, "gt_sha256": video_sha256(gt),
                          "caption": caption, "generate_s": round(gen_s[-1], 4), **scores})
            bar.update(1)
    bar.close()
    protocol = {**asdict(cfg), "world": "physics", "scored_frames": f"k with k-1 >= {cfg.context} (central "
                "differences of generated frames only), collisions after the impact", "units": "world units / s",
                "floors": {"gt": "parse of the ground-truth video",
                           "vae": "parse of VAE(encode(GT)) (none without a VAE)"},
                "baselines": {"repeat_last": "the last context frame held (nothing moves)"},
                "motion_along": f"per clip, median of v_hat.v / |v|^2 over scored pairs with |v| >= {MIN_ALONG_SPEED}",
                "bootstrap": {"resamples": N_BOOT, "seed": BOOT_SEED, "level": 0.95}}
    results = {"kind": "physics", "model": model.name, "protocol": protocol, "clips": clips,
               "summary": summarize(clips, cfg.scenarios, cfg.splits),
               "runtime": {"total_s": round(time.perf_counter() - t_start, 2),
                           "generate_s_per_clip": round(float(np.mean(gen_s)), 4) if gen_s else None,
                           "clips": len(clips)}}
    return results, examples


METRICS = ("velocity_error", "missing_rate", "motion_along", "radius_drift", "momentum_error", "energy_error",
           "psnr_db", "ssim")


def summarize(clips: list[dict], scenarios, splits) -> dict[str, Any]:
    """Per scenario and split: each metric's mean and 95% interval for the model, both floors and the baseline, the
    model's ratio to each of them; per scenario: the OOD/ID ratio of each source's velocity error."""
    # what was added later (the baseline, motion along the truth) draws its resamples from a second generator, so the
    # intervals of everything else are the ones earlier versions published for the same clips
    rng, base_rng = np.random.default_rng(BOOT_SEED), np.random.default_rng(BOOT_SEED + 1)
    later = {"repeat_last", "motion_along"}
    out: dict[str, Any] = {}
    for scenario in scenarios:
        cell_out: dict[str, Any] = {}
        for split in splits:
            cell = [c for c in clips if c["scenario"] == scenario and c["split"] == split]
            vals = {src: {m: [c[src].get(m) if c.get(src) else None for c in cell] for m in METRICS}
                    for src in SOURCES}
            entry: dict[str, Any] = {src: {m: mean_ci(vals[src][m], base_rng if {src, m} & later else rng)
                                           for m in METRICS
                                           if scenario == "collision" or m not in ("momentum_error", "energy_error")}
                                     for src in SOURCES}
            err = {src: vals[src]["velocity_error"] for src in SOURCES}
            entry["ratio_to_gt"] = ratio_ci(err["model"], err["gt"], rng, paired=True)
            entry["ratio_to_vae"] = ratio_ci(err["model"], err["vae"], rng, paired=True)
            entry["ratio_to_repeat_last"] = ratio_ci(err["model"], err["repeat_last"], base_rng, paired=True)
            entry["clips"] = len(cell)
            cell_out[split] = entry
        if "id" in splits and "ood" in splits:
            per = {sp: [c for c in clips if c["scenario"] == scenario and c["split"] == sp] for sp in ("id", "ood")}
            cell_out["ood_over_id"] = {
                src: ratio_ci([c[src]["velocity_error"] if c.get(src) else None for c in per["ood"]],
                              [c[src]["velocity_error"] if c.get(src) else None for c in per["id"]],
                              base_rng if src == "repeat_last" else rng, paired=False)
                for src in SOURCES}
        out[scenario] = cell_out
    return out
