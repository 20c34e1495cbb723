"""The physics world: determinism, sizes, splits, exact kinematics, captions, state."""

import json
import math

import numpy as np
import pytest

from kinema.worlds import physics as P
from kinema.worlds import render as render_world
from kinema.worlds.base import COLOR_ZH, PALETTE

SIZES = [(64, 64, 32), (128, 128, 8), (96, 54, 8), (54, 96, 8), (64, 64, 1), (16, 16, 4)]


def _arr(state, key):
    return np.array([[o[key] for o in f["objects"]] for f in state["frames"]])  # (T, K)


# ---------------------------------------------------------------------------------------------------------------------
# Determinism and sizes
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", P.SCENARIOS)
def test_same_seed_same_bytes_different_seed_differs(scenario):
    a, b = P.render(scenario, seed=5), P.render(scenario, seed=5)
    assert a.video.tobytes() == b.video.tobytes()
    assert a.state_json() == b.state_json()
    c = P.render(scenario, seed=6)
    assert c.video.tobytes() != a.video.tobytes()
    assert P.render(scenario, seed=5, ood=True).video.tobytes() != a.video.tobytes()


@pytest.mark.parametrize("scenario", P.SCENARIOS)
@pytest.mark.parametrize("width,height,frames", SIZES)
def test_every_size_renders(scenario, width, height, frames):
    s = P.render(scenario, seed=1, frames=frames, width=width, height=height)
    assert s.video.shape == (frames, height, width, 3) and s.video.dtype == np.uint8
    assert len(s.state["frames"]) == frames
    assert s.state["pixels_per_unit"] == min(width, height) / 10
    assert s.state["image_size"] == [width, height]
    assert s.world == f"physics/{scenario}"


def test_world_package_dispatch():
    s = render_world("physics/parabola", seed=2, frames=3, width=32, height=32)
    assert s.state["scenario"] == "parabola" and s.frames == 3


def test_bad_input_raises():
    with pytest.raises(ValueError, match="scenario"):
        P.render("bounce")
    with pytest.raises(ValueError, match="frames"):
        P.render("uniform", frames=0)
    with pytest.raises(ValueError, match="color"):
        P.render("uniform", params={"balls": [{"color": "black"}]})
    with pytest.raises(ValueError, match="unknown"):
        P.render("uniform", params={"friction": 1.0})


def test_params_override_is_used():
    s = P.render("uniform", seed=3, params={"balls": [{"vx": -2.0, "x": 8.0, "y": 5.0, "radius": 1.0}]})
    f0, f1 = s.state["frames"][0]["objects"][0], s.state["frames"][1]["objects"][0]
    assert (f0["x"], f0["y"], f0["vx"]) == (8.0, 5.0, -2.0)
    assert f1["x"] == pytest.approx(8.0 - 2.0 * 0.1, abs=1e-12)
    assert s.meta["params"]["balls"][0]["vx"] == -2.0


# ---------------------------------------------------------------------------------------------------------------------
# Splits (Phyworld's ranges)
# ---------------------------------------------------------------------------------------------------------------------


def _in(x, ranges):
    return any(lo - 1e-12 <= x <= hi + 1e-12 for lo, hi in ranges)


@pytest.mark.parametrize("scenario", P.SCENARIOS)
def test_id_and_ood_ranges(scenario):
    seen_ood = {"small_r": False, "big_r": False, "slow": False, "fast": False}
    for seed in range(60):
        for b in P.sample_params(scenario, seed, False)["balls"]:
            assert 0.7 <= b["radius"] <= 1.5 and 1.0 <= abs(b["vx"]) <= 4.0 and b["vy"] == 0
        for b in P.sample_params(scenario, seed, True)["balls"]:
            assert _in(b["radius"], [(0.3, 0.6), (1.5, 2.0)]) and _in(abs(b["vx"]), [(0.0, 0.8), (4.5, 6.0)])
            seen_ood["small_r"] |= b["radius"] < 0.6
            seen_ood["big_r"] |= b["radius"] > 1.5
            seen_ood["slow"] |= abs(b["vx"]) < 0.8
            seen_ood["fast"] |= abs(b["vx"]) > 4.5
    assert all(seen_ood.values())  # both OOD ranges of each quantity are drawn


