"""2D geometry and anti-aliased drawing for the `scenes` world: convex polygons and discs, in numpy.

Pixel (col, row) covers the square [col, col + 1) x [row, row + 1); every shape is tested at S x S stratified sample
points per pixel (at (k + 0.5) / S) and blended by the fraction of points inside ("over" compositing). A pixel wholly
inside a shape therefore gets the shape's exact colour, and sub-pixel positions are kept (PIL's ImageDraw truncates
float coordinates of axis-aligned edges, which costs up to a quarter pixel at 4x, so it is not used).
Only the bounding box of each shape is sampled, so cost grows with the shape's area, not the image's.
"""

from __future__ import annotations

import numpy as np

SUPERSAMPLE = 4  # sample points per pixel along each axis


# ----------------------------------------------------------------------------------------------------------------------
# Geometry: a shape is a disc (radius) or a convex polygon (verts), in local coordinates about its centre
# ----------------------------------------------------------------------------------------------------------------------

def to_world(local: np.ndarray, x: float, y: float, angle: float) -> np.ndarray:
    """Rotate local points (P, 2) by `angle` (counter-clockwise, y up) and move them to (x, y)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.asarray(local) @ np.array([[c, s], [-s, c]]) + np.array([x, y])  # (P, 2)


def inside(pts: np.ndarray, radius: float | None = None, verts=None) -> np.ndarray:
    """Which points (P, 2) lie inside the disc of `radius` or the convex polygon `verts` (either winding)."""
    if radius is not None:
        return (pts ** 2).sum(1) <= radius ** 2  # (P,)
    v = np.asarray(verts)
    e = np.roll(v, -1, 0) - v
    cross = e[None, :, 0] * (pts[:, None, 1] - v[None, :, 1]) - e[None, :, 1] * (pts[:, None, 0] - v[None, :, 0])
    return np.all(cross >= 0, 1) | np.all(cross <= 0, 1)  # (P,)


def area_samples(radius: float | None = None, verts=None, n: int = 20) -> np.ndarray:
    """Points spread evenly over a shape's area (an n x n grid over its bounding box, kept where inside)."""
    lo, hi = (np.full(2, -radius), np.full(2, radius)) if radius is not None else (np.min(verts, 0), np.max(verts, 0))
    g = (np.arange(n) + 0.5) / n
    pts = np.stack(np.meshgrid(lo[0] + g * (hi[0] - lo[0]), lo[1] + g * (hi[1] - lo[1])), -1).reshape(-1, 2)
    return pts[inside(pts, radius, verts)]  # (P, 2)


# ----------------------------------------------------------------------------------------------------------------------
# Canvas
# ----------------------------------------------------------------------------------------------------------------------


class Canvas:
    """A float RGB image that shapes are composited onto; `image()` gives the uint8 frame."""

    def __init__(self, width: int, height: int, background: tuple[int, int, int], ss: int = SUPERSAMPLE):
        self.width, self.height, self.ss = width, height, ss
        self.rgb = np.empty((height, width, 3), np.float32)  # (H, W, 3), 0..255
        self.rgb[:] = np.asarray(background, np.float32)

    def copy(self) -> Canvas:
        out = Canvas.__new__(Canvas)
        out.width, out.height, out.ss, out.rgb = self.width, self.height, self.ss, self.rgb.copy()
        return out

    def image(self) -> np.ndarray:
        return np.clip(np.rint(self.rgb), 0, 255).astype(np.uint8)  # (H, W, 3)

    # ------------------------------------------------------------------------------------------------------------------
    # Sampling grid of one bounding box
    # ------------------------------------------------------------------------------------------------------------------

    def _grid(self, xmin: float, ymin: float, xmax: float, ymax: float):
        """Sample points covering the pixels touched by a box; None when it lies outside the image."""
        x0, y0 = max(int(np.floor(xmin)), 0), max(int(np.floor(ymin)), 0)
        x1, y1 = min(int(np.ceil(xmax)), self.width), min(int(np.ceil(ymax)), self.height)
        if x1 <= x0 or y1 <= y0:
            return None
        s = self.ss
        xs = x0 + (np.arange((x1 - x0) * s, dtype=np.float32) + 0.5) / s  # (w*S,)
        ys = y0 + (np.arange((y1 - y0) * s, dtype=np.float32) + 0.5) / s  # (h*S,)
        return (x0, y0, x1, y1), xs[None, :], ys[:, None]

    def _blend(self, box, inside: np.ndarray, rgb) -> None:
        x0, y0, x1, y1 = box
        s = self.ss
        cov = inside.reshape(y1 - y0, s, x1 - x0, s).mean(axis=(1, 3), dtype=np.float32)[..., None]  # (h, w, 1)
        patch = self.rgb[y0:y1, x0:x1]
        patch *= 1.0 - cov
        patch += cov * np.asarray(rgb, np.float32)

    # ------------------------------------------------------------------------------------------------------------------
    # Shapes (all coordinates in output pixels, float)
    # ------------------------------------------------------------------------------------------------------------------

    def polygon(self, pts: np.ndarray, rgb) -> None:
        """Fill a convex polygon given as (N, 2) pixel coordinates, either winding."""
        pts = np.asarray(pts, np.float32)
        g = self._grid(*pts.min(0), *pts.max(0))
        if g is None:
            return
        box, x, y = g
        area2 = np.sum(pts[:, 0] * np.roll(pts[:, 1], -1) - np.roll(pts[:, 0], -1) * pts[:, 1])
        sign = 1.0 if area2 >= 0 else -1.0
        inside = np.ones((y.shape[0], x.shape[1]), bool)
        for (ax, ay), (bx, by) in zip(pts, np.roll(pts, -1, axis=0)):
            inside &= sign * ((bx - ax) * (y - ay) - (by - ay) * (x - ax)) >= 0
        self._blend(box, inside, rgb)

    def disc(self, cx: float, cy: float, r: float, rgb, stripe: tuple[float, float, object] | None = None) -> None:
        """Fill a disc; `stripe=(angle, half_width, rgb)` also paints a band through the centre along `angle`
        (radians, counter-clockwise as seen on screen), the rotation marker of balls. The band is symmetric about the
        centre, so the disc's colour centroid stays at its centre."""
        g = self._grid(cx - r, cy - r, cx + r, cy + r)
        if g is None:
            return
        box, x, y = g
        inside = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
        self._blend(box, inside, rgb)
        if stripe is not None:
            angle, half, srgb = stripe
            # distance from the band's axis, direction (cos a, -sin a) on screen (rows grow downwards)
            dist = np.abs((x - cx) * np.sin(angle) + (y - cy) * np.cos(angle))
            self._blend(box, inside & (dist <= half), srgb)

    def segment(self, p0, p1, half_width: float, rgb) -> None:
        """A thick straight line (a rectangle around the segment p0-p1)."""
        p0, p1 = np.asarray(p0, np.float32), np.asarray(p1, np.float32)
        d = p1 - p0
        n = np.array([-d[1], d[0]], np.float32) / max(float(np.hypot(*d)), 1e-6) * half_width
        self.polygon(np.stack([p0 + n, p1 + n, p1 - n, p0 - n]), rgb)
