"""Prompt expansion: a short prompt becomes the detailed caption the model was trained on, in the prompt's language.

    expand_prompt("two balls collide").text
    # 'On a white background, a small green ball moving left quickly and a large yellow ball moving left quickly
    #  collide; after the collision the green ball moves left quickly and the yellow ball moves left quickly.'
    expand_prompt("一个红色的球落下").text  # '侧视图：一片灰色的地面。画面中有中间一个红色的球。红色的球落下。'

No network and no language model: the worlds write the captions. `parse_prompt` reads what a prompt asks for (objects
with kind, colour, count, size, speed, direction; scenery; verbs) with rules over the worlds' own words (the palette,
scenes' kinds and verbs, physics' words; Chinese is read through kinema.models.glossary). `find_clip` then searches
the world templates that can show it for a clip whose own caption asks for no less, filling everything the prompt left
open from `seed` with values the worlds really draw (palette colours, sizes, speeds, layouts). The clip's detailed
caption is the expansion. A prompt that already is a detailed caption passes through unchanged; one no world clip
matches is kept as written; words outside the vocabulary are kept (appended) and noted.

The same search renders ground-truth clips for `kinema eval prompts` (kinema.eval.prompts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from kinema.models.glossary import ZhGlossary, has_cjk
from kinema.prompt_words import (FAMILY, IMPLIED_DIRECTION, KINDS, LEXICON, MAX_WORDS, MUTUAL,  # noqa: F401
                                 OPENERS, PLURAL_SYNONYMS, SCENERY, SYNONYMS, VERBS, ZH_EXTRA)
from kinema.worlds import physics, scenes
from kinema.worlds.base import PALETTE, Sample, rng_for

# ----------------------------------------------------------------------------------------------------------------------
# Vocabulary (kinema.prompt_words): English phrase -> (category, value). Chinese is read in English via the glossary.
# ----------------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _glossary() -> ZhGlossary:
    return ZhGlossary.from_worlds(extra=ZH_EXTRA)

# ----------------------------------------------------------------------------------------------------------------------
# What a prompt asks for
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class ObjectSpec:
    """One object, or `count` alike ones (count None: "balls", some number of them). None: not said."""

    kind: str | None = None  # one of KINDS
    color: str | None = None  # a PALETTE name
    count: int | None = 1
    size: str | None = None  # tiny | small | large | huge
    speed: str | None = None  # very slowly | slowly | quickly | very quickly
    height: str | None = None  # top | middle | bottom (where it moves)
    place: str | None = None  # left | middle | right (where it starts)
    directions: list[str] = field(default_factory=list)  # said, in order: left | right | up | down
    actions: list[str] = field(default_factory=list)  # VERBS values, in order

    @property
    def direction(self) -> str | None:
        """The first direction said, else the one its verb implies ("falls": down, "stays still": still)."""
        if self.directions:
            return self.directions[0]
        return next((IMPLIED_DIRECTION[a] for a in self.actions if a in IMPLIED_DIRECTION), None)


@dataclass
class Parsed:
    text: str
    language: str  # "en" | "zh"
    objects: list[ObjectSpec] = field(default_factory=list)
    scenery: list[str] = field(default_factory=list)  # SCENERY values
    actions: list[str] = field(default_factory=list)  # every verb, in order
    world: str | None = None  # the world a detailed caption's opener names
    detailed: bool = False  # starts like a world's detailed caption
    unknown: list[str] = field(default_factory=list)  # text outside the vocabulary, as written
    read_as: list[tuple[str, str]] = field(default_factory=list)  # (word, kind it was read as): ("cube", "box")
    scenario: str | None = None  # the first world template that can show it ("physics/collision"), if any

    def count(self, kind: str | None = None) -> int | None:
        """Objects in all (of `kind`); None when a bare plural leaves it open."""
        n = [o.count for o in self.objects if kind is None or o.kind == kind]
        return None if None in n else sum(n)

    @property
    def colors(self) -> list[str]:
        return [o.color for o in self.objects if o.color]

    def summary(self) -> list[tuple]:
        """Comparable attributes: (kind, colour, count, direction) per object, sorted."""
        return sorted(((o.kind or "", o.color or "", o.count or 0, o.direction or "") for o in self.objects))


def parse_prompt(text: str) -> Parsed:
    """Read a prompt (English or Chinese) into what it asks for."""
    if not text or not text.strip():
        raise ValueError("prompt is empty")
    lang = "zh" if has_cjk(text) else "en"
    stripped = text.strip()
    world = next((w for w, (en, zh) in OPENERS.items() if stripped.startswith(zh if lang == "zh" else en)), None)
    english = _glossary().translate(stripped) if lang == "zh" else stripped
    out = Parsed(text=text, language=lang, world=world, detailed=world is not None)
    _read(english, out)
    cands = candidates(out)
    out.scenario = cands[0].name if cands else None
    return out


_TOKEN = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)?|\d+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[^\sA-Za-z\d]")


def _lex(text: str) -> list[tuple[str, object, str]]:
    """Longest-match phrases: (category, value, the words as written); text outside the lexicon is "unknown"."""
    toks = [m.group(0) for m in _TOKEN.finditer(text)]
    low = [t.lower() for t in toks]
    out, i = [], 0
    while i < len(toks):
        for n in range(min(MAX_WORDS, len(toks) - i), 0, -1):
            key = " ".join(low[i:i + n])
            if key in LEXICON:
                cat, val = LEXICON[key]
                out.append((cat, val, " ".join(toks[i:i + n])))
                i += n
                break
        else:
            t = toks[i]
            cat = "sep" if t in ",;.:!?" else "num" if t.isdigit() else "skip" if not t.strip("-'\"()") else "unknown"
            out.append((cat, int(t) if cat == "num" else t, t))
            i += 1
    return out


def _read(text: str, out: Parsed) -> None:
    """A small left-to-right reader: noun phrases make (or refer back to) objects; a noun phrase before a verb is
    its subject, the verb and the directions, speeds and heights after it belong to that subject."""
    lexes = _lex(text)
    np: dict = {}
    subject: list[ObjectSpec] = []
    last: list[ObjectSpec] = []  # the last noun phrase's objects
    state = {"since": None, "coord": False}  # since: what came after the last verb ("verb", "obj" or "other")
    unknown: list[str] = []

    def close_unknown() -> None:  # a run of unknown words, as written (no spaces between Chinese ones)
        if unknown:
            out.unknown.append(unknown[0] + "".join(("" if has_cjk(a[-1]) and has_cjk(b[0]) else " ")
                                                    + b for a, b in zip(unknown, unknown[1:])))
            unknown.clear()

    def finish(kind, plural: bool) -> None:
        nonlocal subject, last
        objs = _resolve(np, kind, plural, out)
        if state["since"] == "verb":  # right after a verb: its object ("hits the red box")
            state["since"] = "obj"
        elif state["since"] is None and state["coord"] and subject:  # "a red ball and a blue ball ..."
            for o in subject:
                o.kind = o.kind or kind  # "a red and a blue ball"
            subject = subject + objs
        else:  # a new subject
            subject, state["since"] = objs, None
        last = objs
        state["coord"] = False
        np.clear()

    for k, (cat, val, word) in enumerate(lexes):
        nxt = lexes[k + 1][0] if k + 1 < len(lexes) else None
        if cat == "unknown":
            unknown.append(word)
            continue
        close_unknown()
        if cat in ("det", "the"):  # a new noun phrase
            if np.get("colors"):  # "a red and a blue ball": the first noun is left out
                coord = state["coord"]
                finish(None, False)
                state["coord"] = coord
            np.clear()
            np["the"] = cat == "the"
            np["count"] = 1 if cat == "det" else val
        elif cat in ("count", "num"):
            np["count"] = val
        elif cat == "size":
            np["size"] = val
        elif cat == "color":
            np.setdefault("colors", []).append(val)
        elif cat == "and" and np.get("colors") and nxt == "color" or cat == "sep" and val == "," and \
                np.get("colors") and nxt == "color":
            continue  # coordinated colours: "red and blue balls"
        elif cat == "kind":
            kind, plural = val
            if word.lower() in SYNONYMS or word.lower() in PLURAL_SYNONYMS:
                out.read_as.append((word, str(kind)))
            finish(kind, plural)
        elif cat == "scenery":
            if val not in out.scenery:
                out.scenery.append(val)
            np.clear()
            last = []
            if state["since"] == "verb":
                state["since"] = "obj"
        elif cat in ("verb", "verb+dir"):
            if np.get("colors"):  # "a red one moves": a noun phrase without its noun
                finish(None, False)
            action, d = val if cat == "verb+dir" else (val, None)
            out.actions.append(action)
            for o in subject or last:
                o.actions.append(action)
                o.directions += [d] if d else []
            state["since"] = "verb"
            np.clear()
        elif cat == "dir":
            for o in subject or last:
                o.directions.append(val)
            state["since"] = "other"
        elif cat in ("speed", "height"):
            for o in subject or last:
                if getattr(o, cat) is None:
                    setattr(o, cat, val)
            state["since"] = "other"
        elif cat == "place":
            for o in last:
                o.place = o.place or val
        elif cat == "and" or cat == "sep" and val == ",":
            state["coord"] = True
            if state["since"] is not None:
                state["since"] = "other"  # a verb follows: same subject; a noun phrase: a new one
        elif cat == "sep" or cat == "after":
            if np.get("colors"):
                finish(None, False)
            subject, last, state["since"], state["coord"] = [], [], None, False
            np.clear()
    close_unknown()
    if np.get("colors"):  # "a red one": a noun phrase without its noun
        finish(None, False)


def _resolve(np: dict, kind: str | None, plural: bool, out: Parsed) -> list[ObjectSpec]:
    """A noun phrase -> its objects: new ones, or ones said before ("the red ball", "the two balls")."""
    colors, count, size = np.get("colors", []), np.get("count"), np.get("size")
    if colors:
        objs = []
        for c in colors:
            same = [o for o in out.objects if o.color == c and (kind is None or o.kind in (None, kind))]
            if same:
                o = same[0]
                o.kind, o.size = o.kind or kind, o.size or size
            else:
                o = ObjectSpec(kind=kind, color=c, size=size,
                               count=count if len(colors) == 1 and count and count > 1 else 1)
                out.objects.append(o)
            objs.append(o)
        return objs
    if count is None:  # "the ball": one; "balls", "the balls", "several balls": some
        count = None if plural else 1
    if np.get("the"):
        same = [o for o in out.objects if kind is None or o.kind == kind]
        n = count or (1 if not plural else len(same))
        if same and n <= len(same):
            return same[-n:]
    o = ObjectSpec(kind=kind, count=count, size=size)
    out.objects.append(o)
    return [o]

# ----------------------------------------------------------------------------------------------------------------------
# The world templates a prompt can become, and whether a clip shows what a prompt asks
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    name: str  # "physics/uniform", "scenes/ramp_roll"
    kinds: dict[str, tuple[int, int]]  # kind -> (fewest, most) objects of it in a clip
    total: tuple[int, int]  # (fewest, most) objects in a clip
    scenery: frozenset[str] = frozenset()
    actions: frozenset[str] | None = None  # every verb its captions use (None: whatever the simulation does)
    colors: tuple[str, ...] = tuple(PALETTE)
    cues: frozenset[str] = frozenset()  # verbs and scenery that point to it


def _t(name, kinds, total=None, scenery=(), actions=None, colors=tuple(PALETTE), cues=()):
    total = total or (sum(lo for lo, _ in kinds.values()), sum(hi for _, hi in kinds.values()))
    return Template(name, kinds, total, frozenset(scenery), None if actions is None else frozenset(actions),
                    colors, frozenset(cues))


_BALL_1, _BALL_2 = {"ball": (1, 1)}, {"ball": (2, 2)}
_FLOOR = ("floor",)
# In order of preference; the physics world first (its captions say directions), held-out scenes templates last.
TEMPLATES: tuple[Template, ...] = (
    _t("physics/uniform", _BALL_1, actions=("moves", "still"), colors=physics.BALL_COLORS, cues=("moves",)),
    _t("physics/collision", _BALL_2, actions=("moves", "collides", "stops", "still"), colors=physics.BALL_COLORS,
       cues=("collides",)),
    _t("physics/parabola", _BALL_1, actions=("thrown", "falls", "moves"), colors=physics.BALL_COLORS,
       cues=("thrown",)),
    _t("scenes/ball_drop", {"ball": (1, 1), "box": (0, 1)}, scenery=_FLOOR, cues=("falls",)),
    _t("scenes/bounce_floor", _BALL_1, scenery=("floor", "wall"), cues=("bounces", "wall")),
    _t("scenes/ramp_roll", {"ball": (1, 1), "box": (0, 1)}, scenery=("floor", "ramp"), cues=("rolls_down", "ramp")),
    _t("scenes/ramp_slide", {"box": (0, 1), "triangle": (0, 1)}, (1, 1), ("floor", "ramp"),
       cues=("slides_down", "ramp")),
    _t("scenes/slide_friction", {"box": (1, 2)}, scenery=_FLOOR, cues=("slides",)),
    _t("scenes/box_stack", {"box": (2, 4)}, scenery=_FLOOR, cues=("rests",)),
    _t("scenes/tower_topple", {"box": (3, 5)}, scenery=_FLOOR, cues=("topples",)),
    _t("scenes/two_ball_collide", _BALL_2, scenery=_FLOOR, cues=("rolls", "hits")),
    _t("scenes/domino_row", {"domino": (2, 7)}, scenery=_FLOOR, cues=("topples",)),
    _t("scenes/ball_hits_stack", {"ball": (1, 1), "box": (2, 3)}, scenery=_FLOOR, cues=("hits",)),
    _t("scenes/seesaw", {"plank": (1, 1), "box": (1, 1), "ball": (1, 1)}, scenery=("floor", "pivot"),
       cues=("tilts", "pivot")),
    _t("scenes/funnel", {"ball": (3, 5)}, scenery=("floor", "bar"), cues=("bar", "falls")),
    _t("scenes/occluder_pass", {"ball": (0, 1), "box": (0, 1)}, (1, 1), ("floor", "screen"),
       cues=("hides", "emerges", "screen")),
    _t("scenes/pendulum", _BALL_1, scenery=("floor", "rod"), cues=("swings", "rod")),
    _t("scenes/pile_up", {"ball": (0, 5), "box": (0, 5), "triangle": (0, 5)}, (3, 5), _FLOOR),
    _t("scenes/ramp_dominoes", {"ball": (1, 1), "domino": (3, 5)}, scenery=("floor", "ramp"), cues=("ramp",)),
    _t("scenes/occluded_collision", _BALL_2, scenery=("floor", "screen"), cues=("hides", "screen")),
    _t("scenes/pendulum_stack", {"ball": (1, 1), "box": (2, 3)}, scenery=("floor", "rod"), cues=("swings", "rod")),
)


def _shows(asked: str, got: set[str]) -> bool:
    return bool(FAMILY.get(asked, {asked}) & got)


def candidates(parsed: Parsed, world: str | None = None) -> list[Template]:
    """The templates that can show what `parsed` asks (kinds, counts, colours, scenery, verbs), best first."""
    world = world or parsed.world
    out = []
    for t in TEMPLATES:
        if world and not t.name.startswith(world + "/"):
            continue
        kinds = {o.kind for o in parsed.objects} - {None}
        if not kinds <= set(t.kinds) or any(o.color and o.color not in t.colors for o in parsed.objects):
            continue
        n = parsed.count()
        if n is not None and not t.total[0] <= n <= t.total[1]:
            continue
        if any((parsed.count(k) or 2) > t.kinds[k][1] for k in kinds):
            continue
        if not set(parsed.scenery) <= t.scenery:
            continue
        if t.actions is not None and not all(_shows(a, set(t.actions)) for a in parsed.actions):
            continue
        out.append(t)
    said = set(parsed.actions) | set(parsed.scenery)
    return sorted(out, key=lambda t: -len(t.cues & said))  # stable: ties keep the table's order


def match(asked: Parsed, got: Parsed, *, colors: bool = True) -> list[tuple[ObjectSpec, list[int]]] | None:
    """Whether `got` (a world caption's parse) shows everything `asked` asks for: each asked object -> the indices of
    the objects of `got` that show it; None when it does not. Objects of `got` nobody asked for only pass when a bare
    plural ("balls") leaves the count open. `colors=False` ignores colours (they are relabelled afterwards)."""
    if asked.world and got.world and asked.world != got.world:
        return None
    if not set(asked.scenery) <= set(got.scenery) | {"floor"}:
        return None
    for a in set(asked.actions) & set(MUTUAL):
        if not _shows(a, set(got.actions)):
            return None
    free = list(range(len(got.objects)))
    pairs = []
    for spec in sorted(asked.objects, key=lambda o: (o.color is None or not colors, o.kind is None, o.count is None)):
        fits = [i for i in free if _fits(spec, got.objects[i], colors)]
        if len(fits) < (spec.count or 1):
            return None
        if spec.count is None and sum(spec.kind in (None, o.kind) for o in got.objects) < 2:
            return None  # "balls": at least two of them, at least one doing what was asked
        take = fits[:spec.count] if spec.count else fits
        free = [i for i in free if i not in take]
        pairs.append((spec, take))
    open_kinds = {o.kind for o in asked.objects if o.count is None}  # "dominoes topple": some of them, maybe all
    if any(got.objects[i].kind not in open_kinds and None not in open_kinds for i in free):
        return None
    return pairs


def _fits(a: ObjectSpec, g: ObjectSpec, colors: bool) -> bool:
    if a.kind and a.kind != g.kind or colors and a.color and a.color != g.color:
        return False
    if any(getattr(a, f) and getattr(a, f) != getattr(g, f) for f in ("size", "speed", "height", "place")):
        return False
    if a.direction and a.direction != g.direction:
        return False
    return all(_shows(x, set(g.actions)) for x in a.actions if x not in MUTUAL)

# ----------------------------------------------------------------------------------------------------------------------
# Finding a world clip that shows a prompt
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class Clip:
    sample: Sample
    scenario: str  # "physics/uniform"
    world_seed: int
    caption: dict[str, dict[str, str]]  # the sample's captions, colours renamed as asked (relabel=True)
    pairs: list[tuple[ObjectSpec, list[int]]]  # asked object -> objects of `got`
    got: Parsed  # the parse of caption["en"]["detailed"] (scenes: directions measured from the clip)
    params: dict | None = None  # physics: the initial conditions it was rendered with

    def render(self, width: int, height: int) -> Sample:
        """The same clip at another size (the simulation does not depend on it; square frames show the same view)."""
        world, scenario = self.scenario.split("/")
        kw = dict(seed=self.world_seed, frames=self.sample.frames, width=width, height=height, fps=self.sample.fps)
        return physics.render(scenario, params=self.params, **kw) if world == "physics" else \
            scenes.render(scenario, **kw)


BUDGET = {"physics": 24, "scenes": 48}  # seeds tried per template


def find_clip(parsed: Parsed, *, seed: int = 0, world: str | None = None, frames: int = 17,
              size: tuple[int, int] = (8, 8), fps: float = 10.0, relabel: bool = True,
              budget: dict[str, int] | None = None) -> Clip | None:
    """The first clip (templates best first, world seeds drawn from `seed`) whose detailed caption shows everything
    `parsed` asks. relabel=True: colours are matched afterwards by renaming the scenes objects' colours in the clip's
    state (its caption then says the asked colours, its pixels do not); relabel=False: the pixels show them too."""
    budget = {**BUDGET, **(budget or {})}
    if world is not None and world not in ("physics", "scenes"):
        raise ValueError(f"world must be 'physics' or 'scenes' (or None), got {world!r}")
    for t in candidates(parsed, world):
        wname, scenario = t.name.split("/")
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, TEMPLATES.index(t)])
        for k, wseed in enumerate(rng.integers(0, 2**31 - 1, budget[wname])):
            kw = dict(seed=int(wseed), frames=frames, width=size[0], height=size[1], fps=fps)
            params = None
            if wname == "scenes" and not relabel and not set(parsed.colors) <= set(
                    scenes_palette(scenario, int(wseed))[:t.total[1]]):
                continue  # skips ~3/4 of the renders when a colour is asked
            if wname == "physics":
                params = _physics_params(parsed, scenario, k, **kw)
                if params is None:
                    break
                s = physics.render(scenario, params=params, **kw)
            else:
                s = scenes.render(scenario, **kw)
            caption, state = s.caption, s.state
            if relabel and wname == "scenes":  # colours first ignored, then renamed as asked
                pairs = _match_clip(parsed, caption, state, colors=False)
                if pairs is None:
                    continue
                caption, state = _relabel(state, pairs[0], pairs[1])
            found = _match_clip(parsed, caption, state)
            if found is not None:
                return Clip(s, t.name, int(wseed), caption, found[0], found[1], params)
    return None


def scenes_palette(scenario: str, seed: int) -> list[str]:
    """The colours a scenes clip gives its objects, in the order it makes them: the first draw of its generator (see
    kinema.worlds.scenes._Scene). Only used to skip seeds; every clip found is still checked against its state."""
    return [str(c) for c in rng_for(seed, scenes.SCENARIOS.index(scenario), 0).permutation(list(PALETTE))]


def _match_clip(parsed: Parsed, caption: dict, state: dict, colors: bool = True):
    """(pairs, got) when the clip shows `parsed`, else None. Scenes captions name no directions; there each object's
    direction is measured from the clip (its net displacement), so "a box slides to the right" finds one."""
    if colors and "template" in state and not set(parsed.colors) <= {o["color"] for o in state["objects"]}:
        return None  # quick: an asked colour is not in the clip
    got = parse_prompt(caption["en"]["detailed"])
    if "template" in state:  # scenes
        first, end = state["frames"][0]["objects"], state["frames"][-1]["objects"]
        look = {o["id"]: (o["kind"], o["color"]) for o in state["objects"]}
        moved = {look[a["id"]]: (b["x"] - a["x"], b["y"] - a["y"]) for a, b in zip(first, end)}
        for o in got.objects:
            dx, dy = moved.get((o.kind, o.color), (0.0, 0.0))
            if not o.directions and max(abs(dx), abs(dy)) >= MOVED:
                o.directions.append(("right" if dx > 0 else "left") if abs(dx) >= abs(dy) else
                                    ("up" if dy > 0 else "down"))
    pairs = match(parsed, got, colors=colors)
    return None if pairs is None else (pairs, got)


MOVED = 0.5  # world units of net displacement below which a scenes object has no direction


def _physics_params(parsed: Parsed, scenario: str, k: int, **kw) -> dict | None:
    """The seeded initial conditions with the colours asked (two balls trade them on odd tries; an open colour that
    clashes becomes one the world pairs with the asked one) and a single ball moving the way asked."""
    asked = parsed.colors
    balls = [dict(b) for b in physics.sample_params(scenario, kw["seed"], frames=kw["frames"], fps=kw["fps"])["balls"]]
    if len(asked) > len(balls) or len(set(asked)) < len(asked):
        return None
    order = balls[::-1] if k % 2 else balls
    for b, c in zip(order, asked):
        b["color"] = c
    for b in order[len(asked):]:
        if b["color"] in asked:
            partners = [c for a, c in physics.COLOR_PAIRS if a == asked[0]]
            b["color"] = partners[kw["seed"] % len(partners)]
    want = parsed.objects[0].direction if len(parsed.objects) == 1 else None
    if len(balls) == 1 and want in ("left", "right") and (balls[0]["vx"] > 0) != (want == "right"):
        balls[0]["x"], balls[0]["vx"] = physics.WORLD_SIZE - balls[0]["x"], -balls[0]["vx"]  # mirrored
    return {"balls": balls}


def _relabel(state: dict, pairs, got: Parsed) -> tuple[dict, dict]:
    """Rename the scenes objects' palette colours (a permutation) so the asked ones carry the asked colours, then
    caption the renamed state (the simulation does not depend on colour). -> (captions, renamed state)."""
    perm = {c: c for c in PALETTE}  # colour in the clip -> colour in the caption
    for spec, idx in pairs:
        if spec.color and spec.count == 1:
            old = got.objects[idx[0]].color
            other = next(k for k, v in perm.items() if v == spec.color)
            perm[old], perm[other] = perm[other], perm[old]
    state = {**state, "objects": [dict(o) for o in state["objects"]]}
    for o in state["objects"]:
        if not o["static"] and o["color"] in perm:
            o["color"] = perm[o["color"]]
            o["rgb"] = list(PALETTE[o["color"]])
    return scenes.caption(state), state


# ----------------------------------------------------------------------------------------------------------------------
# Expansion
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class Expansion:
    text: str  # the expanded caption (the prompt itself when it is already detailed or no world clip shows it)
    language: str  # "en" | "zh"
    parsed: Parsed  # what the prompt asked
    notes: list[str] = field(default_factory=list)  # what was assumed or filled in
    scenario: str | None = None  # the world template whose caption it is
    world_seed: int | None = None

    @property
    def changed(self) -> bool:
        return self.text != self.parsed.text


def expand_prompt(prompt: str, *, world: str | None = None, seed: int = 0, frames: int = 17) -> Expansion:
    """A short prompt -> the detailed caption of a world clip that shows it, in the prompt's language; everything the
    prompt leaves open is filled from `seed`. Detailed captions and prompts no clip shows come back unchanged."""
    parsed = parse_prompt(prompt)
    notes = [f"read {w!r} as {k!r}" for w, k in parsed.read_as]
    if parsed.unknown:
        notes.append("kept words outside the worlds' vocabulary: " + ", ".join(repr(u) for u in parsed.unknown))
    if parsed.detailed:
        return Expansion(prompt, parsed.language, parsed, ["already a detailed caption", *notes])
    clip = find_clip(parsed, seed=seed, world=world, frames=frames)
    if clip is None:
        why = f"no {world or 'physics or scenes'} clip shows all of it; kept as written"
        return Expansion(prompt, parsed.language, parsed, [why, *notes])
    lang = parsed.language
    text = clip.caption[lang]["detailed"]
    if parsed.unknown:  # kept, as one more sentence
        extra = ("，" if lang == "zh" else ", ").join(parsed.unknown)
        text += f"{extra}。" if lang == "zh" else f" {extra[0].upper()}{extra[1:]}."
    notes = [f"{clip.scenario} (world seed {clip.world_seed})", *_filled(clip), *notes]
    return Expansion(text, lang, parsed, notes, clip.scenario, clip.world_seed)


def _filled(clip: Clip) -> list[str]:
    """What the caption says that the prompt did not: "filled ball: color yellow, size large, direction left"."""
    out = []
    for spec, idx in clip.pairs:
        for g in (clip.got.objects[i] for i in idx):
            said = [f"{f} {getattr(g, f)}" for f in ("color", "size", "speed", "height", "place", "direction")
                    if getattr(g, f) and not getattr(spec, f)]
            if said:
                out.append(f"filled {spec.color + ' ' if spec.color else ''}{g.kind}: {', '.join(said)}")
    extra = sorted(set(clip.got.scenery) - {"floor"})
    return out + (["scenery: " + ", ".join(extra)] if extra else [])
