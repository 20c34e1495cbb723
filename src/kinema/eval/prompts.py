"""`kinema eval prompts`: does a model draw what a prompt asks? Colour, kind, count and direction, per language.

References: Abu-Mostafa & Psaltis, "Recognitive aspects of moment invariants", IEEE TPAMI 6(6), 1984 (complex moments).

    from kinema.eval.prompts import evaluate_prompts, world_generator
    res = evaluate_prompts(lambda prompt, seed: pipe.generate(prompt, seed=seed).video)
    res["accuracy"]["zh"]["direction"]  # fraction of Chinese-prompted clips moving the way the prompt said

A fixed set of prompts (PROMPTS: 24 in English, the same 24 in Chinese) covers the worlds' palette, three kinds
(ball, box, triangle), counts 1-3 and directions (left, right, down). Each generated clip is read by a video parser
built on the worlds' own drawing: objects are palette colours over the background (estimated per clip) and the
scenes world's grey and brown scenery; each colour's blobs give the count, their shape the kind (rotation-invariant
complex moments: a triangle is not centrally symmetric, a box is elongated or four-fold, a ball neither) and their
centroid track the direction. What the prompt asked comes from kinema.prompts.parse_prompt; an attribute the prompt
does not fix (the colours of "two balls collide", the direction of a collision) is not scored for it.

Calibration: `world_generator()` renders the world clip each prompt describes (kinema.prompts.find_clip); the parser
scores it >= 95% on every attribute (tests/test_eval_prompts.py; `kinema eval prompts --ground-truth`), a blank clip
0 and a wrong-colour clip 0 on colour. `--ground-truth --through-vae DIR` scores those clips after a VAE round trip:
the most a model decoding through that VAE can score (decoders blur small shapes, so kind is the first to drop).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kinema.worlds.base import PALETTE

if TYPE_CHECKING:  # kinema.prompts loads the worlds: imported where used, so `kinema --help` stays quick
    from kinema.prompts import Parsed

# ----------------------------------------------------------------------------------------------------------------------
# The prompt set: (English, Chinese), the same request in both
# ----------------------------------------------------------------------------------------------------------------------

PROMPTS: tuple[tuple[str, str], ...] = (
    ("a red ball moves to the left", "一个红色的球向左移动"),
    ("a green ball moves to the right", "一个绿色的球向右移动"),
    ("a blue ball moves to the left", "一个蓝色的球向左移动"),
    ("a yellow ball moves to the right", "一个黄色的球向右移动"),
    ("a purple ball moves to the left", "一个紫色的球向左移动"),
    ("an orange ball moves to the right", "一个橙色的球向右移动"),
    ("a cyan ball moves to the left", "一个青色的球向左移动"),
    ("a red ball moves to the right", "一个红色的球向右移动"),
    ("a blue ball moves to the right", "一个蓝色的球向右移动"),
    ("a green ball moves to the left", "一个绿色的球向左移动"),
    ("a red ball and a blue ball collide", "一个红色的球和一个蓝色的球相撞"),
    ("a yellow ball and a purple ball collide", "一个黄色的球和一个紫色的球相撞"),
    ("a green ball and an orange ball collide", "一个绿色的球和一个橙色的球相撞"),
    ("two balls collide", "两个球相撞"),
    ("a blue ball falls", "一个蓝色的球落下"),
    ("an orange ball falls", "一个橙色的球落下"),
    ("a black ball falls", "一个黑色的球落下"),
    ("a red box slides to the right", "一个红色的箱子向右滑动"),
    ("a green box slides to the left", "一个绿色的箱子向左滑动"),
    ("a purple triangle slides down the ramp", "一个紫色的三角块滑下斜坡"),
    ("a yellow triangle slides down the ramp", "一个黄色的三角块滑下斜坡"),
    ("a blue box slides down the ramp", "一个蓝色的箱子滑下斜坡"),
    ("three boxes", "三个箱子"),
    ("a red ball rolls down the ramp", "一个红色的球滚下斜坡"),
)
LANGUAGES = ("en", "zh")
ATTRIBUTES = ("color", "kind", "count", "direction")
SHAPE = {"ball": "ball", "box": "box", "domino": "box", "plank": "box", "triangle": "triangle"}  # what the parser sees


def prompts(language: str) -> list[str]:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    return [p[LANGUAGES.index(language)] for p in PROMPTS]

# ----------------------------------------------------------------------------------------------------------------------
# Reading a clip: which palette colour each pixel shows, then objects, kinds and tracks
# ----------------------------------------------------------------------------------------------------------------------

COLORS = tuple(PALETTE)


def _stripe_rgb(rgb) -> tuple[int, int, int]:
    """The scenes world's rotation stripe on a ball (as kinema.worlds.scenes draws it): a darker shade."""
    return (100, 100, 100) if sum(rgb) < 150 else tuple(int(c * 0.55) for c in rgb)


