"""Sub-pixel ball parser and Phyworld's velocity error.

References: Kang et al., "How Far is Video Generation from World Model: A Physical Law Perspective" (Phyworld),
arXiv 2411.02385, 2024 (protocol: colour-mask centroids, finite-difference velocity, mean |v - v_hat|, frames with a
ball partly out of view dropped, post-collision frames only for collisions, report the ground-truth "floor").

Deviation from a thresholded mask: each pixel's weight is *how much* of a ball's colour it holds (0..1), so the
centroid of an anti-aliased disc lands on its centre to a small fraction of a pixel; a hard mask moves in whole-pixel
steps and at 64x64 inflates the uniform-motion floor about tenfold (ANCHORS.md: ~0.12 vs ~0.013).

Pixel coordinates (as `kinema.worlds.physics`): (0, 0) is the image's top-left corner, x right, y down, the centre
of pixel (row i, column j) is (j + 0.5, i + 0.5).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------------------------------------------------
# Tracking
# ----------------------------------------------------------------------------------------------------------------------


def colour_weights(video: np.ndarray, colors: Sequence[Sequence[int]], *, background=(255, 255, 255),
                   threshold: float = 0.1) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, H, W, K) weights in [0, 1]: how much of colour k each pixel holds.

    A pixel's "ink" e = background - pixel is projected on each colour's ink d_k = background - colour_k:
    a_k = (e . d_k) / |d_k|^2. Each pixel belongs to the colour whose projection leaves the smallest residual
    |e - a_k d_k| (a mix of one colour with the background has residual 0 for that colour), and weighs a_k clipped to
    [0, 1]; weights below `threshold` are set to 0 (noise, codec ringing).
    """
    bg = np.asarray(background, dtype=np.float32)  # (3,)
    d = bg - np.asarray(colors, dtype=np.float32).reshape(-1, 3)  # (K, 3)
    if np.any(np.linalg.norm(d, axis=1) < 1.0):
        raise ValueError("a ball colour equals the background colour; it cannot be tracked")
    e = bg - video.astype(np.float32)  # (T, H, W, 3)
    dot = e @ d.T  # (T, H, W, K)
    dd = (d * d).sum(1)  # (K,)
    a = dot / dd  # (T, H, W, K)
    resid = (e * e).sum(-1, keepdims=True) - a * dot  # (T, H, W, K): |e - a d|^2 at the optimal a
    owner = resid.argmin(-1)[..., None] == np.arange(len(d))  # (T, H, W, K)
    w = np.clip(a, 0.0, 1.0) * owner
    w[w < threshold] = 0.0
    return w


