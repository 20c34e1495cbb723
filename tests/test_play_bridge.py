"""Play models whose frames start from the previous frame (PlayConfig.bridge, `kinema play train --bridge SIGMA`):
training interpolates each noisy frame after frame 0 between its latent and the previous latent plus noise, and play
starts each frame from the last one it made; with PlayConfig.ego_motion (`--ego-motion`) the previous frame is first
moved by its key's fitted camera motion. That the cached, uncached and batched (self-rollout) plays of such a
model agree is checked with the other kinds of model in tests/test_play.py."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from kinema.cli import main
from kinema.interactive import recipe as R
from kinema.interactive.data import ExploreActionData, PlayDataConfig
from kinema.interactive.model import (KEYS, START, PlayConfig, bridge_start, ego_move, ego_warp, fit_ego_motion,
                                     frame_source)
from kinema.interactive.session import PlayModel, Session
from kinema.worlds import explore as E

torch.set_num_threads(1)
SIGMA = 0.5
# (zoom, dx) per key W S A D Q E .
EGO = ((1.08, 0.0), (0.93, 0.0), (1.0, 2.0), (1.0, -2.0), (1.0, 1.0), (1.0, -1.0), (1.0, 0.0))


@pytest.fixture(scope="module")
def bridged():
    return PlayModel.random("tiny", "tiny-t1", cfg=PlayConfig(window=3, bridge=SIGMA), seed=1)


def _start() -> np.ndarray:
    world = E.make_world("garden", 10_000_000)
    return world.view(world.start_pose(), 16, 16)


def test_frame_source_and_its_bounds():
    prev, eps = torch.full((1, 2, 1, 2, 2), 3.0), torch.randn(1, 2, 1, 2, 2)
    assert frame_source(0.0, prev, eps) is eps
    torch.testing.assert_close(frame_source(0.25, prev, eps), 3.0 + 0.25 * eps)
    for bad in (-0.1, 4.5):
        with pytest.raises(ValueError, match="bridge must be in"):
            PlayConfig(bridge=bad)


def test_play_starts_each_frame_from_the_last_one(bridged, monkeypatch):
    """With a DiT that returns zero velocity, Euler leaves each frame where it started: a bridge model's frame is the
    previous latent plus sigma times the same noise a plain model's frame is; with ego motion the previous latent is
    first moved by the key's motion."""
    def still(self, x, t, cond=None, cache=None):
        return torch.zeros_like(x)

    plain = replace(bridged, cfg=replace(bridged.cfg, bridge=0.0))
    ego = replace(bridged, cfg=replace(bridged.cfg, ego_motion=EGO))
    monkeypatch.setattr(type(bridged.dit), "forward", still)
    out = {}
    for name, model in (("plain", plain), ("bridge", bridged), ("ego", ego)):
        s = Session(model, "a garden", seed=5, steps=2, keep_latents=True)
        s.start_from_image(_start())
        s.step("W")
        s.step("A")
        out[name] = s.latents
    torch.testing.assert_close(out["bridge"][0], out["plain"][0])  # frame 0 is the encoded start view either way
    for k, key in ((1, "W"), (2, "A")):
        torch.testing.assert_close(out["bridge"][k], out["bridge"][k - 1] + SIGMA * out["plain"][k])
        moved = ego_warp(out["ego"][k - 1], torch.tensor([[EGO[KEYS.index(key)]]]))
        torch.testing.assert_close(out["ego"][k], moved + SIGMA * out["plain"][k])


def test_training_interpolates_from_the_previous_latent(bridged, monkeypatch):
    """The objective's flow starts (what target_velocity gets) are the noise on context frames and on frame 0, and the
    previous frame's latent plus sigma times that same noise on every other noisy frame; the loss is taken against
    them."""
    data = ExploreActionData(PlayDataConfig(size="16x16", frames=6), batch_size=2, seed=2)
    batch = data.batch(0, 0, 1)
    seen, masks = {}, []
    real_target, forward = R.target_velocity, type(bridged.dit).forward

    def spy_target(z, src):
        seen["z"], seen["src"] = z, src
        return real_target(z, src)

    def spy_forward(self, x, t, cond=None, cache=None):
        masks.append(cond.mask)
        return forward(self, x, t, cond, cache)

    monkeypatch.setattr(R, "target_velocity", spy_target)
    monkeypatch.setattr(type(bridged.dit), "forward", spy_forward)
    starts = {}
    for sigma in (0.0, SIGMA):
        R.PlayObjective(bridged.vae, bridged.text, replace(bridged.cfg, bridge=sigma))(
            bridged.dit, batch, torch.Generator().manual_seed(0))
        starts[sigma] = seen["src"]
    eps, src, z, mask = starts[0.0], starts[SIGMA], seen["z"], masks[-1]  # the same draws: the noise is eps
    bridged_frames = (mask == 0) & (torch.arange(z.shape[2]) > 0)  # (B, T)
    assert bool(bridged_frames.any()) and bool((~bridged_frames).any())
    for b in range(z.shape[0]):
        for i in range(z.shape[2]):
            want = z[b, :, i - 1] + SIGMA * eps[b, :, i] if bridged_frames[b, i] else eps[b, :, i]
            torch.testing.assert_close(src[b, :, i], want)


