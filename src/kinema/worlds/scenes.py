"""`scenes`: rigid-body scenes simulated with pymunk (Chipmunk2D): balls, boxes, triangles, dominoes and planks that
fall, roll, bounce, stack, topple, swing and pass behind screens.

World (a side view): x right, y up, world units; gravity (0, -GRAVITY); the floor's surface is y = 0. The square
x in [0, 10], y in [-1, 9] is centred in every frame at pixels_per_unit = min(W, H) / 10, so wider or taller frames
show more world around the same action. Pixel (col, row) covers [col, col + 1) x [row, row + 1), and a world point
(x, y) lands at px = W/2 + (x - 5) * ppu, py = H/2 - (y - 4) * ppu.

Each `render` builds a fresh pymunk Space and steps it `substeps` times per frame (dt = 1 / (fps * substeps)); frame 0
is the initial state. Same arguments, same bytes. All dynamic objects of a scene have distinct palette colours.

state keys beyond base.Sample's:
  template, gravity [gx, gy], background [r, g, b], view [xmin, ymin, xmax, ymax] (the world rectangle shown);
  objects[i]: id, kind, color, rgb, static, role ("actor" | "target" | "scenery"), friction, elasticity and
    radius | width + height | vertices (local, about (x, y) at angle 0); statics also x, y, angle;
  joints: [{"kind": "rod" | "pivot", "a": static id, "b": dynamic id, "anchor": [x, y]}];
  frames[k]: {"t", "objects": [{id, x, y, angle, vx, vy, omega, px, py, visible_fraction, in_view, touching}]} for
    every non-static object. (x, y) is the centre of mass, (px, py) its pixel position; visible_fraction is the
    share of its area inside the image and not behind an occluder; touching lists the ids it is in contact with;
  events: [{"frame", "type": "contact", "a", "b", "speed", "normal"}]: a contact that began during the steps leading
    to `frame` (a < b); speed is the approach speed along normal, which points from a to b.

Captions come from the state alone (`caption(state)`, in scenes_caption.py, which also holds the word dicts; both are
re-exported here). Contacts slower than REST_SPEED do not bounce (a restitution threshold, as in Box2D). A parser
redraws what lies behind the moving objects with `static_layer(state, W, H)` and maps units with `pixel_map`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pymunk

from kinema.worlds.base import PALETTE, Sample, check_size, rng_for
from kinema.worlds.raster import Canvas, area_samples, to_world
from kinema.worlds.scenes_caption import (GLOSSARY, GLUE, GLUE_EN, GLUE_ZH, KIND_EN, KIND_ZH,  # noqa: F401
                                          NEUTRAL_ZH, NUM_ZH, PLACE_EN, PLACE_ZH, PRIORITY, SOLO_VERBS, TIMES_EN,
                                          TIMES_ZH, VERB_EN, VERB_ZH, caption)  # re-exported: captions and words

# ----------------------------------------------------------------------------------------------------------------------
# Kinds and scenery colours (their words live in scenes_caption.py)
# ----------------------------------------------------------------------------------------------------------------------

DYNAMIC_KINDS = ("ball", "box", "triangle", "domino", "plank")
STATIC_KINDS = ("floor", "ramp", "bar", "wall", "fulcrum", "pin", "occluder")

STATIC_COLOR: dict[str, tuple[str, tuple[int, int, int]]] = {  # kind -> (colour name, rgb)
    "floor": ("grey", (168, 168, 170)), "ramp": ("grey", (122, 122, 128)), "bar": ("grey", (122, 122, 128)),
    "wall": ("grey", (122, 122, 128)), "fulcrum": ("grey", (122, 122, 128)), "pin": ("dark grey", (70, 70, 76)),
    "occluder": ("brown", (150, 108, 74)),
}
OCCLUDER_STRIPE = (124, 88, 60)
ROD_RGB = (70, 70, 76)

# ----------------------------------------------------------------------------------------------------------------------
# World constants
# ----------------------------------------------------------------------------------------------------------------------

GRAVITY = 5.0  # units / s^2
DENSITY = 1.0
VIEW_CENTER = (5.0, 4.0)  # world point at the image centre
UNITS_ACROSS = 10.0  # world units across min(W, H)
FLOOR_HALF_WIDTH = 100.0
REST_SPEED = 0.3  # contacts slower than this (units / s, along the normal) get no restitution


# ----------------------------------------------------------------------------------------------------------------------
# Scene description: what a template builds before anything is simulated
# ----------------------------------------------------------------------------------------------------------------------

@dataclass
class _Obj:
    id: int
    kind: str
    color: str
    rgb: tuple[int, int, int]
    static: bool
    role: str
    x: float
    y: float
    angle: float = 0.0
    radius: float | None = None
    verts: list[tuple[float, float]] | None = None  # local, about (x, y)
    size: tuple[float, float] | None = None  # width, height for boxes, dominoes, planks, walls, occluders
    vx: float = 0.0
    vy: float = 0.0
    omega: float = 0.0
    friction: float = 0.7
    elasticity: float = 0.3
    group: int = 0  # objects sharing a non-zero group never collide


def _rect(w: float, h: float) -> list[tuple[float, float]]:
    return [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]


@dataclass
class _Scene:
    rng: np.random.Generator
    ood: bool
    objs: list[_Obj] = field(default_factory=list)
    joints: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.colors = [str(c) for c in self.rng.permutation(list(PALETTE))]
        self.rect("floor", 5.0, -10.0, 2 * FLOOR_HALF_WIDTH, 20.0)

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def spread(self, lo: float, hi: float) -> float:
        """A size or speed: uniform in [lo, hi]; out of distribution (ood), just below or just above that range."""
        if not self.ood:
            return self.u(lo, hi)
        return self.u(0.5 * lo, 0.8 * lo) if self.rng.random() < 0.5 else self.u(1.2 * hi, 1.5 * hi)

    def _add(self, kind: str, static: bool, role: str, x: float, y: float, **kw) -> _Obj:
        color, rgb = STATIC_COLOR[kind] if static else (self.colors[len(self.dynamic)], None)
        if static:
            kw = {"friction": 0.8, "elasticity": 1.0, **kw}
        obj = _Obj(len(self.objs), kind, color, rgb or PALETTE[color], static, role, float(x), float(y), **kw)
        self.objs.append(obj)
        return obj

    @property
    def dynamic(self) -> list[_Obj]:
        return [o for o in self.objs if not o.static]

    def ball(self, x, y, r, *, vx=0.0, vy=0.0, roll=False, role="actor", friction=None, elasticity=None) -> _Obj:
        return self._add("ball", False, role, x, y, radius=r, vx=vx, vy=vy, omega=-vx / r if roll else 0.0,
                         friction=self.u(0.5, 0.9) if friction is None else friction,
                         elasticity=self.u(0.3, 0.7) if elasticity is None else elasticity)

    def box(self, x, y, w, h, *, kind="box", angle=0.0, vx=0.0, omega=0.0, role="target", friction=None,
            elasticity=0.05, group=0) -> _Obj:
        return self._add(kind, False, role, x, y, verts=_rect(w, h), size=(w, h), angle=angle, vx=vx, omega=omega,
                         friction=self.u(0.6, 0.9) if friction is None else friction, elasticity=elasticity,
                         group=group)

    def triangle(self, x, y, w, h, *, angle=0.0, role="actor", friction=None, elasticity=0.1) -> _Obj:
        """An isosceles triangle, base w, height h, centred on its centroid."""
        verts = [(-w / 2, -h / 3), (w / 2, -h / 3), (0.0, 2 * h / 3)]
        return self._add("triangle", False, role, x, y, verts=verts, angle=angle,
                         friction=self.u(0.5, 0.9) if friction is None else friction, elasticity=elasticity)

    def static(self, kind: str, world_verts, **kw) -> _Obj:
        pts = np.asarray(world_verts, float)
        cx, cy = pts.mean(0)
        return self._add(kind, True, "scenery", cx, cy, verts=[(float(a - cx), float(b - cy)) for a, b in pts], **kw)

    def rect(self, kind: str, x, y, w, h) -> _Obj:
        """A static rectangle: floor, wall or occluder."""
        return self._add(kind, True, "scenery", x, y, verts=_rect(w, h), size=(w, h))

    def bar(self, p, q, thickness=0.16) -> _Obj:
        p, q = np.asarray(p, float), np.asarray(q, float)
        n = np.array([q[1] - p[1], p[0] - q[0]]) / np.hypot(*(q - p)) * thickness / 2
        return self.static("bar", [p + n, q + n, q - n, p - n])

    def rod(self, ax, ay, ball: _Obj) -> None:
        pin = self._add("pin", True, "scenery", ax, ay, radius=0.09)
        self.joints.append({"kind": "rod", "a": pin.id, "b": ball.id, "anchor": [ax, ay]})

    def mirror(self) -> None:
        """Flip the scene left-right about x = 5 (templates are written left-to-right)."""
        for o in self.objs:
            o.x, o.vx, o.angle, o.omega = 10.0 - o.x, -o.vx, -o.angle, -o.omega
            if o.verts is not None:
                o.verts = [(-vx, vy) for vx, vy in reversed(o.verts)]
        for j in self.joints:
            j["anchor"] = [10.0 - j["anchor"][0], j["anchor"][1]]


# ----------------------------------------------------------------------------------------------------------------------
# Templates (written left-to-right; half of the seeds are mirrored)
# ----------------------------------------------------------------------------------------------------------------------

def _ramp(s: _Scene, x0=0.3, length=None, height=None):
    """A static ramp descending to the right; returns its top corner, unit direction down the slope and normal."""
    L, h = length or s.u(3.5, 5.0), height or s.u(2.0, 3.2)
    s.static("ramp", [(x0, 0.0), (x0 + L, 0.0), (x0, h)])
    d, n = np.array([L, -h]) / math.hypot(L, h), np.array([h, L]) / math.hypot(L, h)
    return np.array([x0, h]), d, n


def _stack(s: _Scene, x: float, n: int, role="target") -> None:
    y = 0.0
    for _ in range(n):
        w = s.spread(0.65, 1.0)
        h = w * s.u(0.8, 1.1)
        s.box(x + s.u(-0.04, 0.04), y + h / 2 + 0.001, w, h, role=role)
        y += h + 0.002


def _dominoes(s: _Scene, x0: float | None, n: int, push: bool, heights=(1.2, 1.6)) -> None:
    """A row of n dominoes from x0 (None: centred), the first one tipped over when `push`."""
    h = s.spread(*heights)
    w, gap = h * s.u(0.15, 0.2), h * s.u(0.45, 0.6)
    n = min(n, int((9.6 - (x0 or 0.4)) / gap) + 1)  # the row stays inside the central square
    x0 = 5.0 - gap * (n - 1) / 2 if x0 is None else x0
    for i in range(n):
        first = push and i == 0
        s.box(x0 + i * gap, h / 2 + 0.001, w, h, kind="domino", omega=-s.u(1.5, 2.2) if first else 0.0,
              role="actor" if first else "target", friction=0.4)


def _ball_drop(s: _Scene) -> None:
    s.ball(s.u(3.0, 6.5), s.u(4.5, 7.5), s.spread(0.45, 0.8), vx=s.u(-0.3, 0.3), elasticity=s.u(0.3, 0.9))
    if s.rng.random() < 0.5:
        w = s.spread(0.6, 1.0)
        s.box(s.u(8.0, 9.0), s.u(3.0, 6.0), w, w * s.u(0.7, 1.2), role="actor", elasticity=s.u(0.0, 0.3))


def _bounce_floor(s: _Scene) -> None:
    s.ball(s.u(0.8, 2.0), s.u(2.5, 5.0), s.spread(0.35, 0.6), vx=s.spread(1.5, 3.0), elasticity=s.u(0.8, 0.95))
    h = s.u(4.0, 7.0)
    s.rect("wall", 9.6, h / 2, 0.3, h)


def _ramp_roll(s: _Scene) -> None:
    top, d, n = _ramp(s)
    r = s.spread(0.35, 0.6)
    s.ball(*(top + d * (1.5 * r + 0.1) + n * (r + 0.005)), r, elasticity=s.u(0.2, 0.6))
    if s.rng.random() < 0.7:
        w = s.spread(0.7, 1.1)
        s.box(s.u(7.2, 8.6), w / 2 + 0.001, w, w)


def _ramp_slide(s: _Scene) -> None:
    L = s.u(3.5, 4.5)
    top, d, n = _ramp(s, length=L, height=L * s.u(0.55, 0.85))
    angle = math.atan2(d[1], d[0])
    w = s.spread(0.6, 1.0)
    h = w * s.u(0.5, 0.9)
    if s.rng.random() < 0.5:
        s.box(*(top + d * (w / 2 + 0.2) + n * (h / 2 + 0.003)), w, h, angle=angle, role="actor",
              friction=s.u(0.05, 0.35), elasticity=0.1)
    else:
        s.triangle(*(top + d * (w / 2 + 0.2) + n * (h / 3 + 0.003)), w, h, angle=angle, friction=s.u(0.05, 0.35))


def _box_stack(s: _Scene) -> None:
    x, y = s.u(3.5, 6.5), 0.0
    for i in range(int(s.rng.integers(2, 5))):
        w = s.spread(0.7, 1.1)
        h, gap = w * s.u(0.6, 1.0), 0.001 if i == 0 else s.u(0.3, 0.9)
        s.box(x + s.u(-0.12, 0.12) * w, y + gap + h / 2, w, h, role="target" if i == 0 else "actor",
              elasticity=s.u(0.0, 0.1))
        y += gap + h


def _tower_topple(s: _Scene) -> None:
    n, w, y = int(s.rng.integers(3, 6)), s.spread(0.7, 1.0), 0.0
    x, lean = s.u(3.0, 4.2), w * s.u(max(1.2 / n, 0.3), 0.45)  # top part's centre of mass beyond the base's edge
    for i in range(n):
        h = w * s.u(0.8, 1.1)
        s.box(x + i * lean, y + h / 2 + 0.001, w, h, role="actor" if i == n - 1 else "target")
        y += h + 0.002


def _two_ball_collide(s: _Scene) -> None:
    e = s.u(0.7, 1.0)
    for x, sign in ((s.u(1.0, 2.5), 1.0), (s.u(7.5, 9.0), -1.0)):
        r = s.spread(0.4, 0.7)
        s.ball(x, r + 0.001, r, vx=sign * s.spread(1.0, 3.0), roll=True, elasticity=e)


def _domino_row(s: _Scene) -> None:
    _dominoes(s, None, int(s.rng.integers(4, 8)), push=True)


def _ball_hits_stack(s: _Scene) -> None:
    r = s.spread(0.4, 0.7)
    s.ball(max(s.u(0.8, 2.0), r + 0.1), r + 0.001, r, vx=s.spread(2.5, 4.5), roll=True)
    _stack(s, s.u(6.2, 7.5), int(s.rng.integers(2, 4)))


def _slide_friction(s: _Scene) -> None:
    for x, sign in ((s.u(0.8, 2.0), 1.0), (s.u(8.0, 9.2), -1.0))[: int(s.rng.integers(1, 3))]:
        w = s.spread(0.9, 1.4)
        h = w * s.u(0.35, 0.6)
        x = max(x, w / 2 + 0.1) if sign > 0 else min(x, 9.9 - w / 2)
        s.box(x, h / 2 + 0.001, w, h, vx=sign * s.spread(2.0, 4.5), friction=s.u(0.15, 0.7), role="actor")


def _seesaw(s: _Scene) -> None:
    hf, L, t = s.u(0.7, 1.0), s.u(4.5, 6.0), 0.18
    fulcrum = s.static("fulcrum", [(5 - 0.5 * hf, 0.0), (5 + 0.5 * hf, 0.0), (5.0, hf)], group=1)
    plank = s.box(5.0, hf + t / 2, L, t, kind="plank", friction=0.8, elasticity=0.1, group=1)
    s.joints.append({"kind": "pivot", "a": fulcrum.id, "b": plank.id, "anchor": [5.0, hf]})
    bw = s.spread(0.6, 0.9)
    s.box(5 - L / 2 + bw / 2 + 0.1, hf + t + bw / 2 + 0.001, bw, bw, friction=0.8)
    r = s.spread(0.4, 0.6)
    s.ball(5 + L / 2 - r - 0.15, s.u(5.5, 8.0), r, elasticity=0.2)


def _funnel(s: _Scene) -> None:
    gap, yb = s.u(1.1, 1.5), s.u(2.5, 3.2)
    top, width = yb + s.u(1.5, 2.0), s.u(2.2, 3.0)
    for sign in (-1.0, 1.0):
        s.bar((5 + sign * gap / 2, yb), (5 + sign * (gap / 2 + width), top))
    n = int(s.rng.integers(3, 6))
    xs = 5 + np.linspace(-0.7 * width, 0.7 * width, n)[s.rng.permutation(n)]
    for i in range(n):
        r = s.spread(0.25, 0.42)
        s.ball(xs[i] + s.u(-0.1, 0.1), top + 0.6 + r + 0.6 * i, r)


def _occluder_pass(s: _Scene) -> None:
    ox, ow, oh = s.u(4.5, 5.5), s.u(1.6, 2.4), s.u(2.2, 3.5)
    speed = s.spread(2.6, 3.6)
    if s.rng.random() < 0.7:
        r = s.spread(0.35, 0.6)
        s.ball(s.u(0.8, 1.6), r + 0.001, r, vx=speed, roll=True)
    else:
        w = s.spread(0.6, 0.9)
        s.box(s.u(0.8, 1.6), w / 2 + 0.001, w, w, vx=speed, friction=0.05, role="actor")
    s.rect("occluder", ox, (oh - 0.3) / 2, ow, oh + 0.3)


def _pendulum(s: _Scene, low=False) -> None:
    ax, ay, r = s.u(4.6, 5.4), s.u(7.6, 8.4), s.spread(0.35, 0.6)
    length = ay - r - 0.03 if low else s.u(2.5, min(ay - r - 1.0, 5.0))
    th = min(s.u(0.7, 1.2), math.asin(min(1.0, (4.3 - r) / length)))  # from the vertical, to the left
    s.rod(ax, ay, s.ball(ax - length * math.sin(th), ay - length * math.cos(th), r, elasticity=0.5))
    if low:
        _stack(s, ax + r + 0.55, int(s.rng.integers(2, 4)))


def _pile_up(s: _Scene) -> None:
    y = 0.2
    for _ in range(int(s.rng.integers(3, 6))):
        kind, size, x = s.rng.choice(["ball", "box", "triangle"]), s.spread(0.55, 0.9), s.u(3.8, 6.2)
        y += 0.72 * size + 0.2
        if kind == "ball":
            s.ball(x, y, size / 2)
        elif kind == "box":
            s.box(x, y, size, size * s.u(0.7, 1.0), angle=s.u(-0.8, 0.8), role="actor")
        else:
            s.triangle(x, y, size, size * s.u(0.7, 1.0), angle=s.u(-0.8, 0.8))
        y += 0.72 * size


def _ramp_dominoes(s: _Scene) -> None:
    L = s.u(3.0, 3.6)
    top, d, n = _ramp(s, x0=0.2, length=L, height=s.u(2.0, 2.8))
    r = s.spread(0.55, 0.75)
    s.ball(*(top + d * (1.5 * r + 0.1) + n * (r + 0.005)), r, elasticity=0.2)
    _dominoes(s, 0.2 + L + 1.2, int(s.rng.integers(3, 6)), push=False, heights=(0.9, 1.2))


def _occluded_collision(s: _Scene) -> None:
    ox, ow, oh = s.u(4.6, 5.4), s.u(2.2, 3.0), s.u(2.2, 3.2)
    r, t_meet = s.spread(0.35, 0.6), s.u(0.8, 1.4)  # equal balls swap speeds
    for sign in (-1.0, 1.0):
        v = s.spread(1.5, 3.0)
        t = min(t_meet, (4.2 - r) / v)  # start inside the central square
        s.ball(ox + sign * (v * t + r), r + 0.001, r, vx=-sign * v, friction=0.05, elasticity=1.0)
    s.rect("occluder", ox, (oh - 0.3) / 2, ow, oh + 0.3)


TEMPLATES = {
    "ball_drop": _ball_drop, "bounce_floor": _bounce_floor, "ramp_roll": _ramp_roll, "ramp_slide": _ramp_slide,
    "box_stack": _box_stack, "tower_topple": _tower_topple, "two_ball_collide": _two_ball_collide,
    "domino_row": _domino_row, "ball_hits_stack": _ball_hits_stack, "slide_friction": _slide_friction,
    "seesaw": _seesaw, "funnel": _funnel, "occluder_pass": _occluder_pass, "pendulum": _pendulum,
    "pile_up": _pile_up,
    # held out: each combines pieces the training templates show separately
    "ramp_dominoes": _ramp_dominoes, "occluded_collision": _occluded_collision,
    "pendulum_stack": lambda s: _pendulum(s, low=True),
}
SCENARIOS: tuple[str, ...] = tuple(TEMPLATES)
HELDOUT_TEMPLATES: tuple[str, ...] = ("ramp_dominoes", "occluded_collision", "pendulum_stack")
TRAIN_TEMPLATES: tuple[str, ...] = tuple(n for n in SCENARIOS if n not in HELDOUT_TEMPLATES)


# ----------------------------------------------------------------------------------------------------------------------
# Simulation: a fresh pymunk Space per call, fixed substeps per frame
# ----------------------------------------------------------------------------------------------------------------------

def _simulate(scene: _Scene, frames: int, fps: float, substeps: int, view, occluders, to_px):
    space = pymunk.Space()
    space.gravity, space.iterations, space.collision_slop = (0.0, -GRAVITY), 30, 0.002
    bodies, ids = {}, {}
    for o in scene.objs:
        if o.kind in ("occluder", "pin"):
            continue  # drawn only: no collisions
        body = pymunk.Body(body_type=pymunk.Body.STATIC) if o.static else pymunk.Body()
        body.position, body.angle = (o.x, o.y), o.angle
        shape = pymunk.Circle(body, o.radius) if o.radius is not None else pymunk.Poly(body, o.verts)
        shape.friction, shape.elasticity = o.friction, o.elasticity
        if o.group:
            shape.filter = pymunk.ShapeFilter(group=o.group)
        if not o.static:
            shape.density = DENSITY
        space.add(body, shape)
        if not o.static:
            body.velocity, body.angular_velocity = (o.vx, o.vy), o.omega
        bodies[o.id], ids[shape] = body, o.id
    for j in scene.joints:
        anchor, b = tuple(j["anchor"]), bodies[j["b"]]
        joint = (pymunk.PinJoint(space.static_body, b, anchor, (0.0, 0.0)) if j["kind"] == "rod"
                 else pymunk.PivotJoint(space.static_body, b, anchor))
        space.add(joint)

    events: list[dict] = []
    now = [0]

    def begin(arb: pymunk.Arbiter, _space, _data) -> None:
        sa, sb = arb.shapes
        a, b, n = ids[sa], ids[sb], arb.normal  # normal points from a to b
        speed = (sa.body.velocity - sb.body.velocity).dot(n)
        if a > b:
            a, b, n = b, a, -n
        if any(e["a"] == a and e["b"] == b and e["frame"] >= now[0] - 1 for e in events[-12:]):
            return  # the same contact flickering
        events.append({"frame": now[0], "type": "contact", "a": a, "b": b, "speed": round(float(speed), 4),
                       "normal": [round(float(n.x), 4), round(float(n.y), 4)]})

    def pre_solve(arb: pymunk.Arbiter, _space, _data) -> None:
        sa, sb = arb.shapes  # slow contacts do not bounce (else resting bodies jitter on perfectly elastic floors)
        if abs((sa.body.velocity - sb.body.velocity).dot(arb.normal)) < REST_SPEED:
            arb.restitution = 0.0

    space.on_collision(None, None, begin=begin, pre_solve=pre_solve)

    dyn = scene.dynamic
    samples = {o.id: area_samples(o.radius, o.verts) for o in dyn}
    dt = 1.0 / (fps * substeps)
    out = []
    for k in range(frames):
        if k:
            now[0] = k
            for _ in range(substeps):
                space.step(dt)
        objs = []
        for o in dyn:
            body = bodies[o.id]
            touching: set[int] = set()
            body.each_arbiter(lambda arb: touching.update(ids[s] for s in arb.shapes))
            touching.discard(o.id)
            (x, y), angle = body.position, body.angle
            pts = to_world(samples[o.id], x, y, angle)
            shown = (pts[:, 0] >= view[0]) & (pts[:, 0] <= view[2]) & (pts[:, 1] >= view[1]) & (pts[:, 1] <= view[3])
            hidden = np.zeros(len(pts), bool)
            for x0, y0, x1, y1 in occluders:
                hidden |= (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
            px, py = to_px(x, y)
            objs.append({"id": o.id, "x": _r(x), "y": _r(y), "angle": _r(angle), "vx": _r(body.velocity.x),
                         "vy": _r(body.velocity.y), "omega": _r(body.angular_velocity), "px": _r(px), "py": _r(py),
                         "visible_fraction": _r(np.mean(shown & ~hidden)), "in_view": bool(shown.any()),
                         "touching": sorted(touching)})
        out.append({"t": _r(k / fps), "objects": objs})
    return out, events


def _r(v) -> float:
    return round(float(v), 5)


# ----------------------------------------------------------------------------------------------------------------------
# Drawing: static layer once, then moving objects, then occluders on top, per frame
# ----------------------------------------------------------------------------------------------------------------------

def marker_rgb(rgb) -> tuple[int, int, int]:
    """The ball's rotation stripe: a darker shade (a lighter one on black)."""
    return (100, 100, 100) if sum(rgb) < 150 else tuple(int(c * 0.55) for c in rgb)


