"""Abnormal events and object permanence on the scenes world's held-out templates.

    kinema eval scenes --model runs/dit -n 16 --out eval-scenes/

Each clip (32 frames at 10 fps, fixed evaluation seeds, one of scenes.HELDOUT_TEMPLATES, which training never shows)
is continued by the model from its first 3 frames and caption. The generated frames are parsed by colour (every
moving object has its own palette colour) against the scene's static layer, which is drawn from the ground-truth
state, and each clip gets flags for what should not happen:

  appear          a colour no object of the scene has (nor a blend of two of its colours) forms an object-sized
                  blob in the open (off the floor, ramps and occluders, whose own colour may drift) for 2+ frames,
                  or an object pops up in the open (absent, then present, away from occluders and the border);
  vanish          an object the ground truth shows (visible_fraction >= 0.5) is gone (< 15% of its area, 2+ frames)
                  although it was last seen in the open (touching no occluder, image border or other object);
  colour_change   a vanished object's place is taken by a colour no object of the scene has (counted instead of
                  vanish + appear);
  shape_change    the elongation of an unobstructed object (from its second moments) differs from the context's by
                  more than 2x (2+ frames): ball <-> domino or plank. At 64x64 a ball and a box differ by less than
                  the parse noise, so that swap is NOT detected;
  interpenetrate  an object reaches more than a pixel into the floor, or two compact objects' (balls, boxes)
                  centres come closer than half the sum of their equivalent radii (2+ frames);
  size_drift      an unobstructed object's area leaves [1/1.8, 1.8] x its area in the context frames (2+ frames).

A clip is abnormal if it has any flag. Object permanence: every time the ground truth hides an object the model saw
(behind an occluder, visible_fraction < 0.05, during the generated frames) and shows it again (>= 0.5), the model's
object must have been hidden in the model's video too (somewhere in that interval) and be back, within
max(0.75 units, 1.5 radii) of where the same parser finds it in the ground truth, in at least 2 of the 4 frames from
the true re-emergence (so a frozen copy that never went behind the occluder fails).

Every flag is calibrated so that ground-truth video scores 0 (tested: 0 flags on 180 clips at 64x64, 0 on 60 at each
of 128x128, 48x48 and 32x32); the same numbers on VAE(encode(GT)) are reported as the reconstruction floor. PSNR and
SSIM of the generated frames against the true ones are reported beside them (kinema.eval.fidelity).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kinema.eval.continuation import Continuation, timed_continuation
from kinema.eval.fidelity import psnr, ssim
from kinema.eval.sets import check_clip_request, eval_seed, padded_length, render_clip, video_sha256
from kinema.eval.stats import BOOT_SEED, N_BOOT, mean_ci, rate_ci
from kinema.worlds import scenes
from kinema.worlds.base import PALETTE
from kinema.worlds.scenes import marker_rgb, pixel_map, static_layer  # noqa: F401 (static_layer: public here too)

FLAGS = ("appear", "vanish", "colour_change", "shape_change", "interpenetrate", "size_drift")
DEFAULT_N = 16  # clips per held-out template: 48 clips, ~3-7 minutes for the shipped model on 2 cores

# thresholds (calibrated so that ground truth scores 0: tests/test_eval_scenes.py)
WEIGHT_MIN = 0.1  # colour weights below this are noise
ABSENT = 0.15  # mass < ABSENT x reference area: the object is not there
PRESENT = 0.5  # mass >= PRESENT x reference area: it is
PERSIST = 2  # consecutive frames a condition must hold to raise a flag
SIZE_RANGE = (1 / 1.8, 1.8)
SHAPE_RATIO = 2.0
OVERLAP = 0.5  # centre distance < OVERLAP x (r_i + r_j): interpenetration ...
COMPACT = 1.6  # ... of two objects no more elongated than this (balls, boxes; not dominoes or planks)
FOREIGN_AREA = 0.3  # a foreign colour counts from this fraction of the smallest object's area (and >= 4 px)
HIDDEN, SHOWN = 0.05, 0.5  # ground-truth visible_fraction of "behind the occluder" and "back in view"
EMERGE = 4  # frames from the true re-emergence in which the model's object must be back (in 2 of them)


@dataclass
class ScenesEvalConfig:
    templates: tuple[str, ...] = scenes.HELDOUT_TEMPLATES
    n: int = DEFAULT_N
    size: tuple[int, int] = (64, 64)
    frames: int = 32
    context: int = 3
    fps: float = 10.0
    examples: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.templates, self.size = tuple(self.templates), tuple(self.size)
        bad = [t for t in self.templates if t not in scenes.HELDOUT_TEMPLATES]
        if bad or not self.templates:
            raise ValueError(f"templates must be among the held-out ones ({', '.join(scenes.HELDOUT_TEMPLATES)}), "
                             f"got {bad or 'none'}")
        check_clip_request(n=self.n, n_range=(1, 100_000), frames=self.frames, context=self.context, size=self.size,
                           min_side=32, why=" for the scenes parse")

# ----------------------------------------------------------------------------------------------------------------------
# Areas, dilation and the densest box (the static layer is kinema.worlds.scenes.static_layer)
# ----------------------------------------------------------------------------------------------------------------------


def _area_px(o: dict, ppu: float) -> float:
    if "radius" in o:
        return math.pi * (o["radius"] * ppu) ** 2
    v = np.asarray(o["vertices"])
    return 0.5 * abs(float(np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1]))) * ppu ** 2


def _dilate(mask: np.ndarray, r: int = 1) -> np.ndarray:
    """(..., H, W) bool grown by r pixels (8-neighbourhood)."""
    out = mask.copy()
    for _ in range(r):
        p = np.pad(out, [(0, 0)] * (out.ndim - 2) + [(1, 1), (1, 1)])
        out = np.zeros_like(out)
        for dy in range(3):
            for dx in range(3):
                out |= p[..., dy:dy + mask.shape[-2], dx:dx + mask.shape[-1]]
    return out

def _densest(m: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W) weights -> (T,) x and (T,) y pixel centres of the (2r+1)^2 box holding the most weight."""
    n_t, h, w = m.shape
    c = np.pad(m.cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))  # (T, H+1, W+1) integral image
    y0, y1 = np.clip(np.arange(h) - r, 0, h), np.clip(np.arange(h) + r + 1, 0, h)  # (H,)
    x0, x1 = np.clip(np.arange(w) - r, 0, w), np.clip(np.arange(w) + r + 1, 0, w)  # (W,)
    box = (c[:, y1][:, :, x1] - c[:, y0][:, :, x1] - c[:, y1][:, :, x0] + c[:, y0][:, :, x0])  # (T, H, W)
    iy, ix = np.unravel_index(box.reshape(n_t, -1).argmax(1), (h, w))
    return ix + 0.5, iy + 0.5