def test_bridge_run_records_it_and_a_teacher_must_match(tmp_path):
    common = ["--size", "16x16", "--batch-size", "2", "--log-every", "1", "--precision", "fp32"]
    assert main(["play", "vae", "--preset", "tiny-t1", "--steps", "1", "--frames", "4", "--out",
                 str(tmp_path / "vae"), *common]) == 0
    run = ["play", "train", "--vae", str(tmp_path / "vae"), "--preset", "tiny", "--steps", "1", "--frames", "5",
           "--window", "3", "--action-dropout", "0.2", *common]
    assert main([*run, "--bridge", "0.5", "--out", str(tmp_path / "bridge")]) == 0
    assert main([*run, "--out", str(tmp_path / "plain")]) == 0
    assert json.loads((tmp_path / "bridge" / "config.json").read_text())["play"]["bridge"] == 0.5
    assert main(["play", "export", str(tmp_path / "bridge"), "-o", str(tmp_path / "model")]) == 0
    assert R.load_play(tmp_path / "model").cfg.bridge == 0.5  # play starts frames as training did
    vae = R.load_play(tmp_path / "plain").vae
    R.load_teacher(tmp_path / "model", vae, 2.0, bridge=0.5)
    with pytest.raises(ValueError, match="starts its frames with bridge 0.5, this run with 0.0"):
        R.load_teacher(tmp_path / "model", vae, 2.0)


# ----------------------------------------------------------------------------------------------------------------------
# Ego motion: the bridge starts from the previous frame moved by the key's average camera motion
# ----------------------------------------------------------------------------------------------------------------------


def _smooth(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.interpolate(torch.randn(n, 4, 5, 5, generator=g), size=(16, 16), mode="bicubic",
                                           align_corners=False)  # (n, 4, 16, 16): smooth, like latents


def test_ego_warp_moves_as_its_parameters_say():
    z = _smooth(2)[:, :, None]  # (2, C, 1, h, w)
    torch.testing.assert_close(ego_warp(z, torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]])), z, atol=1e-5, rtol=0)
    moved = ego_warp(z, torch.tensor([[[1.0, 3.0]], [[1.0, -2.0]]]))  # whole pixels: an exact shift inside the frame
    torch.testing.assert_close(moved[0, :, 0, :, 3:], z[0, :, 0, :, :-3], atol=1e-5, rtol=0)
    torch.testing.assert_close(moved[1, :, 0, :, :-2], z[1, :, 0, :, 2:], atol=1e-5, rtol=0)
    torch.testing.assert_close(moved[0, :, 0, :, :3], z[0, :, 0, :, :1].expand(-1, -1, 3), atol=1e-5, rtol=0)  # border
    near = ego_warp(torch.arange(16.0).expand(1, 1, 1, 16, 16), torch.tensor([[[2.0, 0.0]]]))[0, 0, 0, 0]
    # zoomed 2x about the centre (x = 7.5): output pixel x reads input x' = 7.5 + (x - 7.5) / 2
    torch.testing.assert_close(near, 7.5 + (torch.arange(16.0) - 7.5) / 2, atol=1e-5, rtol=0)


