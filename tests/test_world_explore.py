"""The explore world: determinism, sizes, action semantics (pose and image), collisions, captions, the ray walk."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from kinema.worlds import explore as E
from kinema.worlds import raycast as R
from kinema.worlds import render as render_any

FPS = 10.0


def _open_room(n: int = 10) -> np.ndarray:
    grid = np.zeros((n, n), np.int8)
    grid[[0, -1], :] = E.WALL
    grid[:, [0, -1]] = E.WALL
    return grid


def _shift(a: np.ndarray, b: np.ndarray, max_shift: int = 16) -> int:
    """Horizontal shift s that best maps frame a onto frame b (b[:, x + s] ~ a[:, x]); > 0 means content moved right."""
    a, b = a.mean(-1), b.mean(-1)                                   # (H, W) luminance
    w = a.shape[1]
    errs = {s: np.abs(b[:, max(s, 0):w + min(s, 0)] - a[:, max(-s, 0):w - max(s, 0)]).mean()
            for s in range(-max_shift, max_shift + 1)}
    return min(errs, key=errs.get)


def _zoom(a: np.ndarray, b: np.ndarray) -> float:
    """Scale about the image centre that best maps frame a onto frame b, compared on the central third."""
    a, b = a.mean(-1), b.mean(-1)
    h, w = a.shape
    r, c = np.mgrid[h // 3:2 * h // 3, w // 3:2 * w // 3] + 0.5
    errs = {}
    for k in np.arange(0.7, 1.5, 0.02):
        src = a[np.clip(((r - h / 2) / k + h / 2).astype(int), 0, h - 1), np.clip(((c - w / 2) / k + w / 2).astype(int),
                                                                                 0, w - 1)]
        errs[float(k)] = np.abs(src - b[h // 3:2 * h // 3, w // 3:2 * w // 3]).mean()
    return min(errs, key=errs.get)


# ----------------------------------------------------------------------------------------------------------------------
# Contract: determinism, sizes, state
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", E.SCENARIOS)
def test_deterministic_per_seed(scenario):
    a = E.render(scenario, seed=5, frames=12)
    b = E.render(scenario, seed=5, frames=12)
    c = E.render(scenario, seed=6, frames=12)
    assert np.array_equal(a.video, b.video) and a.state_json() == b.state_json()
    assert not np.array_equal(a.video, c.video)
    assert render_any(f"explore/{scenario}", seed=5, frames=12).state_json() == a.state_json()


@pytest.mark.parametrize("scenario", E.SCENARIOS)
@pytest.mark.parametrize("size", [(64, 64), (96, 54), (54, 96)])
def test_sizes_and_single_frame(scenario, size):
    w, h = size
    s = E.render(scenario, seed=1, frames=1, width=w, height=h)
    assert s.video.shape == (1, h, w, 3) and s.video.dtype == np.uint8
    assert s.video.std() > 5                                        # not a blank frame
    st = s.state
    assert st["units"] == "world" and st["actions"] == "" and st["frames"][0]["action"] == ""
    f = h / 2 / math.tan(math.radians(E.VFOV_DEG) / 2)
    assert st["pixels_per_unit"] == pytest.approx(f)
    assert st["camera"]["hfov_deg"] == pytest.approx(math.degrees(2 * math.atan(w / 2 / f)))
    assert set(st["frames"][0]["camera"]) == {"x", "y", "yaw", "eye_height"}
    assert len(st["map"]) == len(E.make_world(scenario, 1).grid) and st["objects"]
    assert {"id", "kind", "color", "rgb", "position"} <= set(st["objects"][0])
    json.loads(s.state_json())
    for lang in ("en", "zh"):
        assert s.caption[lang]["detailed"] and s.caption[lang]["short"]


def test_fov_follows_aspect_ratio():
    wide = E.render("gallery", frames=1, width=96, height=54).state["camera"]["hfov_deg"]
    square = E.render("gallery", frames=1, width=64, height=64).state["camera"]["hfov_deg"]
    tall = E.render("gallery", frames=1, width=54, height=96).state["camera"]["hfov_deg"]
    assert wide > square > tall and square == pytest.approx(E.VFOV_DEG)


@pytest.mark.parametrize("scenario", E.SCENARIOS)
def test_view_is_pure_and_matches_render(scenario):
    s = E.render(scenario, seed=2, frames=10, width=48, height=32)
    world = E.make_world(scenario, 2)
    for n in (0, 5, 9):
        cam = s.state["frames"][n]["camera"]
        assert np.array_equal(world.view(E.Pose(cam["x"], cam["y"], cam["yaw"]), 48, 32), s.video[n])


@pytest.mark.parametrize("scenario", E.SCENARIOS)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_map_closed_connected_open_start(scenario, seed):
    world = E.make_world(scenario, seed)
    g = world.grid
    assert (g[[0, -1], :] != E.FLOOR).all() and (g[:, [0, -1]] != E.FLOOR).all()
    p = world.start_pose()
    i, j = int(p.x), int(p.y)
    assert (g[j - 1:j + 2, i - 1:i + 2] == E.FLOOR).all()           # walkable space around the start
    assert p.yaw in (0.0, 90.0, 180.0, 270.0)
    assert R.connected(g == E.FLOOR, i, j)


def test_ood_uses_held_out_colour_pairs_on_the_same_layout():
    for scenario in E.SCENARIOS:
        a, b = E.STYLE_PAIR[scenario]
        for seed in range(4):
            for ood in (False, True):
                w = E.make_world(scenario, seed, ood=ood)
                held = (E._ORDER.index(w.style[a]) + E._ORDER.index(w.style[b])) % 5 == 0
                assert held == ood
            assert np.array_equal(w.grid, E.make_world(scenario, seed).grid)
    assert E.render("street", seed=3, frames=1, ood=True).state["ood"] is True


# ----------------------------------------------------------------------------------------------------------------------
# Actions: the pose moves as the action says, and the image follows
# ----------------------------------------------------------------------------------------------------------------------


def test_each_action_moves_the_pose_as_named():
    world = dataclasses.replace(E.make_world("garden", 0), grid=_open_room())
    dt, d = 1 / FPS, E.MOVE_SPEED / FPS
    for yaw in (0.0, 90.0, 27.0, 300.0):
        p = E.Pose(5.0, 5.0, yaw)
        c, s = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
        expect = {"W": (d * c, d * s), "S": (-d * c, -d * s), "Q": (-d * s, d * c), "E": (d * s, -d * c)}
        for key, (dx, dy) in expect.items():
            q = world.step(p, key, dt)
            assert (q.x - p.x, q.y - p.y) == pytest.approx((dx, dy), abs=1e-12) and q.yaw == p.yaw
        left, right = world.step(p, "A", dt), world.step(p, "D", dt)
        assert (left.x, left.y, right.x, right.y) == (p.x, p.y, p.x, p.y)
        assert left.yaw == pytest.approx((yaw + E.TURN_SPEED / FPS) % 360)
        assert right.yaw == pytest.approx((yaw - E.TURN_SPEED / FPS) % 360)
        assert world.step(p, ".", dt) == p


def test_motion_per_second_is_the_same_at_any_fps():
    world = E.make_world("street", 0)
    for keys in ("W", "A", "Q"):
        a = b = world.start_pose()
        for _ in range(4):
            a = world.step(a, keys, 1 / 8)
        for _ in range(8):
            b = world.step(b, keys, 1 / 16)
        assert (a.x, a.y, a.yaw) == pytest.approx((b.x, b.y, b.yaw), abs=1e-9)


@pytest.mark.parametrize("scenario", E.SCENARIOS)
def test_turning_and_strafing_shift_the_image(scenario):
    f = R.focal_px(64, E.VFOV_DEG)
    expect = f * math.tan(math.radians(E.TURN_SPEED / FPS))          # centre-column shift of one turn step
    s = E.render(scenario, seed=0, frames=5, actions="A D D Q", fps=FPS)
    v = s.video.astype(np.float32)
    assert abs(_shift(v[0], v[1]) - expect) <= 2                     # left turn: content moves right
    assert abs(_shift(v[1], v[2]) + expect) <= 2                     # right turn: content moves left
    q = E.render(scenario, seed=0, frames=2, actions="Q").video.astype(np.float32)
    e = E.render(scenario, seed=0, frames=2, actions="E").video.astype(np.float32)
    assert _shift(q[0], q[1]) > 0 > _shift(e[0], e[1])               # strafe left: content moves right


@pytest.mark.parametrize("scenario", E.SCENARIOS)
@pytest.mark.parametrize("seed", [0, 1])
def test_forward_enlarges_the_centre(scenario, seed):
    world = E.make_world(scenario, seed)
    p = world.start_pose()
    # face the nearest wall that is still a few steps away, so the centre of the view is that wall
    yaws = [y for y in (0.0, 90.0, 180.0, 270.0) if 1.2 < world.clearance(E.Pose(p.x, p.y, y)) < 8]
    p = E.Pose(p.x, p.y, min(yaws, key=lambda y: world.clearance(E.Pose(p.x, p.y, y))))
    q = world.step(p, "W", 0.25)                                     # half a unit closer
    a, b = (world.view(pose, 64, 64).astype(np.float32) for pose in (p, q))
    assert _zoom(a, b) > 1.05                                        # the wall ahead grows (by d / (d - 0.5))
    assert _zoom(b, a) < 0.95                                        # walking back (S) shrinks it
    assert world.step(q, "S", 0.25) == p


@pytest.mark.parametrize("scenario", E.SCENARIOS)
@pytest.mark.parametrize("key,fps", [("A", 10.0), ("D", 10.0), ("A", 4.0), ("D", 30.0)])
def test_four_quarter_turns_return_the_identical_view(scenario, key, fps):
    n = int(4 * 90 / (E.TURN_SPEED / fps))
    s = E.render(scenario, seed=3, frames=n + 1, fps=fps, actions=key * n, width=32, height=24)
    assert s.state["frames"][-1]["camera"] == s.state["frames"][0]["camera"]
    assert np.array_equal(s.video[0], s.video[-1])
    assert not np.array_equal(s.video[0], s.video[n // 4])


def test_padding_and_action_errors():
    s = E.render("gallery", frames=5, actions="W A")
    assert s.state["actions"] == "W A . ." and [f["action"] for f in s.state["frames"]] == ["", "W", "A", ".", "."]
    assert E.render("gallery", frames=5, actions=["W", "A"]).state_json() == s.state_json()
    with pytest.raises(ValueError, match=r"unknown action 'X' at position 1; allowed: W \(forward\)"):
        E.render("gallery", frames=5, actions="W X")
    with pytest.raises(ValueError, match="unknown action 'w'"):
        E.make_world("gallery").step(E.Pose(2.5, 2.5, 0.0), "w", 0.1)
    with pytest.raises(ValueError, match="at most frames - 1 = 2"):
        E.render("gallery", frames=3, actions="W W W")
    with pytest.raises(ValueError, match="choose one of: gallery, garden, street"):
        E.render("beach")
    with pytest.raises(ValueError, match="frames must be >= 1"):
        E.render("garden", frames=0)


# ----------------------------------------------------------------------------------------------------------------------
# Collisions
# ----------------------------------------------------------------------------------------------------------------------


def _box_is_free(grid: np.ndarray, p: E.Pose) -> bool:
    r = E.RADIUS - 1e-9
    cells = grid[math.floor(p.y - r):math.floor(p.y + r) + 1, math.floor(p.x - r):math.floor(p.x + r) + 1]
    return bool((cells == E.FLOOR).all())


def test_walls_stop_the_camera_and_it_slides_along_them():
    world = dataclasses.replace(E.make_world("garden", 0), grid=_open_room())
    p = E.Pose(5.5, 5.5, 30.0)                                       # walk up-right into the corner region
    for _ in range(60):
        p = world.step(p, "W", 0.1)
        assert _box_is_free(world.grid, p)
    assert (p.x, p.y) == pytest.approx((9 - E.RADIUS, 9 - E.RADIUS))   # slid along the east wall into the corner
    for _ in range(100):
        p = world.step(p, "S", 0.1)                                  # and back down-left into the other corner
        assert _box_is_free(world.grid, p)
    assert (p.x, p.y) == pytest.approx((1 + E.RADIUS, 1 + E.RADIUS))
    g = _open_room()
    g[1:9, 7] = E.WALL                                               # a one-cell wall; at 1 fps a step is 2 units
    thin = dataclasses.replace(world, grid=g)
    q = thin.step(E.Pose(5.5, 5.5, 0.0), "W", 1.0)
    assert q.x == pytest.approx(7 - E.RADIUS)


@pytest.mark.parametrize("scenario", E.SCENARIOS)
def test_random_policy_never_enters_a_wall_and_uses_every_action(scenario):
    used = set()
    for seed in range(3):
        world = E.make_world(scenario, seed)
        keys = E.random_actions(world, 300, FPS, np.random.default_rng(seed))
        used |= set(keys)
        p = world.start_pose()
        for k in keys:
            p = world.step(p, k, 1 / FPS)
            assert _box_is_free(world.grid, p), (seed, p)
    assert used == set(E.ACTIONS)
    s = E.render(scenario, seed=0, frames=40)
    assert len(s.state["actions"].split()) == 39 and s.state["frames"][-1]["camera"] != s.state["frames"][0]["camera"]


# ----------------------------------------------------------------------------------------------------------------------
# Captions
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", E.SCENARIOS)
def test_captions_name_style_colours_and_motion(scenario):
    s = E.render(scenario, seed=4, frames=7, actions="W W W A A A")
    cap, st = s.caption, s.state["style"]
    for key in E.STYLE_PAIR[scenario]:
        for form in ("detailed", "short"):
            assert st[key] in cap["en"][form], (key, cap["en"][form])
            assert E.COLORS_ZH[st[key]] in cap["zh"][form], (key, cap["zh"][form])
    en, zh = cap["en"]["detailed"], cap["zh"]["detailed"]
    assert en.index("walks forward for 0.3 s") < en.index("turns left by 27 degrees")
    assert zh.index("向前走0.3秒") < zh.index("向左转27度")
    assert "walks forward, then turns left" in cap["en"]["short"] and "向前走，然后向左转" in cap["zh"]["short"]


def test_gallery_caption_matches_the_house_example():
    s = E.render("gallery", seed=13, frames=1)                      # seed 13 draws red walls and blue paintings
    assert (s.state["style"]["wall"], s.state["style"]["painting"]) == ("red", "blue")
    assert s.caption["en"]["short"] == "an exhibition hall with red walls and blue paintings"
    assert s.caption["zh"]["short"] == "一个红色墙壁、挂着蓝色画作的展厅"


def test_caption_says_what_the_camera_faces():
    world = E.make_world("gallery", 0)
    thing = world.facing(world.start_pose())
    cap = E.render("gallery", seed=0, frames=1).caption
    assert E.THING_WORDS[thing["kind"]][0].format(thing["color"]) in cap["en"]["detailed"]


# ----------------------------------------------------------------------------------------------------------------------
# The ray walk against a one-ray-at-a-time DDA
# ----------------------------------------------------------------------------------------------------------------------


def _dda(opaque, x, y, dx, dy):
    i, j = math.floor(x), math.floor(y)
    sx, sy = (1 if dx > 0 else -1), (1 if dy > 0 else -1)
    ddx = abs(1 / dx) if dx else math.inf
    ddy = abs(1 / dy) if dy else math.inf
    tx = ((i + 1 - x) if dx > 0 else (x - i)) * ddx if dx else math.inf
    ty = ((j + 1 - y) if dy > 0 else (y - j)) * ddy if dy else math.inf
    while True:
        if tx < ty:
            i, t, face, tx = i + sx, tx, (0 if sx > 0 else 1), tx + ddx
        else:
            j, t, face, ty = j + sy, ty, (2 if sy > 0 else 3), ty + ddy
        if opaque[j, i]:
            return t, i, j, face


def test_vectorised_cast_matches_scalar_dda():
    rng = np.random.default_rng(0)
    world = E.make_world("garden", 1)
    opaque = world.scene.opaque
    free = np.argwhere(~opaque)
    for _ in range(20):
        j, i = free[rng.integers(len(free))]
        x, y = i + rng.uniform(0.05, 0.95), j + rng.uniform(0.05, 0.95)
        ang = rng.uniform(0, 2 * np.pi, 50)
        dx, dy = np.cos(ang), np.sin(ang)
        dx[:4], dy[:4] = (1, -1, 0, 0), (0, 0, 1, -1)               # axis-parallel rays too
        dist, ci, cj, face = R.cast(opaque, x, y, dx, dy)
        for n in range(len(ang)):
            t, a, b, k = _dda(opaque, x, y, dx[n], dy[n])
            assert (ci[n], cj[n], face[n]) == (a, b, k) and dist[n] == pytest.approx(t, abs=1e-9)
