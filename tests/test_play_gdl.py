"""The gradient difference loss beside play's flow-matching loss (PlayConfig.gdl, recipe.gradient_difference): it is
zero for a frame with the target's edges, it charges a blurred guess, it counts only the frames asked for, and
`kinema play train --gdl W` adds W times it to the loss and records it. Tiny models, 16x16."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from kinema.cli import main
from kinema.interactive import recipe as R
from kinema.interactive.data import ExploreActionData, PlayDataConfig
from kinema.interactive.model import PlayConfig
from kinema.interactive.session import PlayModel

torch.set_num_threads(1)


def test_gradient_difference_charges_blur_and_only_the_frames_asked_for():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(2, 3, 4, 8, 8, generator=g)  # (B, C, T, h, w)
    every = torch.ones(2, 4, dtype=torch.bool)
    assert float(R.gradient_difference(y, y, every)) == 0.0
    assert float(R.gradient_difference(y + 5.0, y, every)) < 1e-6  # a shift of the whole frame keeps every edge
    flat = y.mean(dim=(3, 4), keepdim=True).expand_as(y)  # the blurriest guess: no edges at all
    expected = (y.diff(dim=3).abs().sum() + y.diff(dim=4).abs().sum()) / (2 * 3 * 4 * 7 * 8 * 2)
    torch.testing.assert_close(R.gradient_difference(flat, y, every), expected)
    blur = F.avg_pool2d(y.permute(0, 2, 1, 3, 4).reshape(8, 3, 8, 8), 3, 1, 1, count_include_pad=False)
    blur = blur.reshape(2, 4, 3, 8, 8).permute(0, 2, 1, 3, 4)
    assert 0 < float(R.gradient_difference(blur, y, every)) < float(expected)  # blurred: charged, less than flat
    some = torch.zeros(2, 4, dtype=torch.bool)
    some[1, 2] = True
    wrong = y.clone()
    wrong[0] = flat[0]  # wrong only where it is not counted
    assert float(R.gradient_difference(wrong, y, some)) == 0.0
    wrong[1, :, 2] = flat[1, :, 2]
    assert float(R.gradient_difference(wrong, y, some)) > 0
    assert float(R.gradient_difference(y, y, torch.zeros(2, 4, dtype=torch.bool))) == 0.0  # nothing to count: 0
    with pytest.raises(ValueError, match="gdl must be >= 0"):
        PlayConfig(gdl=-0.1)


def test_gdl_adds_its_weighted_term_to_the_flow_loss():
    """The same batch, noise and model: the loss with gdl W is the loss without plus W times the recorded term, and
    its gradient reaches the DiT."""
    from kinema.models.text import load_text_encoder

    tiny = PlayModel.random("tiny", "tiny-t1", cfg=PlayConfig(window=3, bridge=0.5), seed=1,
                            text_encoder=load_text_encoder("minilm+zh"))
    data = ExploreActionData(PlayDataConfig(size="16x16", frames=5), batch_size=2, seed=3)
    batch = data.batch(0, 0, 1)
    grads = []
    for w in (0.0, 0.5):
        tiny.dit.zero_grad()
        loss, metrics, _ = R.PlayObjective(tiny.vae, tiny.text, replace(tiny.cfg, gdl=w))(
            tiny.dit, batch, torch.Generator().manual_seed(0))
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in tiny.dit.parameters() if p.grad is not None]))
        if w == 0:
            plain = loss.detach()
            assert "gdl" not in metrics
    assert metrics["gdl"] > 0
    torch.testing.assert_close(loss.detach(), plain + 0.5 * metrics["gdl"], rtol=1e-5, atol=1e-6)
    assert float((grads[1] - grads[0]).abs().max()) > 1e-6  # the term trains the DiT, not only the number logged
    x = torch.randn(1, 2, 3, 4, 4, requires_grad=True)
    R.gradient_difference(x, torch.randn(1, 2, 3, 4, 4), torch.ones(1, 3, dtype=torch.bool)).backward()
    assert float(x.grad.abs().sum()) > 0


def test_gdl_flag_trains_and_is_saved(tmp_path):
    common = ["--size", "16x16", "--batch-size", "2", "--log-every", "1", "--precision", "fp32"]
    assert main(["play", "vae", "--preset", "tiny-t1", "--steps", "1", "--frames", "4", "--out",
                 str(tmp_path / "vae"), *common]) == 0
    assert main(["play", "train", "--vae", str(tmp_path / "vae"), "--preset", "tiny", "--steps", "2", "--frames", "5",
                 "--window", "3", "--bridge", "0.2", "--gdl", "0.25", "--out", str(tmp_path / "run"), *common]) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["play"]["gdl"] == 0.25
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["gdl"] > 0 for r in rows)