@lru_cache(maxsize=1)
def _prototypes() -> tuple[tuple[tuple[int, int, int], int], ...]:
    """(rgb, palette index or -1 for scenery): the palette, the scenes balls' stripes, the scenes scenery's greys and
    browns (not its dark grey pins and rods: they read as black ink) and white."""
    from kinema.worlds import scenes

    return tuple([(PALETTE[c], i) for i, c in enumerate(COLORS)]
                 + [(_stripe_rgb(PALETTE[c]), i) for i, c in enumerate(COLORS)]
                 + [(rgb, -1) for name, rgb in scenes.STATIC_COLOR.values() if name != "dark grey"]
                 + [(scenes.OCCLUDER_STRIPE, -1), ((255, 255, 255), -1)])


def background(video: np.ndarray) -> np.ndarray:
    """The clip's background colour: the median of the most common colour (to 16 levels per channel) of frame 0."""
    px = video[0].reshape(-1, 3)
    q = (px // 16).astype(np.int64) @ np.array([256, 16, 1])  # (H*W,)
    common = np.bincount(q).argmax()
    return np.median(px[q == common], axis=0).astype(np.float32)  # (3,)


def palette_weights(video: np.ndarray, bg: np.ndarray | None = None) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, H, W, K) how much of palette colour k each pixel holds (0..1; 0 unless k owns it).

    A pixel's ink e = bg - pixel is projected on each prototype's ink d = bg - rgb (a = e.d / |d|^2 in [0, 1]); the
    prototype leaving the smallest residual |e - a d| owns it. Greys (black, the scenes floor and ramps) all have
    nearly the same ink direction, so for them the residual is the plain distance |e - d|: a dark grey ramp is not a
    faint black ball. Prototypes: the palette, the scenes balls' darker stripe (counted as their colour) and the scenes
    scenery greys and browns (counted as nothing)."""
    bg = background(video) if bg is None else np.asarray(bg, np.float32)
    protos = [(np.asarray(rgb, np.float32), k) for rgb, k in _prototypes()
              if np.linalg.norm(bg - np.asarray(rgb, np.float32)) > 40]  # a prototype too close to the background
    d = np.stack([bg - rgb for rgb, _ in protos])  # (P, 3)
    owner_k = np.array([k for _, k in protos])  # (P,)
    grey = np.array([float(np.ptp(rgb)) < 20 for rgb, _ in protos])  # (P,)
    e = bg - video.astype(np.float32)  # (T, H, W, 3)
    ink = (e * e).sum(-1)  # (T, H, W)
    t, i, j = np.nonzero(ink > INK ** 2)  # only pixels that differ from the background
    ep, dd = e[t, i, j], (d * d).sum(1)  # (N, 3), (P,)
    dot = ep @ d.T  # (N, P)
    a = np.clip(dot / dd, 0.0, 1.0)  # (N, P)
    fit = np.where(grey, 1.0, a)  # (N, P)
    resid = ink[t, i, j][:, None] - 2 * fit * dot + fit * fit * dd  # (N, P): |e - fit d|^2
    px = video[t, i, j].astype(np.float32)  # (N, 3)
    neutral = np.ptp(px, 1) < NEUTRAL  # (N,): a grey pixel is only ever a grey (a black-grey blend is not green)
    resid[neutral[:, None] & ~grey[None, :]] = np.inf
    best = resid.argmin(1)  # (N,)
    k = owner_k[best]  # (N,)
    w = np.zeros(video.shape[:3] + (len(COLORS),), np.float32)  # (T, H, W, K)
    keep = k >= 0
    w[t[keep], i[keep], j[keep], k[keep]] = a[np.nonzero(keep)[0], best[keep]]
    return w


INK = 12.0  # RGB distance from the background below which a pixel is background (noise, codec ringing)
NEUTRAL = 25.0  # a pixel whose channels differ by less than this is grey


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components of a (H, W) bool mask -> (labels (H, W) int, 0 = none; count)."""
    lab = np.zeros(mask.shape, np.int32)
    todo = set(zip(*np.nonzero(mask)))
    n = 0
    while todo:
        n += 1
        stack = [todo.pop()]
        while stack:
            y, x = stack.pop()
            lab[y, x] = n
            for q in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if q in todo:
                    todo.remove(q)
                    stack.append(q)
    return lab, n


