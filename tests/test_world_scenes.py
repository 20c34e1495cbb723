"""The `scenes` world: determinism, sizes, real physics (free fall, toppling), object permanence behind occluders,
pixels that agree with the state, and captions that name every moving object."""

import json

import numpy as np
import pytest

from kinema.worlds import base, scenes
from kinema.worlds import render as render_named
from kinema.worlds import scenarios as scenario_names

G = scenes.GRAVITY


def _track(sample, obj_id):
    return [next(o for o in f["objects"] if o["id"] == obj_id) for f in sample.state["frames"]]


def _dynamic(sample):
    return [o for o in sample.state["objects"] if not o["static"]]


# ----------------------------------------------------------------------------------------------------------------------
# Catalogue
# ----------------------------------------------------------------------------------------------------------------------

def test_templates_and_held_out_split():
    assert len(scenes.SCENARIOS) >= 12
    assert len(scenes.HELDOUT_TEMPLATES) >= 3
    assert not set(scenes.TRAIN_TEMPLATES) & set(scenes.HELDOUT_TEMPLATES)
    assert set(scenes.TRAIN_TEMPLATES) | set(scenes.HELDOUT_TEMPLATES) == set(scenes.SCENARIOS)
    assert scenario_names("scenes") == scenes.SCENARIOS


def test_kinds_have_both_languages_and_enough_appear():
    seen = set()
    for name in scenes.SCENARIOS:
        for seed in (0, 1):
            seen |= {o["kind"] for o in scenes.render(name, seed=seed, frames=1).state["objects"]}
    assert len(seen) >= 6
    assert seen <= set(scenes.KIND_EN) and seen <= set(scenes.KIND_ZH)
    assert {"ball", "box", "triangle", "ramp", "bar", "wall", "occluder"} <= seen


def test_bad_requests_raise():
    with pytest.raises(ValueError, match="unknown scenes scenario"):
        scenes.render("teleport")
    with pytest.raises(ValueError, match="frames"):
        scenes.render("ball_drop", frames=0)
    with pytest.raises(ValueError, match="substeps"):
        scenes.render("ball_drop", substeps=0)


# ----------------------------------------------------------------------------------------------------------------------
# Determinism and sizes
# ----------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["domino_row", "occluder_pass", "seesaw"])
def test_same_seed_same_bytes_other_seed_differs(name):
    a = scenes.render(name, seed=5, frames=12)
    b = scenes.render(name, seed=5, frames=12)
    c = scenes.render(name, seed=6, frames=12)
    assert a.video.tobytes() == b.video.tobytes()
    assert a.state_json() == b.state_json()
    assert a.video.tobytes() != c.video.tobytes()


@pytest.mark.parametrize("name", scenes.SCENARIOS)
def test_every_template_renders_at_every_aspect_and_as_an_image(name):
    for (w, h), frames in (((64, 64), 32), ((128, 72), 6), ((72, 128), 6), ((64, 64), 1)):
        s = scenes.render(name, seed=1, frames=frames, width=w, height=h)
        assert s.video.shape == (frames, h, w, 3) and s.video.dtype == np.uint8
        assert s.world == f"scenes/{name}" and s.state["template"] == name
        assert s.state["pixels_per_unit"] == min(w, h) / 10
        json.loads(s.state_json())
        assert s.video[0].std() > 5  # something is drawn
        first = s.state["frames"][0]["objects"]
        assert [o["id"] for o in first] == [o["id"] for o in _dynamic(s)]
        has_screen = any(o["kind"] == "occluder" for o in s.state["objects"])
        for o in first:  # the action starts inside the picture at every aspect ratio
            assert o["in_view"] and (has_screen or o["visible_fraction"] == 1.0), (name, w, h, o)


def test_wider_frames_show_more_world_at_the_same_scale():
    sq = scenes.render("ball_drop", seed=2, frames=1, width=64, height=64)
    wide = scenes.render("ball_drop", seed=2, frames=1, width=128, height=64)
    assert wide.state["view"][0] < sq.state["view"][0] and wide.state["view"][2] > sq.state["view"][2]
    assert wide.state["view"][1] == sq.state["view"][1]
    np.testing.assert_array_equal(wide.video[0][:, 32:96], sq.video[0])  # same pixels, centred