def track_balls(video: np.ndarray, colors: Sequence[Sequence[int]], *, background=(255, 255, 255),
                threshold: float = 0.1, min_mass: float = 1.0,
                border_weight: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel centre of each coloured ball in each frame.

    video (T, H, W, 3) uint8, colors K RGB tuples -> pos (T, K, 2) float pixel coordinates (x, y) (NaN where the
    colour is absent) and visible (T, K) bool: mass (sum of weights, in pixels) >= `min_mass` and no border pixel
    holding more than `border_weight` of the colour (a ball cut by the image edge has a biased centroid).

    The centroid is weight-averaged twice: over the whole frame, then only within 2 px beyond the radius implied by the
    mass (pi r^2) around the first estimate, so stray noise pixels far from the ball do not pull it.
    """
    video = np.asarray(video)
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"video must be uint8 (T, H, W, 3), got {video.dtype} {tuple(video.shape)}")
    n_t, h, w_, _ = video.shape
    k = len(colors)
    pos = np.full((n_t, k, 2), np.nan)
    visible = np.zeros((n_t, k), dtype=bool)
    xs = np.arange(w_, dtype=np.float64) + 0.5  # (W,)
    ys = np.arange(h, dtype=np.float64) + 0.5  # (H,)
    chunk = max(1, (1 << 21) // (h * w_ * max(k, 1)))
    for s in range(0, n_t, chunk):
        wt = colour_weights(video[s:s + chunk], colors, background=background, threshold=threshold)  # (t, H, W, K)
        wt = wt.transpose(0, 3, 1, 2).astype(np.float64)  # (t, K, H, W)
        for _ in range(2):
            mass = wt.sum((2, 3))  # (t, K)
            safe = np.where(mass > 0, mass, 1.0)
            cx = (wt.sum(2) * xs).sum(-1) / safe  # (t, K)
            cy = (wt.sum(3) * ys).sum(-1) / safe  # (t, K)
            reach = np.sqrt(mass / np.pi) + 2.0  # (t, K)
            near = ((xs[None, None, None, :] - cx[..., None, None]) ** 2
                    + (ys[None, None, :, None] - cy[..., None, None]) ** 2) <= (reach**2)[..., None, None]  # (t,K,H,W)
            wt = wt * near
        mass = wt.sum((2, 3))  # (t, K)
        edge = np.maximum(np.maximum(wt[..., 0, :].max(-1), wt[..., -1, :].max(-1)),
                          np.maximum(wt[..., :, 0].max(-1), wt[..., :, -1].max(-1)))  # (t, K)
        present = mass > 0
        pos[s:s + chunk, :, 0] = np.where(present, cx, np.nan)
        pos[s:s + chunk, :, 1] = np.where(present, cy, np.nan)
        visible[s:s + chunk] = (mass >= min_mass) & (edge <= border_weight)
    return pos, visible

# ----------------------------------------------------------------------------------------------------------------------
# Geometry and velocity
# ----------------------------------------------------------------------------------------------------------------------


def _geometry(geom: dict | tuple[float, int, int]) -> tuple[float, int, int, float]:
    """(pixels_per_unit, width, height, world_size) from a physics state or a (ppu, width, height) tuple."""
    if isinstance(geom, dict):
        w, h = geom["image_size"]
        return float(geom["pixels_per_unit"]), int(w), int(h), float(geom.get("world_size", [10.0])[0])
    ppu, w, h = geom
    return float(ppu), int(w), int(h), 10.0


def pixels_to_world(pos: np.ndarray, geom: dict | tuple[float, int, int]) -> np.ndarray:
    """(..., 2) pixel (x right, y down) -> (..., 2) world (x right, y up); `geom` is a physics state or (ppu, W, H)."""
    ppu, w, h, size = _geometry(geom)
    ox, oy = (w - size * ppu) / 2, (h - size * ppu) / 2
    pos = np.asarray(pos, dtype=np.float64)
    return np.stack([(pos[..., 0] - ox) / ppu, size - (pos[..., 1] - oy) / ppu], axis=-1)


def finite_difference_velocity(pos_world: np.ndarray, fps: float,
                               visible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Central differences v_k = (p_{k+1} - p_{k-1}) * fps / 2 (exact for uniform and parabolic motion).

    pos_world (T, K, 2), visible (T, K) or None (all visible) -> vel (T, K, 2) (NaN where invalid) and valid (T, K):
    True for 1 <= k <= T-2 where frames k-1, k and k+1 are all visible.
    """
    pos_world = np.asarray(pos_world, dtype=np.float64)
    n_t = pos_world.shape[0]
    vis = np.ones(pos_world.shape[:2], dtype=bool) if visible is None else np.asarray(visible, dtype=bool)
    vel = np.full(pos_world.shape, np.nan)
    valid = np.zeros(pos_world.shape[:2], dtype=bool)
    if n_t >= 3:
        vel[1:-1] = (pos_world[2:] - pos_world[:-2]) * (fps / 2.0)  # (T-2, K, 2)
        valid[1:-1] = vis[:-2] & vis[1:-1] & vis[2:]
    vel[~valid] = np.nan
    return vel, valid

# ----------------------------------------------------------------------------------------------------------------------
# Phyworld's error
# ----------------------------------------------------------------------------------------------------------------------


def velocity_error(video: np.ndarray, state: dict[str, Any], *, frames: Iterable[int] | None = None,
                   post_collision_only: bool = True) -> dict[str, Any]:
    """Mean |v - v_hat| (world units/s) of the parse of `video` against the true velocities in a physics `state`.

    A (frame k, ball) pair is *eligible* when 1 <= k <= T-2, k is in `frames` (None: all; e.g. range(3, T) scores only
    frames generated after 3 conditioning frames), the ball is fully in view in the ground truth at k-1, k and k+1,
    and, for a collision with `post_collision_only`, k-1 >= collision_frame (the difference spans no impact). It is
    *used* when the parser also sees the ball at k-1, k, k+1; eligible pairs the parser misses are counted, never
    silently scored, so a model cannot lower its error by making balls vanish.

    Returns {"error": mean Euclidean |v - v_hat| over used pairs (None if none), "per_ball": [mean or None, ...],
    "frames_used": used pairs, "frames_eligible": eligible pairs, "frames_missing": eligible - used}.
    """
    video = np.asarray(video)
    n_t = len(state["frames"])
    width, height = state["image_size"]
    if video.ndim != 4 or video.shape[0] != n_t or video.shape[1:3] != (height, width):
        raise ValueError(f"video must be (T, H, W, 3) = ({n_t}, {height}, {width}, 3) to match the state, "
                         f"got {tuple(video.shape)}")
    colors = [tuple(o["rgb"]) for o in state["objects"]]
    k = len(colors)
    fps = 1.0 / float(state["dt"])
    pos_px, seen = track_balls(video, colors)
    v_hat, ok = finite_difference_velocity(pixels_to_world(pos_px, state), fps, seen)  # (T, K, 2), (T, K)
    v_true = np.array([[[o["vx"], o["vy"]] for o in f["objects"]] for f in state["frames"]])  # (T, K, 2)
    in_view = np.array([[o["in_view"] for o in f["objects"]] for f in state["frames"]], dtype=bool)  # (T, K)

    _, eligible = finite_difference_velocity(np.zeros((n_t, k, 2)), fps, in_view)  # (T, K)
    if frames is not None:
        chosen = np.zeros(n_t, dtype=bool)
        idx = np.asarray(list(frames), dtype=int)
        if idx.size and (idx.min() < 0 or idx.max() >= n_t):
            raise ValueError(f"frames must be indices in [0, {n_t - 1}]")
        chosen[idx] = True
        eligible &= chosen[:, None]
    if post_collision_only and state.get("scenario") == "collision":
        first = state.get("collision_frame")
        after = np.zeros(n_t, dtype=bool)
        if first is not None:
            after[first + 1:] = True  # k - 1 >= first
        eligible &= after[:, None]
    used = eligible & ok
    err = np.linalg.norm(v_hat - v_true, axis=-1)  # (T, K)
    per_ball = [float(err[used[:, i], i].mean()) if used[:, i].any() else None for i in range(k)]
    return {"error": float(err[used].mean()) if used.any() else None, "per_ball": per_ball,
            "frames_used": int(used.sum()), "frames_eligible": int(eligible.sum()),
            "frames_missing": int((eligible & ~ok).sum())}


def parse_floor(scenario: str, *, width: int, height: int, n: int = 32, ood: bool = False,
                seed0: int = 10_000_000) -> float:
    """The ground-truth parse floor: render n clips (seeds seed0..seed0+n-1, 32 frames at 10 fps), parse each with
    `velocity_error`, and average the per-clip errors (clips with no scorable pair are skipped).

    Measured (n = 32, seeds from 10_000_000; Phyworld's ID floors at 128^2 are 0.0099 / 0.0117 / 0.0210):
                   ID 64^2   ID 128^2   OOD 64^2   OOD 128^2
        uniform    0.0087    0.0031     0.0112     0.0041
        collision  0.0086    0.0029     0.0099     0.0039
        parabola   0.0100    0.0032     0.0118     0.0039
    Command: PYTHONPATH=src python -c "from kinema.eval.parse import parse_floor as f;
        print([round(f(s, width=w, height=w), 4) for w in (64, 128) for s in ('uniform', 'collision', 'parabola')])"
    (add ood=True for the OOD columns).
    """
    from kinema.worlds import physics

    errors = []
    for i in range(n):
        sample = physics.render(scenario, seed=seed0 + i, width=width, height=height, ood=ood)
        e = velocity_error(sample.video, sample.state)["error"]
        if e is not None:
            errors.append(e)
    if not errors:
        raise ValueError(f"no scorable frames in {n} {scenario} clips at {width}x{height}")
    return float(np.mean(errors))
