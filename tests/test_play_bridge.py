"""Play models whose frames start from the previous frame (PlayConfig.bridge, `kinema play train --bridge SIGMA`):
training interpolates each noisy frame after frame 0 between its latent and the previous latent plus noise, and play
starts each frame from the last one it made. That the cached, uncached and batched (self-rollout) plays of such a
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
from kinema.interactive.model import PlayConfig, frame_source
from kinema.interactive.session import PlayModel, Session
from kinema.worlds import explore as E

torch.set_num_threads(1)
SIGMA = 0.5


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
    previous latent plus sigma times the same noise a plain model's frame is."""
    def still(self, x, t, cond=None, cache=None):
        return torch.zeros_like(x)

    plain = replace(bridged, cfg=replace(bridged.cfg, bridge=0.0))
    monkeypatch.setattr(type(bridged.dit), "forward", still)
    out = {}
    for name, model in (("plain", plain), ("bridge", bridged)):
        s = Session(model, "a garden", seed=5, steps=2, keep_latents=True)
        s.start_from_image(_start())
        s.step("W")
        s.step("A")
        out[name] = s.latents
    torch.testing.assert_close(out["bridge"][0], out["plain"][0])  # frame 0 is the encoded start view either way
    for k in (1, 2):
        torch.testing.assert_close(out["bridge"][k], out["bridge"][k - 1] + SIGMA * out["plain"][k])


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