def test_out_of_distribution_sizes_leave_the_usual_range():
    for seed in range(6):
        r_id = _dynamic(scenes.render("ball_drop", seed=seed, frames=1))[0]["radius"]
        r_ood = _dynamic(scenes.render("ball_drop", seed=seed, frames=1, ood=True))[0]["radius"]
        assert 0.45 <= r_id <= 0.8
        assert not 0.45 <= r_ood <= 0.8


def test_package_entry_point():
    s = render_named("scenes/pendulum", seed=3, frames=4)
    assert s.world == "scenes/pendulum" and s.frames == 4


# ----------------------------------------------------------------------------------------------------------------------
# Physics is real
# ----------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_dropped_ball_falls_freely_until_its_first_contact(seed):
    s = scenes.render("ball_drop", seed=seed, frames=20)
    ball = next(o for o in _dynamic(s) if o["kind"] == "ball")
    track = _track(s, ball["id"])
    hits = [e["frame"] for e in s.state["events"] if ball["id"] in (e["a"], e["b"])]
    assert hits, "the ball never landed"
    first = min(hits)
    assert first >= 5
    x0, y0, vx0 = track[0]["x"], track[0]["y"], track[0]["vx"]
    dt = 1 / (s.fps * s.meta["substeps"])
    for k in range(first):
        t, n = k / s.fps, k * s.meta["substeps"]
        assert track[k]["vy"] == pytest.approx(-G * t, abs=1e-4)
        # Chipmunk moves with the old velocity, then updates it: y_n = y0 - g dt^2 n (n - 1) / 2 exactly, which is
        # free fall y0 - g t^2 / 2 lifted by g t dt / 2
        assert track[k]["y"] == pytest.approx(y0 - G * dt * dt * n * (n - 1) / 2, abs=1e-4)
        assert track[k]["y"] == pytest.approx(y0 - 0.5 * G * t * t, abs=0.5 * G * t * dt + 1e-4)
        assert track[k]["x"] == pytest.approx(x0 + vx0 * t, abs=1e-3)
        assert track[k]["touching"] == []
    hit = next(e for e in s.state["events"] if ball["id"] in (e["a"], e["b"]) and e["frame"] == first)
    assert s.state["objects"][hit["a"]]["kind"] == "floor" and hit["speed"] > 1.0
    before, frame_dt = track[first - 1], 1 / s.fps  # free fall from frame first-1 reaches the floor by frame first
    assert before["y"] - ball["radius"] > 0
    assert before["y"] + before["vy"] * frame_dt - 0.5 * G * frame_dt ** 2 - ball["radius"] < 0.01
    assert track[first]["vy"] > 0  # and it bounced


@pytest.mark.parametrize("seed", range(3))
def test_leaning_tower_topples(seed):
    s = scenes.render("tower_topple", seed=seed)
    turns = [max(abs(o["angle"] - _track(s, b["id"])[0]["angle"]) for o in _track(s, b["id"])) for b in _dynamic(s)]
    assert max(turns) > 1.0  # some box turned by more than ~57 degrees
    assert "topples over" in s.caption["en"]["detailed"] and "翻倒" in s.caption["zh"]["detailed"]


def test_stacked_boxes_come_to_rest_on_each_other():
    s = scenes.render("box_stack", seed=0, frames=40)
    last = s.state["frames"][-1]["objects"]
    assert all(abs(o["vx"]) < 0.05 and abs(o["vy"]) < 0.05 for o in last)
    ids = [o["id"] for o in _dynamic(s)]
    assert any(t in ids for o in last for t in o["touching"])  # at least one box rests on another box


