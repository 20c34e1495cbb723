"""The `explore` world: a first-person camera walks through a procedurally generated 3D place.

    from kinema.worlds.explore import make_world, render
    sample = render("gallery", seed=3, frames=32, width=96, height=54, actions="W W W A A D .")
    world = make_world("gallery", seed=3)                      # the same place, for live ground truth
    pose = world.step(world.start_pose(), "W", 0.1)            # pure: (pose, action, dt) -> pose
    frame = world.view(pose, 96, 54)                           # (54, 96, 3) uint8

Scenarios: "gallery" (an exhibition hall: rooms joined by doorways, paintings on the walls, pillars), "garden" (hedge
walls, trees and flower beds on grass or gravel, under a sky), "street" (an old-town street with house fronts, windows,
doors, cobblestones, a sky). The layout and the style (colours, floor material, sky tint) come from the seed.

Actions (one per frame after the first; frame i shows the pose after action i): W forward, S back, A turn left
(counter-clockwise), D turn right, Q strafe left, E strafe right, "." no-op. Motion per frame is speed / fps, so an
action sequence covers the same distance per second at any fps. The camera is a square of half-size RADIUS that never
overlaps a solid cell (walls, pillars, trees, flower beds); it slides along walls it runs into.

Geometry (shared with raycast.py): x east, y north, z up, yaw in degrees counter-clockwise from +x; 1 unit = one map
cell; the eye is EYE_HEIGHT above the floor; the vertical field of view is fixed (VFOV_DEG) and the horizontal one
follows from the aspect ratio. Rendering is a pure function of (world, pose, width, height).

Sample.state keys beyond the base contract:
- "pixels_per_unit": the focal length in pixels, f = (H/2) / tan(VFOV/2): an object 1 unit wide (or tall), 1 unit in
  front of the camera, spans f pixels; at distance d it spans f / d.
- "camera": vfov/hfov in degrees, focal length, eye height, wall height, collision radius, speeds.
- "map": rows of characters, map[j][i] is cell (i, j) (row 0 is the southmost row y in [0, 1)); "legend" names them.
- "style": the seeded style choices the caption describes; "ood": whether the style pair is a held-out combination.
- "objects": paintings/doors (position = centre of the wall face, "facing" = yaw of the face normal), pillars/trees
  (cell centre), flower beds (rectangle centre and size).
- "frames": [{"t", "camera": {"x", "y", "yaw", "eye_height"}, "action"}]; frame 0's action is "" (the start view).
- "actions": the actions of frames 1.. as one space-separated string (feed it back to `render` to reproduce the clip).

Out of distribution (ood=True): each scenario has two style colours (gallery: wall and painting colour; garden: flowers
and sky; street: houses and doors). A fixed fifth of the colour pairs is held out: in-distribution samples never use
them, ood samples always do, so every colour is seen in training, but not every combination.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from kinema.worlds import explore_caption, raycast
from kinema.worlds.base import PALETTE, Sample, check_size, rng_for
from kinema.worlds.explore_caption import (AMOUNT_WORDS, COLORS_ZH, EXTRA_WORDS, FLOOR_WORDS, GLOSSARY,  # noqa: F401
                                           NEUTRAL_ZH, SCENE_WORDS, THING_WORDS)  # re-exported: the captions' words

SCENARIOS = ("gallery", "garden", "street")

MOVE_SPEED = 2.0        # world units per second (W, S, Q, E)
TURN_SPEED = 90.0       # degrees per second (A, D)
EYE_HEIGHT = 0.5        # world units above the floor
VFOV_DEG = 60.0         # vertical field of view; the horizontal one is 2 atan(tan(VFOV/2) * W / H)
RADIUS = 0.2            # the camera's collision half-size
MAX_SUBSTEP = 0.25      # longest collision sub-step, so low fps cannot tunnel through a one-cell wall
WALL_HEIGHT = {"gallery": 1.4, "garden": 1.5, "street": 2.0}

# ----------------------------------------------------------------------------------------------------------------------
# Actions
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    en: str              # name
    zh: str
    verb_en: str         # caption phrase ("the camera walks forward")
    verb_zh: str
    forward: int = 0     # +1 forward, -1 back
    strafe: int = 0      # +1 left, -1 right
    turn: int = 0        # +1 counter-clockwise (left), -1 clockwise (right)


ACTIONS: dict[str, Action] = {
    "W": Action("forward", "前进", "walks forward", "向前走", forward=1),
    "S": Action("back", "后退", "walks backward", "向后退", forward=-1),
    "A": Action("turn left", "左转", "turns left", "向左转", turn=1),
    "D": Action("turn right", "右转", "turns right", "向右转", turn=-1),
    "Q": Action("strafe left", "向左平移", "sidesteps left", "向左平移", strafe=1),
    "E": Action("strafe right", "向右平移", "sidesteps right", "向右平移", strafe=-1),
    ".": Action("no-op", "不动", "stands still", "原地停留"),
}


def parse_actions(actions: str | Sequence[str], limit: int) -> list[str]:
    """"W W A ." or ["W", "W", "A", "."] -> a list of at most `limit` keys (whitespace in a string is ignored)."""
    keys = [ch for ch in actions if not ch.isspace()] if isinstance(actions, str) else list(actions)
    for n, k in enumerate(keys):
        if k not in ACTIONS:
            allowed = ", ".join(f"{key} ({a.en})" for key, a in ACTIONS.items())
            raise ValueError(f"unknown action {k!r} at position {n}; allowed: {allowed}")
    if len(keys) > limit:
        raise ValueError(f"{len(keys)} actions given but at most frames - 1 = {limit} fit (frame 0 is the start view)")
    return keys


# ----------------------------------------------------------------------------------------------------------------------
# Colours and styles (their words live in explore_caption.py)
# ----------------------------------------------------------------------------------------------------------------------

NEUTRAL: dict[str, tuple[int, int, int]] = {"white": (240, 240, 235), "grey": (130, 130, 135)}
COLORS = {**PALETTE, **NEUTRAL}
_ORDER = tuple(COLORS)                       # fixed colour order for the held-out (ood) pair rule

SKIES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], float]] = {   # horizon, zenith, cloud cover
    "blue": ((185, 210, 240), (60, 120, 215), 0.35),
    "orange": ((250, 175, 95), (215, 105, 70), 0.3),
    "purple": ((205, 160, 215), (95, 60, 150), 0.25),
    "grey": ((195, 195, 200), (140, 142, 150), 0.7),
}

STYLE_CHOICES: dict[str, dict[str, tuple[str, ...]]] = {
    "gallery": {"wall": ("red", "green", "blue", "yellow", "purple", "orange", "cyan", "black", "white", "grey"),
                "painting": ("red", "green", "blue", "yellow", "purple", "orange", "cyan"),
                "floor": ("wood", "marble", "checker", "carpet")},
    "garden": {"flower": ("red", "yellow", "purple", "orange", "blue", "white"), "sky": tuple(SKIES),
               "ground": ("grass", "gravel")},
    "street": {"house": ("yellow", "orange", "red", "white", "cyan", "blue"),
               "door": ("red", "green", "blue", "black", "purple", "yellow", "cyan", "orange"), "sky": tuple(SKIES)},
}
STYLE_PAIR = {"gallery": ("wall", "painting"), "garden": ("flower", "sky"), "street": ("house", "door")}

# ----------------------------------------------------------------------------------------------------------------------
# Map cells
# ----------------------------------------------------------------------------------------------------------------------

FLOOR, WALL, PILLAR, TREE, BED = 0, 1, 2, 3, 4
MAP_CHARS = {FLOOR: ".", WALL: "#", PILLAR: "P", TREE: "T", BED: "F"}
LEGEND = {"gallery": {".": "floor", "#": "wall", "P": "pillar"},
          "garden": {".": "ground", "#": "hedge", "T": "tree", "F": "flower bed"},
          "street": {".": "street", "#": "house"}}
FACE_YAW = (180.0, 0.0, 270.0, 90.0)   # yaw of each face's outward normal (west, east, south, north)


def _gallery_map(rng: np.random.Generator):
    """A grid of 2-3 x 2-3 rooms (4-7 cells each side) joined by doorways; pillars in the larger rooms."""
    nx, ny = (int(v) for v in rng.integers(2, 4, 2))
    ws, hs = rng.integers(4, 8, nx), rng.integers(4, 8, ny)
    xs = 1 + np.concatenate([[0], np.cumsum(ws + 1)[:-1]])
    ys = 1 + np.concatenate([[0], np.cumsum(hs + 1)[:-1]])
    grid = np.full((int(ys[-1] + hs[-1] + 1), int(xs[-1] + ws[-1] + 1)), WALL, np.int8)
    doorway = np.zeros(grid.shape, bool)
    for a in range(nx):
        for b in range(ny):
            grid[ys[b]:ys[b] + hs[b], xs[a]:xs[a] + ws[a]] = FLOOR
    edges = [((a, b), (a + 1, b)) for a in range(nx - 1) for b in range(ny)]
    edges += [((a, b), (a, b + 1)) for a in range(nx) for b in range(ny - 1)]
    parent = {(a, b): (a, b) for a in range(nx) for b in range(ny)}

    def root(r):
        while parent[r] != r:
            r = parent[r]
        return r

    for e in rng.permutation(len(edges)):          # random spanning tree, plus some extra doorways (loops)
        (a, b), (c, d) = edges[e]
        if root((a, b)) == root((c, d)) and rng.random() > 0.35:
            continue
        parent[root((a, b))] = root((c, d))
        dw = int(rng.integers(1, 3))
        if c > a:                                  # doorway in the wall column between rooms (a, b) and (a+1, b)
            y0 = int(rng.integers(ys[b] + 1, ys[b] + hs[b] - dw))
            doorway[y0:y0 + dw, xs[a] + ws[a]] = True
        else:
            x0 = int(rng.integers(xs[a] + 1, xs[a] + ws[a] - dw))
            doorway[ys[b] + hs[b], x0:x0 + dw] = True
    grid[doorway] = FLOOR
    sa, sb = int(rng.integers(nx)), int(rng.integers(ny))       # the start room keeps its floor clear
    for a in range(nx):
        for b in range(ny):
            if ws[a] >= 5 and hs[b] >= 5 and (a, b) != (sa, sb):
                for px in ({xs[a] + 2, xs[a] + ws[a] - 3} if ws[a] >= 7 else {xs[a] + ws[a] // 2}):
                    for py in ({ys[b] + 2, ys[b] + hs[b] - 3} if hs[b] >= 7 else {ys[b] + hs[b] // 2}):
                        grid[py, px] = PILLAR
    a, b = sa, sb
    cells = [(i, j) for j in range(ys[b], ys[b] + hs[b]) for i in range(xs[a], xs[a] + ws[a])
             if (grid[j - 1:j + 2, i - 1:i + 2] == FLOOR).all()]          # walkable all around
    return grid, cells[int(rng.integers(len(cells)))], doorway


def _garden_map(rng: np.random.Generator):
    """An open lawn inside a hedge, with hedge segments, trees and flower beds that never cut the lawn in two."""
    gw, gh = (int(v) for v in rng.integers(14, 21, 2))
    grid = np.full((gh, gw), FLOOR, np.int8)
    grid[[0, -1], :] = WALL
    grid[:, [0, -1]] = WALL
    si, sj = int(rng.integers(3, gw - 3)), int(rng.integers(3, gh - 3))
    keep = np.zeros_like(grid, dtype=bool)
    keep[sj - 2:sj + 3, si - 2:si + 3] = True      # open ground around the start
    area = (gw - 2) * (gh - 2)
    todo = [WALL] * (area // 30) + [TREE] * (area // 22) + [BED] * (area // 35)
    todo += [TREE, BED] * 20                       # spare tries, used only while no tree or no bed stands yet
    placed = {WALL: 0, TREE: 0, BED: 0}
    for n, code in enumerate(todo):
        if n >= len(todo) - 40 and placed[code] > 0:
            continue
        i, j = int(rng.integers(1, gw - 1)), int(rng.integers(1, gh - 1))
        if code == WALL:
            length = int(rng.integers(2, 6))
            di, dj = (length, 1) if rng.random() < 0.5 else (1, length)
        elif code == BED:
            di, dj = int(rng.integers(1, 4)), int(rng.integers(1, 3))
        else:
            di, dj = 1, 1
        box = (slice(j, j + dj), slice(i, i + di))
        if j + dj > gh - 1 or i + di > gw - 1 or keep[box].any() or (grid[box] != FLOOR).any():
            continue
        grid[box] = code
        if raycast.connected(grid == FLOOR, si, sj):
            placed[code] += 1
        else:
            grid[box] = FLOOR
    return grid, (si, sj), None


def _street_map(rng: np.random.Generator):
    """A main street three cells wide across the map, side streets and sometimes a small square; houses elsewhere."""
    gw, gh = int(rng.integers(18, 25)), int(rng.integers(14, 21))
    grid = np.full((gh, gw), WALL, np.int8)
    ym = int(rng.integers(3, gh - 5))
    grid[ym:ym + 3, 1:gw - 1] = FLOOR
    used: list[int] = []
    for _ in range(int(rng.integers(1, 4))):
        x = int(rng.integers(2, gw - 4))
        if any(abs(x - u) < 4 for u in used):
            continue
        used.append(x)
        w = int(rng.integers(1, 3))
        side = int(rng.integers(3))                # 0: north only, 1: south only, 2: both
        lo = 1 if side != 0 else ym
        hi = gh - 1 if side != 1 else ym + 3
        grid[lo:hi, x:x + w] = FLOOR
    if rng.random() < 0.5:                         # a small square opening off the main street
        w, d = int(rng.integers(3, 5)), int(rng.integers(2, 4))
        x = int(rng.integers(1, gw - 1 - w))
        if rng.random() < 0.5:
            grid[max(1, ym - d):ym, x:x + w] = FLOOR
        else:
            grid[ym + 3:min(gh - 1, ym + 3 + d), x:x + w] = FLOOR
    return grid, (int(rng.integers(2, gw - 2)), ym + 1), None


# ----------------------------------------------------------------------------------------------------------------------
# The world: layout + style + materials; pure step/view
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pose:
    """Camera position (world units) and heading (degrees, counter-clockwise from +x, in [0, 360)). Eye height is
    the constant EYE_HEIGHT."""

    x: float
    y: float
    yaw: float

    def as_dict(self) -> dict[str, float]:
        return {"x": self.x, "y": self.y, "yaw": self.yaw, "eye_height": EYE_HEIGHT}


@dataclass(frozen=True, eq=False)
class ExploreWorld:
    """One generated place. Immutable: `step` and `view` are pure functions of their arguments."""

    scenario: str
    seed: int
    ood: bool
    grid: np.ndarray                 # (GH, GW) int8 cell codes (FLOOR, WALL, PILLAR, TREE, BED)
    scene: raycast.Scene
    style: dict[str, str]
    objects: tuple[dict[str, Any], ...]
    face_obj: np.ndarray             # (GH, GW, 4) index into objects of the painting/door on a face, or -1
    start: Pose

    def start_pose(self) -> Pose:
        return self.start

    def step(self, pose: Pose, action: str, dt: float) -> Pose:
        """The pose after doing `action` for `dt` seconds; walls stop the camera and it slides along them."""
        if action not in ACTIONS:
            parse_actions([action], 1)             # raises the one clear error
        if not (math.isfinite(dt) and dt >= 0):
            raise ValueError(f"dt must be a finite number of seconds >= 0, got {dt}")
        a = ACTIONS[action]
        if a.turn:
            yaw = (pose.yaw + a.turn * TURN_SPEED * dt) % 360.0
            return Pose(pose.x, pose.y, 0.0 if yaw >= 360.0 else yaw)
        if not (a.forward or a.strafe):
            return pose
        c, s = raycast.cos_sin(pose.yaw)
        dist = MOVE_SPEED * dt
        dx = dist * (a.forward * c - a.strafe * s)     # forward (c, s), left (-s, c)
        dy = dist * (a.forward * s + a.strafe * c)
        n = max(1, math.ceil(max(abs(dx), abs(dy)) / MAX_SUBSTEP))
        x, y = pose.x, pose.y
        for _ in range(n):
            x = self._slide(x, y, dx / n, axis=0)
            y = self._slide(y, x, dy / n, axis=1)
        return Pose(x, y, pose.yaw)

    def _slide(self, p: float, q: float, d: float, axis: int) -> float:
        """Move coordinate p by d (the other coordinate is q); stop flush RADIUS away from a solid cell."""
        if d == 0.0:
            return p
        eps = 1e-9
        lo, hi = math.floor(q - RADIUS + eps), math.floor(q + RADIUS - eps)
        new = p + d
        edge = math.floor(new + RADIUS - eps) if d > 0 else math.floor(new - RADIUS + eps)
        cells = self.grid[lo:hi + 1, edge] if axis == 0 else self.grid[edge, lo:hi + 1]
        if (cells != FLOOR).any():
            new = edge - RADIUS if d > 0 else edge + 1 + RADIUS
        return new

    def view(self, pose: Pose, width: int, height: int) -> np.ndarray:
        """(height, width, 3) uint8: what the camera at `pose` sees."""
        check_size(1, width, height, 1.0)
        return raycast.draw(self.scene, pose.x, pose.y, pose.yaw, width, height, eye=EYE_HEIGHT, vfov=VFOV_DEG)

    def clearance(self, pose: Pose, turn: float = 0.0) -> float:
        """Distance from the camera to the nearest solid cell along yaw + turn (degrees)."""
        return raycast.clearance(self.grid != FLOOR, pose.x, pose.y, (pose.yaw + turn) % 360.0)

    def facing(self, pose: Pose) -> dict[str, Any]:
        """What the centre of the view shows: {"kind", "color", "distance"} (an object's entry adds "id")."""
        c, s = raycast.cos_sin(pose.yaw)
        dist, i, j, face = raycast.cast(self.scene.opaque, pose.x, pose.y, np.array([c]), np.array([s]))
        k = int(self.face_obj[j[0], i[0], face[0]])
        if k >= 0:
            return {"kind": self.objects[k]["kind"], "color": self.objects[k]["color"], "id": self.objects[k]["id"],
                    "distance": float(dist[0])}
        kind = {PILLAR: "pillar", TREE: "tree"}.get(int(self.grid[j[0], i[0]]), LEGEND[self.scenario]["#"])
        return {"kind": kind, "color": self.style.get(kind, "green"), "distance": float(dist[0])}

    def map_rows(self) -> list[str]:
        return ["".join(MAP_CHARS[int(v)] for v in row) for row in self.grid]


def _pick_style(scenario: str, rng: np.random.Generator, ood: bool) -> dict[str, str]:
    choices = STYLE_CHOICES[scenario]
    ka, kb = STYLE_PAIR[scenario]
    pairs = [(a, b) for a in choices[ka] for b in choices[kb] if a != b
             and ((_ORDER.index(a) + _ORDER.index(b)) % 5 == 0) == ood]
    a, b = pairs[int(rng.integers(len(pairs)))]
    style = {k: str(v[int(rng.integers(len(v)))]) for k, v in choices.items() if k not in (ka, kb)}
    style.update({ka: a, kb: b})
    if scenario == "gallery":
        style["pillar"] = "grey" if a == "white" else "white"
    return style


def _tint(name: str, white: float = 0.2) -> tuple[float, float, float]:
    return tuple(float(c) * (1 - white) + 245 * white for c in COLORS[name])


def make_world(scenario: str, seed: int = 0, *, ood: bool = False) -> ExploreWorld:
    """Generate the place for (scenario, seed): layout from one random stream, style and materials from others."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown explore scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    sid = SCENARIOS.index(scenario)
    grid, (si, sj), doorway = {"gallery": _gallery_map, "garden": _garden_map, "street": _street_map}[scenario](
        rng_for(seed, 1, sid))
    style = _pick_style(scenario, rng_for(seed, 2, sid, int(ood)), ood)
    rng = rng_for(seed, 3, sid)
    wh = WALL_HEIGHT[scenario]
    gh, gw = grid.shape
    objects: list[dict[str, Any]] = []
    face_obj = np.full((gh, gw, 4), -1, np.int64)
    face_tex = np.zeros((gh, gw, 4), np.int64)
    walls: list[np.ndarray] = []
    ceiling, sky = None, None

    def add_face_object(kind: str, color: str, i: int, j: int, k: int, tex: int, **extra) -> None:
        face_obj[j, i, k] = len(objects)
        face_tex[j, i, k] = tex
        objects.append({"id": f"{kind}_{sum(o['kind'] == kind for o in objects)}", "kind": kind, "color": color,
                        "rgb": list(COLORS[color]), "position": raycast.face_centre(i, j, k), "facing": FACE_YAW[k],
                        **extra})

    def add_cell_objects(kind: str, code: int, color: str) -> None:
        for n, (j, i) in enumerate(zip(*np.nonzero(grid == code))):
            objects.append({"id": f"{kind}_{n}", "kind": kind, "color": color, "rgb": list(COLORS[color]),
                            "position": [float(i) + 0.5, float(j) + 0.5], "size": 1.0})

    if scenario == "gallery":
        walls = [raycast.gallery_wall(rng, _tint(style["wall"]), wh), raycast.pillar(rng, COLORS[style["pillar"]], wh)]
        face_tex[grid == PILLAR] = 1
        others = [c for c in PALETTE if c not in (style["painting"], style["wall"])]
        for i, j, k in raycast.wall_faces(grid == WALL, grid == FLOOR, skip=doorway):
            if rng.random() < 0.5:
                continue
            second, accent = (others[int(n)] for n in rng.choice(len(others), 2, replace=False))
            frame = ((190, 150, 60), (30, 30, 30), (235, 235, 235))[int(rng.integers(3))]
            walls.append(raycast.painting(rng, walls[0], wh, COLORS[style["painting"]], COLORS[second],
                                          COLORS[accent], frame))
            add_face_object("painting", style["painting"], i, j, k, len(walls) - 1, width=0.625, height=0.7,
                            z=[0.35, 1.05], second_color=second)
        add_cell_objects("pillar", PILLAR, style["pillar"])
        floor = {"wood": raycast.wood, "marble": raycast.marble, "checker": raycast.checker,
                 "carpet": lambda r: raycast.carpet(r, (120, 120, 125))}[style["floor"]](rng)
        floors, floor_mat = [floor], np.zeros_like(grid, np.int64)
        ceiling, fog, fog_dist = raycast.ceiling(rng), (30, 28, 26), 9.0
    elif scenario == "garden":
        walls = [raycast.hedge(rng, wh), raycast.tree(rng, wh)]
        face_tex[grid == TREE] = 1
        add_cell_objects("tree", TREE, "green")
        add_cell_objects("flower_bed", BED, style["flower"])
        floors = [{"grass": raycast.grass, "gravel": raycast.gravel}[style["ground"]](rng),
                  raycast.flowerbed(rng, COLORS[style["flower"]])]
        floor_mat = (grid == BED).astype(np.int64)
    else:
        trim = COLORS[style["door"]]
        for shade in (0.88, 1.0, 1.1):                # texture 2 * shade + door
            for door in (False, True):
                walls.append(raycast.facade(rng, np.clip(np.multiply(_tint(style["house"], 0.25), shade), 0, 255),
                                            trim, door, wh))
        blocks = rng.integers(0, 3, (gh // 2 + 1, gw // 2 + 1))
        face_tex[:] = (2 * blocks[np.arange(gh) // 2][:, np.arange(gw) // 2])[..., None]
        faces = raycast.wall_faces(grid == WALL, grid == FLOOR)
        doors = [f for f in faces if rng.random() < 0.22] or [faces[int(rng.integers(len(faces)))]]
        for i, j, k in doors:
            add_face_object("door", style["door"], i, j, k, int(face_tex[j, i, k]) + 1, width=0.31, height=0.85)
        floors, floor_mat = [raycast.cobbles(rng)], np.zeros_like(grid, np.int64)
    if scenario != "gallery":
        horizon, zenith, clouds = SKIES[style["sky"]]
        sky, fog, fog_dist = raycast.sky(rng, horizon, zenith, clouds), horizon, 14.0
    scene = raycast.Scene(opaque=np.isin(grid, (WALL, PILLAR, TREE)), face_tex=face_tex, wall_tex=np.stack(walls),
                          wall_height=wh, floor_mat=floor_mat, floor_tex=np.stack(floors), ceiling_tex=ceiling,
                          sky=sky, fog_rgb=tuple(int(v) for v in fog), fog_dist=fog_dist)
    yaws = (0.0, 180.0) if scenario == "street" else (0.0, 90.0, 180.0, 270.0)
    order = [yaws[int(n)] for n in rng.permutation(len(yaws))]     # ties broken by the seed
    if scenario != "street":                        # face the longest free view
        order.sort(key=lambda yaw: -raycast.clearance(grid != FLOOR, si + 0.5, sj + 0.5, yaw))
    start = Pose(si + 0.5, sj + 0.5, order[0])
    return ExploreWorld(scenario, int(seed), bool(ood), grid, scene, style, tuple(objects), face_obj, start)


# ----------------------------------------------------------------------------------------------------------------------
# Scripted policy (the default when no actions are given)
# ----------------------------------------------------------------------------------------------------------------------


def random_actions(world: ExploreWorld, n: int, fps: float, rng: np.random.Generator,
                   pose: Pose | None = None) -> list[str]:
    """Mostly walk forward, turn away before walls, sometimes turn, strafe, step back or pause. Durations are in
    seconds, so the behaviour per second is the same at any fps. pose: where the walk goes on from (default: the
    world's start pose)."""
    dt, out, plan = 1.0 / fps, [], []
    pose = world.start_pose() if pose is None else pose

    def frames(seconds: float) -> int:
        return max(1, int(round(seconds * fps)))

    def room(turn: float) -> int:                     # frames of walking before getting within 0.6 of a wall
        return int((world.clearance(pose, turn) - 0.6) / (MOVE_SPEED * dt))

    while len(out) < n:
        if not plan:
            left, right = world.clearance(pose, 90.0), world.clearance(pose, -90.0)
            toward_open = "A" if left > right or (left == right and rng.random() < 0.5) else "D"
            sides = [(k, m) for k, m in (("Q", room(90.0)), ("E", room(-90.0))) if m >= 1]
            r = rng.random()
            if room(0.0) < 1:
                plan = [toward_open] * frames(rng.uniform(45, 135) / TURN_SPEED)
            elif r < 0.45:
                plan = ["W"] * min(room(0.0), frames(rng.uniform(0.5, 2.0)))
            elif r < 0.65:
                plan = [("A", "D")[int(rng.integers(2))]] * frames(rng.uniform(20, 100) / TURN_SPEED)
            elif r < 0.8 and sides:
                key, m = sides[int(rng.integers(len(sides)))]
                plan = [key] * min(m, frames(rng.uniform(0.2, 0.8)))
            elif r < 0.9 and room(180.0) >= 1:
                plan = ["S"] * min(room(180.0), frames(rng.uniform(0.2, 0.6)))
            else:
                plan = ["."] * frames(rng.uniform(0.2, 0.8))
        key = plan.pop(0)
        out.append(key)
        pose = world.step(pose, key, dt)
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Captions (worded in explore_caption.py)
# ----------------------------------------------------------------------------------------------------------------------


def caption(world: ExploreWorld, keys: Sequence[str], fps: float) -> dict[str, dict[str, str]]:
    """Detailed and short captions in English and Chinese: the place's style and colours, then what the camera does."""
    runs = []
    for key, run in itertools.groupby(keys):
        a, n = ACTIONS[key], len(list(run))
        runs.append((a, n * TURN_SPEED / fps if a.turn else n / fps))   # degrees turned, or seconds
    kinds = {o["kind"] for o in world.objects}
    return explore_caption.caption(world.scenario, world.style, kinds, world.facing(world.start_pose()), runs)


# ----------------------------------------------------------------------------------------------------------------------
# render
# ----------------------------------------------------------------------------------------------------------------------


def render(scenario: str, *, seed: int = 0, frames: int = 32, width: int = 64, height: int = 64, fps: float = 10.0,
           actions: str | Sequence[str] | None = None, ood: bool = False) -> Sample:
    """Render a walk: frame 0 is the start view, frame i the view after actions[i-1]. Missing actions are no-ops;
    actions=None lets a seeded scripted policy walk."""
    check_size(frames, width, height, fps)
    world = make_world(scenario, seed, ood=ood)
    if actions is None:
        keys = random_actions(world, frames - 1, fps, rng_for(seed, 4, SCENARIOS.index(scenario)))
    else:
        keys = parse_actions(actions, frames - 1)
        keys += ["."] * (frames - 1 - len(keys))
    poses = [world.start_pose()]
    for k in keys:
        poses.append(world.step(poses[-1], k, 1.0 / fps))
    video = np.stack([world.view(p, width, height) for p in poses])            # (T, H, W, 3)
    f = raycast.focal_px(height, VFOV_DEG)
    state = {
        "units": "world",
        "pixels_per_unit": f,
        "origin": "x east, y north, z up, 1 unit = 1 map cell; map[j][i] is cell x in [i, i+1), y in [j, j+1); "
                  "yaw in degrees counter-clockwise from +x; pixels_per_unit is the focal length in pixels (an object "
                  "1 unit tall at distance d spans pixels_per_unit / d pixels); the horizon is the image's middle row",
        "camera": {"vfov_deg": VFOV_DEG, "hfov_deg": math.degrees(2 * math.atan(width / (2 * f))), "focal_px": f,
                   "eye_height": EYE_HEIGHT, "wall_height": WALL_HEIGHT[scenario], "radius": RADIUS,
                   "move_speed": MOVE_SPEED, "turn_speed_deg": TURN_SPEED},
        "map": world.map_rows(),
        "legend": LEGEND[scenario],
        "style": dict(world.style),
        "ood": bool(ood),
        "objects": [dict(o) for o in world.objects],
        "start": poses[0].as_dict(),
        "frames": [{"t": n / fps, "camera": p.as_dict(), "action": keys[n - 1] if n else ""}
                   for n, p in enumerate(poses)],
        "actions": " ".join(keys),
    }
    return Sample(video=video, fps=float(fps), world=f"explore/{scenario}", seed=int(seed), state=state,
                  caption=caption(world, keys, fps), meta={"scenario": scenario, "ood": bool(ood)})