def test_bicubic_moves_keep_the_detail_bilinear_ones_lose(bridged):
    """Half a pixel right and back, four times: bilinear averages neighbours at every move (a low-pass), bicubic
    keeps most of the fine detail. ego_move resamples with the config's ego_interp; other names are refused."""
    z = torch.nn.functional.interpolate(torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)),
                                        size=(16, 16), mode="bicubic")[:, :, None]  # detail down to 2 pixels
    there, back = torch.tensor([[[1.0, 0.5]]]), torch.tensor([[[1.0, -0.5]]])
    err = {}
    for mode in ("bilinear", "bicubic"):
        x = z
        for _ in range(4):
            x = ego_warp(ego_warp(x, there, mode), back, mode)
        err[mode] = float((x - z)[..., 2:-2, 2:-2].square().mean() / z.square().mean())  # inside the border
    assert err["bicubic"] < 0.2 * err["bilinear"] and err["bilinear"] > 0.1, err  # measured: 0.02 and 0.21
    cfg = replace(bridged.cfg, ego_motion=EGO, ego_interp="bicubic")
    acts = torch.tensor([[0, 2]])  # W, A
    want = torch.cat([ego_warp(z, torch.tensor([[EGO[a]]]), "bicubic") for a in (0, 2)], dim=2)
    torch.testing.assert_close(ego_move(cfg, z.expand(-1, -1, 2, -1, -1), acts), want)
    assert not torch.allclose(ego_move(replace(cfg, ego_interp="bilinear"), z, acts[:, :1]), want[:, :, :1])
    with pytest.raises(ValueError, match="ego_interp must be one of bilinear, bicubic"):
        replace(cfg, ego_interp="nearest")


def test_fit_recovers_each_keys_motion():
    prev = _smooth(7 * 6, seed=1)
    acts = torch.arange(7).repeat_interleave(6)  # 6 pairs per key
    for mode in ("bilinear", "bicubic"):  # a fit moves the frames as the run will (PlayConfig.ego_interp)
        nxt = ego_warp(prev[:, :, None], torch.tensor(EGO)[acts][:, None], mode)[:, :, 0]
        fitted = fit_ego_motion(prev, nxt + 0.01 * _smooth(len(prev), seed=2), acts, mode)
        for (z, dx), (zf, dxf) in zip(EGO, fitted):
            assert abs(zf - z) <= 0.007 and abs(dxf - dx) <= 0.07, (mode, EGO, fitted)
    assert fit_ego_motion(prev[:6], nxt[:6], acts[:6])[1:] == ((1.0, 0.0),) * 6  # keys without pairs: not moved


def test_bridge_start_moves_the_previous_frame_by_the_key(bridged):
    cfg = replace(bridged.cfg, ego_motion=EGO)
    prev, eps = _smooth(2)[:, :, None].expand(-1, -1, 3, -1, -1), torch.randn(2, 4, 3, 16, 16)
    acts = torch.tensor([[0, 2, START], [1, 6, 8]])  # W A START / S . NULL_ACTION
    got = bridge_start(cfg, prev, acts, eps)
    for b in range(2):
        for i in range(3):
            a = int(acts[b, i])
            params = torch.tensor([[EGO[a] if a < len(KEYS) else (1.0, 0.0)]])
            want = ego_warp(prev[b:b + 1, :, i:i + 1], params)[0, :, 0] + SIGMA * eps[b, :, i]
            torch.testing.assert_close(got[b, :, i], want)
    torch.testing.assert_close(bridge_start(bridged.cfg, prev, acts, eps), prev + SIGMA * eps)  # no ego motion
    for bad, match in (({"bridge": 0.0}, "needs bridge > 0"), ({"distill": 0.5}, "ego_motion and distill"),
                       ({"ego_motion": EGO[:6]}, "one \\(zoom, dx\\) per key"),
                       ({"ego_motion": ((1.5, 0.0),) * 7}, "zoom in")):
        with pytest.raises(ValueError, match=match):
            replace(cfg, **bad)


def test_ego_gain_raises_only_the_zooms_of_w_and_s(bridged):
    cfg = replace(bridged.cfg, ego_motion=EGO)
    z, acts = _smooth(1)[:, :, None].expand(-1, -1, 7, -1, -1), torch.arange(7)[None]  # every key once
    gained = tuple((zoom ** 2, dx) if k in ("W", "S") else (zoom, dx) for k, (zoom, dx) in zip(KEYS, EGO))
    torch.testing.assert_close(ego_move(replace(cfg, ego_gain=2.0), z, acts),
                               ego_move(replace(cfg, ego_motion=gained), z, acts), atol=1e-5, rtol=0)
    flat = ego_move(replace(cfg, ego_gain=0.0), z, acts)  # W and S without their zoom: the frame as it was
    torch.testing.assert_close(flat[:, :, :2], z[:, :, :2], atol=1e-5, rtol=0)
    torch.testing.assert_close(flat[:, :, 2:], ego_move(cfg, z, acts)[:, :, 2:])
    for bad in (-0.5, 4.5):
        with pytest.raises(ValueError, match="ego_gain must be in"):
            replace(cfg, ego_gain=bad)


