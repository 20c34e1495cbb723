"""Guidance and step distillation of a play model (`kinema play train --distill F --teacher DIR`,
kinema.interactive.recipe.teacher_target): the target is the teacher's guided Euler path over each play jump; a
student that is the teacher gets zero loss at one teacher step; runs record their teacher and resume exactly."""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import replace

import pytest
import torch

from kinema.cli import main
from kinema.interactive import recipe as R
from kinema.interactive.data import ExploreActionData, PlayDataConfig
from kinema.interactive.model import NULL_ACTION, PlayConfig, build_play_dit
from kinema.interactive.session import PlayModel
from kinema.models.dit import DiTCond
from kinema.train.recipes import load_warm_start

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def teacher():
    return PlayModel.random("tiny", "tiny-t1", cfg=PlayConfig(window=3, action_dropout=0.1), seed=1)


def _inputs(model, B: int = 2, T: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    C = model.dit.cfg.latent_channels
    x = torch.randn(B, C, T, 4, 4, generator=g)  # (B, C, T, h, w): 16x16 frames through the f4 VAE
    mask = torch.tensor([[1.0, 0, 0, 1], [0, 1, 0, 0]])  # (B, T): context frames stay put
    t = torch.tensor([[0.05, 1.0, 0.5, 0.1], [1.0, 0.0, 0.75, 0.25]])  # (B, T)
    d = torch.tensor([[0.0, 0.5, 0.5, 0.0], [1.0, 0.0, 0.5, 0.25]])  # (B, T): play jumps, 0 on context
    emb = model.text.encode(["a garden", "a street"])
    actions = torch.tensor([[7, 0, 2, 5], [7, 3, NULL_ACTION, 1]])  # START, keys; one frame already null
    cond = DiTCond(text=emb.tokens, text_mask=emb.mask, mask=mask, actions=actions,
                   drop_text=torch.tensor([False, True]), step=d)
    return x, t, d, mask, cond


def test_teacher_target_is_the_teachers_guided_euler_path(teacher):
    """Independently: K Euler steps of v_null + g (v_action - v_null) on the noisy frames, context frames fixed."""
    dit = teacher.dit
    x, t, d, mask, cond = _inputs(teacher)
    with torch.no_grad():
        one = R.teacher_target(dit, x, t, cond, d, mask, 1, 1.0)
        v = dit(x, t, replace(cond, step=None))
    free = (1 - mask)[:, None, :, None, None]
    torch.testing.assert_close(one, v * free, atol=1e-5, rtol=1e-5)  # one unguided step: the velocity itself

    K, g = 3, 2.5
    null = replace(cond, step=None, actions=torch.where(mask.bool(), cond.actions, NULL_ACTION))
    y, tt, h = x.clone(), t.clone(), d * (1 - mask) / K
    with torch.no_grad():
        for _ in range(K):
            va, vn = dit(y, tt, replace(cond, step=None)), dit(y, tt, null)
            y = y - h[:, None, :, None, None] * (vn + g * (va - vn))
            tt = (tt - h).clamp_min(0)
        want = torch.where(free > 0, (x - y) / d.clamp_min(1e-6)[:, None, :, None, None], 0.0)
        got = R.teacher_target(dit, x, t, cond, d, mask, K, g)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got, one, atol=1e-3)  # steps and guidance change the target
    assert (got * (1 - free)).abs().max() == 0  # nothing on context frames


def test_a_teacher_with_a_step_input_is_asked_for_each_sub_step(teacher, monkeypatch):
    shortcut = PlayModel.random("tiny", "tiny-t1", cfg=PlayConfig(window=3, shortcut=0.25), seed=2,
                                text_encoder=teacher.text)
    x, t, d, mask, cond = _inputs(shortcut)
    asked = []
    forward = shortcut.dit.forward
    monkeypatch.setattr(shortcut.dit, "forward", lambda a, b, c, *r: (asked.append(c.step), forward(a, b, c, *r))[1])
    with torch.no_grad():
        R.teacher_target(shortcut.dit, x, t, cond, d, mask, 2, 1.0)
    assert len(asked) == 2 and all(torch.equal(s, d * (1 - mask) / 2) for s in asked)


