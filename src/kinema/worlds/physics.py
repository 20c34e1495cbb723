"""The `physics` world: Phyworld's three 2-D scenarios, rendered from closed-form kinematics.

References: Kang et al., "How Far is Video Generation from World Model: A Physical Law Perspective" (Phyworld),
arXiv 2411.02385, 2024.

    sample = render("collision", seed=3, frames=32, width=64, height=64)

Scenarios (world 10 x 10 units, restitution 1, density 1 so mass = pi r^2, no friction):
  uniform    one ball moving horizontally at constant velocity.
  collision  two balls on one horizontal line; one exact 1-D elastic collision, solved in closed form.
  parabola   one ball launched horizontally near the top, falling under gravity 2.5 units/s^2.
Every position is a closed-form function of time (no stepping, no drift): this world is the evaluation's oracle.

Splits (as Phyworld): in-distribution radius 0.7-1.5 and speed 1-4; out-of-distribution (`ood=True`) radius from
0.3-0.6 or 1.5-2.0 and speed from 0-0.8 or 4.5-6.0, the range picked independently for each quantity of each ball.

Geometry. World coordinates: x right, y up, origin at the bottom-left corner of the 10 x 10 square. The frame shows
that square centred, at pixels_per_unit = min(W, H) / 10; wider or taller frames show more world around it. Pixel
coordinates: (0, 0) is the top-left corner of the image, x right, y down, pixel (row i, column j) has its centre at
(j + 0.5, i + 0.5). So x_px = ox + x * ppu and y_px = oy + (10 - y) * ppu with ox = (W - 10 ppu) / 2 and
oy = (H - 10 ppu) / 2 (see `world_to_pixels`).

State keys beyond the Sample contract: "world_size" [10, 10], "image_size" [W, H], "scenario", "split" ("id"/"ood"),
"gravity" (units/s^2, downwards), "dt" (seconds per frame), objects' "radius" and "mass", per-frame objects' "x", "y",
"vx", "vy" (world units, units/s) and "in_view" (the whole disc, its 1-px anti-aliased rim included, lies inside the
image), and for collision "collision_time" (seconds, or None when the balls never meet) and "collision_frame" (first
frame index whose time is after the collision, or None when that is past the clip).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from kinema.worlds.base import COLOR_ZH, PALETTE, Sample, check_size, rng_for

SCENARIOS = ("uniform", "collision", "parabola")

# ----------------------------------------------------------------------------------------------------------------------
# Constants (ANCHORS.md, Phyworld)
# ----------------------------------------------------------------------------------------------------------------------

WORLD_SIZE = 10.0
GRAVITY = 2.5  # units/s^2, downwards, parabola only
DENSITY = 1.0  # mass = DENSITY * pi * r^2
RADIUS_ID = ((0.7, 1.5),)
SPEED_ID = ((1.0, 4.0),)
RADIUS_OOD = ((0.3, 0.6), (1.5, 2.0))
SPEED_OOD = ((0.0, 0.8), (4.5, 6.0))
BACKGROUND = (255, 255, 255)
MARGIN = 0.3  # world units kept between a ball and the square's edge at its planned in-view moments (~2 px at 64^2)

# Ball colours: the palette without black. Two balls in one clip never get a pair this close in "ink" direction
# (background - colour), so the parser's colour masks stay apart (rules out red/orange, yellow/orange, blue/cyan ...).
BALL_COLORS = tuple(c for c in PALETTE if c != "black")
_MIN_PAIR_ANGLE_DEG = 28.0


def _ink_angle(a: str, b: str) -> float:
    u = np.subtract(BACKGROUND, PALETTE[a], dtype=float)
    v = np.subtract(BACKGROUND, PALETTE[b], dtype=float)
    return math.degrees(math.acos(float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))))


COLOR_PAIRS = tuple((a, b) for a, b in itertools.permutations(BALL_COLORS, 2)
                    if _ink_angle(a, b) >= _MIN_PAIR_ANGLE_DEG)

# ----------------------------------------------------------------------------------------------------------------------
# Initial conditions
# ----------------------------------------------------------------------------------------------------------------------


def _draw(rng: np.random.Generator, ranges: tuple[tuple[float, float], ...]) -> float:
    lo, hi = ranges[int(rng.integers(len(ranges)))] if len(ranges) > 1 else ranges[0]
    return float(rng.uniform(lo, hi))


def _duration(frames: int, fps: float) -> float:
    """Seconds spanned by the clip the initial conditions are planned for (at least one frame step)."""
    return max(frames - 1, 1) / fps


def sample_params(scenario: str, seed: int, ood: bool = False, *, frames: int = 32, fps: float = 10.0) -> dict:
    """Initial conditions for one clip, a pure function of the arguments.

    Returns {"gravity": float, "mode": str, "balls": [{"color", "radius", "x", "y", "vx", "vy"}, ...]} (world units
    at t = 0). `frames`/`fps` only place the start so the motion (and the collision) fits the clip.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown physics scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    rng = rng_for(seed, SCENARIOS.index(scenario), int(bool(ood)))
    radius_r, speed_r = (RADIUS_OOD, SPEED_OOD) if ood else (RADIUS_ID, SPEED_ID)
    span = _duration(frames, fps)
    if scenario == "collision":
        return _sample_collision(rng, radius_r, speed_r, span, ood)
    color = BALL_COLORS[int(rng.integers(len(BALL_COLORS)))]
    r, speed = _draw(rng, radius_r), _draw(rng, speed_r)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if scenario == "uniform":
        y0 = float(rng.uniform(r + MARGIN, WORLD_SIZE - r - MARGIN))
        t_view, gravity = span, 0.0
    else:  # parabola: launched horizontally from near the top
        y0 = float(WORLD_SIZE - r - MARGIN - rng.uniform(0.0, 1.0))
        t_view, gravity = min(span, math.sqrt(2.0 * (y0 - r - MARGIN) / GRAVITY)), GRAVITY
    # Start where the ball stays in view longest: anywhere if its path fits, else at the edge it moves away from.
    room = max(0.0, WORLD_SIZE - 2 * (r + MARGIN) - speed * t_view)
    x0 = r + MARGIN + float(rng.uniform(0.0, room))
    if sign < 0:
        x0 = WORLD_SIZE - x0
    ball = {"color": color, "radius": r, "x": x0, "y": y0, "vx": sign * speed, "vy": 0.0}
    return {"gravity": gravity, "mode": "horizontal", "balls": [ball]}


