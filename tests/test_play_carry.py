"""Long walks carried from one training step to the next (PlayConfig.carry_rows, kinema.interactive.data.CarriedWalks):
the data goes on where the row's last clip ended, and the rollout from the model's own last frame; the stepped
targets' drift decay. Tiny models, 16x16."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from kinema.cli import main
from kinema.interactive import recipe as R
from kinema.interactive.data import CarriedWalks, ExploreActionData, PlayDataConfig, walk
from kinema.interactive.model import KEYS, START, PlayConfig
from kinema.interactive.session import PlayModel
from kinema.train.data import to_model_video
from kinema.worlds import explore as E

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny():
    from kinema.models.text import load_text_encoder

    return PlayModel.random("tiny", "tiny-t1", cfg=PlayConfig(window=3), seed=1,
                            text_encoder=load_text_encoder("minilm+zh"))


def test_carried_walks_go_on_where_the_last_clip_ended():
    """Each row's clip starts on the view its last clip ended on (frame 0's action: the key that led there), for
    `clips` clips, then a fresh world from its start view (START); the rows' first walks are cut so their depths
    spread; a carried walk's clips are exactly one long walk of the world."""
    cfg = PlayDataConfig(size="16x16", frames=5)
    walks = CarriedWalks(cfg, rows=2, clips=3)
    seen = {r: [walks.next(r, seed=100 * step + r) for step in range(7)] for r in (0, 1)}
    assert [fresh for _, fresh in seen[0]] == [True, False, False, True, False, False, True]
    assert [fresh for _, fresh in seen[1]] == [True, False, True, False, False, True, False]  # first walk: 2 clips
    for r in (0, 1):
        for (a, _), (b, fresh) in zip(seen[r], seen[r][1:]):
            if fresh:
                assert int(b["actions"][0]) == START
            else:
                torch.testing.assert_close(b["video"][:, 0], a["video"][:, -1])
                assert int(b["actions"][0]) == int(a["actions"][-1]) and b["caption"] == a["caption"]
    assert len({s["caption"] for s, fresh in seen[0] if fresh}) > 1  # fresh walks: other worlds

    for walker_prob in (0.0, 1.0):  # the random key runs and the world's walker
        one = CarriedWalks(replace(cfg, walker_prob=walker_prob), rows=1, clips=3)
        clips = [one.next(0, seed=7)[0] for _ in range(3)]
        keys = [KEYS[int(i)] for c in clips for i in c["actions"][1:]]
        whole = to_model_video(walk(one.state[0]["world"], keys, 16, 16, cfg.fps))
        torch.testing.assert_close(torch.cat([clips[0]["video"]] + [c["video"][:, 1:] for c in clips[1:]], 1), whole)
    walker = CarriedWalks(replace(cfg, walker_prob=1.0, frames=9), rows=1, clips=8)
    walker.next(0, seed=3)
    for _ in range(6):  # the walker plans from where the walk is (it turns away from the walls it is at)
        st = walker.state[0]
        planned = E.random_actions(st["world"], 8, cfg.fps, copy.deepcopy(st["rng"]), st["pose"])
        assert [KEYS[int(i)] for i in walker.next(0, seed=3)[0]["actions"][1:]] == planned
    with pytest.raises(ValueError, match="rows >= 1 and clips >= 1"):
        CarriedWalks(cfg, rows=1, clips=0)


def test_the_walker_goes_on_from_the_pose_it_is_given():
    """random_actions(pose=...): facing a wall, the walker turns towards open space first; from the start pose it
    does not always."""
    world, dt = E.make_world("gallery", 3), 0.1
    pose = world.start_pose()
    while world.clearance(pose, 0.0) - 0.6 >= E.MOVE_SPEED * dt:
        pose = world.step(pose, "W", dt)
    firsts = {E.random_actions(world, 1, 10.0, np.random.default_rng(s), pose)[0] for s in range(8)}
    assert firsts <= {"A", "D"}
    assert {E.random_actions(world, 1, 10.0, np.random.default_rng(s))[0] for s in range(8)} - {"A", "D"}


class Spy(torch.nn.Module):
    """A model wrapper (like DDP: .module) that records each training forward's context mask."""

    def __init__(self, dit):
        super().__init__()
        self.module, self.masks = dit, []

    def forward(self, x, t, cond):
        self.masks.append(cond.mask.clone())
        return self.module(x, t, cond)