# ----------------------------------------------------------------------------------------------------------------------
# Parse: per frame and object, colour mass, centroid, elongation and what it touches
# ----------------------------------------------------------------------------------------------------------------------


def parse_scene(video: np.ndarray, state: dict) -> dict[str, np.ndarray]:
    """Parse a (T, H, W, 3) uint8 video of a scenes clip by colour against its static layer.

    Each pixel's "ink" against the static layer B is projected on each sought colour's ink B - c (as
    kinema.eval.parse.colour_weights, with a per-pixel background), the share a clipped to [0, 1]; the colour leaving
    the smallest residual |ink - a (B - c)| owns the pixel, with weight a. Sought colours: every moving object
    (balls also their darker stripe), every palette colour no object has ("foreign"), and the rods' grey (owned by
    nobody).

    Returns (O = moving objects, F = foreign colours): mass (T, O) px, centroid (T, O, 2) px, elongation (T, O),
    cut (T, O) touching an occluder or the image border, touch (T, O) touching another object, below_floor (T, O)
    mass more than a pixel under the floor surface, foreign_mass (T, F) (of the densest object-sized blob, in the
    open), foreign_centroid (T, F, 2).
    """
    video = np.asarray(video)
    n_t, h, w, _ = video.shape
    dyn = [o for o in state["objects"] if not o["static"]]
    used = {o["color"] for o in dyn}
    foreign = [c for c in PALETTE if c not in used]
    colours, owner = [], []  # owner: object index, -1 - f for foreign colour f, None for rods
    for i, o in enumerate(dyn):
        colours.append(o["rgb"])
        owner.append(i)
        if o["kind"] == "ball":
            colours.append(marker_rgb(o["rgb"]))
            owner.append(i)
    for f, c in enumerate(foreign):
        colours.append(PALETTE[c])
        owner.append(-1 - f)
    colours.append(scenes.ROD_RGB)
    owner.append(None)

    bg_img, occ = static_layer(state, w, h)
    bg = bg_img.astype(np.float32)  # (H, W, 3)
    cols = np.asarray(colours, np.float32)  # (C, 3)
    d = bg[:, :, None, :] - cols[None, None]  # (H, W, C, 3)
    dd = (d * d).sum(-1)  # (H, W, C)
    usable = dd >= 100.0  # a colour equal to the static layer here cannot be seen here
    dd = np.where(usable, dd, 1.0)
    e = bg[None] - video.astype(np.float32)  # (T, H, W, 3)
    dot = np.einsum("thwk,hwck->thwc", e, d)  # (T, H, W, C)
    a = np.clip(np.where(usable[None], dot / dd[None], 0.0), 0.0, 1.0)  # (T, H, W, C)
    # |e - a d|^2 with a clipped to [0, 1]: greys and black have parallel inks, but only the darkest explains black
    resid = (e * e).sum(-1, keepdims=True) - 2 * a * dot + a * a * dd[None]  # (T, H, W, C)
    best = resid.argmin(-1)  # (T, H, W)
    wt = np.take_along_axis(a, best[..., None], -1)[..., 0]  # (T, H, W)
    wt[wt < WEIGHT_MIN] = 0.0
    # a "foreign" pixel that a blend of two of the scene's own colours explains as well is a blurred edge between
    # two objects (red next to yellow reads orange), not a new colour
    own = np.array([-10_000 if o is None else o for o in owner])  # (C,)
    is_foreign = own[best] < 0  # (T, H, W)
    is_foreign &= own[best] > -10_000
    idx = np.nonzero(is_foreign & (wt > 0))
    scene_cols = cols[own >= 0]  # (S, 3): the moving objects' colours and stripes
    if len(idx[0]) and len(scene_cols) >= 2:
        i, j = np.triu_indices(len(scene_cols), 1)
        ca, cb = scene_cols[i], scene_cols[j]  # (P, 3)
        px = video[idx].astype(np.float32)  # (N, 3)
        dv = ca - cb  # (P, 3)
        t = np.clip(((px[:, None] - cb[None]) * dv[None]).sum(-1) / np.maximum((dv * dv).sum(-1), 1.0), 0, 1)
        blend = ((px[:, None] - cb[None] - t[..., None] * dv[None]) ** 2).sum(-1).min(1)  # (N,)
        foreign_resid = np.take_along_axis(resid, best[..., None], -1)[..., 0][idx]  # (N,)
        drop = blend <= foreign_resid
        wt[tuple(k[drop] for k in idx)] = 0.0
    # occluders are drawn over everything: what is mostly behind one is never an object (a blurred or recoloured
    # occluder would otherwise lend a hidden object mass)
    wt[:, occ >= 0.5] = 0.0

    ys, xs = np.mgrid[0:h, 0:w] + 0.5  # (H, W)
    to_px = pixel_map(state, w, h)
    floor_py = float(to_px(0.0, 0.0)[1])
    below = ys > floor_py + 1.0  # (H, W)
    edge = np.zeros((h, w), bool)
    edge[[0, -1], :] = edge[:, [0, -1]] = True
    blocked = _dilate(occ[None] > 0)[0] | edge  # (H, W)

    def moments(m: np.ndarray):
        mass = m.sum((1, 2))  # (T,)
        safe = np.where(mass > 0, mass, 1.0)
        cx, cy = (m * xs).sum((1, 2)) / safe, (m * ys).sum((1, 2)) / safe  # (T,)
        return mass, cx, cy

    n_o, n_f = len(dyn), len(foreign)
    out = {"mass": np.zeros((n_t, n_o)), "centroid": np.full((n_t, n_o, 2), np.nan), "elongation": np.ones((n_t, n_o)),
           "cut": np.zeros((n_t, n_o), bool), "touch": np.zeros((n_t, n_o), bool), "below_floor": np.zeros((n_t, n_o)),
           "foreign_mass": np.zeros((n_t, n_f)), "foreign_centroid": np.full((n_t, n_f, 2), np.nan)}
    owner_px = own[best]  # (T, H, W)
    masks = []
    ppu = float(state["pixels_per_unit"])
    for i, o in enumerate(dyn):
        m = np.where(owner_px == i, wt, 0.0)  # (T, H, W)
        # start at the densest object-sized window, then twice: keep what lies within the object's reach of the
        # centre, re-centre (faint rod pixels and strays far from the object are not the object)
        extent = (o["radius"] if "radius" in o else float(np.hypot(*np.asarray(o["vertices"]).T).max())) * ppu
        cx, cy = _densest(m, max(1, int(round(extent))))
        for _ in range(2):
            near = (xs - cx[:, None, None]) ** 2 + (ys - cy[:, None, None]) ** 2 <= (extent + 2.0) ** 2  # (T,H,W)
            mass, cx2, cy2 = moments(m * near)
            cx, cy = np.where(mass > 0, cx2, cx), np.where(mass > 0, cy2, cy)
        m = m * near
        masks.append(m > 0)
        mass, cx, cy = moments(m)
        out["mass"][:, i] = mass
        out["centroid"][:, i] = np.where(mass[:, None] > 0, np.stack([cx, cy], -1), np.nan)
        sxx = (m * (xs - cx[:, None, None]) ** 2).sum((1, 2))
        syy = (m * (ys - cy[:, None, None]) ** 2).sum((1, 2))
        sxy = (m * (xs - cx[:, None, None]) * (ys - cy[:, None, None])).sum((1, 2))
        tr, det = sxx + syy, sxx * syy - sxy ** 2
        disc = np.sqrt(np.maximum(tr ** 2 / 4 - det, 0.0))
        lmax, lmin = tr / 2 + disc, np.maximum(tr / 2 - disc, 1e-6)
        out["elongation"][:, i] = np.where(mass > 0, np.sqrt(np.maximum(lmax / lmin, 1.0)), 1.0)
        out["cut"][:, i] = (masks[i] & blocked[None]).any((1, 2))
        out["below_floor"][:, i] = (m * below).sum((1, 2))
    for i in range(n_o):
        others = np.zeros((n_t, h, w), bool)
        for j in range(n_o):
            if j != i:
                others |= masks[j]
        out["touch"][:, i] = (_dilate(masks[i]) & others).any((1, 2))
    # foreign colours count in the open only: over the floor, ramps or occluders a shift of the scenery's own colour
    # (a blurred occluder, say) is not an object appearing
    open_px = ~_dilate((np.abs(bg - np.asarray(state["background"], np.float32)).sum(-1) > 6)[None])[0]  # (H, W)
    # ... and as a blob: its mass within an object's reach of its densest spot (a thin line such as a blurred rod, or
    # specks spread over the frame, is not an object)
    reach = math.sqrt(min(_area_px(o, ppu) for o in dyn) / math.pi) + 2.0 if dyn else 3.0
    for f in range(n_f):
        m = np.where((owner_px == -1 - f) & open_px, wt, 0.0)
        cx, cy = _densest(m, max(1, int(round(reach - 2.0))))
        near = (xs - cx[:, None, None]) ** 2 + (ys - cy[:, None, None]) ** 2 <= reach ** 2  # (T, H, W)
        mass, cx, cy = moments(m * near)
        out["foreign_mass"][:, f] = mass
        out["foreign_centroid"][:, f] = np.where(mass[:, None] > 0, np.stack([cx, cy], -1), np.nan)
    out["foreign_colours"] = foreign
    return out