def test_a_session_may_play_with_another_ego_gain(bridged, monkeypatch):
    """With a DiT that returns zero velocity, a W frame is the previous latent zoomed by the model's W zoom raised
    to the session's gain, plus sigma times the noise; a model without ego motion refuses a gain."""
    def still(self, x, t, cond=None, cache=None):
        return torch.zeros_like(x)

    ego = replace(bridged, cfg=replace(bridged.cfg, ego_motion=EGO))
    monkeypatch.setattr(type(bridged.dit), "forward", still)
    out = {}
    for gain in (0.0, 3.0):
        s = Session(ego, "a garden", seed=5, steps=2, keep_latents=True, ego_gain=gain)
        s.start_from_image(_start())
        s.step("W")
        out[gain] = s.latents
    noise = out[0.0][1] - out[0.0][0]  # gain 0: W leaves the frame where it was
    moved = ego_warp(out[3.0][0], torch.tensor([[[EGO[0][0] ** 3, 0.0]]]))
    torch.testing.assert_close(out[3.0][1], moved + noise, atol=1e-5, rtol=1e-5)
    assert ego.cfg.ego_gain == 1.0  # the model itself is left as it was
    with pytest.raises(ValueError, match="has no ego motion"):
        Session(bridged, "a garden", ego_gain=2.0)


def test_training_starts_from_the_previous_latent_moved_by_the_true_key(bridged, monkeypatch):
    """Also where action dropout hides the key from the DiT: play moves the frame by the key pressed either way."""
    data = ExploreActionData(PlayDataConfig(size="16x16", frames=6), batch_size=2, seed=2)
    batch = data.batch(0, 0, 1)
    seen, real_target = {}, R.target_velocity

    def spy_target(z, src):
        seen["z"], seen["src"] = z, src
        return real_target(z, src)

    monkeypatch.setattr(R, "target_velocity", spy_target)
    starts = {}
    for name, cfg in (("noise", replace(bridged.cfg, bridge=0.0, action_dropout=0.5)),
                      ("ego", replace(bridged.cfg, ego_motion=EGO, action_dropout=0.5))):
        R.PlayObjective(bridged.vae, bridged.text, cfg)(bridged.dit, batch, torch.Generator().manual_seed(0))
        starts[name] = seen["src"]
    eps, src, z = starts["noise"], starts["ego"], seen["z"]
    moved = 0
    for b in range(z.shape[0]):
        for i in range(1, z.shape[2]):
            if not torch.equal(src[b, :, i], eps[b, :, i]):  # a noisy frame after frame 0: bridged
                key = int(batch["actions"][b, i])
                want = ego_warp(z[b:b + 1, :, i - 1:i], torch.tensor([[EGO[key]]]))[0, :, 0] + SIGMA * eps[b, :, i]
                torch.testing.assert_close(src[b, :, i], want)
                moved += EGO[key] != (1.0, 0.0)
    assert moved > 0


def test_stepped_self_rollout_targets_carry_the_own_drift_moved_by_the_key(bridged, monkeypatch):
    """--self-rollout-target step: on a self-rollout clip each noisy frame learns the frame before it (the model's
    own, or the previous goal) moved by the key plus the data's step, z_j + ego(prev - z_{j-1}); a rollout that is
    the data leaves every target as it was."""
    data = ExploreActionData(PlayDataConfig(size="16x16", frames=6), batch_size=2, seed=2)
    batch = data.batch(0, 0, 1)
    batch["actions"] = torch.tensor([[START, 0, 2, 1, 3, 4], [START, 5, 1, 6, 0, 2]])  # a new key every frame
    cfg = replace(bridged.cfg, ego_motion=EGO, self_rollout=1.0, self_rollout_target="step")
    with torch.no_grad():
        z = bridged.vae.normalize(bridged.vae.encode(batch["video"])[0].float())  # (2, C, 6, h, w)
    drift = 0.5 * torch.randn(z.shape, generator=torch.Generator().manual_seed(3))
    drift[:, :, 0] = 0  # a rollout starts from the true frame 0
    seen, real_target = {}, R.target_velocity

    def spy_target(goal, src):
        seen["goal"] = goal
        return real_target(goal, src)

    def run(cfg, own):
        monkeypatch.setattr(R, "self_rollout", lambda *a: own)
        torch.manual_seed(0)
        return float(R.PlayObjective(bridged.vae, bridged.text, cfg)(bridged.dit, batch,
                                                                     torch.Generator().manual_seed(0))[0].detach())

    monkeypatch.setattr(R, "target_velocity", spy_target)
    assert run(cfg, z) == pytest.approx(run(replace(cfg, self_rollout=0.0), z), rel=1e-6)
    assert run(cfg, z + drift) != pytest.approx(run(replace(cfg, self_rollout_target="data"), z + drift), rel=1e-3)
    run(cfg, z + drift)
    goal, stepped = seen["goal"], 0
    for b in range(2):
        for j in range(1, z.shape[2]):
            if torch.allclose(goal[b, :, j], z[b, :, j] + drift[b, :, j]):
                continue  # a context frame: the model's own
            key = torch.tensor([[EGO[int(batch["actions"][b, j])]]])
            want = z[b, :, j] + ego_warp((goal[b, :, j - 1] - z[b, :, j - 1])[None, :, None], key)[0, :, 0]
            torch.testing.assert_close(goal[b, :, j], want, atol=1e-5, rtol=1e-5)
            stepped += 1
    assert stepped > 0
    with pytest.raises(ValueError, match="self_rollout_target must be one of data, step"):
        PlayConfig(self_rollout_target="truth")