@pytest.mark.parametrize("scenario", P.SCENARIOS)
def test_state_split_and_constants(scenario):
    s = P.render(scenario, seed=0, ood=True)
    assert s.state["split"] == "ood" and s.state["world_size"] == [10.0, 10.0]
    assert s.state["dt"] == pytest.approx(0.1)
    assert s.state["gravity"] == (2.5 if scenario == "parabola" else 0.0)
    for o in s.state["objects"]:
        assert o["kind"] == "ball" and o["color"] != "black" and tuple(o["rgb"]) == PALETTE[o["color"]]
        assert o["mass"] == pytest.approx(math.pi * o["radius"] ** 2, rel=1e-15)


# ---------------------------------------------------------------------------------------------------------------------
# Exact kinematics
# ---------------------------------------------------------------------------------------------------------------------


def test_uniform_is_constant_velocity_horizontal():
    s = P.render("uniform", seed=4)
    x, y, vx, vy = (_arr(s.state, k)[:, 0] for k in ("x", "y", "vx", "vy"))
    t = np.array([f["t"] for f in s.state["frames"]])
    np.testing.assert_allclose(x, x[0] + vx[0] * t, atol=1e-12)
    assert np.all(y == y[0]) and np.all(vx == vx[0]) and np.all(vy == 0)
    assert _arr(s.state, "in_view")[0, 0]  # starts fully in view


def test_parabola_matches_closed_form():
    for seed in range(5):
        s = P.render("parabola", seed=seed)
        b = s.meta["params"]["balls"][0]
        t = np.array([f["t"] for f in s.state["frames"]])
        np.testing.assert_allclose(_arr(s.state, "y")[:, 0], b["y"] - 0.5 * 2.5 * t**2, atol=1e-12)
        np.testing.assert_allclose(_arr(s.state, "vy")[:, 0], -2.5 * t, atol=1e-12)
        np.testing.assert_allclose(_arr(s.state, "x")[:, 0], b["x"] + b["vx"] * t, atol=1e-12)
        assert b["vy"] == 0 and b["y"] > 7  # launched horizontally from near the top


@pytest.mark.parametrize("ood", [False, True])
def test_collision_conserves_momentum_and_energy(ood):
    hits = 0
    for seed in range(40):
        s = P.render("collision", seed=seed, ood=ood)
        m = np.array([o["mass"] for o in s.state["objects"]])
        vx = _arr(s.state, "vx")  # (T, 2)
        p0, p1 = (m * vx[0]).sum(), (m * vx[-1]).sum()
        e0, e1 = (m * vx[0] ** 2).sum() / 2, (m * vx[-1] ** 2).sum() / 2
        assert p1 == pytest.approx(p0, rel=1e-12, abs=1e-12)
        assert e1 == pytest.approx(e0, rel=1e-12, abs=1e-12)
        tc, fc = s.state["collision_time"], s.state["collision_frame"]
        if fc is not None:
            hits += 1
            assert s.state["frames"][fc]["t"] > tc >= s.state["frames"][fc - 1]["t"]
            assert not np.allclose(vx[fc], vx[0])
            sim = P.simulate_at("collision", s.meta["params"], np.array([tc]))
            gap = abs(sim["pos"][0, 1, 0] - sim["pos"][0, 0, 0])
            assert gap == pytest.approx(sum(o["radius"] for o in s.state["objects"]), abs=1e-9)  # touching
            assert _arr(s.state, "in_view")[0].all()  # both start fully in view
    assert hits >= 36  # the collision happens inside the clip for most seeds