# ----------------------------------------------------------------------------------------------------------------------
# Flags and permanence
# ----------------------------------------------------------------------------------------------------------------------


def _runs(cond: np.ndarray, start: int, length: int = PERSIST) -> list[int]:
    """First frames (>= start) of every run of >= `length` consecutive True values in a (T,) bool array."""
    hits, k, n_t = [], start, len(cond)
    while k < n_t:
        if cond[k]:
            j = k
            while j < n_t and cond[j]:
                j += 1
            if j - k >= min(length, n_t - k):
                hits.append(k)
            k = j
        else:
            k += 1
    return hits


def score_scene(video: np.ndarray, state: dict, *, context: int = 3,
                gt_parse: dict | None = None) -> dict[str, Any]:
    """Flags and permanence events of one video of a scenes clip. `gt_parse` (parse_scene of the ground truth) gives
    where the parser finds each object in the true video (for permanence); None parses `video` as the truth.

    Returns {"flags": {flag: [[object id, first frame], ...]}, "abnormal": bool, "permanence": [{"object",
    "hidden_from", "emerges", "model_hid_it", "ok", "distance_px"}, ...]} (object -1: a foreign colour).
    """
    p = parse_scene(video, state)
    g = gt_parse if gt_parse is not None else p
    dyn = [o for o in state["objects"] if not o["static"]]
    n_t = len(state["frames"])
    ppu = float(state["pixels_per_unit"])
    vf = np.array([[o["visible_fraction"] for o in f["objects"]] for f in state["frames"]])  # (T, O)
    in_view = np.array([[o["in_view"] for o in f["objects"]] for f in state["frames"]], dtype=bool)  # (T, O)
    area = np.array([_area_px(o, ppu) for o in dyn])  # (O,)
    mass = p["mass"]  # (T, O)
    # reference area and shape: the object unobstructed in the context frames (else its drawn area)
    ref, el_ref = area.copy(), np.full(len(dyn), np.nan)
    for i in range(len(dyn)):
        ok = [k for k in range(context) if not p["cut"][k, i] and not p["touch"][k, i] and vf[k, i] > 0.99
              and mass[k, i] >= ABSENT * area[i]]
        if ok:
            ref[i] = float(np.median(mass[ok, i]))
            el_ref[i] = float(np.median(p["elongation"][ok, i]))
    r_eq = np.sqrt(ref / np.pi)  # (O,)
    absent, present = mass < ABSENT * ref, mass >= PRESENT * ref  # (T, O)
    free = ~p["cut"] & ~p["touch"]  # (T, O)
    flags: dict[str, list[list[int]]] = {f: [] for f in FLAGS}
    ids = [o["id"] for o in dyn]

    foreign_thr = max(4.0, FOREIGN_AREA * float(ref.min())) if len(dyn) else 4.0
    foreign_on = p["foreign_mass"] >= foreign_thr  # (T, F)
    colour_events = set()
    for i in range(len(dyn)):
        # vanish: gone where the truth shows it, last seen in the open (not at an occluder, the border or another
        # object, any of which may legitimately cover it)
        last_cut = np.zeros(n_t, bool)
        seen_cut = not free[0, i]
        for k in range(n_t):
            last_cut[k] = seen_cut
            if not absent[k, i]:
                seen_cut = not free[k, i]
        gone = absent[:, i] & (vf[:, i] >= SHOWN) & ~last_cut
        for k in _runs(gone, context):
            last = max((j for j in range(k) if not absent[j, i]), default=0)
            near = [f for f in range(foreign_on.shape[1]) if foreign_on[k, f] and np.hypot(
                *(p["foreign_centroid"][k, f] - p["centroid"][last, i])) <= 2 * r_eq[i] + 2]
            if near:
                flags["colour_change"].append([ids[i], k])
                colour_events.update((k, f) for f in near)
            else:
                flags["vanish"].append([ids[i], k])
        # pop-in: absent, then present in the open, and staying
        for k in range(max(context, 1), n_t):
            if absent[k - 1, i] and present[k, i] and free[k, i] and not p["cut"][k - 1, i] and \
                    (k + 1 >= n_t or present[k + 1, i]):
                flags["appear"].append([ids[i], k])
        # shape: elongation against the context's
        if np.isfinite(el_ref[i]):
            odd = present[:, i] & free[:, i] & (np.abs(np.log(p["elongation"][:, i] / el_ref[i]))
                                                > math.log(SHAPE_RATIO))
            flags["shape_change"] += [[ids[i], k] for k in _runs(odd, context)]
        # size: area against the context's, unobstructed frames only
        ratio = mass[:, i] / ref[i]
        odd = ~absent[:, i] & free[:, i] & ((ratio < SIZE_RANGE[0]) | (ratio > SIZE_RANGE[1]))
        flags["size_drift"] += [[ids[i], k] for k in _runs(odd, context)]
        # into the floor
        sunk = ~absent[:, i] & (p["below_floor"][:, i] >= max(2.0, 0.15 * ref[i]))
        flags["interpenetrate"] += [[ids[i], k] for k in _runs(sunk, context)]
    compact = np.nan_to_num(el_ref, nan=99.0) <= COMPACT  # (O,): overlap by centres only for compact objects
    for i in range(len(dyn)):
        for j in range(i + 1, len(dyn)):
            if not (compact[i] and compact[j]):
                continue
            dist = np.linalg.norm(p["centroid"][:, i] - p["centroid"][:, j], axis=-1)  # (T,)
            close = ~absent[:, i] & ~absent[:, j] & (np.nan_to_num(dist, nan=1e9) < OVERLAP * (r_eq[i] + r_eq[j]))
            flags["interpenetrate"] += [[ids[i], k] for k in _runs(close, context)]
    for f in range(foreign_on.shape[1]):
        for k in _runs(foreign_on[:, f], context):
            if not any((kk, f) in colour_events for kk in range(k, min(k + PERSIST + 1, n_t))):
                flags["appear"].append([-1, k])

    # permanence: hidden by an occluder during the generated frames, then back
    events = []
    for i in range(len(dyn)):
        if not (vf[:context, i] >= SHOWN).any():
            continue  # the model never saw it
        k = context
        while k < n_t:
            if vf[k, i] < HIDDEN and in_view[k, i]:
                start = k
                while k < n_t and vf[k, i] < SHOWN:
                    k += 1
                if k >= n_t:
                    break
                tol = float(max(0.75 * ppu, 1.5 * r_eq[i]))
                window = [j for j in range(k, min(k + EMERGE, n_t)) if vf[j, i] >= SHOWN]
                dists = []
                for j in window:
                    there = mass[j, i] >= 0.3 * ref[i] * vf[j, i] and np.isfinite(g["centroid"][j, i]).all()
                    dists.append(float(np.hypot(*(p["centroid"][j, i] - g["centroid"][j, i]))) if there else np.inf)
                hits = sum(d <= tol for d in dists)
                finite = [d for d in dists if np.isfinite(d)]
                went = bool(absent[start:k, i].any())  # the model too hid it at some point
                events.append({"object": ids[i], "hidden_from": start, "emerges": k, "model_hid_it": went,
                               "ok": bool(went and hits >= min(2, len(window))),
                               "distance_px": round(float(np.mean(finite)), 3) if finite else None})
            k += 1
    return {"flags": flags, "abnormal": bool(any(flags.values())), "permanence": events}

