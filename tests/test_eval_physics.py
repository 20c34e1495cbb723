"""Phyworld's physics evaluation: evaluation seeds, the parse of ground truth, reference models with known scores."""

import numpy as np
import pytest
import torch

from kinema.eval import physics as E
from kinema.eval.continuation import (Continuation, LinearExtrapolationModel, PipelineModel, RepeatLastModel,
                                      SimulatorModel)
from kinema.eval.fidelity import PSNR_MAX, psnr, sharpness, ssim
from kinema.eval.parse import velocity_error
from kinema.eval.sets import BLOCK, CELLS, clip_of_seed, eval_seed, render_clip, video_sha256
from kinema.eval.stats import mean_ci, ratio_ci
from kinema.pipeline import Output
from kinema.train.data import EVAL_SEED_START, DataConfig, WorldData
from kinema.worlds import physics

torch.set_num_threads(1)
CFG = {"size": (48, 48)}

# ----------------------------------------------------------------------------------------------------------------------
# Evaluation sets
# ----------------------------------------------------------------------------------------------------------------------


def test_eval_seeds_are_disjoint_from_each_other_and_from_training():
    for world, scenario, split in CELLS:
        lo, hi = eval_seed(world, scenario, split, 0), eval_seed(world, scenario, split, BLOCK - 1)
        assert lo >= EVAL_SEED_START and hi - lo == BLOCK - 1
        assert clip_of_seed(hi) == (world, scenario, split, BLOCK - 1)
    for s in physics.SCENARIOS:  # ID and OOD: disjoint seed ranges
        ids = {eval_seed("physics", s, "id", i) for i in range(0, BLOCK, 97)}
        oods = {eval_seed("physics", s, "ood", i) for i in range(0, BLOCK, 97)}
        assert not ids & oods
    starts = sorted(eval_seed(*c, 0) for c in CELLS)
    assert all(b - a == BLOCK for a, b in zip(starts, starts[1:]))  # no two cells share a seed
    # training draws world seeds below EVAL_SEED_START, whatever the index
    data = WorldData(cfg=DataConfig(source="physics"), batch_size=1, seed=0)
    assert all(data.clip(i)[1] < EVAL_SEED_START for i in range(0, 2 * 10 ** 9, 7_919_993))
    with pytest.raises(ValueError, match="not an evaluation seed"):
        clip_of_seed(EVAL_SEED_START - 1)
    with pytest.raises(ValueError, match="clip index"):
        eval_seed("physics", "uniform", "id", BLOCK)


def test_padded_clip_extends_the_same_motion():
    for s in physics.SCENARIOS:
        seed = eval_seed("physics", s, "ood", 3)
        a = render_clip("physics", s, "ood", seed, frames=32, width=32, height=32)
        b = render_clip("physics", s, "ood", seed, frames=32, width=32, height=32, extra=1)
        assert b.frames == 33 and np.array_equal(a.video, b.video[:32])
        assert a.state["frames"] == b.state["frames"][:32]
        assert np.array_equal(a.video, physics.render(s, seed=seed, width=32, height=32, ood=True).video)

# ----------------------------------------------------------------------------------------------------------------------
# One clip
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", physics.SCENARIOS)
def test_parser_recovers_ground_truth_within_the_floor(scenario):
    for split in ("id", "ood"):
        for i in range(3):
            s = render_clip("physics", scenario, split, eval_seed("physics", scenario, split, i), frames=32,
                            width=64, height=64)
            sc = E.score_clip(s.video, s.state)
            assert sc["velocity_error"] < 0.03  # units/s; the 64^2 floor is ~0.01 (kinema.eval.parse)
            assert sc["missing_rate"] == 0 and sc["radius_drift"] < 0.01
            assert sc["motion_along"] is None or abs(sc["motion_along"] - 1) < 0.02  # None: nothing moves >= 0.25/s
            if scenario == "collision":
                assert sc["momentum_error"] < 0.05 and sc["energy_error"] < 0.05
            # the pairs the scatter plot shows are exactly those velocity_error scores
            ve = velocity_error(s.video, s.state, frames=range(4, 32))
            assert len(sc["velocities"]) == ve["frames_used"] == ve["frames_eligible"]
            assert np.isclose(np.mean([np.hypot(p[2] - p[4], p[3] - p[5]) for p in sc["velocities"]]),
                              ve["error"], atol=1e-4)