def test_ego_motion_run_fits_records_exports_and_resumes(tmp_path, capsys):
    common = ["--size", "16x16", "--batch-size", "2", "--log-every", "1", "--precision", "fp32"]
    assert main(["play", "vae", "--preset", "tiny-t1", "--steps", "1", "--frames", "4", "--out",
                 str(tmp_path / "vae"), *common]) == 0
    run = ["play", "train", "--vae", str(tmp_path / "vae"), "--preset", "tiny", "--frames", "5", "--window", "3",
           "--out", str(tmp_path / "ego"), *common]
    assert main([*run, "--steps", "1", "--bridge", "0.5", "--ego-motion", "--self-rollout", "0.5",
                 "--self-rollout-target", "step"]) == 0
    assert "ego motion (zoom, dx latent px) fitted per key: W " in capsys.readouterr().out
    saved = json.loads((tmp_path / "ego" / "config.json").read_text())["play"]
    fitted = saved["ego_motion"]
    assert saved["self_rollout_target"] == "step"
    assert len(fitted) == len(KEYS) and all(0.8 <= z <= 1.25 for z, _ in fitted)
    data = ExploreActionData(PlayDataConfig(size="16x16", frames=5), batch_size=2, seed=0)
    assert [list(p) for p in R.fit_walk_ego_motion(R.load_play(tmp_path / "ego").vae, data)] == fitted  # repeatable
    assert main([*run, "--steps", "2", "--bridge", "0.5", "--resume"]) == 0  # keeps its table without the flag
    assert json.loads((tmp_path / "ego" / "config.json").read_text())["play"]["ego_motion"] == fitted
    assert main(["play", "export", str(tmp_path / "ego"), "-o", str(tmp_path / "model")]) == 0
    assert [list(p) for p in R.load_play(tmp_path / "model").cfg.ego_motion] == fitted  # play moves frames as trained
    capsys.readouterr()
    warm = [a if a != str(tmp_path / "ego") else str(tmp_path / "warm") for a in run]
    assert main([*warm, "--steps", "1", "--bridge", "0.5", "--ego-motion", "--seed", "5", "--init-from",
                 str(tmp_path / "model")]) == 0  # a warm start keeps the motion its weights were trained with
    assert f"ego motion (zoom, dx latent px) kept from {tmp_path / 'model'}: W " in capsys.readouterr().out
    assert json.loads((tmp_path / "warm" / "config.json").read_text())["play"]["ego_motion"] == fitted
    refit = [a if a != str(tmp_path / "ego") else str(tmp_path / "refit") for a in run]
    assert main([*refit, "--steps", "1", "--bridge", "0.5", "--ego-motion", "--seed", "5", "--init-from",
                 str(tmp_path / "ego"), "--refit-ego-motion"]) == 0  # ... unless asked to fit it anew
    assert "ego motion (zoom, dx latent px) fitted per key: W " in capsys.readouterr().out
    data5 = ExploreActionData(PlayDataConfig(size="16x16", frames=5), batch_size=2, seed=5)
    refitted = json.loads((tmp_path / "refit" / "config.json").read_text())["play"]["ego_motion"]
    assert refitted == [list(p) for p in R.fit_walk_ego_motion(R.load_play(tmp_path / "model").vae, data5)]
    assert main(["play", "export", str(tmp_path / "ego"), "-o", str(tmp_path / "gained"), "--ego-gain", "3"]) == 0
    assert R.load_play(tmp_path / "gained").cfg.ego_gain == 3.0 and R.load_play(tmp_path / "model").cfg.ego_gain == 1
    with pytest.raises(ValueError, match="distilling from such a teacher is not supported"):
        R.load_teacher(tmp_path / "model", R.load_play(tmp_path / "model").vae, 2.0, bridge=0.5)
    capsys.readouterr()
    plain = [a if a != str(tmp_path / "ego") else str(tmp_path / "plain") for a in run]
    assert main([*plain, "--steps", "1", "--ego-motion"]) == 2  # refused before any fitting or training
    assert "it needs --bridge SIGMA > 0" in capsys.readouterr().err
    assert main([*plain, "--steps", "1", "--bridge", "0.5", "--ego-gain", "2"]) == 2
    assert "--ego-gain raises the zooms of the ego motion: it needs --ego-motion" in capsys.readouterr().err
    assert main([*plain, "--steps", "1", "--bridge", "0.5", "--ego-interp", "bicubic"]) == 2
    assert "--ego-interp resamples the frames the ego motion moves: it needs --ego-motion" in capsys.readouterr().err
    assert not (tmp_path / "plain" / "config.json").exists()
    assert main([*plain, "--steps", "1", "--bridge", "0.5", "--ego-motion", "--ego-gain", "2", "--ego-interp",
                 "bicubic"]) == 0
    assert "ego gain 2: frames start from W zoomed" in capsys.readouterr().out
    saved = json.loads((tmp_path / "plain" / "config.json").read_text())["play"]
    assert saved["ego_gain"] == 2.0 and saved["ego_interp"] == "bicubic"
    assert main(["play", "export", str(tmp_path / "plain"), "-o", str(tmp_path / "cubic")]) == 0
    assert R.load_play(tmp_path / "cubic").cfg.ego_interp == "bicubic"  # play moves frames as trained