# ----------------------------------------------------------------------------------------------------------------------
# The evaluation
# ----------------------------------------------------------------------------------------------------------------------


def evaluate_scenes(model: Continuation, cfg: ScenesEvalConfig, *, vae=None,
                    progress: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score `model` on `cfg.n` clips of each held-out template; the ground truth and (with a VAE) its
    reconstruction get the same scores. Returns (results, examples) as kinema.eval.physics.evaluate_physics."""
    from tqdm.auto import tqdm

    from kinema.eval.recon import reconstruct

    vae = vae if vae is not None else getattr(model, "vae", None)
    w, h = cfg.size
    t_start = time.perf_counter()
    clips, examples, gen_s = [], [], []
    bar = tqdm(total=len(cfg.templates) * cfg.n, desc=f"eval scenes ({model.name})", unit="clip",
               disable=not progress)
    for template in cfg.templates:
        for i in range(cfg.n):
            seed = eval_seed("scenes", template, "id", i)
            extra = padded_length(cfg.frames, int(vae.cfg.time_down)) - cfg.frames if vae is not None else 0
            sample = render_clip("scenes", template, "id", seed, frames=cfg.frames, width=w, height=h, fps=cfg.fps,
                                 extra=extra)
            long = sample.video
            gt = long[:cfg.frames]
            state = {**sample.state, "frames": sample.state["frames"][:cfg.frames]}
            caption = sample.caption["en"]["detailed"]
            video, seconds = timed_continuation(model, gt, cfg.context, caption=caption, seed=seed)
            gen_s.append(seconds)
            gt_parse = parse_scene(gt, state)
            scores = {"model": score_scene(video, state, context=cfg.context, gt_parse=gt_parse),
                      "gt": score_scene(gt, state, context=cfg.context, gt_parse=gt_parse), "vae": None}
            if vae is not None:
                rec = reconstruct(vae, long)[:cfg.frames]
                scores["vae"] = score_scene(rec, state, context=cfg.context, gt_parse=gt_parse)
                scores["vae"].update(psnr_db=round(psnr(rec[cfg.context:], gt[cfg.context:]), 4),
                                     ssim=round(ssim(rec[cfg.context:], gt[cfg.context:]), 5))
            scores["model"].update(psnr_db=round(psnr(video[cfg.context:], gt[cfg.context:]), 4),
                                   ssim=round(ssim(video[cfg.context:], gt[cfg.context:]), 5))
            if i < cfg.examples:
                examples.append({"template": template, "seed": seed, "gt": gt, "model": video,
                                 "gt_track": _track(gt_parse, state), "model_track": _track(parse_scene(video, state),
                                                                                          state)})
            clips.append({"template": template, "seed": seed, "gt_sha256": video_sha256(gt), "caption": caption,
                          "generate_s": round(gen_s[-1], 4), **scores})
            bar.update(1)
    bar.close()
    protocol = {**asdict(cfg), "world": "scenes", "flags": list(FLAGS),
                "thresholds": {"absent": ABSENT, "present": PRESENT, "persist_frames": PERSIST,
                               "size_range": list(SIZE_RANGE), "shape_ratio": SHAPE_RATIO, "overlap": OVERLAP,
                               "foreign_area": FOREIGN_AREA, "hidden": HIDDEN, "shown": SHOWN, "emerge_frames": EMERGE},
                "bootstrap": {"resamples": N_BOOT, "seed": BOOT_SEED, "level": 0.95}}
    return {"kind": "scenes", "model": model.name, "protocol": protocol, "clips": clips,
            "summary": summarize_scenes(clips, cfg.templates),
            "runtime": {"total_s": round(time.perf_counter() - t_start, 2),
                        "generate_s_per_clip": round(float(np.mean(gen_s)), 4) if gen_s else None,
                        "clips": len(clips)}}, examples


def _track(parse: dict, state: dict) -> np.ndarray:
    """(T, O, 2) parsed centres, NaN where less than 30% of the object's area is found (no track through noise)."""
    ppu = float(state["pixels_per_unit"])
    area = np.array([_area_px(o, ppu) for o in state["objects"] if not o["static"]])  # (O,)
    return np.where((parse["mass"] >= 0.3 * area)[..., None], parse["centroid"], np.nan)


def summarize_scenes(clips: list[dict], templates) -> dict[str, Any]:
    """Per template and over all: abnormal rate, each flag's rate (share of clips) and the permanence rate (share of
    re-emergences the model gets right), each with a bootstrap 95% interval, for the model and both floors."""
    rng = np.random.default_rng(BOOT_SEED)
    out: dict[str, Any] = {}
    for name in (*templates, "all"):
        cell = [c for c in clips if name == "all" or c["template"] == name]
        entry: dict[str, Any] = {"clips": len(cell)}
        for src in ("model", "gt", "vae"):
            got = [c[src] for c in cell if c[src] is not None]
            if not got:
                entry[src] = None
                continue
            entry[src] = {"abnormal": rate_ci([s["abnormal"] for s in got], rng),
                          "flags": {f: rate_ci([bool(s["flags"][f]) for s in got], rng) for f in FLAGS},
                          "permanence": mean_ci([float(e["ok"]) for s in got for e in s["permanence"]], rng),
                          "psnr_db": mean_ci([s.get("psnr_db") for s in got], rng),
                          "ssim": mean_ci([s.get("ssim") for s in got], rng)}
        out[name] = entry
    return out