@pytest.mark.parametrize("name,seed", [("occluder_pass", 0), ("occluder_pass", 1), ("occluded_collision", 2)])
def test_objects_pass_behind_the_screen_and_come_back_out(name, seed):
    s = scenes.render(name, seed=seed)
    screen = next(o for o in s.state["objects"] if o["kind"] == "occluder")
    for obj in (o for o in _dynamic(s)):
        track = _track(s, obj["id"])
        vis = [o["visible_fraction"] for o in track]
        assert vis[0] == 1.0
        k = int(np.argmin(vis))
        assert vis[k] < 0.5 and abs(track[k]["x"] - screen["x"]) < screen["width"] / 2
        assert max(vis[k:]) == 1.0  # it re-emerges, whole
        rgb = np.array(obj["rgb"], np.uint8)
        if vis[k] == 0.0:  # wholly hidden: not one pixel of its colour shows
            assert not np.all(s.video[k] == rgb, -1).any()
        back = k + vis[k:].index(1.0)
        assert np.all(s.video[back] == rgb, -1).any()
    assert "behind" in s.caption["en"]["detailed"] and "后面" in s.caption["zh"]["detailed"]


# ----------------------------------------------------------------------------------------------------------------------
# Pixels agree with the state
# ----------------------------------------------------------------------------------------------------------------------

def _colour_centroid(img, rgb, bg):
    """Sub-pixel centroid of a colour: pixels weighted by how far they sit along the background->colour line."""
    img, rgb, bg = (np.asarray(a, float) for a in (img, rgb, bg))
    d = rgb - bg
    a = ((img - bg) @ d) / (d @ d)
    off_line = np.linalg.norm(img - bg - a[..., None] * d, axis=-1)
    w = np.where(off_line < 20, np.clip(a, 0, 1), 0.0)
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]] + 0.5
    return (w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()


@pytest.mark.parametrize("seed", range(4))
def test_ball_colour_centroid_matches_projected_position(seed):
    s = scenes.render("ball_drop", seed=seed, frames=10, width=64, height=64)
    ball = next(o for o in _dynamic(s) if o["kind"] == "ball")
    ppu, (vx, vy) = s.state["pixels_per_unit"], (32, 32)
    for k, st in enumerate(_track(s, ball["id"])):
        assert st["px"] == pytest.approx(vx + (st["x"] - 5) * ppu, abs=1e-3)
        assert st["py"] == pytest.approx(vy - (st["y"] - 4) * ppu, abs=1e-3)
        cx, cy = _colour_centroid(s.video[k], ball["rgb"], s.state["background"])
        assert abs(cx - st["px"]) < 0.5 and abs(cy - st["py"]) < 0.5
        interior = np.all(s.video[k] == np.array(ball["rgb"], np.uint8), -1)
        assert interior.sum() >= 4  # the exact palette colour survives anti-aliasing inside the disc
        assert abs(st["px"] - interior.nonzero()[1].mean() - 0.5) < 1.0


# ----------------------------------------------------------------------------------------------------------------------
# Captions
# ----------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("frames", [32, 1])
def test_captions_name_every_moving_object_in_both_languages(frames):
    for name in scenes.SCENARIOS:
        s = scenes.render(name, seed=0, frames=frames)
        for obj in _dynamic(s):
            for style in ("detailed", "short"):
                en, zh = s.caption["en"][style], s.caption["zh"][style]
                assert obj["color"] in en and any(w in en for w in scenes.KIND_EN[obj["kind"]]), (name, style, en)
                assert base.COLOR_ZH[obj["color"]] in zh and scenes.KIND_ZH[obj["kind"]][0] in zh, (name, style, zh)
        assert s.caption == scenes.caption(s.state)  # captions are a function of the state alone


def test_captions_say_what_happens():
    cases = {"ball_drop": ("falls", "落下"), "domino_row": ("topple", "翻倒"), "pendulum": ("swings", "摆动"),
             "ramp_roll": ("rolls down", "滚下"), "seesaw": ("tilts", "倾斜")}
    for name, (en, zh) in cases.items():
        s = scenes.render(name, seed=0)
        assert en in s.caption["en"]["detailed"] and zh in s.caption["zh"]["detailed"], (name, s.caption)