def _sample_collision(rng: np.random.Generator, radius_r, speed_r, span: float, ood: bool) -> dict:
    ca, cb = COLOR_PAIRS[int(rng.integers(len(COLOR_PAIRS)))]
    ra, rb = _draw(rng, radius_r), _draw(rng, radius_r)
    sa, sb = _draw(rng, speed_r), _draw(rng, speed_r)
    # Canonical layout: ball a on the left. Modes: head-on; a catches up with a slower b; b at rest (OOD only: a
    # resting ball has speed 0, which only the OOD speed range contains).
    modes = ("toward", "catch_up", "rest") if ood else ("toward", "catch_up")
    mode = modes[int(rng.choice(len(modes), p=(0.5, 0.25, 0.25) if ood else (0.7, 0.3)))]
    if mode == "toward":
        va, vb = sa, -sb
    elif mode == "catch_up":
        va, vb = max(sa, sb), min(sa, sb)
    else:
        va, vb = sa, 0.0
    y = float(rng.uniform(max(ra, rb) + MARGIN, WORLD_SIZE - max(ra, rb) - MARGIN))
    closing = va - vb
    # Plan the collision time inside the clip, then place the balls backwards from the contact so that both are fully
    # in the world square at t = 0 and at contact; shrink the time until such a placement exists (t = 0 always fits).
    t_c = float(rng.uniform(0.2, 0.5)) * span
    for _ in range(60):
        lo, hi = _contact_interval(ra, rb, va, vb, t_c)
        if lo <= hi:
            break
        t_c *= 0.8
    else:
        t_c, (lo, hi) = 0.0, _contact_interval(ra, rb, va, vb, 0.0)
    c = float(rng.uniform(lo, hi))  # x of ball a's centre at contact
    xa, xb = c - va * t_c, c + ra + rb - vb * t_c
    if closing <= 0:  # both at rest (measure zero): just sit apart
        xb = xa + ra + rb + 0.5
    balls = [{"color": ca, "radius": ra, "x": xa, "y": y, "vx": va, "vy": 0.0},
             {"color": cb, "radius": rb, "x": xb, "y": y, "vx": vb, "vy": 0.0}]
    if rng.random() < 0.5:  # mirror left-right
        for b in balls:
            b["x"], b["vx"] = WORLD_SIZE - b["x"], -b["vx"]
    return {"gravity": 0.0, "mode": mode, "balls": balls}