def moments(w: np.ndarray) -> tuple[float, float, float]:
    """Rotation-invariant shape numbers of soft weights (h, w), from complex moments c_pq = sum w z^p conj(z)^q about
    the centroid (z = x + iy), each scale-free: elongation |c20| / c11; odd (|c30| + |c21|) sqrt(m) / c11^1.5, zero
    for a centrally symmetric shape; four-fold |c40| m / c11^2, zero for a disc, 0.6 for a square."""
    h, wd = w.shape
    ys, xs = np.mgrid[0:h, 0:wd].astype(np.float64)
    m = float(w.sum())
    z = (xs - (w * xs).sum() / m) + 1j * ((w * ys).sum() / m - ys)  # (h, w), y up
    c11 = float((w * np.abs(z) ** 2).sum())
    c = {pq: abs((w * z ** pq[0] * np.conj(z) ** pq[1]).sum()) for pq in ((2, 0), (3, 0), (2, 1), (4, 0))}
    return c[2, 0] / c11, (c[3, 0] + c[2, 1]) * math.sqrt(m) / c11 ** 1.5, c[4, 0] * m / c11 ** 2


# measured on 804 single views of the worlds' objects at 64x64 (scenes templates with balls, boxes and triangles, and
# physics balls; frames where the object touches no other): odd > 0.35 for every triangle and for 0.5% of balls and
# boxes; elongation + four-fold <= 0.35 for every ball, >= 0.45 for every box. Votes over 5 frames settle the rest.
TRIANGLE_ODD = 0.35
BOX_SQUARENESS = 0.40


def shape_of(w: np.ndarray) -> str:
    """"ball" | "box" | "triangle" from one object's soft weights (a crop around it)."""
    elong, odd, four = moments(w)
    if odd > TRIANGLE_ODD:
        return "triangle"
    return "box" if elong + four > BOX_SQUARENESS else "ball"


@dataclass
class Found:
    color: str
    count: int  # blobs of this colour (the most common number over the frames it is seen in)
    kind: str | None  # ball | box | triangle (None: always cut by the frame's edge)
    direction: str  # left | right | up | down | still
    area: float  # median pixels
    track: list[tuple[float, float] | None] = field(default_factory=list)  # centroid (x, y) per frame


