"""Abnormal-event flags and object permanence: zero on ground truth, raised by synthetic corruptions."""

import json

import numpy as np
import pytest

from kinema.eval import scenes as E
from kinema.eval.continuation import RepeatLastModel, SimulatorModel
from kinema.eval.sets import eval_seed, render_clip
from kinema.worlds import scenes
from kinema.worlds.base import PALETTE


def _clip(template, i, w=64, h=64):
    s = render_clip("scenes", template, "id", eval_seed("scenes", template, "id", i), frames=32, width=w, height=h)
    return s.video, s.state


def _dynamic(state):
    return [o for o in state["objects"] if not o["static"]]


def _footprint(state, k, obj_id, w, h, grow=1.5):
    """(H, W) bool: pixels within an object's reach (radius or half-diagonal + grow px) of its centre in frame k."""
    o = next(o for o in state["objects"] if o["id"] == obj_id)
    f = next(f for f in state["frames"][k]["objects"] if f["id"] == obj_id)
    ppu = state["pixels_per_unit"]
    reach = (o["radius"] if "radius" in o else np.hypot(*np.asarray(o["vertices"]).T).max()) * ppu + grow
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    return (xs - f["px"]) ** 2 + (ys - f["py"]) ** 2 <= reach ** 2


def test_static_layer_is_what_the_world_draws_behind_the_objects():
    for template in ("ramp_dominoes", "occluded_collision"):  # (pendulum_stack adds moving rods)
        video, state = _clip(template, 0, 80, 64)
        bg, occ = E.static_layer(state, 80, 64)
        for k in (0, 15, 31):
            objects = np.zeros((64, 80), bool)
            for o in _dynamic(state):
                objects |= _footprint(state, k, o["id"], 80, 64)
            assert np.array_equal(video[k][~objects], bg[~objects])
        assert occ.any() == (template == "occluded_collision")


@pytest.mark.parametrize("template", scenes.HELDOUT_TEMPLATES)
def test_ground_truth_raises_no_flag_and_keeps_permanence(template):
    for i, (w, h) in enumerate([(64, 64)] * 5 + [(96, 64), (64, 80)]):
        video, state = _clip(template, i, w, h)
        r = E.score_scene(video, state)
        assert not r["abnormal"], (i, r["flags"])
        assert all(e["ok"] for e in r["permanence"])
        if template == "occluded_collision":
            assert r["permanence"]  # both balls pass behind the screen


def _recolour(video, state, obj_id, rgb, start):
    """Repaint an object from frame `start` on: each pixel's share of its colour keeps its share, of `rgb`."""
    out = video.copy()
    h, w = video.shape[1:3]
    bg, _ = E.static_layer(state, w, h)
    bg = bg.astype(np.float64)
    old = np.asarray(next(o for o in state["objects"] if o["id"] == obj_id)["rgb"], np.float64)
    for k in range(start, len(video)):
        m = _footprint(state, k, obj_id, w, h)
        p = video[k].astype(np.float64)
        d = bg - old
        a = np.clip(((bg - p) * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-6), 0, 1)[..., None]  # (H, W, 1)
        new = bg - a * (bg - np.asarray(rgb, np.float64))
        out[k][m] = np.clip(np.rint(new[m]), 0, 255).astype(np.uint8)
    return out


def _erase(video, state, obj_id, start):
    out = video.copy()
    h, w = video.shape[1:3]
    bg, _ = E.static_layer(state, w, h)
    for k in range(start, len(video)):
        m = _footprint(state, k, obj_id, w, h)
        out[k][m] = bg[m]
    return out


def test_corruptions_are_flagged():
    video, state = _clip("ramp_dominoes", 1)
    ball = next(o for o in _dynamic(state) if o["kind"] == "ball")
    used = {o["color"] for o in _dynamic(state)}
    foreign = next(c for c in PALETTE if c not in used)
    recoloured = E.score_scene(_recolour(video, state, ball["id"], PALETTE[foreign], 12), state)
    assert recoloured["abnormal"] and [ball["id"], 12] in recoloured["flags"]["colour_change"]
    erased = E.score_scene(_erase(video, state, ball["id"], 12), state)
    assert erased["flags"]["vanish"] == [[ball["id"], 12]] and not erased["flags"]["appear"]
    # a foreign-coloured copy of the ball drawn elsewhere: something appeared
    copy = video.copy()
    copy[10:, 8:13, 30:35] = PALETTE[foreign]
    assert [-1, 10] in E.score_scene(copy, state)["flags"]["appear"]
    # the same ball, twice as big: size drift
    big = video.copy()
    for k in range(10, 32):
        m = _footprint(state, k, ball["id"], 64, 64, grow=0.6 * ball["radius"] * state["pixels_per_unit"])
        big[k][m & (np.abs(big[k].astype(int) - E.static_layer(state, 64, 64)[0]).sum(-1) < 10)] = ball["rgb"]
    assert E.score_scene(big, state)["flags"]["size_drift"]
    # a box pushed into the floor
    sunk = video.copy()
    box = _dynamic(state)[-1]
    for k in range(10, 32):
        m = _footprint(state, k, box["id"], 64, 64, grow=0.5)
        sunk[k] = np.where(np.roll(m, 3, axis=0)[..., None], np.roll(video[k], 3, axis=0), video[k])
    assert E.score_scene(sunk, state)["flags"]["interpenetrate"]


def test_permanence_fails_when_a_hidden_object_never_comes_back():
    video, state = _clip("occluded_collision", 2)
    gt = E.parse_scene(video, state)
    event = E.score_scene(video, state)["permanence"][0]
    gone = E.score_scene(_erase(video, state, event["object"], event["hidden_from"]), state, gt_parse=gt)
    lost = [e for e in gone["permanence"] if e["object"] == event["object"]]
    assert lost and not lost[0]["ok"]
    assert not gone["flags"]["vanish"]  # it was last seen at the screen: not a vanishing in the open


def test_evaluation_reference_models():
    cfg = E.ScenesEvalConfig(templates=("occluded_collision",), n=3)
    sim, ex = E.evaluate_scenes(SimulatorModel(), cfg, progress=False)
    a = sim["summary"]["all"]
    assert a["model"]["abnormal"]["mean"] == 0 and a["model"]["permanence"]["mean"] == 1.0
    assert all(a["gt"][k] == a["model"][k] for k in ("abnormal", "flags", "permanence"))
    assert a["vae"] is None and len(ex) == 1
    assert a["model"]["psnr_db"]["mean"] == 100.0 and a["model"]["ssim"]["mean"] == pytest.approx(1.0)
    assert json.loads(json.dumps(sim))["clips"][0]["model"]["permanence"][0]["ok"] is True  # plain JSON types
    rep, _ = E.evaluate_scenes(RepeatLastModel(), cfg, progress=False)
    assert rep["summary"]["all"]["model"]["permanence"]["mean"] == 0.0  # a frozen clip hides nothing
    with pytest.raises(ValueError, match="held-out"):
        E.ScenesEvalConfig(templates=("ball_drop",))