def test_carried_rows_roll_out_from_their_own_last_frame(tiny, monkeypatch):
    """With carry_rows 1 (and no other self-rollout) only the last row rolls out; its frame 0 is always context and
    is the model's own last frame of the step before (the true start view on a fresh walk); a batch smaller than
    carry_rows is refused."""
    data = ExploreActionData(PlayDataConfig(size="16x16", frames=5), batch_size=2, seed=2)
    obj = R.PlayObjective(tiny.vae, tiny.text, replace(tiny.cfg, carry_rows=1, carry_clips=2), data_cfg=data.cfg)
    calls, inputs, real_rollout, real_interpolate = [], [], R.self_rollout, R.interpolate

    def rollout(model, z0, actions, *a):
        out = real_rollout(model, z0, actions, *a)
        calls.append((z0.clone(), actions.clone(), out.clone()))
        return out

    monkeypatch.setattr(R, "self_rollout", rollout)
    monkeypatch.setattr(R, "interpolate", lambda z, src, t: (inputs.append(z.clone()), real_interpolate(z, src, t))[1])
    spy = Spy(tiny.dit)
    metrics = [obj(spy, data.batch(i, 0, 1), torch.Generator().manual_seed(i))[1] for i in range(3)]
    assert [c[0].shape[0] for c in calls] == [1, 1, 1] and all(m["self_share"] == 0.5 for m in metrics)
    assert [m["carry_depth"] for m in metrics] == [0, 4, 0] and all(m["carry_loss"] > 0 for m in metrics)
    assert all(float(m[1, 0]) == 1.0 and float(m[1, 1:].min()) == 0.0 for m in spy.masks)
    torch.testing.assert_close(calls[1][0], calls[0][2][:, :, -1:])  # step 2 goes on from step 1's own last frame
    torch.testing.assert_close(inputs[1][1:, :, :1], calls[1][0].to(inputs[1]))  # ... held as its context frame
    assert int(calls[1][1][0, 0]) == int(calls[0][1][0, -1])
    assert int(calls[2][1][0, 0]) == START  # 2 clips per walk: step 3 starts a fresh walk ...
    world = obj.walks.state[0]["world"]
    start = to_model_video(world.view(world.start_pose(), 16, 16)[None])[None]  # (1, 3, 1, 16, 16)
    with torch.no_grad():  # ... from its true start view (the causal VAE encodes a first frame on its own)
        z = tiny.vae.normalize(tiny.vae.encode(start)[0].float())
    torch.testing.assert_close(calls[2][0], z, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="at most the batch size"):
        R.PlayObjective(tiny.vae, tiny.text, replace(tiny.cfg, carry_rows=3), data_cfg=data.cfg)(
            tiny.dit, data.batch(0, 0, 1), torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="needs the data config"):
        R.PlayObjective(tiny.vae, tiny.text, replace(tiny.cfg, carry_rows=1))
    with pytest.raises(ValueError, match="carry_rows must be >= 0"):
        PlayConfig(carry_rows=-1)


def test_carry_flags_train_and_are_saved(tmp_path):
    """`kinema play train --carry-rows N --carry-clips K` (with step targets and their drift decay and shrink) trains
    and records them in the run's config."""
    common = ["--size", "16x16", "--batch-size", "2", "--log-every", "1", "--precision", "fp32"]
    assert main(["play", "vae", "--preset", "tiny-t1", "--steps", "1", "--frames", "4", "--out",
                 str(tmp_path / "vae"), *common]) == 0
    assert main(["play", "train", "--vae", str(tmp_path / "vae"), "--preset", "tiny", "--steps", "2", "--frames", "5",
                 "--window", "3", "--carry-rows", "1", "--carry-clips", "4", "--self-rollout-target", "step",
                 "--drift-decay", "0.1", "--drift-shrink", "0.05", "--out", str(tmp_path / "run"), *common]) == 0
    play = json.loads((tmp_path / "run" / "config.json").read_text())["play"]
    assert (play["carry_rows"], play["carry_clips"]) == (1, 4)
    assert (play["self_rollout_target"], play["drift_decay"], play["drift_shrink"]) == ("step", 0.1, 0.05)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["self_share"] for r in rows] == [0.5, 0.5] and [r["carry_depth"] for r in rows] == [0, 4]


def test_drift_decay_leads_a_tint_back_and_keeps_the_layout():
    """stepped_goal with drift_decay d: a drift that is a tint of the whole frame shrinks by (1 - d) a frame; one with
    no mean over the frame is carried as it is (d = 0: everything is carried)."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 4, 5, 8, 8, generator=g)
    mask = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0]])  # frame 0: the model's own, the rest learn
    actions = torch.tensor([[START, 0, 0, 2, 6]])
    tint = torch.tensor([0.5, -1.0, 0.25, 2.0]).view(1, 4, 1, 1, 1)
    layout = torch.randn(1, 4, 1, 8, 8, generator=g)
    layout -= layout.mean(dim=(-2, -1), keepdim=True)
    for d in (0.0, 0.25):
        cfg = PlayConfig(drift_decay=d)  # no ego motion: the drift is not moved
        z_in = z.clone()
        z_in[:, :, :1] += tint + layout
        goal = R.stepped_goal(cfg, z, z_in, mask, actions)
        for j in range(5):
            torch.testing.assert_close(goal[:, :, j:j + 1] - z[:, :, j:j + 1], tint * (1 - d) ** j + layout)
    with pytest.raises(ValueError, match="drift_decay must be in"):
        PlayConfig(drift_decay=1.5)


def test_drift_shrink_leads_the_layout_back_too():
    """stepped_goal with drift_shrink s: the whole drift, layout included, shrinks by (1 - s) a frame, after the drift
    decay has taken its share of the tint; s = 1 gives the data's frames ("data" targets)."""
    g = torch.Generator().manual_seed(1)
    z = torch.randn(1, 4, 5, 8, 8, generator=g)
    mask = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0]])
    actions = torch.tensor([[START, 0, 0, 2, 6]])
    tint = torch.tensor([0.5, -1.0, 0.25, 2.0]).view(1, 4, 1, 1, 1)
    layout = torch.randn(1, 4, 1, 8, 8, generator=g)
    layout -= layout.mean(dim=(-2, -1), keepdim=True)
    z_in = z.clone()
    z_in[:, :, :1] += tint + layout
    for d, s in ((0.0, 0.2), (0.1, 0.2), (0.0, 1.0)):
        goal = R.stepped_goal(PlayConfig(drift_decay=d, drift_shrink=s), z, z_in, mask, actions)
        for j in range(5):
            torch.testing.assert_close(goal[:, :, j:j + 1] - z[:, :, j:j + 1],
                                       tint * ((1 - d) * (1 - s)) ** j + layout * (1 - s) ** j)
    with pytest.raises(ValueError, match="drift_shrink must be in"):
        PlayConfig(drift_shrink=-0.1)