def parse_video(video: np.ndarray, *, min_area: float | None = None, still: float | None = None) -> list[Found]:
    """The palette-coloured objects of a clip, largest first. min_area: pixels a blob needs (default 0.08% of the
    frame, >= 3); still: net centroid displacement in pixels below which an object is still (default 5% of the
    smaller side: 0.5 world units in both worlds). A blob next to one of another colour at least FRINGE times its
    size is that one's coloured fringe (decoders ring at edges), not an object."""
    video = np.asarray(video)
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"video must be uint8 (T, H, W, 3), got {video.dtype} {tuple(video.shape)}")
    n_t, h, w_, _ = video.shape
    min_area = max(3.0, 0.0008 * h * w_) if min_area is None else min_area
    still = 0.05 * min(h, w_) if still is None else still
    wts = palette_weights(video)  # (T, H, W, K)
    owner = np.where(wts.max(-1) > 0, wts.argmax(-1), -1)  # (T, H, W): palette index, -1 for none
    present = [k for k in range(len(COLORS)) if ((wts[..., k] >= 0.5).sum((1, 2)) >= min_area).sum() >= min(2, n_t)]
    per = {k: {"counts": [], "tracks": [], "areas": [], "shapes": []} for k in present}
    for t in range(n_t):
        blobs = []  # (colour, mask, area)
        for k in present:
            lab, n = components(wts[t, ..., k] >= 0.5)
            sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]  # (n,)
            blobs += [(k, lab == c + 1, float(sizes[c])) for c in range(n) if sizes[c] >= min_area]
        blobs = [b for b in blobs if not any(o[0] != b[0] and o[2] >= FRINGE * b[2] and
                                             np.any(_grow(_grow(b[1])) & o[1]) for o in blobs)]
        for k in present:
            mine = sorted((b for b in blobs if b[0] == k), key=lambda b: -b[2])
            p = per[k]
            p["counts"].append(len(mine))
            if not mine:
                p["tracks"].append(None)
                continue
            main = mine[0][1]  # (H, W)
            soft = wts[t, ..., k] * (_grow(main) & (owner[t] == k))  # the blob and its anti-aliased rim
            m = soft.sum()
            p["tracks"].append((float((soft.sum(0) * (np.arange(w_) + 0.5)).sum() / m),
                                float((soft.sum(1) * (np.arange(h) + 0.5)).sum() / m)))
            p["areas"].append(mine[0][2])
            ys, xs = np.nonzero(main)
            y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
            if y0 > 0 and x0 > 0 and y1 < h - 1 and x1 < w_ - 1:  # not cut by the frame's edge
                box = (slice(y0 - 1, y1 + 2), slice(x0 - 1, x1 + 2))
                crop = np.where(_fill_holes(main[box]), np.maximum(soft[box], 0.5), soft[box])
                alone = not _touches_other(main, wts[t], k)
                p["shapes"].append((alone, mine[0][2], shape_of(np.pad(crop, 2))))
    found = []
    for k in present:
        p = per[k]
        seen = [c for c in p["counts"] if c > 0]
        if len(seen) < max(2, math.ceil(PRESENT * n_t)) and len(seen) < n_t:
            continue
        best = sorted(p["shapes"], reverse=True)[:5]  # votes of the frames where it is alone (untouched) and largest
        kind = Counter(s for _, _, s in best).most_common(1)[0][0] if best else None
        found.append(Found(COLORS[k], Counter(seen).most_common(1)[0][0], kind, _direction(p["tracks"], still),
                           float(np.median(p["areas"])), p["tracks"]))
    return sorted(found, key=lambda f: -f.area)


FRINGE = 4.0
PRESENT = 0.5  # share of the frames an object must be seen in


def _grow(mask: np.ndarray) -> np.ndarray:
    p = np.pad(mask, 1)
    return p[1:-1, 1:-1] | p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]


def _touches_other(mask: np.ndarray, wts: np.ndarray, k: int) -> bool:
    """Whether another palette colour's pixels (weights (H, W, K) >= 0.5) border the blob (its outline is cut)."""
    rim = _grow(_grow(mask)) & ~mask
    other = np.delete(wts, k, axis=-1).max(-1) >= 0.5  # (H, W)
    return bool(np.any(rim & other))


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with enclosed holes filled (a ball's darker stripe that read as another colour)."""
    lab, _ = components(np.pad(~mask, 1, constant_values=True))
    outside = np.isin(lab, np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])))[1:-1, 1:-1]
    return mask | ~outside


def _direction(track: Sequence[tuple[float, float] | None], still: float) -> str:
    """Net displacement of the centroid between the first and last two frames it is seen in -> its main axis."""
    pts = [p for p in track if p is not None]
    if len(pts) < 2:
        return "still"
    a, b = np.mean(pts[:2], 0), np.mean(pts[-2:], 0)
    dx, dy = b - a
    if max(abs(dx), abs(dy)) < still:
        return "still"
    return ("right" if dx > 0 else "left") if abs(dx) >= abs(dy) else ("down" if dy > 0 else "up")

# ----------------------------------------------------------------------------------------------------------------------
# Scoring one clip against its prompt
# ----------------------------------------------------------------------------------------------------------------------


def expected(parsed: Parsed) -> dict:
    """What a clip must show: colours, (colour or None, shape) per object, total count, one object's direction."""
    objs = parsed.objects
    single = objs[0] if len(objs) == 1 and objs[0].count == 1 else None
    return {"colors": parsed.colors,
            "kinds": [(o.color, SHAPE[o.kind], o.count) for o in objs if o.kind in SHAPE],
            "count": parsed.count() if objs else None,
            "direction": single.direction if single and single.direction in ("left", "right", "up", "down",
                                                                              "still") else None}