def _contact_interval(ra: float, rb: float, va: float, vb: float, t_c: float) -> tuple[float, float]:
    """Allowed x of ball a's centre at contact so both balls are inside [MARGIN, 10 - MARGIN] at t = 0 and t = t_c."""
    m, w = MARGIN, WORLD_SIZE
    lo, hi = m + ra, w - m - ra - 2 * rb  # a, and b (touching a), at contact
    lo, hi = max(lo, m + ra + va * t_c), min(hi, w - m - ra + va * t_c)  # a at t = 0
    off = ra + rb - vb * t_c  # b's centre at t = 0 is c + off
    lo, hi = max(lo, m + rb - off), min(hi, w - m - rb - off)
    return lo, hi


def _merge_params(base: dict, override: dict | None) -> dict:
    """Override top-level keys; "balls" entries are updated field by field, by index."""
    if not override:
        return base
    unknown = set(override) - {"gravity", "mode", "balls"}
    if unknown:
        raise ValueError(f"unknown params keys {sorted(unknown)}; allowed: gravity, mode, balls")
    out = {**base, **{k: v for k, v in override.items() if k != "balls"}}
    balls = [dict(b) for b in base["balls"]]
    for i, b in enumerate(override.get("balls", [])):
        if i >= len(balls):
            raise ValueError(f"params has {len(override['balls'])} balls; this scenario has {len(balls)}")
        bad = set(b) - {"color", "radius", "x", "y", "vx", "vy"}
        if bad:
            raise ValueError(f"unknown ball keys {sorted(bad)}; allowed: color, radius, x, y, vx, vy")
        balls[i].update(b)
    out["balls"] = balls
    return out


def _check_params(scenario: str, params: dict) -> None:
    for b in params["balls"]:
        if b["color"] not in BALL_COLORS:
            raise ValueError(f"ball color must be one of {', '.join(BALL_COLORS)}, got {b['color']!r}")
        if not b["radius"] > 0:
            raise ValueError(f"ball radius must be > 0, got {b['radius']}")
    if scenario == "collision":
        a, b = params["balls"]
        if a["y"] != b["y"] or a["vy"] != 0 or b["vy"] != 0 or a["color"] == b["color"]:
            raise ValueError("collision balls must share y, have vy = 0 and different colours")
        if params["gravity"] != 0:
            raise ValueError("collision has no gravity: params['gravity'] must be 0")
        if abs(b["x"] - a["x"]) < a["radius"] + b["radius"]:
            raise ValueError("collision balls must not overlap at t = 0")

# ----------------------------------------------------------------------------------------------------------------------
# Closed-form kinematics
# ----------------------------------------------------------------------------------------------------------------------


def _mass(r: float) -> float:
    return DENSITY * math.pi * r * r


def collision_time(params: dict) -> float | None:
    """Time (s) the two balls touch, in closed form: gap / closing speed; None if they never meet."""
    a, b = params["balls"]
    if a["x"] > b["x"]:
        a, b = b, a
    closing = a["vx"] - b["vx"]
    if closing <= 0:
        return None
    return (b["x"] - a["x"] - a["radius"] - b["radius"]) / closing


def simulate_at(scenario: str, params: dict, t: np.ndarray) -> dict[str, Any]:
    """Exact state at times `t` (seconds, any shape (N,)): {"t", "pos" (N, K, 2), "vel" (N, K, 2), "collision_time"}."""
    t = np.asarray(t, dtype=np.float64)  # (N,)
    balls = params["balls"]
    g = float(params.get("gravity", 0.0))
    p0 = np.array([[b["x"], b["y"]] for b in balls])  # (K, 2)
    v0 = np.array([[b["vx"], b["vy"]] for b in balls])  # (K, 2)
    acc = np.array([0.0, -g])  # (2,)
    tt = t[:, None, None]  # (N, 1, 1)
    pos = p0 + v0 * tt + 0.5 * acc * tt**2  # (N, K, 2)
    vel = np.broadcast_to(v0 + acc * tt, pos.shape).copy()  # (N, K, 2)
    t_c = None
    if scenario == "collision":
        t_c = collision_time(params)
        if t_c is not None:
            m = np.array([_mass(b["radius"]) for b in balls])  # (2,)
            u1, u2 = v0[0, 0], v0[1, 0]
            w1 = ((m[0] - m[1]) * u1 + 2 * m[1] * u2) / (m[0] + m[1])
            w2 = ((m[1] - m[0]) * u2 + 2 * m[0] * u1) / (m[0] + m[1])
            after = t > t_c  # (N,)
            dt = (t - t_c)[after]  # (M,)
            x_c = p0[:, 0] + v0[:, 0] * t_c  # (2,)
            pos[after, :, 0] = x_c + np.array([w1, w2]) * dt[:, None]
            vel[after, :, 0] = np.array([w1, w2])
    return {"t": t, "pos": pos, "vel": vel, "collision_time": t_c}


