"""kinema-FVD: the Frechet distance against closed forms, the feature encoder (input rule, targets, training, the
shipped weights), evaluation seeds apart from training seeds, and `kinema eval fvd` end to end on a tiny model."""

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from kinema.eval import features as Fe
from kinema.eval import fvd as V
from kinema.eval.sets import render_clip
from kinema.train.data import EVAL_SEED_START

torch.set_num_threads(1)

# ----------------------------------------------------------------------------------------------------------------------
# The Frechet distance
# ----------------------------------------------------------------------------------------------------------------------


def test_frechet_distance_equals_the_closed_form():
    # 1-D: N(0, 1) vs N(1, 4): (0 - 1)^2 + 1 + 4 - 2 sqrt(1 * 4) = 2
    assert V.frechet_distance(np.zeros(1), np.eye(1), np.ones(1), 4 * np.eye(1)) == pytest.approx(2.0, abs=1e-12)
    # diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2, and the same after any rotation
    rng = np.random.default_rng(0)
    d = 12
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    a, b = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    a[:3] = 0.0  # singular (fewer clips than dimensions looks like this)
    exact = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert V.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(exact, rel=1e-10)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))  # shared rotation: the two covariances no longer diagonal
    got = V.frechet_distance(q @ mu1, q @ np.diag(a) @ q.T, q @ mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(exact, rel=1e-7)  # sqrt of the zero eigenvalues' rounding (~1e-16) is ~1e-8
    # a non-commuting pair: cov1 = I gives tr(cov2^1/2) = sum of sqrt of cov2's eigenvalues
    m = rng.normal(size=(d, d))
    c2 = m @ m.T
    exact = d + np.trace(c2) - 2 * np.sqrt(np.linalg.eigvalsh(c2)).sum()
    assert V.frechet_distance(np.zeros(d), np.eye(d), np.zeros(d), c2) == pytest.approx(exact, rel=1e-9)
    with pytest.raises(ValueError, match="shapes"):
        V.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_identical_feature_sets_score_zero_and_sample_fvd_converges():
    rng = np.random.default_rng(1)
    for n, d in ((200, 16), (10, 32)):  # the second: singular covariances
        f = rng.normal(size=(n, d)) * rng.uniform(0.1, 5, d)
        assert V.fvd(f, f) < 1e-8 * np.trace(np.cov(f, rowvar=False))
    # large samples of two known Gaussians approach the closed form
    a = rng.normal(size=(40000, 3))
    b = rng.normal(size=(40000, 3)) * np.array([1.0, 2.0, 3.0]) + np.array([1.0, 0.0, 0.0])
    assert V.fvd(a, b) == pytest.approx(1 + 0 + 1 + 4, rel=0.02)
    ci = V.fvd_ci(a[:100], b[:100], np.random.default_rng(0), n_boot=20)
    assert ci["n"] == 100 and ci["ci95"][0] <= ci["ci95"][1]
    assert ci == V.fvd_ci(a[:100], b[:100], np.random.default_rng(0), n_boot=20)  # seeded
    # intervals: the bootstrap's spread around its median, moved onto the estimate (numpy's linear quantiles)
    assert V.spread_ci(5.0, np.array([7.0, 8.0, 9.0])) == pytest.approx([4.05, 5.95])
    assert V.spread_ci(0.5, np.array([7.0, 8.0, 9.0]))[0] == 0.0  # floored at 0
    r = V.ratio_ci(np.array([2.0, 4.0, 8.0]), np.ones(3), 8.0)
    assert r["ratio"] == 8.0 and r["ci95"] == pytest.approx([8 * 2.1 / 4, 8 * 7.8 / 4])

# ----------------------------------------------------------------------------------------------------------------------
# Seeds
# ----------------------------------------------------------------------------------------------------------------------


def test_evaluation_sets_never_overlap_training_seeds():
    a, b = V.clip_set(600), V.clip_set(600, V.B_OFFSET)
    seeds_a, seeds_b = {c[-1] for c in a}, {c[-1] for c in b}
    assert len(seeds_a) == len(seeds_b) == 600 and not seeds_a & seeds_b
    assert min(seeds_a | seeds_b) >= EVAL_SEED_START
    assert {c[:3] for c in a} == set(V.CELLS)  # round-robin over every cell
    # the encoder trains and validates below EVAL_SEED_START, on disjoint ranges
    cfg = Fe.EncoderTrainConfig(clips=10, val_clips=10)
    for start in (Fe.TRAIN_SEED_START, Fe.VAL_SEED_START):
        assert Fe.training_clip(9, start, cfg).seed < EVAL_SEED_START
    assert Fe.TRAIN_SEED_START + 1_000_000 <= Fe.VAL_SEED_START
    with pytest.raises(ValueError, match="evaluation seed"):
        Fe.training_clip(0, EVAL_SEED_START, cfg)
    shipped = json.loads((Fe.default_encoder_dir() / "config.json").read_text())
    assert shipped["seeds"]["train"][1] < shipped["seeds"]["heldout"][0]
    assert shipped["seeds"]["heldout"][1] < EVAL_SEED_START

# ----------------------------------------------------------------------------------------------------------------------
# The feature encoder
# ----------------------------------------------------------------------------------------------------------------------


def test_input_rule_and_targets():
    v = np.zeros((33, 48, 64, 3), np.uint8)
    v[:, :, :8] = 255  # a white strip on the left, cut away by the centre crop
    v[5, :, 8:] = 127  # only frame 5 is grey: not sampled (stride 2 -> even frames)
    x = Fe.preprocess(v)
    assert x.shape == (3, 16, 32, 32) and torch.equal(x, torch.full_like(x, -1.0))
    assert list(Fe.frame_indices(33)) == list(range(0, 32, 2)) and list(Fe.frame_indices(16)) == list(range(16))
    with pytest.raises(ValueError, match="at least 16"):
        Fe.preprocess(v[:15])
    s = render_clip("physics", "collision", "id", V.clip_set(2)[1][-1], frames=32, width=64, height=64)
    t = Fe.targets(s)
    assert Fe.CLASSES[t["scenario"]] == "physics/collision" and t["count"] == 1  # class 1 = two objects
    assert {Fe.COLOURS[i] for i in np.nonzero(t["colours"])[0]} == {o["color"] for o in s.state["objects"]}
    assert t["kinds"].tolist() == [1, 0, 0, 0, 0] and t["trajectory"].shape == (2 * Fe.TRAJ_POINTS,)


def test_encoder_trains_on_a_tiny_config(tmp_path):
    cfg = Fe.EncoderTrainConfig(preset="tiny", steps=60, clips=24, val_clips=8, batch_size=8, frames=16,
                                size=(32, 32), lr=3e-3, warmup_steps=5, bf16=False)
    model, m = Fe.train_encoder(cfg, progress=False, log=lambda s: None)
    loss = m["losses"]
    assert np.mean(loss[-10:]) < 0.8 * np.mean(loss[:10])
    assert set(m["heldout"]) >= {"scenario", "count", "colours_exact", "trajectory_r2"}
    assert sum(p.numel() for p in model.parameters()) < 50_000
    # saved bf16, loaded float32, same features up to bf16 rounding of the weights
    path = Fe.save_encoder(model, tmp_path, cfg, m)
    loaded, doc = Fe.load_encoder(path)
    assert doc["train"] == json.loads(json.dumps(asdict(cfg))) and doc["heldout"] == m["heldout"]
    clip = Fe.training_clip(0, Fe.VAL_SEED_START, cfg).video
    f1, f2 = Fe.video_features(model, [clip]), Fe.video_features(loaded, [clip])
    assert f1.dtype == np.float64 and f1.shape == (1, 16)
    assert np.allclose(f1, f2, atol=0.05 * np.abs(f1).max() + 1e-3)


def test_shipped_encoder_separates_truth_from_corrupted_video():
    model, doc = Fe.load_encoder()
    assert doc["params"] < 500_000 and doc["heldout"]["scenario"] > 0.9
    n = 48  # the sampling floor (finite-n bias of the Frechet distance) falls as 1/n
    a = [render_clip(*c, frames=32, width=64, height=64).video for c in V.clip_set(n)]
    b = [render_clip(*c, frames=32, width=64, height=64).video for c in V.clip_set(n, V.B_OFFSET)]
    rng = np.random.default_rng(0)
    fa, fb = Fe.video_features(model, a), Fe.video_features(model, b)
    floor = V.fvd(fb, fa)  # two disjoint sets of real clips
    shuffled = V.fvd(Fe.video_features(model, [V.shuffle_frames(v, rng) for v in b]), fa)
    frozen = V.fvd(Fe.video_features(model, [np.repeat(v[:1], len(v), 0) for v in b]), fa)
    noise = V.fvd(Fe.video_features(model, [rng.integers(0, 256, v.shape, dtype=np.uint8) for v in b]), fa)
    assert shuffled > 2 * floor and frozen > 1.5 * floor and noise > 4 * floor

# ----------------------------------------------------------------------------------------------------------------------
# The CLI, end to end
# ----------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(make_tiny_model):
    return make_tiny_model("fvd-tiny", 17)


def test_cli_defaults_match_the_library():
    from kinema.cli import eval as cli

    assert cli.N_FVD == V.DEFAULT_N
    cfg = Fe.EncoderTrainConfig()
    assert (cli.ENCODER_STEPS, cli.ENCODER_CLIPS) == (cfg.steps, cfg.clips)


def test_cli_trains_an_encoder_and_evaluates_a_tiny_model(tiny_model, tmp_path, capsys):
    from kinema.cli import main

    enc = tmp_path / "enc"
    assert main(["eval", "fvd-encoder", "--out", str(enc), "--preset", "tiny", "--steps", "3", "--clips", "6",
                 "--val-clips", "3", "--batch-size", "2"]) == 0
    assert {p.name for p in enc.iterdir()} >= {"encoder.safetensors", "config.json", "train.log", "command.txt"}
    assert (enc / "command.txt").read_text().startswith("kinema eval fvd-encoder --out")
    out = tmp_path / "ev"
    assert main(["eval", "fvd", "--model", str(tiny_model), "-n", "3", "--size", "16x16", "--frames", "16",
                 "--steps", "1", "--encoder", str(enc), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    res = json.loads((out / "results.json").read_text())
    assert set(res["fvd"]) == set(V.COMPARISONS) and summary["fvd"] == res["fvd"]
    assert all(v["fvd"] >= 0 and v["n"] == 3 for v in res["fvd"].values())
    assert [c["set"] for c in res["clips"]] == ["A"] * 3 + ["B"] * 3
    assert res["fidelity"]["recon"]["psnr_db"]["n"] == 3 and res["protocol"]["encoder"]["params"] > 0
    report = (out / "report.md").read_text()
    assert "not I3D-FVD" in report and "sampling floor" in report and res["runtime"]["cpu"] in report
    assert res["command"].startswith("kinema eval fvd --model") and res["command"] in report
    assert (out / "fvd.png").stat().st_size > 0 and (out / "fvd_examples.png").is_file()
    assert main(["eval", "fvd", "--model", "repeat-last", "--encoder", str(enc)]) == 2  # one clear error