def score(parsed: Parsed, found: list[Found]) -> dict[str, bool | None]:
    """Per attribute: True/False, or None when the prompt does not fix it. Kind and direction are read off the object
    of the asked colour, else off the largest objects left, so a wrong colour costs the colour score only."""
    want = expected(parsed)
    by_color = {f.color: f for f in found}
    out: dict[str, bool | None] = {a: None for a in ATTRIBUTES}
    if want["colors"]:
        out["color"] = all(c in by_color for c in want["colors"])
    if want["count"] is not None:
        out["count"] = sum(f.count for f in found) == want["count"]
    claimed = {c for c in want["colors"] if c in by_color}
    rest = [f for f in found if f.color not in claimed]  # largest first

    def pick(color: str | None, n: int | None) -> list[Found]:
        nonlocal rest
        if color in by_color:
            return [by_color[color]]
        take, rest = (rest, []) if n is None else (rest[:n], rest[n:])
        return take

    if want["kinds"]:
        ok = True
        for color, shape, n in sorted(want["kinds"], key=lambda x: x[0] is None):
            objs = pick(color, n)
            ok &= bool(objs) and all(f.kind == shape for f in objs)
        out["kind"] = ok
    if want["direction"]:
        rest = [f for f in found if f.color not in claimed]
        objs = pick(want["colors"][0] if want["colors"] else None, 1)
        out["direction"] = bool(objs) and objs[0].direction == want["direction"]
    return out

# ----------------------------------------------------------------------------------------------------------------------
# The evaluation
# ----------------------------------------------------------------------------------------------------------------------

Generate = Callable[[str, int], np.ndarray]  # (prompt, seed) -> uint8 (T, H, W, 3)


def evaluate_prompts(generate: Generate, *, n_per_prompt: int = 1, languages: Sequence[str] = LANGUAGES,
                     progress: bool = True, prompt_set: Sequence[tuple[str, str]] = PROMPTS) -> dict:
    """Generate n_per_prompt clips (seeds 0..n-1) per prompt and language, parse them and score each attribute.

    Returns {"accuracy": {lang: {attr: fraction or None}}, "support": {lang: {attr: scored clips}},
    "overall": {attr: fraction or None}, "n_per_prompt", "languages", "samples": [per clip: prompt, language, seed,
    scores, found objects]}."""
    if n_per_prompt < 1:
        raise ValueError(f"n_per_prompt must be >= 1, got {n_per_prompt}")
    bad = [x for x in languages if x not in LANGUAGES]
    if bad or not languages:
        raise ValueError(f"languages must be a non-empty subset of {', '.join(LANGUAGES)}, got {tuple(languages)}")
    jobs = [(lang, pair[LANGUAGES.index(lang)], seed) for lang in languages for pair in prompt_set
            for seed in range(n_per_prompt)]
    if progress:
        from tqdm import tqdm

        jobs = tqdm(jobs, desc="eval prompts", unit="clip")
    from kinema.prompts import parse_prompt

    samples = []
    for lang, prompt, seed in jobs:
        video = np.asarray(generate(prompt, seed))
        found = parse_video(video)
        samples.append({"prompt": prompt, "language": lang, "seed": seed, "scores": score(parse_prompt(prompt), found),
                        "found": [{k: v for k, v in asdict(f).items() if k != "track"} for f in found]})
    acc, sup = {}, {}
    for lang in [*languages, "overall"]:
        rows = [s["scores"] for s in samples if lang == "overall" or s["language"] == lang]
        sup[lang] = {a: sum(r[a] is not None for r in rows) for a in ATTRIBUTES}
        acc[lang] = {a: (sum(bool(r[a]) for r in rows if r[a] is not None) / sup[lang][a] if sup[lang][a] else None)
                     for a in ATTRIBUTES}
    overall = acc.pop("overall")
    sup.pop("overall")
    return {"accuracy": acc, "support": sup, "overall": overall, "n_per_prompt": n_per_prompt,
            "languages": list(languages), "samples": samples}


