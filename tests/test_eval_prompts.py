"""`kinema eval prompts` (kinema.eval.prompts): the prompt set, the video parser on exact pictures, and its calibration
on the worlds' own clips (>= 95% on every attribute), a blank clip (0%) and a wrong-colour clip (colour ~0%)."""

import argparse
import json
import math
import re

import numpy as np
import pytest

from kinema.eval import prompts as ep
from kinema.eval.prompts import (ATTRIBUTES, PROMPTS, components, evaluate_prompts, moments, palette_weights,
                                 parse_video, score, shape_of, world_generator)
from kinema.prompts import parse_prompt
from kinema.worlds import physics
from kinema.worlds.base import COLOR_ZH, PALETTE


@pytest.fixture(scope="module")
def truth():
    return world_generator(frames=17, size=(64, 64))

# ---- the prompt set --------------------------------------------------------------------------------------------------


def test_prompt_set_says_the_same_in_both_languages_and_covers_the_attributes():
    assert len(PROMPTS) == 24 and len(set(PROMPTS)) == 24
    colors, kinds, counts, dirs = set(), set(), set(), set()
    for en, zh in PROMPTS:
        p, q = parse_prompt(en), parse_prompt(zh)
        assert (p.language, q.language) == ("en", "zh") and p.summary() == q.summary(), (en, zh)
        assert p.unknown == q.unknown == [] and p.scenario is not None
        want = ep.expected(p)
        colors |= set(want["colors"])
        kinds |= {k for _, k, _ in want["kinds"]}
        counts.add(want["count"])
        dirs.add(want["direction"])
    assert colors == set(PALETTE) and kinds == {"ball", "box", "triangle"}
    assert counts == {1, 2, 3} and dirs == {None, "left", "right", "down"}
    assert ep.prompts("zh")[0] == "一个红色的球向左移动"
    with pytest.raises(ValueError, match="language"):
        ep.prompts("fr")

# ---- the parser on exact pictures ------------------------------------------------------------------------------------


def test_palette_weights_are_blend_fractions():
    img = np.full((1, 4, 4, 3), 255, np.uint8)  # white, as the physics world
    red, blue = np.array(PALETTE["red"]), np.array(PALETTE["blue"])
    img[0, 0, 0] = red
    img[0, 1, 1] = np.rint(0.5 * red + 0.5 * 255)
    img[0, 2, 2] = np.rint(0.25 * blue + 0.75 * 255)
    w = palette_weights(img)  # (1, 4, 4, K)
    k_red, k_blue = list(PALETTE).index("red"), list(PALETTE).index("blue")
    assert w[0, 0, 0, k_red] == pytest.approx(1.0, abs=1e-6)
    assert w[0, 1, 1, k_red] == pytest.approx(0.5, abs=0.01) and w[0, 2, 2, k_blue] == pytest.approx(0.25, abs=0.01)
    assert w.sum() == pytest.approx(1.75, abs=0.02)  # nothing else holds any colour


def test_components_are_exact():
    m = np.array([[1, 1, 0, 1], [0, 1, 0, 1], [1, 0, 0, 0], [1, 1, 0, 1]], bool)
    lab, n = components(m)
    assert n == 4 and sorted(np.bincount(lab.ravel())[1:]) == [1, 2, 3, 3]
    assert len({lab[0, 0], lab[0, 1], lab[1, 1]}) == 1 and lab[0, 0] != lab[2, 0]


def _raster(inside, size=40, ss=8):
    """Soft weights of a shape given as inside(x, y) -> bool, supersampled (x right, y down, centre (20.3, 19.6))."""
    g = (np.arange(size * ss) + 0.5) / ss
    x, y = np.meshgrid(g - 20.3, g - 19.6)
    return inside(x, y).reshape(size, ss, size, ss).mean((1, 3))


def test_shape_moments_and_kinds():
    c, s = math.cos(0.5), math.sin(0.5)
    disc = _raster(lambda x, y: x * x + y * y <= 8.0 ** 2)
    square = _raster(lambda x, y: (abs(c * x + s * y) <= 6) & (abs(-s * x + c * y) <= 6))  # turned 0.5 rad
    plank = _raster(lambda x, y: (abs(c * x + s * y) <= 9) & (abs(-s * x + c * y) <= 3))
    tri = _raster(lambda x, y: (y <= 5) & (y >= 2 * abs(x) - 10))
    assert moments(disc) == pytest.approx((0.0, 0.0, 0.0), abs=0.01)
    assert moments(square) == pytest.approx((0.0, 0.0, 0.6), abs=0.02)  # |c40| m / c11^2 = 0.6 for any square
    assert moments(plank)[0] == pytest.approx(0.8, abs=0.02)  # (9^2 - 3^2) / (9^2 + 3^2)
    assert [shape_of(w) for w in (disc, square, plank, tri)] == ["ball", "box", "box", "triangle"]


