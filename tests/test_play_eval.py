"""The judges of `kinema eval play` on ground truth (kinema.interactive.evaluate, kinema.interactive.idm): action
following scores, the inverse-dynamics estimate on each action and world (64x64 ground truth), the image metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinema.interactive.data import walk
from kinema.interactive.evaluate import clean_steps, psnr, ssim, validate_idm
from kinema.interactive.idm import camera_for, estimate_actions
from kinema.interactive.model import KEYS
from kinema.worlds import explore as E

torch.set_num_threads(1)
SEED = 10_000_000  # an evaluation world seed


def test_follow_scores_exact_direction_and_confusions():
    from kinema.interactive.evaluate import follow_scores

    truth, clean = np.array(list("AADW.S")), np.array([True, True, True, False, True, True])
    exact, direction, confusions = follow_scores(list("QADS.W"), truth, clean)
    # step 0: A read as Q (same direction), step 3 (W->S) is not clean, step 5: S read as W (wrong direction)
    assert (exact, direction) == (3 / 5, 4 / 5) and confusions == {"A->Q": 1, "S->W": 1}


@pytest.mark.parametrize("scenario", E.SCENARIOS)
def test_inverse_dynamics_is_right_on_ground_truth_for_each_action(scenario):
    world = E.make_world(scenario, SEED)
    cam = camera_for(scenario, 64, 64, 10.0)
    for key in KEYS:
        assert clean_steps(world, [key], 10.0) == [True]
        assert estimate_actions(walk(world, [key], 64, 64, 10.0), cam) == [key], key
    frames = walk(world, list("WWAADQE.S"), 64, 64, 10.0)
    assert estimate_actions(frames, cam) == list("WWAADQE.S")


def test_inverse_dynamics_validation_reaches_95_percent():
    res = validate_idm(n=4, frames=21)
    assert res["steps"] >= 60 and res["accuracy"] >= 0.95, res


def test_image_metrics():
    a = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert psnr(a, a) == 100.0 and ssim(a, a) == pytest.approx(1.0)
    b = a.copy()
    b[0, 0, 0] ^= 1  # one LSB: mse = 1 / 768
    assert psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 * 768), abs=1e-9)
    assert ssim(a, 255 - a) < 0.5