def _slats(x: float, y: float, w: float, h: float) -> list[np.ndarray]:
    """The vertical slats drawn over an occluder centred at (x, y), w x h units: (4, 2) world polygons."""
    return [np.array([[sx, y - h / 2], [sx + 0.16, y - h / 2], [sx + 0.16, y + h / 2], [sx, y + h / 2]])
            for sx in np.arange(x - w / 2 + 0.15, x + w / 2 - 0.2, 0.45)]


def _draw(scene: _Scene, frames: list[dict], width: int, height: int, ppu: float, bg, to_px) -> np.ndarray:
    def px_pts(world: np.ndarray) -> np.ndarray:
        return np.stack(to_px(world[:, 0], world[:, 1]), -1)  # (N, 2)

    def shape(canvas: Canvas, o: _Obj, x: float, y: float, angle: float) -> None:
        if o.radius is not None:
            stripe = (angle, 0.2 * o.radius * ppu, marker_rgb(o.rgb)) if o.kind == "ball" else None
            canvas.disc(*to_px(x, y), o.radius * ppu, o.rgb, stripe)
        else:
            canvas.polygon(px_pts(to_world(np.asarray(o.verts), x, y, angle)), o.rgb)

    base = Canvas(width, height, bg)
    for o in scene.objs:
        if o.static and o.kind not in ("occluder", "pin"):
            shape(base, o, o.x, o.y, o.angle)
    pins = {j["b"]: scene.objs[j["a"]] for j in scene.joints if j["kind"] == "rod"}
    occluders = [o for o in scene.objs if o.kind == "occluder"]
    video = np.empty((len(frames), height, width, 3), np.uint8)  # (T, H, W, 3)
    for k, frame in enumerate(frames):
        canvas = base.copy()
        for st in frame["objects"]:
            if st["id"] in pins:
                pin = pins[st["id"]]
                canvas.segment(to_px(pin.x, pin.y), to_px(st["x"], st["y"]), 0.04 * ppu, ROD_RGB)
                shape(canvas, pin, pin.x, pin.y, 0.0)
        for st in frame["objects"]:
            shape(canvas, scene.objs[st["id"]], st["x"], st["y"], st["angle"])
        for o in occluders:
            shape(canvas, o, o.x, o.y, 0.0)
            for band in _slats(o.x, o.y, *o.size):
                canvas.polygon(px_pts(band), OCCLUDER_STRIPE)
        video[k] = canvas.image()
    return video