def world_generator(*, frames: int = 17, size: tuple[int, int] = (64, 64), fps: float = 10.0,
                    budget: int = 600) -> Generate:
    """Ground truth: the world clip each prompt describes, found by kinema.prompts.find_clip with its pixels in the
    asked colours (no relabelling), rendered at `size`. Raises ValueError for a prompt no world clip shows."""
    from kinema.prompts import find_clip, parse_prompt

    def generate(prompt: str, seed: int) -> np.ndarray:
        clip = find_clip(parse_prompt(prompt), seed=seed, frames=frames, fps=fps, relabel=False,
                         budget={"physics": 64, "scenes": budget})
        if clip is None:
            raise ValueError(f"no world clip shows {prompt!r}")
        return clip.render(*size).video
    return generate


def through_vae(generate: Generate, vae) -> Generate:
    """`generate`'s clips encoded and decoded by `vae` (a kinema CausalVAE): what a model built on it can show at best,
    so world_generator() through it is the parser's ceiling for that model."""
    import torch

    @torch.no_grad()
    def roundtrip(prompt: str, seed: int) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(generate(prompt, seed))).permute(3, 0, 1, 2)[None]  # (1, 3, T, H, W)
        y = vae.decode(vae.encode(x.float() / 127.5 - 1.0)[0])[0]  # (3, T, H, W)
        return ((y.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()
    return roundtrip


def plot_accuracy(result: dict, path: str | Path) -> Path:
    """A bar plot of accuracy per attribute, one bar per language (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = result["languages"]
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=120)
    width = 0.8 / len(langs)
    for i, lang in enumerate(langs):
        vals = [result["accuracy"][lang][a] or 0.0 for a in ATTRIBUTES]
        bars = ax.bar(np.arange(len(ATTRIBUTES)) + (i - (len(langs) - 1) / 2) * width, vals, width, label=lang)
        ax.bar_label(bars, labels=[f"{v:.0%}" for v in vals], fontsize=7)
    ax.set_xticks(np.arange(len(ATTRIBUTES)), ATTRIBUTES)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"prompt adherence ({result['n_per_prompt']} clip(s) per prompt)")
    ax.legend(fontsize=8, ncol=len(langs), loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path

# ----------------------------------------------------------------------------------------------------------------------
# Command line: `kinema eval prompts` (its flags are in kinema.cli.eval)
# ----------------------------------------------------------------------------------------------------------------------


def run_prompts(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ValueError("-n must be >= 1")
    languages = tuple(x.strip() for x in args.languages.split(",") if x.strip())
    if args.through_vae and not args.ground_truth:
        raise ValueError("--through-vae goes with --ground-truth")
    if args.ground_truth:
        generate, what = world_generator(frames=args.frames, size=tuple(args.size)), "the worlds' own clips"
        if args.through_vae:
            from kinema.train.recipes import load_vae

            generate, what = through_vae(generate, load_vae(args.through_vae)), f"{what} through {args.through_vae}"
    elif args.model:
        from kinema.pipeline import Pipeline
        from kinema.prompts import expand_prompt

        pipe = Pipeline.from_pretrained(args.model)

        def generate(prompt: str, seed: int) -> np.ndarray:
            text = prompt if args.no_expand else expand_prompt(prompt, seed=seed, frames=args.frames).text
            return pipe.generate(text, frames=args.frames, size=tuple(args.size), seed=seed, steps=args.steps,
                                 guidance=args.guidance, expand=False).video  # expanded here, or not at all
        what = f"{args.model}{' (prompts as written)' if args.no_expand else ' (prompts expanded)'}"
    else:
        raise ValueError("give --model DIR (or --ground-truth)")
    res = evaluate_prompts(generate, n_per_prompt=args.n, languages=languages, prompt_set=PROMPTS)
    print(f"Prompt adherence of {what}: {len(PROMPTS)} prompts x {args.n} clip(s) per language")
    print(f"  {'':10s}" + "".join(f"{a:>11s}" for a in ATTRIBUTES))
    for lang in [*languages, "overall"]:
        row = res["overall"] if lang == "overall" else res["accuracy"][lang]
        print(f"  {lang:10s}" + "".join(f"{'n/a' if row[a] is None else f'{row[a]:.1%}':>11s}" for a in ATTRIBUTES))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"  wrote {plot_accuracy(res, out / 'accuracy.png')} and {out / 'results.json'}")
    if args.json:
        print(json.dumps({k: v for k, v in res.items() if k != "samples"}, ensure_ascii=False))
    return 0