def test_parse_video_reads_a_physics_clip():
    for seed in range(3):
        s = physics.render("collision", seed=seed, frames=17, width=64, height=64)
        found = parse_video(s.video)
        assert sorted(f.color for f in found) == sorted(o["color"] for o in s.state["objects"])
        assert all(f.count == 1 and f.kind == "ball" for f in found)
        s = physics.render("uniform", seed=seed, frames=17, width=64, height=64)
        (f,) = parse_video(s.video)
        b = s.meta["params"]["balls"][0]
        assert (f.color, f.direction) == (b["color"], "right" if b["vx"] > 0 else "left")
    with pytest.raises(ValueError, match="uint8"):
        parse_video(np.zeros((2, 8, 8, 3), np.float32))


def test_score_only_what_the_prompt_fixes():
    ball = ep.Found("red", 1, "ball", "left", 30.0)
    assert score(parse_prompt("a red ball moves to the left"), [ball]) == dict.fromkeys(ATTRIBUTES, True)
    assert score(parse_prompt("two balls collide"), [ball]) == \
        {"color": None, "kind": True, "count": False, "direction": None}
    wrong = ep.Found("blue", 1, "ball", "left", 30.0)  # a wrong colour costs the colour only
    assert score(parse_prompt("一个红色的球向左移动"), [wrong]) == \
        {"color": False, "kind": True, "count": True, "direction": True}

# ---- calibration on the worlds' own clips ---------------------------------------------------------------------------


def test_ground_truth_scores_at_least_95_percent(truth):
    res = evaluate_prompts(truth, languages=("en",), progress=False)
    assert res["support"]["en"] == {"color": 22, "kind": 24, "count": 24, "direction": 15}
    for a in ATTRIBUTES:
        assert res["accuracy"]["en"][a] >= 0.95, (a, [s for s in res["samples"] if s["scores"][a] is False])
    zh = evaluate_prompts(truth, languages=("zh",), progress=False, prompt_set=PROMPTS[::4])
    assert all(v >= 0.95 for v in zh["accuracy"]["zh"].values() if v is not None)


def test_blank_clips_score_zero():
    res = evaluate_prompts(lambda p, s: np.full((9, 64, 64, 3), (244, 242, 236), np.uint8), progress=False)
    assert all(res["accuracy"][lang][a] == 0.0 for lang in ("en", "zh") for a in ATTRIBUTES)
    assert res["overall"] == dict.fromkeys(ATTRIBUTES, 0.0) and len(res["samples"]) == 48


_SHIFT = dict(zip(physics.BALL_COLORS, physics.BALL_COLORS[1:] + physics.BALL_COLORS[:1]), black="red")


def _recolour(prompt: str) -> str:
    prompt = re.sub(r"\b(" + "|".join(PALETTE) + r")\b", lambda m: _SHIFT[m.group(1)], prompt)
    return re.sub("|".join(COLOR_ZH.values()), lambda m: COLOR_ZH[_SHIFT[
        next(c for c, z in COLOR_ZH.items() if z == m.group(0))]], prompt)


def test_wrong_colour_clips_score_low_on_colour_only(truth):
    assert _recolour("a black ball and a cyan ball") == "a red ball and a red ball"
    assert _recolour("一个红色的球") == "一个绿色的球"
    res = evaluate_prompts(lambda p, s: truth(_recolour(p), s), progress=False, prompt_set=PROMPTS[::2],
                           languages=("en", "zh"))
    for lang in ("en", "zh"):
        acc = res["accuracy"][lang]
        assert acc["color"] == 0.0 and acc["count"] >= 0.9 and acc["direction"] >= 0.9, (lang, acc)


def test_through_vae_round_trips_shape_and_type():
    import torch

    from kinema.models.vae import PRESETS, CausalVAE

    vae = CausalVAE(PRESETS["tiny"]).eval()
    clip = np.full((5, 16, 16, 3), 200, np.uint8)
    out = ep.through_vae(lambda p, s: clip, vae)("a red ball", 0)
    assert out.dtype == np.uint8 and out.shape == clip.shape


def test_evaluate_prompts_errors():
    with pytest.raises(ValueError, match="n_per_prompt"):
        evaluate_prompts(lambda p, s: None, n_per_prompt=0)
    with pytest.raises(ValueError, match="languages"):
        evaluate_prompts(lambda p, s: None, languages=("fr",))

# ---- command line ----------------------------------------------------------------------------------------------------


def test_cli_ground_truth_writes_results_and_plot(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ep, "PROMPTS", PROMPTS[:3])
    from kinema.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["eval", "prompts", "--ground-truth", "--out", str(tmp_path), "--json", "--frames", "9"])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    last = json.loads(out.strip().splitlines()[-1])
    assert last["accuracy"]["en"]["color"] == 1.0 and "3 prompts" in out
    assert json.loads((tmp_path / "results.json").read_text())["n_per_prompt"] == 1
    assert (tmp_path / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="--model"):
        args.run(parser.parse_args(["eval", "prompts"]))
    with pytest.raises(ValueError, match="--ground-truth"):
        args.run(parser.parse_args(["eval", "prompts", "--through-vae", "runs/vae"]))