def test_frozen_video_scores_the_true_speed_exactly():
    s = render_clip("physics", "collision", "id", eval_seed("physics", "collision", "id", 0), frames=32,
                    width=48, height=48)
    frozen = RepeatLastModel().continue_video(s.video[:3], 32, caption="", seed=0)
    sc = E.score_clip(frozen, s.state)
    v = np.array([p[2:4] for p in sc["velocities"]])
    assert np.isclose(sc["velocity_error"], np.linalg.norm(v, axis=1).mean(), atol=1e-9)  # v_hat = 0 exactly
    assert sc["energy_error"] == pytest.approx(2.0)  # nothing moves: no kinetic energy left (the maximum error)
    assert sc["motion_along"] == 0.0


def test_motion_along_reads_the_wrong_way_and_too_slow():
    s = render_clip("physics", "uniform", "id", eval_seed("physics", "uniform", "id", 0), frames=32, width=64,
                    height=64)
    mirrored = E.score_clip(s.video[:, :, ::-1].copy(), s.state)  # the ball runs the other way at the same speed
    assert mirrored["motion_along"] == pytest.approx(-1.0, abs=0.02)
    half = s.video.copy()  # frames 3.. at half the speed: frame 3 + j shows the truth's frame 3 + j // 2
    half[3:] = s.video[3 + np.arange(29) // 2]
    # each central difference (k-1 to k+1) spans one true frame instead of two: half the true velocity
    assert E.score_clip(half, s.state)["motion_along"] == pytest.approx(0.5, abs=0.02)

# ----------------------------------------------------------------------------------------------------------------------
# Reference models
# ----------------------------------------------------------------------------------------------------------------------


def test_simulator_scores_exactly_at_the_floor_and_repeat_last_far_above():
    cfg = E.PhysicsEvalConfig(n=2, **CFG)
    sim, _ = E.evaluate_physics(SimulatorModel(), cfg, progress=False)
    for c in sim["clips"]:
        assert c["model"]["velocity_error"] == c["gt"]["velocity_error"]
        assert c["gt_sha256"] == video_sha256(render_clip("physics", c["scenario"], c["split"], c["seed"],
                                                          frames=32, width=48, height=48).video)
    for s in physics.SCENARIOS:
        for sp in ("id", "ood"):
            assert sim["summary"][s][sp]["ratio_to_gt"]["ratio"] == pytest.approx(1.0)
    rep, _ = E.evaluate_physics(RepeatLastModel(), cfg, progress=False)
    lin, _ = E.evaluate_physics(LinearExtrapolationModel(), cfg, progress=False)
    for s in physics.SCENARIOS:
        for sp in ("id", "ood"):
            assert rep["summary"][s][sp]["ratio_to_gt"]["ratio"] > 20  # a model that learned no motion
    assert lin["summary"]["uniform"]["id"]["model"]["velocity_error"]["mean"] < \
        rep["summary"]["uniform"]["id"]["model"]["velocity_error"]["mean"] / 3
    # every evaluation carries the repeat-last baseline: the same scores as evaluating RepeatLastModel itself
    for a, b in zip(sim["clips"], rep["clips"], strict=True):
        assert a["repeat_last"] == {k: v for k, v in b["model"].items() if k != "velocities"} and a["seed"] == b["seed"]
    for s in physics.SCENARIOS:
        for sp in ("id", "ood"):
            assert rep["summary"][s][sp]["ratio_to_repeat_last"]["ratio"] == pytest.approx(1.0)
            assert sim["summary"][s][sp]["ratio_to_repeat_last"]["ratio"] < 0.05  # the truth moves; nothing is far
    assert lin["summary"]["uniform"]["id"]["ratio_to_repeat_last"]["ci95"][1] < 1  # linear motion beats none
    assert [c["seed"] for c in rep["clips"]] == [c["seed"] for c in sim["clips"]]  # fixed evaluation sets


class _IdentityVAE(torch.nn.Module):
    """encode/decode as the identity, time_down 2: its reconstruction floor must equal the parse floor."""

    class cfg:  # noqa: N801
        time_down = 2

    def encode(self, x):
        return x, x

    def decode(self, z):
        return z


class _FakePipe:
    """Pipeline.extend's contract: keep the context exactly, generate 1 + 2k frames (here: the true clip)."""

    name = "fake"

    def __init__(self):
        self.vae, self.calls = _IdentityVAE(), []

    def extend(self, video, *, prompt="", context_frames=3, frames=17, seed=0, steps=16, guidance=3.0,
               history_guidance=False):
        self.calls.append({"context": len(video), "context_frames": context_frames, "frames": frames, "seed": seed,
                           "steps": steps, "guidance": guidance, "prompt": prompt, "history": history_guidance})
        assert (frames - 1) % self.vae.cfg.time_down == 0
        world, scenario, split, _ = clip_of_seed(seed - 5)
        h, w = video.shape[1:3]
        clip = render_clip(world, scenario, split, seed - 5, frames=32, width=w, height=h, extra=frames - 32).video
        assert np.array_equal(clip[:context_frames], video[-context_frames:])
        return Output(video=clip, fps=10.0)


def test_pipeline_model_calls_extend_and_keeps_32_frames():
    pipe = _FakePipe()
    model = PipelineModel(pipe, steps=7, guidance=2.5, seed_offset=5)
    assert isinstance(model, Continuation)
    res, ex = E.evaluate_physics(model, E.PhysicsEvalConfig(scenarios=("collision",), n=2, examples=1, **CFG),
                                 progress=False)
    call = pipe.calls[0]
    assert call["frames"] == 33 and call["context"] == call["context_frames"] == 3
    assert (call["steps"], call["guidance"]) == (7, 2.5)
    assert call["seed"] == res["clips"][0]["seed"] + 5
    assert call["prompt"] == res["clips"][0]["caption"] and "collide" in call["prompt"]
    assert not call["history"]
    hist = PipelineModel(pipe, seed_offset=5, history_guidance=True)
    hist.continue_video(ex[0]["gt"][:3], 32, caption="", seed=ex[0]["seed"])
    assert pipe.calls[-1]["history"]
    for c in res["clips"]:  # a perfect model through an identity VAE: all three scores coincide
        assert c["model"]["velocity_error"] == c["gt"]["velocity_error"] == c["vae"]["velocity_error"]
    assert len(ex) == 2 and ex[0]["model"].shape == (32, 48, 48, 3)
    with pytest.raises(ValueError, match="steps"):
        PipelineModel(pipe, steps=0)


def test_bad_model_output_and_config_are_one_clear_error():
    class Short:
        name = "short"

        def continue_video(self, context, frames, *, caption, seed):
            return context

    with pytest.raises(ValueError, match="expected uint8"):
        E.evaluate_physics(Short(), E.PhysicsEvalConfig(n=1, scenarios=("uniform",), **CFG), progress=False)
    with pytest.raises(ValueError, match="scenario"):
        E.PhysicsEvalConfig(scenarios=("orbit",))
    with pytest.raises(ValueError, match="-n"):
        E.PhysicsEvalConfig(n=0)
    with pytest.raises(ValueError, match="not the first frames"):
        SimulatorModel().continue_video(np.zeros((3, 48, 48, 3), np.uint8), 32, caption="",
                                        seed=eval_seed("physics", "uniform", "id", 0))

# ----------------------------------------------------------------------------------------------------------------------
# Intervals
# ----------------------------------------------------------------------------------------------------------------------


def test_bootstrap_intervals_are_seeded_and_exact_on_constants():
    x = [0.1, 0.4, None, 0.3, 0.2]
    a, b = mean_ci(x, np.random.default_rng(0)), mean_ci(x, np.random.default_rng(0))
    assert a == b and a["n"] == 4 and a["mean"] == pytest.approx(0.25) and a["ci95"][0] < 0.25 < a["ci95"][1]
    assert mean_ci([2.0] * 5, np.random.default_rng(1))["ci95"] == [2.0, 2.0]
    r = ratio_ci([2.0, 4.0, None], [1.0, 2.0, 3.0], np.random.default_rng(0), paired=True)
    assert r["ratio"] == pytest.approx(2.0) and r["ci95"] == pytest.approx([2.0, 2.0]) and r["n"] == 2
    assert mean_ci([None], np.random.default_rng(0))["mean"] is None


def test_psnr_and_ssim_exact_values():
    a = np.zeros((2, 16, 16, 3), np.uint8)
    assert psnr(a, a) == PSNR_MAX and ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert psnr(a, a + 1) == pytest.approx(10 * np.log10(255.0 ** 2))  # MSE 1
    c1 = (0.01 * 255) ** 2  # two flat images: SSIM = c1 / (mu^2 + c1)
    assert ssim(a, a + 40) == pytest.approx(c1 / (40.0 ** 2 + c1))
    s = render_clip("physics", "uniform", "id", eval_seed("physics", "uniform", "id", 0), frames=8, width=32,
                    height=32).video
    assert 0 < ssim(s[1:], s[:-1]) < 1 and psnr(s[1:], s[:-1]) < PSNR_MAX
    with pytest.raises(ValueError, match="ssim"):
        ssim(a[:, :8, :8], a[:, :8, :8])


def test_sharpness_exact_values():
    flat = np.full((2, 8, 8, 3), 77, np.uint8)
    assert sharpness(flat).tolist() == [0.0, 0.0]
    checker = ((np.indices((8, 8)).sum(0) % 2) * 100).astype(np.uint8)  # 0/100: every inner |Laplacian| is 400
    video = np.repeat(np.stack([checker, 255 - checker])[..., None], 3, axis=-1)  # (2, 8, 8, 3)
    assert sharpness(video) == pytest.approx([400.0, 400.0])


class _BlurVAE(torch.nn.Module):
    """A VAE that blurs every frame with a 3x3 box (time_down 1): PSNR and SSIM fall, sharpness falls below 1."""

    def __init__(self, pool: bool):
        super().__init__()
        self.pool = pool

    def encode(self, x):
        return x, x

    def decode(self, z):
        if not self.pool:
            return z
        frames = z.permute(0, 2, 1, 3, 4).flatten(0, 1)  # (B*T, 3, H, W)
        box = torch.nn.functional.avg_pool2d(frames, 3, stride=1, padding=1, count_include_pad=False)
        return box.unflatten(0, (z.shape[0], z.shape[2])).permute(0, 2, 1, 3, 4)


def test_recon_reports_psnr_ssim_and_sharpness_per_world():
    from kinema.eval.recon import WORLD_SOURCES, evaluate_recon

    same = evaluate_recon(_BlurVAE(False), n=2, size=(32, 32), frames=5, progress=False)
    blur = evaluate_recon(_BlurVAE(True), n=2, size=(32, 32), frames=5, progress=False)
    for w in WORLD_SOURCES:
        assert same["psnr_db"][w] == PSNR_MAX and same["ssim"][w] == pytest.approx(1.0)
        assert same["sharpness"][w] == pytest.approx(1.0)
        assert blur["psnr_db"][w] < PSNR_MAX and blur["ssim"][w] < 1 and 0 < blur["sharpness"][w] < 1