def simulate(scenario: str, params: dict, frames: int, fps: float) -> dict[str, Any]:
    """Exact per-frame state at t = k / fps, k = 0..frames-1 (see `simulate_at`), plus "collision_frame"."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown physics scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    out = simulate_at(scenario, params, np.arange(frames) / fps)
    t_c = out["collision_time"]
    after = np.flatnonzero(out["t"] > t_c) if t_c is not None else np.array([], dtype=int)
    out["collision_frame"] = int(after[0]) if after.size else None
    return out

# ----------------------------------------------------------------------------------------------------------------------
# Geometry and rendering
# ----------------------------------------------------------------------------------------------------------------------


def pixels_per_unit(width: int, height: int) -> float:
    return min(width, height) / WORLD_SIZE


def world_to_pixels(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """(..., 2) world (x right, y up) -> (..., 2) continuous pixel coordinates (x right, y down, top-left = (0, 0))."""
    ppu = pixels_per_unit(width, height)
    ox, oy = (width - WORLD_SIZE * ppu) / 2, (height - WORLD_SIZE * ppu) / 2
    xy = np.asarray(xy, dtype=np.float64)
    return np.stack([ox + xy[..., 0] * ppu, oy + (WORLD_SIZE - xy[..., 1]) * ppu], axis=-1)


def _in_view(pos_px: np.ndarray, radius_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """(T, K) whether each disc and its 1-px anti-aliased rim lie inside the image (no border pixel is touched)."""
    x, y, r = pos_px[..., 0], pos_px[..., 1], radius_px + 1.0
    return (x - r >= 0) & (x + r <= width) & (y - r >= 0) & (y + r <= height)


def _rasterise(pos_px: np.ndarray, radius_px: np.ndarray, rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Anti-aliased discs over white. pos_px (T, K, 2), radius_px (K,), rgb (K, 3) -> (T, H, W, 3) uint8.

    Coverage of a pixel = clip(r - d + 0.5, 0, 1), d = distance from the pixel centre to the disc centre (a linear
    ramp one pixel wide across the edge); balls are composited over the background in id order.
    """
    n_t = pos_px.shape[0]
    out = np.empty((n_t, height, width, 3), dtype=np.uint8)
    xs = np.arange(width, dtype=np.float32) + 0.5  # (W,)
    ys = np.arange(height, dtype=np.float32) + 0.5  # (H,)
    chunk = max(1, (1 << 22) // (width * height))  # bound temporaries to ~4M elements
    for s in range(0, n_t, chunk):
        p = pos_px[s:s + chunk].astype(np.float32)  # (t, K, 2)
        img = np.full((p.shape[0], height, width, 3), BACKGROUND, dtype=np.float32)  # (t, H, W, 3)
        for k in range(p.shape[1]):
            dx2 = (xs[None, None, :] - p[:, k, 0, None, None]) ** 2  # (t, 1, W)
            dy2 = (ys[None, :, None] - p[:, k, 1, None, None]) ** 2  # (t, H, 1)
            cov = np.clip(radius_px[k] + 0.5 - np.sqrt(dx2 + dy2), 0.0, 1.0)[..., None]  # (t, H, W, 1)
            img += cov * (rgb[k] - img)  # over-composite
        out[s:s + chunk] = np.rint(img).astype(np.uint8)
    return out

# ----------------------------------------------------------------------------------------------------------------------
# Captions: every word lives in WORDS (concept -> {"en", "zh"}), colours in PALETTE / COLOR_ZH
# ----------------------------------------------------------------------------------------------------------------------

WORDS: dict[str, dict[str, str]] = {
    "ball": {"en": "ball", "zh": "球"},
    "a": {"en": "a", "zh": "一个"},
    "of": {"en": "", "zh": "的"},  # colour/size attribute marker: "红色的球"
    "and": {"en": "and", "zh": "和"},
    "the": {"en": "the", "zh": ""},
    "on_white": {"en": "On a white background,", "zh": "白色背景上，"},
    "tiny": {"en": "tiny", "zh": "很小的"},
    "small": {"en": "small", "zh": "小的"},
    "large": {"en": "large", "zh": "大的"},
    "huge": {"en": "huge", "zh": "很大的"},
    "left": {"en": "left", "zh": "向左"},
    "right": {"en": "right", "zh": "向右"},
    "very_slowly": {"en": "very slowly", "zh": "非常缓慢地"},
    "slowly": {"en": "slowly", "zh": "缓慢地"},
    "quickly": {"en": "quickly", "zh": "快速地"},
    "very_quickly": {"en": "very quickly", "zh": "非常快速地"},
    "moves": {"en": "moves", "zh": "移动"},
    "moving": {"en": "moving", "zh": "移动"},
    "stays_still": {"en": "stays still", "zh": "静止不动"},
    "at_rest": {"en": "at rest", "zh": "静止"},
    "constant_speed": {"en": "at a constant speed", "zh": "以恒定速度"},
    "near_top": {"en": "near the top", "zh": "在画面上部"},
    "mid_height": {"en": "at mid height", "zh": "在画面中部"},
    "near_bottom": {"en": "near the bottom", "zh": "在画面下部"},
    "collide": {"en": "collide", "zh": "相撞"},
    "they_collide": {"en": "the two balls collide", "zh": "两球相撞"},
    "after_collision": {"en": "after the collision", "zh": "碰撞后"},
    "stops": {"en": "stops", "zh": "停下"},
    "thrown": {"en": "is thrown", "zh": "抛出"},
    "dropped": {"en": "is dropped", "zh": "落下"},
    "from_top": {"en": "from near the top", "zh": "从画面顶部附近"},
    "falls_arc": {"en": "falls in an arc", "zh": "沿弧线下落"},
    "falls_straight": {"en": "falls straight down", "zh": "竖直下落"},
    "under_gravity": {"en": "under gravity", "zh": "在重力作用下"},
}

# How kinema.models.glossary reads the Chinese words back: concept -> (english, role), roles as defined there (verbs in
# the base form, for it to conjugate). "on_white" ("白色背景上，") it reads word by word; "the" has no Chinese.
READ_BACK: dict[str, tuple[str, str]] = {
    "ball": ("ball", "noun"), "a": ("a", "det"), "of": ("", "part"), "and": ("and", "conj"),
    "tiny": ("tiny", "adj"), "small": ("small", "adj"), "large": ("large", "adj"), "huge": ("huge", "adj"),
    "left": ("to the left", "adv"), "right": ("to the right", "adv"), "very_slowly": ("very slowly", "adv"),
    "slowly": ("slowly", "adv"), "quickly": ("quickly", "adv"), "very_quickly": ("very quickly", "adv"),
    "moves": ("move", "verb"), "moving": ("move", "verb"), "stays_still": ("stay still", "verb"),
    "at_rest": ("still", "adj"), "constant_speed": ("at a constant speed", "adv"),
    "near_top": ("near the top", "adv"), "mid_height": ("at mid height", "adv"),
    "near_bottom": ("near the bottom", "adv"), "collide": ("collide", "verb"),
    "they_collide": ("the two balls collide", "word"), "after_collision": ("after the collision", "word"),
    "stops": ("stop", "verb"), "thrown": ("be thrown", "verb"), "dropped": ("fall", "verb"),
    "from_top": ("from near the top", "adv"), "falls_arc": ("fall in an arc", "verb"),
    "falls_straight": ("fall straight down", "verb"), "under_gravity": ("under gravity", "adv"),
}
# zh -> (english, role): the table kinema.models.glossary.ZhGlossary.from_worlds() reads Chinese prompts with.
GLOSSARY: dict[str, tuple[str, str]] = {COLOR_ZH[c]: (c, "adj") for c in BALL_COLORS}
GLOSSARY.update({WORDS[k]["zh"]: en_role for k, en_role in READ_BACK.items()})

_STILL = 0.05  # units/s below which a ball is described as not moving


def _size_word(r: float) -> str:
    return "tiny" if r < 0.7 else "small" if r < 1.1 else "large" if r <= 1.5 else "huge"


def _speed_word(s: float) -> str:
    return "very_slowly" if s < 1.0 else "slowly" if s < 2.5 else "quickly" if s <= 4.0 else "very_quickly"


def _height_word(y: float) -> str:
    return "near_top" if y > 6.5 else "near_bottom" if y < 3.5 else "mid_height"


def _w(lang: str, key: str) -> str:
    return WORDS[key][lang]


def _ball(lang: str, color: str, size: str | None = None, article: bool = True) -> str:
    """"a large red ball" / "一个大的红色的球" (size optional)."""
    if lang == "zh":
        return (_w(lang, "a") if article else "") + (_w(lang, size) if size else "") + COLOR_ZH[color] + \
            _w(lang, "of") + _w(lang, "ball")
    words = ([_w(lang, size)] if size else []) + [color, _w(lang, "ball")]
    if article:
        words.insert(0, "an" if words[0][0] in "aeiou" else _w(lang, "a"))
    return " ".join(words)


def _motion(lang: str, vx: float, *, verb: str = "moves", speed: bool = True) -> str:
    """"moves right quickly" / "快速地向右移动"; "stays still" / "静止不动" below _STILL."""
    if abs(vx) < _STILL:
        return _w(lang, "stays_still" if verb == "moves" else "at_rest")
    d, s = ("right" if vx > 0 else "left"), _speed_word(abs(vx))
    if lang == "zh":
        return (_w(lang, s) if speed else "") + _w(lang, d) + _w(lang, verb)
    return " ".join([_w(lang, verb), _w(lang, d)] + ([_w(lang, s)] if speed else []))


def _join(lang: str, *parts: str, end: str = "") -> str:
    """English: words joined by spaces, first letter upper-cased when `end` is given; Chinese: no spaces."""
    if lang == "zh":
        return "".join(parts) + ("。" if end else "")
    text = " ".join(p for p in parts if p)
    return (text[0].upper() + text[1:] + end) if end else text


def _captions(scenario: str, params: dict, sim: dict) -> dict[str, dict[str, str]]:
    """Short and detailed captions in English and Chinese, each naming every ball's colour and kind."""
    out = {}
    for lang in ("en", "zh"):
        comma, semi = ("，", "；") if lang == "zh" else (",", ";")
        if scenario == "uniform":
            b = params["balls"][0]
            steady = _w(lang, "constant_speed") if abs(b["vx"]) >= _STILL else ""
            big = _ball(lang, b["color"], _size_word(b["radius"]))
            short = _join(lang, _ball(lang, b["color"], article=lang == "en"), _motion(lang, b["vx"], speed=False))
            detailed = (_join(lang, _w(lang, "on_white"), big, _motion(lang, b["vx"]), steady,
                              _w(lang, _height_word(b["y"])), end=".") if lang == "en" else
                        _join(lang, _w(lang, "on_white"), big, _w(lang, _height_word(b["y"])), steady,
                              _motion(lang, b["vx"]), end="."))
        elif scenario == "parabola":
            b = params["balls"][0]
            moving = abs(b["vx"]) >= _STILL
            d = "right" if b["vx"] > 0 else "left"
            fall = _w(lang, "falls_arc" if moving else "falls_straight")
            fast = _w(lang, _speed_word(abs(b["vx"]))) if moving else ""
            big = _ball(lang, b["color"], _size_word(b["radius"]))
            if lang == "en":
                verb = f"{_w(lang, 'thrown')} {_w(lang, d)}" if moving else _w(lang, "dropped")
                short = _join(lang, _ball(lang, b["color"]), verb, _w(lang, "and"), fall)
                detailed = _join(lang, _w(lang, "on_white"), big, verb, fast, _w(lang, "from_top"), _w(lang, "and"),
                                 fall, _w(lang, "under_gravity"), end=".")
            else:
                verb = _w(lang, d) + _w(lang, "thrown") if moving else _w(lang, "dropped")
                short = _join(lang, _ball(lang, b["color"], article=False), verb, comma, fall)
                detailed = _join(lang, _w(lang, "on_white"), big, _w(lang, "from_top"), fast, verb, comma,
                                 _w(lang, "under_gravity"), fall, end=".")
        else:
            a, b = params["balls"]
            hit = sim["collision_frame"] is not None
            art = lang == "en"
            names = [_ball(lang, x["color"], article=art) for x in (a, b)]
            if hit:
                short = _join(lang, names[0], _w(lang, "and"), names[1], _w(lang, "collide"))
            else:
                short = _join(lang, names[0], _motion(lang, a["vx"], speed=False),
                              _w(lang, "and") if lang == "en" else comma, names[1], _motion(lang, b["vx"], speed=False))
            verb = "moving" if hit or lang == "zh" else "moves"
            before = [_join(lang, _ball(lang, x["color"], _size_word(x["radius"])),
                            _motion(lang, x["vx"], verb=verb)) for x in (a, b)]
            parts = [_w(lang, "on_white"), before[0], _w(lang, "and") if lang == "en" else comma, before[1]]
            if hit:
                w = sim["vel"][-1, :, 0]  # velocities after the collision
                after = [_join(lang, _w(lang, "the"), _ball(lang, x["color"], article=False),
                               _w(lang, "stops") if abs(v) < _STILL else _motion(lang, v)) for x, v in zip((a, b), w)]
                if lang == "en":
                    parts += [_w(lang, "collide") + semi, _w(lang, "after_collision"), after[0], _w(lang, "and"),
                              after[1]]
                else:
                    parts += [comma, _w(lang, "they_collide"), semi, _w(lang, "after_collision"), after[0], comma,
                              after[1]]
            detailed = _join(lang, *parts, end=".")
        out[lang] = {"detailed": detailed, "short": short}
    return out

# ----------------------------------------------------------------------------------------------------------------------
# The world's entry point
# ----------------------------------------------------------------------------------------------------------------------


def render(scenario: str, *, seed: int = 0, frames: int = 32, width: int = 64, height: int = 64, fps: float = 10.0,
           ood: bool = False, params: dict | None = None) -> Sample:
    """Render one clip. `params` (see `sample_params`) overrides the seeded initial conditions field by field."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown physics scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    check_size(frames, width, height, fps)
    p = _merge_params(sample_params(scenario, seed, ood, frames=frames, fps=fps), params)
    _check_params(scenario, p)
    sim = simulate(scenario, p, frames, fps)
    ppu = pixels_per_unit(width, height)
    radius = np.array([b["radius"] for b in p["balls"]])  # (K,)
    rgb = np.array([PALETTE[b["color"]] for b in p["balls"]], dtype=np.float32)  # (K, 3)
    pos_px = world_to_pixels(sim["pos"], width, height)  # (T, K, 2)
    video = _rasterise(pos_px, (radius * ppu).astype(np.float32), rgb, width, height)  # (T, H, W, 3)
    in_view = _in_view(pos_px, radius * ppu, width, height)  # (T, K)

    objects = [{"id": i, "kind": "ball", "color": b["color"], "rgb": list(PALETTE[b["color"]]),
                "radius": float(b["radius"]), "mass": _mass(b["radius"])} for i, b in enumerate(p["balls"])]
    frame_states = [{"t": float(sim["t"][k]),
                     "objects": [{"id": i, "x": float(sim["pos"][k, i, 0]), "y": float(sim["pos"][k, i, 1]),
                                  "vx": float(sim["vel"][k, i, 0]), "vy": float(sim["vel"][k, i, 1]),
                                  "in_view": bool(in_view[k, i])} for i in range(len(objects))]}
                    for k in range(frames)]
    ox, oy = (width - WORLD_SIZE * ppu) / 2, (height - WORLD_SIZE * ppu) / 2
    state: dict[str, Any] = {
        "units": "world", "pixels_per_unit": ppu,
        "origin": (f"world (x right, y up, origin at the bottom-left of the 10x10 square) -> pixels (x right, y down, "
                   f"(0,0) = top-left image corner, pixel (row i, col j) centred at (j+0.5, i+0.5)): "
                   f"x_px = {ox:g} + x * {ppu:g}, y_px = {oy:g} + (10 - y) * {ppu:g}"),
        "world_size": [WORLD_SIZE, WORLD_SIZE], "image_size": [width, height], "scenario": scenario,
        "split": "ood" if ood else "id", "gravity": float(p["gravity"]), "dt": 1.0 / fps,
        "objects": objects, "frames": frame_states,
    }
    if scenario == "collision":
        state["collision_time"] = sim["collision_time"]
        state["collision_frame"] = sim["collision_frame"]
    return Sample(video=video, fps=float(fps), world=f"physics/{scenario}", seed=int(seed), state=state,
                  caption=_captions(scenario, p, sim), meta={"params": p})