def test_a_play_model_is_written_again_with_other_play_defaults(tmp_path):
    """kinema play export MODEL -o OUT --ego-gain G --ctx-noise T: the same weights and training record, new play
    defaults, the trained ones kept under play_trained; in place too; settings a model cannot play are refused."""
    common = ["--size", "16x16", "--batch-size", "2", "--log-every", "1", "--precision", "fp32"]
    assert main(["play", "vae", "--preset", "tiny-t1", "--steps", "1", "--frames", "4", "--out",
                 str(tmp_path / "vae"), *common]) == 0
    assert main(["play", "train", "--vae", str(tmp_path / "vae"), "--preset", "tiny", "--frames", "5", "--window", "3",
                 "--steps", "1", "--bridge", "0.5", "--ego-motion", "--ctx-noise-max", "0.5", "--out",
                 str(tmp_path / "run"), *common]) == 0
    assert main(["play", "export", str(tmp_path / "run"), "-o", str(tmp_path / "model")]) == 0
    assert main(["play", "export", str(tmp_path / "model"), "-o", str(tmp_path / "v2"), "--ego-gain", "2",
                 "--ctx-noise", "0.35"]) == 0
    old, new = (json.loads((tmp_path / d / "config.json").read_text()) for d in ("model", "v2"))
    assert new["play"] == {**old["play"], "ego_gain": 2.0, "ctx_noise": 0.35} and new["play_trained"] == old["play"]
    rest = ("play", "play_trained", "name")
    assert new["name"] == "v2" and {k: v for k, v in new.items() if k not in rest} == {
        k: v for k, v in old.items() if k not in rest}
    for f in ("dit.safetensors", "vae.safetensors", "training/dit_config.json"):
        assert (tmp_path / "v2" / f).read_bytes() == (tmp_path / "model" / f).read_bytes()
    assert main(["play", "export", str(tmp_path / "v2"), "-o", str(tmp_path / "v2"), "--ego-gain", "3"]) == 0
    again = json.loads((tmp_path / "v2" / "config.json").read_text())
    assert again["play"]["ego_gain"] == 3.0 and again["play_trained"] == old["play"] and again["name"] == "v2"
    assert R.load_play(tmp_path / "v2").cfg.ctx_noise == 0.35
    assert main(["play", "export", str(tmp_path / "model"), "-o", str(tmp_path / "bad"), "--ctx-noise", "0.9"]) == 2