def test_collision_balls_share_a_line_and_differ_in_colour():
    for seed in range(20):
        s = P.render("collision", seed=seed)
        a, b = s.state["objects"]
        assert a["color"] != b["color"]
        y = _arr(s.state, "y")
        assert np.all(y[:, 0] == y[:, 1]) and np.all(_arr(s.state, "vy") == 0)


def test_simulate_matches_state():
    s = P.render("collision", seed=9)
    sim = P.simulate("collision", s.meta["params"], 32, 10.0)
    np.testing.assert_array_equal(sim["pos"][..., 0], _arr(s.state, "x"))
    assert sim["collision_frame"] == s.state["collision_frame"]


# ---------------------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------------------


def test_pixels_white_background_and_ball_colour_at_centre():
    s = P.render("collision", seed=2, width=96, height=54)
    for k in (0, 5, 20):
        frame = s.video[k]
        for obj, st in zip(s.state["objects"], s.state["frames"][k]["objects"]):
            x, y = P.world_to_pixels(np.array([st["x"], st["y"]]), 96, 54)
            if st["in_view"]:
                assert tuple(frame[int(y), int(x)]) == tuple(obj["rgb"])
        assert tuple(frame[0, 0]) == (255, 255, 255)


def test_world_to_pixels_mapping():
    # 96x54: ppu 5.4, the 10x10 square spans x 21..75, y 0..54 (y up in the world, down in pixels).
    np.testing.assert_allclose(P.world_to_pixels(np.array([[0.0, 0.0], [10.0, 10.0]]), 96, 54),
                               [[21.0, 54.0], [75.0, 0.0]], atol=1e-12)


# ---------------------------------------------------------------------------------------------------------------------
# Captions and state
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", P.SCENARIOS)
@pytest.mark.parametrize("ood", [False, True])
def test_captions_name_every_ball(scenario, ood):
    for seed in range(6):
        s = P.render(scenario, seed=seed, ood=ood)
        for style in ("short", "detailed"):
            en, zh = s.caption["en"][style], s.caption["zh"][style]
            assert "ball" in en and "球" in zh
            for o in s.state["objects"]:
                assert o["color"] in en and COLOR_ZH[o["color"]] in zh
        b = s.meta["params"]["balls"][0]
        if abs(b["vx"]) > 0.05:
            side = "right" if b["vx"] > 0 else "left"
            assert side in s.caption["en"]["detailed"] and P.WORDS[side]["zh"] in s.caption["zh"]["detailed"]


def test_caption_examples():
    s = P.render("uniform", seed=0, params={"balls": [{"color": "red", "vx": 2.0}]})
    assert s.caption["en"]["short"] == "a red ball moves right"
    assert s.caption["zh"]["short"] == "红色的球向右移动"
    c = P.render("collision", seed=0)
    assert c.caption["en"]["short"].endswith("collide") and c.caption["zh"]["short"].endswith("相撞")
    p = P.render("parabola", seed=0)
    assert "arc" in p.caption["en"]["short"] and "弧线" in p.caption["zh"]["short"]


def test_glossary_covers_chinese_words():
    s = P.render("collision", seed=1)
    zh = s.caption["zh"]["detailed"]
    for word in ("球", "相撞", "碰撞后"):
        assert word in zh and word in P.GLOSSARY


@pytest.mark.parametrize("scenario", P.SCENARIOS)
def test_state_json_is_valid(scenario):
    s = P.render(scenario, seed=3, frames=4)
    doc = json.loads(s.state_json())
    st = doc["state"]
    assert st["units"] == "world" and isinstance(st["origin"], str) and len(st["frames"]) == 4
    assert set(st["frames"][0]["objects"][0]) == {"id", "x", "y", "vx", "vy", "in_view"}
    assert doc["caption"]["zh"]["short"]
    if scenario == "collision":
        assert "collision_time" in st and "collision_frame" in st