def test_a_student_that_is_the_teacher_has_zero_loss_at_one_teacher_step(teacher):
    """The objective's wiring: with distill = 1 every noisy frame learns the teacher's jump; a student warm-started
    from the teacher (its new step input at zero output) predicts exactly that jump when the teacher takes one
    unguided step, and not when it takes two."""
    student = build_play_dit(replace(teacher.dit.cfg, step_embed=True), 3)
    load_warm_start(student, teacher.dit.state_dict())
    batch = ExploreActionData(PlayDataConfig(size="16x16", frames=5), batch_size=2, seed=2).batch(0, 0, 1)

    def loss(**kw):
        cfg = replace(teacher.cfg, distill=1.0, **kw)
        out = R.PlayObjective(teacher.vae, teacher.text, cfg, teacher.dit)(student, batch,
                                                                             torch.Generator().manual_seed(0))
        return float(out[0].detach()), out[1]

    zero, metrics = loss(distill_steps=1, distill_guidance=1.0)
    assert metrics["distill_share"] == 1.0 and zero < 1e-12  # fp32 round-off only
    assert loss(distill_steps=2, distill_guidance=1.0)[0] > 1e4 * zero + 1e-8
    assert loss(distill_steps=1, distill_guidance=3.0)[0] > 1e4 * zero + 1e-8  # the random actions matter little
    with pytest.raises(ValueError, match="needs a teacher"):
        R.PlayObjective(teacher.vae, teacher.text, replace(teacher.cfg, distill=0.5))


def test_distill_run_records_its_teacher_resumes_exactly_and_checks_the_latents(tmp_path):
    common = ["--size", "16x16", "--batch-size", "2", "--log-every", "1", "--precision", "fp32"]
    assert main(["play", "vae", "--preset", "tiny-t1", "--steps", "1", "--frames", "4", "--out",
                 str(tmp_path / "vae"), *common]) == 0
    assert main(["play", "train", "--vae", str(tmp_path / "vae"), "--preset", "tiny", "--steps", "1", "--frames",
                 "5", "--window", "3", "--action-dropout", "0.2", "--out", str(tmp_path / "teacher"), *common]) == 0
    args = ["play", "train", "--vae", str(tmp_path / "vae"), "--init-from", str(tmp_path / "teacher"), "--preset",
            "tiny", "--frames", "5", "--window", "3", "--warmup", "1", "--steps", "3", "--distill", "0.5",
            "--teacher", str(tmp_path / "teacher"), "--distill-steps", "2", "--distill-guidance", "2", *common]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--ckpt-every", "1"]) == 0
    shutil.rmtree(sorted((tmp_path / "b").glob("ckpt-*"))[-1])
    resume = [a for i, a in enumerate(args) if "--teacher" not in args[max(i - 1, 0):i + 1]]  # no --teacher
    assert main([*resume, "--out", str(tmp_path / "b"), "--resume"]) == 0  # the run's own teacher
    a, b = ([json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()] for run in
            (tmp_path / "a", tmp_path / "b"))
    assert [m["loss"] for m in a] == [m["loss"] for m in b] and all(0 <= m["distill_share"] <= 1 for m in a)
    conf = json.loads((tmp_path / "a" / "config.json").read_text())
    assert conf["teacher"] == "../teacher" and conf["model"]["step_embed"]
    assert (conf["play"]["distill"], conf["play"]["distill_steps"], conf["play"]["distill_guidance"]) == (0.5, 2, 2.0)

    loaded = R.load_play(tmp_path / "teacher")
    vae = loaded.vae
    assert R.load_play(tmp_path / "teacher", text_encoder=loaded.text).text is loaded.text  # lent, not loaded again
    other = copy.deepcopy(vae)
    other.cfg = replace(vae.cfg, latent_scale=2.0)
    with pytest.raises(ValueError, match="works on other latents"):
        R.load_teacher(tmp_path / "teacher", other, 2.0)
    with pytest.raises(ValueError, match="needs a teacher"):
        R.load_teacher(None, vae, 2.0)
    for bad in (dict(distill=1.5), dict(distill_steps=0), dict(distill_guidance=-1.0)):
        with pytest.raises(ValueError):
            PlayConfig(**bad)