def pixel_map(state: dict, width: int, height: int):
    """f(x, y) -> (px, py): world units to pixels of a `width` x `height` clip of this state (as render draws it)."""
    ppu = float(state["pixels_per_unit"])
    cx, cy = VIEW_CENTER

    def f(x, y):
        return width / 2 + (np.asarray(x) - cx) * ppu, height / 2 - (np.asarray(y) - cy) * ppu
    return f


def static_layer(state: dict, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """What a clip of `state` (a Sample's state) shows where no moving object is: uint8 (H, W, 3) background, floor,
    ramps, pins and occluders drawn as render draws them, and (H, W) float: how much of each pixel occluders cover
    (0..1). For parsers of the clips (kinema.eval.scenes)."""
    to_px = pixel_map(state, width, height)
    canvas = Canvas(width, height, tuple(state["background"]))
    occ = Canvas(width, height, (0, 0, 0))
    layer = {"pin": 1, "occluder": 2}  # scenery, then pins, then occluders with their slats on top

    def draw(c: Canvas, o: dict, rgb) -> None:
        if "radius" in o:
            c.disc(*to_px(o["x"], o["y"]), o["radius"] * state["pixels_per_unit"], rgb)
        else:
            pts = to_world(np.asarray(o["vertices"]), o["x"], o["y"], o["angle"])
            c.polygon(np.stack(to_px(pts[:, 0], pts[:, 1]), -1), rgb)

    for o in sorted((o for o in state["objects"] if o["static"]), key=lambda o: layer.get(o["kind"], 0)):
        draw(canvas, o, o["rgb"])
        if o["kind"] == "occluder":
            draw(occ, o, (255, 255, 255))
            for band in _slats(o["x"], o["y"], o["width"], o["height"]):
                canvas.polygon(np.stack(to_px(band[:, 0], band[:, 1]), -1), OCCLUDER_STRIPE)
    return canvas.image(), occ.rgb[..., 0] / 255.0


# ----------------------------------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------------------------------

def render(scenario: str, *, seed: int = 0, frames: int = 32, width: int = 64, height: int = 64, fps: float = 10.0,
           substeps: int = 10, ood: bool = False) -> Sample:
    """Simulate and draw one clip of `scenario`; `ood` draws sizes and speeds from just outside the usual ranges."""
    if scenario not in TEMPLATES:
        raise ValueError(f"unknown scenes scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    check_size(frames, width, height, fps)
    if not 1 <= substeps <= 1000:
        raise ValueError(f"substeps must be in [1, 1000], got {substeps}")
    rng = rng_for(seed, SCENARIOS.index(scenario), int(bool(ood)))
    scene = _Scene(rng, bool(ood))
    TEMPLATES[scenario](scene)
    if rng.random() < 0.5:
        scene.mirror()
    bg = tuple(int(c) for c in np.array([244, 242, 236]) + rng.integers(-8, 5, 3))
    ppu = min(width, height) / UNITS_ACROSS
    cx, cy = VIEW_CENTER
    view = [cx - width / 2 / ppu, cy - height / 2 / ppu, cx + width / 2 / ppu, cy + height / 2 / ppu]

    def to_px(x, y):
        return width / 2 + (x - cx) * ppu, height / 2 - (y - cy) * ppu

    occluders = [(o.x - o.size[0] / 2, o.y - o.size[1] / 2, o.x + o.size[0] / 2, o.y + o.size[1] / 2)
                 for o in scene.objs if o.kind == "occluder"]
    track, events = _simulate(scene, frames, fps, substeps, view, occluders, to_px)
    video = _draw(scene, track, width, height, ppu, bg, to_px)
    state = {
        "units": "world", "pixels_per_unit": ppu, "template": scenario,
        "origin": (f"y up, floor surface at y=0; pixel (col,row) covers [col,col+1)x[row,row+1); "
                   f"px = W/2 + (x - {cx})*ppu, py = H/2 - (y - {cy})*ppu"),
        "gravity": [0.0, -GRAVITY], "background": list(bg), "view": [_r(v) for v in view],
        "objects": [_object_state(o) for o in scene.objs], "joints": scene.joints, "frames": track, "events": events,
    }
    return Sample(video, float(fps), f"scenes/{scenario}", int(seed), state, caption(state),
                  meta={"ood": bool(ood), "substeps": int(substeps)})


def _object_state(o: _Obj) -> dict:
    d = {"id": o.id, "kind": o.kind, "color": o.color, "rgb": list(o.rgb), "static": o.static, "role": o.role,
         "friction": _r(o.friction), "elasticity": _r(o.elasticity)}
    if o.radius is not None:
        d["radius"] = _r(o.radius)
    else:
        d["vertices"] = [[_r(a), _r(b)] for a, b in o.verts]
    if o.size is not None:
        d["width"], d["height"] = _r(o.size[0]), _r(o.size[1])
    if o.static:
        d.update(x=_r(o.x), y=_r(o.y), angle=_r(o.angle))
    return d
