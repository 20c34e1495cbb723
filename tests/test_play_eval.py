"""`kinema eval play` (kinema.interactive.evaluate, kinema.interactive.idm): the judges on ground truth (action
following scores, the inverse-dynamics estimate on each action and world at 64x64, the image metrics), and the
evaluation of a tiny random model (intervals over worlds, steps from the true past)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from kinema.interactive.data import walk
from kinema.interactive.evaluate import clean_steps, psnr, ssim, validate_idm
from kinema.interactive.idm import camera_for, estimate_actions
from kinema.interactive.model import KEYS, PlayConfig
from kinema.interactive.session import PlayModel, Session, rollout
from kinema.worlds import explore as E

torch.set_num_threads(1)
SEED = 10_000_000  # an evaluation world seed


@pytest.fixture(scope="module")
def tiny():
    return PlayModel.random("tiny", "tiny-t1", cfg=PlayConfig(window=3), seed=1)


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


def test_eval_play_intervals_are_over_worlds_and_paired(tiny, monkeypatch):
    """The PSNR gain over repeat-last is the mean over worlds of (model - baseline) in the same world, with a bootstrap
    interval around it; the report prints the intervals (and none for a single world). The judge also reads the
    ground truth through the model's VAE: with a VAE that returned its input, that reading is the truth's."""
    import kinema.interactive.evaluate as ev
    from kinema.interactive.evaluate import evaluate_play, format_report, psnr

    real = evaluate_play(tiny, n=1, frames=4, policies=("scripted",), idm_worlds=0, progress=False)
    assert 0 <= real["policies"]["scripted"]["action_accuracy_vae"] <= 1
    monkeypatch.setattr(ev, "_vae_recon", lambda model, frames: frames)
    lossless = evaluate_play(tiny, n=1, frames=4, policies=("scripted",), idm_worlds=0, progress=False)
    r = lossless["policies"]["scripted"]
    assert r["action_accuracy_vae"] == r["action_accuracy_gt"]
    assert r["direction_accuracy_vae"] == r["direction_accuracy_gt"]
    assert r["vae_psnr"]["1"] == psnr(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)))  # identical frames
    assert "through the VAE" in "\n".join(format_report(lossless))
    monkeypatch.undo()

    res = evaluate_play(tiny, n=3, frames=3, policies=("random",), idm_worlds=0, progress=False)
    r = res["policies"]["random"]
    g = r["intervals"]["psnr_gain"]["1"]  # frames=3: horizon 1 only
    assert list(r["intervals"]["psnr_gain"]) == ["1"] and g["n"] == 3
    assert g["mean"] == pytest.approx(r["psnr"]["1"] - r["base_psnr"]["1"])
    assert g["ci95"][0] <= g["mean"] <= g["ci95"][1] and g["ci95"][0] < g["ci95"][1]
    for name in ("action_accuracy", "direction_accuracy", "action_accuracy_tf", "direction_accuracy_tf"):
        ci = r["intervals"][name]
        assert ci["mean"] == pytest.approx(r[name]) and ci["ci95"][0] <= r[name] <= ci["ci95"][1]
    text = "\n".join(format_report(res))
    assert "gain vs repeat-last" in text and "95% CI: 1 [" in text and "from the true past" in text
    assert r["direction_accuracy_tf"] >= r["action_accuracy_tf"]
    one = evaluate_play(tiny, n=1, frames=3, policies=("random",), idm_worlds=0, progress=False)
    assert "95% CI" not in "\n".join(format_report(one))
    del one["policies"]["random"]["intervals"]  # results.json written before the intervals existed still format
    assert "gain vs repeat-last" not in "\n".join(format_report(one))
    del one["policies"]["random"]["direction_by_key"]  # and before the split by key existed
    assert "direction by key" not in "\n".join(format_report(one))
    del one["policies"]["random"]["action_accuracy_tf"]  # and before following from the true past existed
    assert "from the true past" not in "\n".join(format_report(one))
    by_key = r["direction_by_key"]  # pooled over the 3 worlds' clean steps, in key order
    assert list(by_key) == [k for k in "WSADQE." if k in by_key] and 0 < sum(d["steps"] for d in by_key.values()) <= 6
    assert all(0 <= d["rollout"] <= 1 and 0 <= d["tf"] <= 1 for d in by_key.values())
    assert "direction by key (own rollout / from the true past, steps): " in text


def test_direction_by_key_counts_clean_steps_per_pressed_key():
    from kinema.interactive.evaluate import direction_by_key

    got = direction_by_key(list("WQ.SA"), np.array(list("WAWSS")), np.array([True, True, True, False, True]))
    assert got == {"W": [1, 2], "A": [1, 1], "S": [0, 1]}  # A read as Q: the same direction; S blocked: not counted


def test_teacher_forced_steps_go_on_from_the_true_frames(tiny, monkeypatch):
    """session.teacher_forced (kinema eval play's following from the true past): every step commits the true frame
    (with no context noise, exactly its latent), and the first frame is the one a plain rollout makes."""
    from kinema.interactive.session import teacher_forced

    world = E.make_world("garden", SEED)
    keys = list("WADQ")
    truth = walk(world, keys, 16, 16, 10.0)  # (5, 16, 16, 3)
    committed = []
    forward = type(tiny.dit).forward

    def spy(self, x, t, cond=None, cache=None):
        if cache is not None and cache.write:
            committed.append(x[:, :, 0].clone())  # the fused call's first frame is the one committed
        return forward(self, x, t, cond, cache)

    monkeypatch.setattr(type(tiny.dit), "forward", spy)
    made = teacher_forced(tiny, truth, keys, "a garden", seed=2, steps=2, ctx_noise=0.0)
    assert made.shape[2] == len(keys)
    x = torch.from_numpy(truth).permute(0, 3, 1, 2)[:, :, None].float() / 127.5 - 1.0
    true = tiny.vae.normalize(tiny.vae.encode(x)[0])  # (5, C, 1, h, w)
    assert len(committed) == len(keys)
    for k, c in enumerate(committed):  # frame 0, then each true frame in place of the one made
        torch.testing.assert_close(c, true[k, :, 0][None], atol=1e-6, rtol=1e-6)
    s = Session(tiny, "a garden", seed=2, steps=2, ctx_noise=0.0, keep_latents=True)
    own = rollout(s, keys, truth[0])
    torch.testing.assert_close(made[:, :, :1], s.latents[1])
    assert not torch.allclose(made[:, :, -1:], s.latents[-1], atol=1e-4)  # its own past differs from the truth
    with pytest.raises(ValueError, match="truth must be"):
        teacher_forced(tiny, truth[:3], keys)
    assert own.shape == truth.shape



def test_eval_play_records_and_reports_the_ego_gain(tiny):
    from kinema.interactive.evaluate import evaluate_play, format_report

    ego = ((1.1, 0.0), (0.9, 0.0), (1.0, 1.5), (1.0, -1.5), (1.0, 0.5), (1.0, -0.5), (1.0, 0.0))
    moving = replace(tiny, cfg=replace(tiny.cfg, bridge=0.5, ego_motion=ego))
    args = {"n": 1, "frames": 3, "policies": ("random",), "idm_worlds": 0, "progress": False}
    res = evaluate_play(moving, ego_gain=2.0, **args)
    assert res["ego_gain"] == 2.0 and "ego gain 2," in format_report(res)[0]
    assert res["ego_motion"] == [list(p) for p in ego]  # what each frame starts from, as fitted (before the gain)
    assert "ego motion (zoom, dx latent px), as fitted: W 1.100 +0.00, S 0.900 +0.00, A 1.000 +1.50" in (
        format_report(res)[1])
    assert evaluate_play(moving, **args)["ego_gain"] == 1.0  # the model's own, not printed
    plain = evaluate_play(tiny, **args)
    assert "ego_gain" not in plain and "ego_motion" not in plain  # no ego motion, no gain
    assert "ego motion" not in "\n".join(format_report(plain))


def test_eval_play_can_hold_out_the_first_worlds(tiny):
    """first_world=K evaluates worlds K .. K + n - 1 of each policy (held out from settings picked on the first)."""
    from kinema.interactive.data import action_sequence
    from kinema.interactive.evaluate import evaluate_play, format_report
    from kinema.train.data import EVAL_SEED_START

    examples: list = []
    res = evaluate_play(tiny, n=1, frames=3, policies=("random",), idm_worlds=0, progress=False, first_world=2,
                        examples=examples)
    seed = EVAL_SEED_START + 1000 + 2  # the random policy's third world
    world = E.make_world(E.SCENARIOS[seed % len(E.SCENARIOS)], seed)
    assert examples[0]["keys"] == action_sequence("random", world, 2, tiny.cfg.fps, np.random.default_rng(seed))
    assert res["first_world"] == 2 and "1 worlds (from world 2) x 3 frames" in format_report(res)[0]
    with pytest.raises(ValueError, match="first_world must be in"):
        evaluate_play(tiny, n=1, frames=3, first_world=-1, progress=False)


def test_eval_play_reports_the_warp_last_baseline(tiny, tmp_path):
    """A model with ego motion is also measured against its own starts without the DiT: the first view moved by each
    key's fitted motion, frame after frame, at the session's ego gain (warp-last). With every motion the identity
    that is the first view through the VAE, repeated; a zoom moves it; the gain raises W's zoom; models without ego
    motion have no such baseline. The contact sheet shows the warped walk as a third row."""
    from PIL import Image

    from kinema.interactive.evaluate import _vae_recon, _warp_last, evaluate_play, format_report, write_play_report

    first = walk(E.make_world("gallery", SEED), ["W"], 64, 64, tiny.cfg.fps)[0]
    still = replace(tiny, cfg=replace(tiny.cfg, bridge=0.5, ego_motion=((1.0, 0.0),) * len(KEYS)))
    frames = _warp_last(still, first, ["W", "A", "."], 1.0)
    assert frames.shape == (4, 64, 64, 3) and frames.dtype == np.uint8
    recon = _vae_recon(still, first[None])[0].astype(int)  # the identity moves each pixel by float error only:
    assert all(np.abs(f.astype(int) - recon).max() <= 1 for f in frames)  # a level of rounding at most
    zoom = ((1.2, 0.0),) + ((1.0, 0.0),) * (len(KEYS) - 1)  # W zooms in, every other key stays
    moving = replace(tiny, cfg=replace(tiny.cfg, bridge=0.5, ego_motion=zoom))
    once, twice, none = (_warp_last(moving, first, ["W"], g)[1] for g in (1.0, 2.0, 0.0))
    assert not np.array_equal(once, frames[0]) and not np.array_equal(once, twice)
    assert np.abs(none.astype(int) - frames[0].astype(int)).max() <= 1  # gain 0: W does not zoom at all

    args = {"n": 2, "frames": 3, "policies": ("random",), "idm_worlds": 0, "progress": False}
    examples: list = []
    res = evaluate_play(moving, ego_gain=2.0, examples=examples, **args)
    ex = examples[0]
    assert np.array_equal(ex["warp"], _warp_last(moving, ex["gt"][0], ex["keys"], 2.0))
    r = res["policies"]["random"]
    g = r["intervals"]["psnr_gain_warp"]["1"]
    assert g["n"] == 2 and g["mean"] == pytest.approx(r["psnr"]["1"] - r["warp_psnr"]["1"])
    assert 0 <= r["direction_accuracy_warp"] <= 1 and 0 <= r["warp_ssim"]["1"] <= 1
    text = "\n".join(format_report(res))
    assert "warp-last PSNR" in text and "gain vs warp-last" in text and ", warp-last " in text
    plain_examples: list = []
    plain = evaluate_play(tiny, examples=plain_examples, **args)
    r = plain["policies"]["random"]
    assert "warp_psnr" not in r and r["direction_accuracy_warp"] is None and r["intervals"]["psnr_gain_warp"] is None
    assert "warp-last" not in "\n".join(format_report(plain)) and plain_examples[0]["warp"] is None
    sheets = [Image.open(write_play_report(r, tmp_path / name, e).parent / "play_examples.png").size
              for name, r, e in (("warp", res, examples), ("plain", plain, plain_examples))]
    assert sheets[0][0] == sheets[1][0] and sheets[0][1] > sheets[1][1]  # the same columns, one more row


def test_colour_drift_reads_a_collapse_into_one_colour(tiny):
    """colour_drift: the distance of each frame's mean colour from the true frame's (0 for the truth itself, 255
    sqrt(3) from black to white, small for the same picture blurred or noised); evaluate_play reports it early and
    late beside repeat-last's."""
    from kinema.interactive.evaluate import colour_drift, evaluate_play, format_report

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    assert np.all(colour_drift(truth, truth) == 0)
    black, white = np.zeros_like(truth), np.full_like(truth, 255)
    np.testing.assert_allclose(colour_drift(black, white), 255 * np.sqrt(3))
    grey = np.full_like(truth, 128)
    noisy = np.clip(truth.astype(int) + rng.integers(-20, 21, truth.shape), 0, 255).astype(np.uint8)
    assert colour_drift(noisy, truth).max() < 3 < colour_drift(grey, truth).min() and \
        colour_drift(grey, truth).max() < colour_drift(white, truth).min()
    examples: list = []
    res = evaluate_play(tiny, n=1, frames=3, policies=("random",), idm_worlds=0, progress=False, examples=examples)
    s, ex = res["policies"]["random"]["stability"], examples[0]
    assert s["colour_drift_early"] == pytest.approx(colour_drift(ex["model"], ex["gt"]).mean())  # 3 frames: all
    assert s["colour_drift_late_repeat"] == pytest.approx(colour_drift(ex["gt"][[0, 0, 0]], ex["gt"]).mean())
    assert any(line.strip().startswith("colour drift from truth") for line in format_report(res))
