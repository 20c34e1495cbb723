"""The sub-pixel ball parser and Phyworld's velocity error, against the physics world's exact state."""

import numpy as np
import pytest

from kinema.eval import parse
from kinema.worlds import physics as P


def _truth(sample):
    st = sample.state
    pos = np.array([[[o["x"], o["y"]] for o in f["objects"]] for f in st["frames"]])  # (T, K, 2)
    in_view = np.array([[o["in_view"] for o in f["objects"]] for f in st["frames"]])  # (T, K)
    return pos, in_view


def _colors(sample):
    return [tuple(o["rgb"]) for o in sample.state["objects"]]


@pytest.mark.parametrize("scenario", P.SCENARIOS)
@pytest.mark.parametrize("width,height", [(64, 64), (96, 54), (54, 96)])
def test_positions_within_a_fraction_of_a_pixel(scenario, width, height):
    for seed in range(3):
        s = P.render(scenario, seed=seed, width=width, height=height)
        pos, vis = parse.track_balls(s.video, _colors(s))
        world, in_view = _truth(s)
        gt_px = P.world_to_pixels(world, width, height)
        assert vis[in_view].all()  # every fully visible ball is found
        assert np.abs(pos - gt_px)[in_view].max() < 0.15  # pixels
        np.testing.assert_allclose(parse.pixels_to_world(gt_px, s.state), world, atol=1e-12)


def test_thresholded_mask_would_be_worse():
    # The weights, not a hard mask, carry the sub-pixel information: a binarised video parses worse.
    s = P.render("uniform", seed=1)
    hard = np.where(s.video.min(-1, keepdims=True) < 128, s.video, 255).astype(np.uint8)
    hard = np.where(hard < 255, np.array(_colors(s)[0], dtype=np.uint8), hard)
    assert parse.velocity_error(hard, s.state)["error"] > 3 * parse.velocity_error(s.video, s.state)["error"]


def test_partly_out_of_view_is_not_visible():
    s = P.render("uniform", seed=0, frames=3, params={"balls": [{"x": 0.2, "vx": 1.0, "radius": 1.0, "y": 5.0}]})
    _, vis = parse.track_balls(s.video, _colors(s))
    assert not vis.any() and not _truth(s)[1].any()
    blank = np.full_like(s.video, 255)
    pos, vis = parse.track_balls(blank, _colors(s))
    assert not vis.any() and np.isnan(pos).all()


def test_finite_difference_exact_on_a_parabola_and_masks_neighbours():
    t = np.arange(6) / 10.0
    pos = np.stack([1 + 2 * t, 9 - 1.25 * t**2], -1)[:, None]  # (T, 1, 2)
    vis = np.ones((6, 1), bool)
    vis[4] = False
    vel, ok = parse.finite_difference_velocity(pos, 10.0, vis)
    assert ok[:, 0].tolist() == [False, True, True, False, False, False]
    np.testing.assert_allclose(vel[1:3, 0], np.stack([2 + 0 * t[1:3], -2.5 * t[1:3]], -1), atol=1e-12)
    assert np.isnan(vel[~ok]).all()


def test_uniform_velocity_recovered_at_64():
    errs = [parse.velocity_error(s.video, s.state)["error"]
            for s in (P.render("uniform", seed=seed, width=64, height=64) for seed in range(8))]
    assert np.mean(errs) < 0.03  # world units / s


@pytest.mark.parametrize("scenario", P.SCENARIOS)
def test_ground_truth_scores_low_and_wrong_video_scores_high(scenario):
    s, other = P.render(scenario, seed=3), P.render(scenario, seed=4)
    r = parse.velocity_error(s.video, s.state)
    assert r["error"] < 0.03 and r["frames_missing"] == 0 and r["frames_used"] == r["frames_eligible"] > 0
    assert all(e is None or e < 0.05 for e in r["per_ball"])
    # Another clip re-coloured as this one's balls: wrong motion, large error.
    fake = other.video.copy()
    for o_src, o_dst in zip(other.state["objects"], s.state["objects"]):
        fake[(fake == o_src["rgb"]).all(-1)] = o_dst["rgb"]
    wrong = parse.velocity_error(fake, s.state)
    assert wrong["error"] > 0.3


def test_noise_robust():
    rng = np.random.default_rng(0)
    for scenario in P.SCENARIOS:
        s = P.render(scenario, seed=2)
        noisy = np.clip(s.video + rng.normal(0, 6, s.video.shape), 0, 255).astype(np.uint8)
        r = parse.velocity_error(noisy, s.state)
        assert r["error"] < 0.04 and r["frames_missing"] == 0


def test_collision_counts_post_collision_frames_only():
    s = P.render("collision", seed=0)
    fc, n_t = s.state["collision_frame"], s.frames
    full = parse.velocity_error(s.video, s.state, post_collision_only=False)
    post = parse.velocity_error(s.video, s.state)
    assert post["frames_eligible"] < full["frames_eligible"]
    only = parse.velocity_error(s.video, s.state, frames=range(fc + 1, n_t), post_collision_only=False)
    assert only["frames_eligible"] == post["frames_eligible"]


def test_vanished_ball_counts_as_missing_not_as_perfect():
    s = P.render("uniform", seed=1)
    r = parse.velocity_error(np.full_like(s.video, 255), s.state)
    assert r["error"] is None and r["frames_used"] == 0 and r["frames_missing"] == r["frames_eligible"] > 0


def test_frames_selects_centre_frames_and_bad_input_raises():
    s = P.render("uniform", seed=1)
    r = parse.velocity_error(s.video, s.state, frames=range(3, s.frames))
    assert r["frames_eligible"] <= s.frames - 4
    with pytest.raises(ValueError, match="match the state"):
        parse.velocity_error(s.video[:5], s.state)
    with pytest.raises(ValueError, match="frames"):
        parse.velocity_error(s.video, s.state, frames=[40])


def test_parse_floor_small():
    assert 0 < parse.parse_floor("parabola", width=64, height=64, n=2) < 0.03
