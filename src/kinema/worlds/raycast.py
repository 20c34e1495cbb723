"""A grid-map raycaster in vectorised numpy, and the procedural materials it paints with.

References: Amanatides & Woo, "A Fast Voxel Traversal Algorithm for Ray Tracing" (Eurographics 1987) -- the DDA walk
through grid cells. Floor and ceiling casting is the inverse of the wall projection below (same pinhole model).

Conventions (shared with kinema.worlds.explore):
- x points east, y north, z up; yaw is in degrees, counter-clockwise from +x (so a larger yaw looks further left).
- Cell (i, j) covers x in [i, i+1), y in [j, j+1); grids are numpy arrays indexed [j, i] (row = y).
- Wall faces of a cell: 0 = west (x = i), 1 = east (x = i+1), 2 = south (y = j), 3 = north (y = j+1).
- Camera: pinhole, square pixels, no pitch or roll. Focal length f = (H/2) / tan(vfov/2) pixels, principal point at
  the image centre, so the horizon is the middle of the image and the horizontal FOV is 2 atan(W / (2 f)).
  Column c looks along dir + u_c * right with u_c = (c + 0.5 - W/2) / f, right = (sin yaw, -cos yaw).
- Every wall has the same height (the scene's `wall_height`, >= eye height), which makes single-hit raycasting exact:
  a nearer wall always hides everything behind it.
Nothing here keeps state between calls except a cache of per-image-size camera constants (read-only arrays).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

TEX_BITS = 6
TEX = 1 << TEX_BITS      # texels per world unit, horizontally (wall textures) and on both axes (floor textures)
OFF = 1024               # world offset that keeps fixed-point floor coordinates positive (maps up to 1024 cells)
SKY_H, SKY_W = 64, 720   # sky panorama: rows span elevation 90 deg (top) .. 0 deg, columns span 360 deg of azimuth
FACE_STEP = ((-1, 0), (1, 0), (0, -1), (0, 1))   # the neighbour cell (di, dj) each face looks at

# ----------------------------------------------------------------------------------------------------------------------
# Scene description
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything the raycaster needs; built once per world, never mutated.

    opaque:      (GH, GW) bool, cells that stop rays (the map border must be opaque).
    face_tex:    (GH, GW, 4) int, wall texture index of each face (west, east, south, north).
    wall_tex:    (N, TH, TEX, 3) uint8; texel row 0 is the top of the wall, TH = TEX * wall_height.
    floor_mat:   (GH, GW) int, floor texture index per cell.
    floor_tex:   (M, TEX, TEX, 3) uint8, one texture tile per cell.
    ceiling_tex: (TEX, TEX, 3) uint8 for indoor scenes (ceiling at z = wall_height), or None.
    sky:         (SKY_H, SKY_W, 3) uint8 panorama for outdoor scenes, or None.
    fog_rgb, fog_dist: colours fade to fog_rgb as 1 - exp(-distance / fog_dist); the sky is not fogged.
    """

    opaque: np.ndarray
    face_tex: np.ndarray
    wall_tex: np.ndarray
    wall_height: float
    floor_mat: np.ndarray
    floor_tex: np.ndarray
    ceiling_tex: np.ndarray | None
    sky: np.ndarray | None
    fog_rgb: tuple[int, int, int]
    fog_dist: float
    atlas: np.ndarray = field(init=False, repr=False)        # (texels, 3) uint8: walls, floors, ceiling or sky, fog
    floor_base: np.ndarray = field(init=False, repr=False)   # (GH, GW) int32 atlas offset of each cell's floor tile
    top_base: int = field(init=False, repr=False)            # atlas offset of the ceiling tile or the sky panorama
    fog_texel: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        top = self.sky if self.sky is not None else self.ceiling_tex
        parts = [self.wall_tex, self.floor_tex, top, np.asarray(self.fog_rgb, np.uint8)]
        sizes = np.cumsum([0] + [p.size // 3 for p in parts])
        atlas = np.concatenate([p.reshape(-1, 3) for p in parts])
        atlas.setflags(write=False)
        object.__setattr__(self, "atlas", atlas)
        object.__setattr__(self, "floor_base", (sizes[1] + self.floor_mat * TEX * TEX).astype(np.int32))
        object.__setattr__(self, "top_base", int(sizes[2]))
        object.__setattr__(self, "fog_texel", int(sizes[3]))


def cos_sin(yaw: float) -> tuple[float, float]:
    """cos and sin of a yaw in degrees, exact at multiples of 90 (so grid-aligned walks stay on their line)."""
    q, r = divmod(float(yaw), 90.0)
    if r == 0.0:
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[int(q) % 4]
    a = math.radians(yaw)
    return math.cos(a), math.sin(a)


def focal_px(height: int, vfov_deg: float) -> float:
    """Focal length in pixels: a 1-unit object at perpendicular distance 1 spans this many pixels."""
    return (height / 2.0) / math.tan(math.radians(vfov_deg) / 2.0)


# ----------------------------------------------------------------------------------------------------------------------
# Ray walk (DDA), vectorised over rays, and small grid queries
# ----------------------------------------------------------------------------------------------------------------------


def cast(opaque: np.ndarray, x: float, y: float, rdx: np.ndarray, rdy: np.ndarray):
    """Walk rays from (x, y) along (rdx, rdy) to the first opaque cell.

    Returns (dist, i, j, face): dist is the ray parameter at the hit (= perpendicular distance when the ray's
    component along the view direction is 1), (i, j) the hit cell and face the face index hit (0..3). All (R,).

    Vectorised over rays *and* steps: the k-th crossing of a vertical grid line enters column i0 + (k+1) * sign(rdx)
    at the row where the ray is at that moment; the first opaque one is the nearest x-side hit. The same for
    horizontal lines gives the nearest y-side hit, and the nearer of the two is the DDA's answer.
    """
    gh, gw = opaque.shape
    i0, j0 = math.floor(x), math.floor(y)
    hits = []
    for p0, q0, rp, rq, n, along_x in ((x, y, rdx, rdy, gw, True), (y, x, rdy, rdx, gh, False)):
        k = np.arange(n)                                                  # (K,) crossing number
        dd = np.where(rp == 0, 1e30, np.abs(1.0 / np.where(rp == 0, 1.0, rp)))     # (R,) ray length per unit
        first = np.where(rp < 0, p0 - math.floor(p0), math.floor(p0) + 1.0 - p0) * dd  # (R,) to the first line
        t = first[:, None] + k[None, :] * dd[:, None]                     # (R, K) ray length at each crossing
        step = np.where(rp < 0, -1, 1)
        a = np.clip(math.floor(p0) + (k[None, :] + 1) * step[:, None], 0, n - 1)       # (R, K) cell entered
        b = np.floor(q0 + np.minimum(t, 1e6) * rq[:, None]).astype(np.int64)
        b = np.clip(b, 0, (gh if along_x else gw) - 1)
        hit = (opaque[b, a] if along_x else opaque[a, b]) & (rp != 0)[:, None]   # (R, K)
        kk = hit.argmax(axis=1)                                           # (R,) first opaque crossing
        r = np.arange(len(rp))
        th = np.where(hit[r, kk], t[r, kk], np.inf)
        hits.append((th, a[r, kk], b[r, kk], np.where(step > 0, 0, 1)))
    (tx, ax, bx, fx), (ty, ay, by, fy) = hits
    side_x = tx <= ty
    dist = np.where(side_x, tx, ty)
    i = np.where(side_x, ax, by)
    j = np.where(side_x, bx, ay)
    face = np.where(side_x, fx, fy + 2)
    return np.maximum(dist, 1e-4), i, j, face


def clearance(solid: np.ndarray, x: float, y: float, yaw: float) -> float:
    """Distance from (x, y) to the first solid cell along yaw (degrees)."""
    c, s = cos_sin(yaw)
    dist, *_ = cast(solid, x, y, np.array([c]), np.array([s]))
    return float(dist[0])


def connected(free: np.ndarray, i: int, j: int) -> bool:
    """Whether every free cell is reachable from cell (i, j) in 4-neighbour steps."""
    reach = np.zeros_like(free)
    reach[j, i] = True
    while True:
        grown = reach.copy()
        grown[1:] |= reach[:-1]
        grown[:-1] |= reach[1:]
        grown[:, 1:] |= reach[:, :-1]
        grown[:, :-1] |= reach[:, 1:]
        grown &= free
        if (grown == reach).all():
            return bool(reach.sum() == free.sum())
        reach = grown


def wall_faces(wall: np.ndarray, free: np.ndarray, skip: np.ndarray | None = None) -> list[tuple[int, int, int]]:
    """(i, j, face) of every face of a `wall` cell that looks onto a `free` cell (one not marked in `skip`)."""
    gh, gw = wall.shape
    out = []
    for j, i in zip(*np.nonzero(wall)):
        for k, (di, dj) in enumerate(FACE_STEP):
            a, b = i + di, j + dj
            if 0 <= a < gw and 0 <= b < gh and free[b, a] and (skip is None or not skip[b, a]):
                out.append((int(i), int(j), k))
    return out


def face_centre(i: int, j: int, k: int) -> list[float]:
    """World (x, y) of the centre of face k of cell (i, j)."""
    return [[i, j + 0.5], [i + 1, j + 0.5], [i + 0.5, j], [i + 0.5, j + 1]][k]


# ----------------------------------------------------------------------------------------------------------------------
# Drawing one view
# ----------------------------------------------------------------------------------------------------------------------


class _Camera(NamedTuple):
    f: float
    u: np.ndarray          # (W,) camera-plane offset of each column's ray
    rows: np.ndarray       # (H, 1) float32 pixel-centre offset below the horizon (negative above)
    plane_d: np.ndarray    # (H,) distance along the view axis to the floor (below) or ceiling (above) plane
    dtex: np.ndarray       # (H, 1) float32 plane_d * TEX
    above: slice           # rows that see the ceiling or sky
    below: slice           # rows that see the floor (an odd height leaves the horizon row to neither)
    sky_row: np.ndarray    # (n_above, W) int32 sky panorama row * SKY_W per pixel above the horizon
    sky_az: np.ndarray     # (W,) azimuth offset of each column, degrees (negative to the right)


@functools.lru_cache(maxsize=64)
def _camera(width: int, height: int, vfov_deg: float, eye: float, wall_height: float) -> _Camera:
    f = focal_px(height, vfov_deg)
    xc = np.arange(width) + 0.5 - width / 2.0                      # (W,) pixels right of centre
    rows = np.arange(height) + 0.5 - height / 2.0                  # (H,) pixels below centre
    above, below = slice(0, height // 2), slice((height + 1) // 2, height)
    plane_d = np.full(height, 1e6)
    plane_d[below] = f * eye / rows[below]
    plane_d[above] = f * (wall_height - eye) / -rows[above]
    elev = np.degrees(np.arctan2(-rows[above][:, None], np.hypot(f, xc)[None, :]))   # (n_above, W) in (0, 90)
    sky_row = np.clip(((90.0 - elev) / 90.0 * SKY_H).astype(np.int32), 0, SKY_H - 1) * SKY_W
    cam = _Camera(f, xc / f, rows.astype(np.float32)[:, None], plane_d, (plane_d * TEX).astype(np.float32)[:, None],
                  above, below, sky_row, -np.degrees(np.arctan(xc / f)))
    for a in (cam.u, cam.rows, cam.plane_d, cam.dtex, cam.sky_row, cam.sky_az):
        a.setflags(write=False)
    return cam


def _plane_texels(cam: _Camera, rows: slice, x: float, y: float, rdx: np.ndarray, rdy: np.ndarray):
    """Fixed-point world coordinates (units * TEX, offset by OFF) of the floor/ceiling point each pixel sees."""
    d = cam.dtex[rows]                                             # (n, 1)
    px = (d * rdx + np.float32((x + OFF) * TEX)).astype(np.int32)  # (n, W)
    py = (d * rdy + np.float32((y + OFF) * TEX)).astype(np.int32)
    return px, py


def draw(scene: Scene, x: float, y: float, yaw: float, width: int, height: int, *, eye: float,
         vfov: float) -> np.ndarray:
    """Render the view from (x, y, eye) looking along yaw. Returns (height, width, 3) uint8.

    Every pixel gets one index into the scene's texel atlas (wall, floor, ceiling or sky) and one fog weight; the
    image is a single gather and one blend.
    """
    cam = _camera(int(width), int(height), float(vfov), float(eye), float(scene.wall_height))
    wh, f, th = scene.wall_height, cam.f, scene.wall_tex.shape[1]
    c, s = cos_sin(yaw)
    rdx = c + cam.u * s                                            # (W,) ray directions, unit length along the view
    rdy = s - cam.u * c
    dist, ci, cj, face = cast(scene.opaque, x, y, rdx, rdy)        # (W,)

    # --- walls: texel column per screen column, texel row per pixel; the wall spans texel rows [0, th)
    hit_u = np.where(face < 2, y + dist * rdy, x + dist * rdx)     # (W,) hit coordinate along the wall
    frac = hit_u - np.floor(hit_u)
    frac = np.where((face == 0) | (face == 3), 1.0 - frac, frac)   # texture reads left-to-right seen from outside
    tu = np.minimum((frac * TEX).astype(np.int32), TEX - 1)        # (W,)
    col_base = scene.face_tex[cj, ci, face].astype(np.int32) * (th * TEX) + tu       # (W,) atlas offset
    rate = (dist * (th / (wh * f))).astype(np.float32)             # (W,) texel rows per pixel row
    v = cam.rows * rate + np.float32((wh - eye) * th / wh)         # (H, W) texel row (fractional)
    wall = (v >= 0) & (v < th)                                     # (H, W)
    idx = col_base + v.astype(np.int32) * TEX                      # (H, W) valid where wall

    # --- floor and ceiling: each pixel row sees its plane at a known distance; sky: azimuth and elevation
    plane = np.full((height, width), scene.fog_texel, np.int32)   # (H, W)
    gh, gw = scene.floor_mat.shape
    px, py = _plane_texels(cam, cam.below, x, y, rdx.astype(np.float32), rdy.astype(np.float32))
    cell_i = np.clip((px >> TEX_BITS) - OFF, 0, gw - 1)
    cell_j = np.clip((py >> TEX_BITS) - OFF, 0, gh - 1)
    plane[cam.below] = scene.floor_base[cell_j, cell_i] + (py & (TEX - 1)) * TEX + (px & (TEX - 1))
    a_row = 1.0 - np.exp(-cam.plane_d / scene.fog_dist)            # (H,) fog weight of each plane row
    if scene.sky is not None:
        col = ((yaw + cam.sky_az) % 360.0 * (SKY_W / 360.0)).astype(np.int32) % SKY_W   # (W,)
        plane[cam.above] = scene.top_base + cam.sky_row + col
        a_row[cam.above] = 0.0
    else:
        px, py = _plane_texels(cam, cam.above, x, y, rdx.astype(np.float32), rdy.astype(np.float32))
        plane[cam.above] = scene.top_base + (py & (TEX - 1)) * TEX + (px & (TEX - 1))

    # --- fog and face shading (east/west faces slightly darker)
    a_col = 1.0 - np.exp(-dist / scene.fog_dist)                   # (W,)
    k_col = ((1.0 - a_col) * np.where(face < 2, 0.82, 1.0)).astype(np.float32)
    alpha = np.where(wall, a_col.astype(np.float32), a_row.astype(np.float32)[:, None])    # (H, W)
    keep = np.where(wall, k_col, (1.0 - a_row).astype(np.float32)[:, None])              # (H, W)
    rgb = scene.atlas[np.where(wall, idx, plane)]                  # (H, W, 3) uint8
    out = rgb * keep[..., None] + (alpha[..., None] * np.asarray(scene.fog_rgb, np.float32) + 0.5)
    return out.astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------------------
# Procedural materials (tileable, seeded); every function returns uint8 RGB
# ----------------------------------------------------------------------------------------------------------------------


def noise(rng: np.random.Generator, h: int, w: int, cells_y: int, cells_x: int) -> np.ndarray:
    """Tileable smooth value noise in [0, 1], (h, w) float32."""
    g = rng.random((cells_y, cells_x)).astype(np.float32)

    def axis(n, cells):
        p = np.arange(n) * cells / n
        i0 = np.floor(p).astype(np.int64)
        t = (p - i0).astype(np.float32)
        return i0 % cells, (i0 + 1) % cells, t * t * (3 - 2 * t)

    y0, y1, ty = axis(h, cells_y)
    x0, x1, tx = axis(w, cells_x)
    top = g[y0][:, x0] * (1 - tx) + g[y0][:, x1] * tx
    bot = g[y1][:, x0] * (1 - tx) + g[y1][:, x1] * tx
    return top * (1 - ty[:, None]) + bot * ty[:, None]


def fractal(rng: np.random.Generator, h: int, w: int, base: int = 4, octaves: int = 3) -> np.ndarray:
    out = np.zeros((h, w), np.float32)
    for o in range(octaves):
        k = base * 2 ** o
        out += noise(rng, h, w, max(1, k * h // w), k) / 2 ** o
    return out / (2.0 - 2.0 ** (1 - octaves))


def _rgb(img: np.ndarray) -> np.ndarray:
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _zrow(z: float, th: int, wh: float) -> int:
    """Texel row of height z on a wall of height wh drawn with th rows."""
    return int(round((wh - z) / wh * th))


def plaster(rng, rgb, th: int, amount: float = 0.08) -> np.ndarray:
    n = fractal(rng, th, TEX, base=4)
    return np.asarray(rgb, np.float32) * (1 + amount * (2 * n - 1))[..., None]


def gallery_wall(rng, rgb, wh: float) -> np.ndarray:
    th = int(round(TEX * wh))
    img = plaster(rng, rgb, th, 0.05)
    img[_zrow(0.08, th, wh):] *= 0.55                                  # skirting board
    img[: _zrow(wh - 0.05, th, wh)] = img[: _zrow(wh - 0.05, th, wh)] * 0.6 + 0.4 * 245   # cornice
    return _rgb(img)


def painting(rng, wall: np.ndarray, wh: float, primary, secondary, accent, frame) -> np.ndarray:
    """A framed canvas centred on a wall texture; `primary` covers most of the canvas."""
    img = wall.astype(np.float32)
    th = img.shape[0]
    r0, r1, c0, c1 = _zrow(1.05, th, wh), _zrow(0.35, th, wh), 12, 52
    img[r0 - 3:r1 + 3, c0 - 3:c1 + 3] = frame
    h, w = r1 - r0, c1 - c0
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w], np.float32)[:, None, None]
    p, q, a = (np.asarray(v, np.float32) for v in (primary, secondary, accent))
    kind = int(rng.integers(4))
    if kind == 0:                                     # vertical stripes, two of every three in the primary colour
        k = int(rng.integers(3, 6))
        band = (xx * 3 * k).astype(int) % 3
        canvas = np.where((band < 2)[..., None], p, np.where((band == 2)[..., None], q, a))
    elif kind == 1:                                   # a disc on a primary ground
        cy, cx, r = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65), rng.uniform(0.18, 0.3)
        disc = (yy - cy) ** 2 + ((xx - cx) * w / h) ** 2 < r ** 2
        canvas = np.where(disc[..., None], q, p)
    elif kind == 2:                                   # landscape: primary sky, secondary land, accent sun
        horizon = rng.uniform(0.55, 0.75) + 0.08 * np.sin(xx * rng.uniform(4, 9))
        sun = (yy - 0.25) ** 2 + ((xx - rng.uniform(0.2, 0.8)) * w / h) ** 2 < 0.012
        canvas = np.where((yy > horizon)[..., None], q, np.where(sun[..., None], a, p))
    else:                                             # blocks in the style of a grid painting
        canvas = np.broadcast_to(p, (h, w, 3)).copy()
        for _ in range(3):
            y0, x0 = rng.uniform(0, 0.7, 2)
            by, bx = rng.uniform(0.15, 0.3, 2)
            canvas[int(y0 * h):int((y0 + by) * h), int(x0 * w):int((x0 + bx) * w)] = q if rng.random() < 0.6 else a
        canvas[:, (np.arange(w) % max(4, w // 3)) == 0] = 20
    img[r0:r1, c0:c1] = canvas * (0.94 + 0.06 * noise(rng, h, w, 4, 4))[..., None]
    return _rgb(img)


def pillar(rng, rgb, wh: float) -> np.ndarray:
    th = int(round(TEX * wh))
    img = plaster(rng, rgb, th, 0.04)
    img[:, (np.arange(TEX) % 8) == 3] *= 0.78                      # fluting
    img[_zrow(0.12, th, wh):] *= 0.8                                # base
    img[: _zrow(wh - 0.12, th, wh)] *= 0.85                         # capital
    return _rgb(img)


def ceiling(rng) -> np.ndarray:
    img = np.full((TEX, TEX, 3), 200.0, np.float32) * (0.96 + 0.04 * noise(rng, TEX, TEX, 4, 4))[..., None]
    img[20:44, 20:44] = 252                                         # a light panel per cell
    img[[0, 31, 32, 63], :] *= 0.8
    img[:, [0, 31, 32, 63]] *= 0.8
    return _rgb(img)


def wood(rng) -> np.ndarray:
    grain = noise(rng, TEX, TEX, 16, 2)
    plank = (rng.random(4) * 0.25 + 0.85)[np.arange(TEX) // 16]     # (TEX,) per-plank brightness, planks along x
    img = np.asarray((150, 100, 60), np.float32) * (0.8 + 0.3 * grain)[..., None] * plank[None, :, None]
    img[:, (np.arange(TEX) % 16) == 0] *= 0.55
    return _rgb(img)


def marble(rng) -> np.ndarray:
    veins = np.abs(np.sin(8 * fractal(rng, TEX, TEX, base=2) + np.arange(TEX)[None, :] / 9.0))
    img = np.full((TEX, TEX, 3), 232.0, np.float32) * (0.82 + 0.18 * veins)[..., None]
    img[[0, 32], :] *= 0.75
    img[:, [0, 32]] *= 0.75
    return _rgb(img)


def checker(rng) -> np.ndarray:
    yy, xx = np.mgrid[0:TEX, 0:TEX] // (TEX // 2)
    img = np.where(((yy + xx) % 2 == 0)[..., None], 235.0, 35.0) * np.ones(3, np.float32)
    return _rgb(img * (0.97 + 0.03 * noise(rng, TEX, TEX, 8, 8))[..., None])


def carpet(rng, rgb) -> np.ndarray:
    return _rgb(np.asarray(rgb, np.float32) * (0.85 + 0.25 * fractal(rng, TEX, TEX, 8, 2))[..., None])


def foliage(rng, dark, light, th: int) -> np.ndarray:
    n = fractal(rng, th, TEX, base=8, octaves=2)
    t = np.clip((n - 0.35) * 2.5, 0, 1)[..., None]
    img = np.asarray(dark, np.float32) * (1 - t) + np.asarray(light, np.float32) * t
    img[rng.random((th, TEX)) < 0.04] *= 0.55                       # holes between leaves
    return img


def hedge(rng, wh: float) -> np.ndarray:
    th = int(round(TEX * wh))
    img = foliage(rng, (25, 80, 30), (75, 150, 60), th)
    img[:3] *= 1.15
    return _rgb(img)


def tree(rng, wh: float) -> np.ndarray:
    """A tree seen as a block: a round light-green crown over a brown trunk on a shadowed background."""
    th = int(round(TEX * wh))
    img = foliage(rng, (40, 110, 35), (120, 185, 70), th)
    trunk_top = _zrow(0.45, th, wh)
    img[trunk_top:] = foliage(rng, (15, 45, 18), (35, 80, 30), th)[trunk_top:]
    img[trunk_top - 4:, 26:38] = np.asarray((110, 75, 45), np.float32) * (0.8 + 0.3 * noise(rng, th - trunk_top + 4,
                                                                                                   12, 8, 2))[..., None]
    return _rgb(img)


def grass(rng) -> np.ndarray:
    n = fractal(rng, TEX, TEX, base=8, octaves=3)
    img = np.asarray((70, 140, 55), np.float32) * (0.75 + 0.45 * n)[..., None]
    img[rng.random((TEX, TEX)) < 0.05] *= 1.25
    return _rgb(img)


def gravel(rng) -> np.ndarray:
    n = rng.random((TEX, TEX)).astype(np.float32) * 0.5 + fractal(rng, TEX, TEX, 8, 2) * 0.5
    return _rgb(np.asarray((185, 172, 150), np.float32) * (0.75 + 0.4 * n)[..., None])


def flowerbed(rng, rgb) -> np.ndarray:
    img = np.asarray((95, 65, 40), np.float32) * (0.8 + 0.3 * noise(rng, TEX, TEX, 8, 8))[..., None]
    img[rng.random((TEX, TEX)) < 0.25] = (40, 110, 40)               # leaves
    blooms = noise(rng, TEX, TEX, 16, 16) > 0.62
    img[blooms] = np.asarray(rgb, np.float32) * (0.85 + 0.3 * rng.random((int(blooms.sum()), 1)))
    img[:3], img[-3:], img[:, :3], img[:, -3:] = 150, 150, 150, 150  # stone edging
    return _rgb(img)


def cobbles(rng) -> np.ndarray:
    """Rounded stones in staggered rows with dark joints."""
    yy, xx = np.mgrid[0:TEX, 0:TEX].astype(np.float32)
    rowh, colw = TEX / 5, TEX / 4
    r = np.floor(yy / rowh)
    xs = xx + (r % 2) * colw / 2
    dy = (yy % rowh) / rowh - 0.5
    dx = (xs % colw) / colw - 0.5
    stone = (dx ** 2 + dy ** 2) < 0.2
    tone = rng.uniform(0.8, 1.1, (5, 5))[r.astype(int) % 5, (xs // colw).astype(int) % 5]
    img = np.asarray((150, 140, 128), np.float32) * (tone * (1 - 0.6 * (dx ** 2 + dy ** 2)))[..., None]
    img[~stone] = (70, 62, 55)
    return _rgb(img)


def facade(rng, rgb, trim, door: bool, wh: float) -> np.ndarray:
    """A two-storey house front for one cell: plaster, windows with shutters in `trim`, optionally a door."""
    th = int(round(TEX * wh))
    img = plaster(rng, rgb, th, 0.1)
    img[_zrow(1.02, th, wh):_zrow(0.96, th, wh)] *= 1.12            # storey band
    img[: _zrow(wh - 0.1, th, wh)] = (90, 55, 40)                   # eave
    img[_zrow(0.08, th, wh):] *= 0.7                                # plinth
    glass = np.linspace(55, 95, TEX)[None, :, None] * np.asarray((0.7, 0.8, 1.0), np.float32)
    storeys = [(1.2, 1.75)] + ([] if door else [(0.35, 0.85)])
    for z0, z1 in storeys:
        r0, r1 = _zrow(z1, th, wh), _zrow(z0, th, wh)
        img[r0 - 2:r1 + 2, 20:44] = 235                             # window frame
        img[r0:r1, 22:42] = glass[0, 22:42]
        img[r0:r1, 31:33] = 235                                     # mullion
        img[r0:r1, 13:20] = trim                                    # shutters
        img[r0:r1, 44:51] = trim
        img[r0:r1, 13:20][::4] *= 0.7
        img[r0:r1, 44:51][::4] *= 0.7
    if door:
        r0, r1 = _zrow(0.85, th, wh), _zrow(0.0, th, wh)
        img[r0 - 3:r1, 19:45] = (200, 195, 185)                     # stone door frame
        img[r0:r1, 22:42] = trim
        img[r0 + 4:r1 - 4, 25:31] *= 0.8                            # panels
        img[r0 + 4:r1 - 4, 33:39] *= 0.8
        img[(r0 + r1) // 2:(r0 + r1) // 2 + 2, 37:39] = (230, 200, 80)   # knob
    return _rgb(img)


def sky(rng, horizon, zenith, clouds: float) -> np.ndarray:
    """(SKY_H, SKY_W, 3) panorama: a vertical gradient with tileable clouds covering about `clouds` of it."""
    t = (np.arange(SKY_H, dtype=np.float32) / (SKY_H - 1))[::-1] ** 0.7     # 1 at the zenith row, 0 at the horizon
    grad = np.asarray(zenith, np.float32) * t[:, None] + np.asarray(horizon, np.float32) * (1 - t[:, None])
    img = np.broadcast_to(grad[:, None, :], (SKY_H, SKY_W, 3)).copy()
    n = fractal(rng, SKY_H, SKY_W, base=12, octaves=3)
    cover = np.clip((n - (1 - clouds)) * 4, 0, 1)[..., None] * 0.85
    white = np.maximum(np.asarray(horizon, np.float32), 230)
    return _rgb(img * (1 - cover) + white * cover)


# ----------------------------------------------------------------------------------------------------------------------
# Benchmark: `python -m kinema.worlds.raycast` prints milliseconds per view (best of 5 passes over a 40-frame walk)
# ----------------------------------------------------------------------------------------------------------------------


def _bench(sizes=((64, 64), (96, 54), (128, 128), (256, 144), (256, 256))) -> None:
    import platform
    import time

    from kinema.worlds import explore

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"explore views, ms/frame (best of 5), numpy {np.__version__}, {cpu}")
    print("scenario  " + "".join(f"{w}x{h}".rjust(10) for w, h in sizes))
    for scenario in explore.SCENARIOS:
        world = explore.make_world(scenario, 0)
        poses = [world.start_pose()]
        for key in explore.random_actions(world, 39, 10.0, np.random.default_rng(0)):
            poses.append(world.step(poses[-1], key, 0.1))
        row = []
        for w, h in sizes:
            world.view(poses[0], w, h)
            best = math.inf
            for _ in range(5):
                t0 = time.perf_counter()
                for p in poses:
                    world.view(p, w, h)
                best = min(best, (time.perf_counter() - t0) / len(poses))
            row.append(f"{best * 1e3:10.2f}")
        print(f"{scenario:10s}" + "".join(row))


if __name__ == "__main__":
    _bench()
