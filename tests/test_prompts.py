"""Prompt parsing and expansion (kinema.prompts): the worlds' own captions as oracles, in English and Chinese."""

import pytest

from kinema import prompts
from kinema.prompts import (ObjectSpec, TEMPLATES, expand_prompt, find_clip, match, parse_prompt, scenes_palette)
from kinema.worlds import physics, render, scenarios, scenes
from kinema.worlds.base import PALETTE

WORLDS = ("physics", "scenes")


@pytest.fixture(scope="module")
def captions():
    """Every template of both worlds, two seeds: (name, sample)."""
    return [(f"{w}/{sc}", render(f"{w}/{sc}", seed=seed, frames=17, width=16, height=16))
            for w in WORLDS for sc in scenarios(w) for seed in (0, 1)]


def _objects(sample):
    return sorted((o["kind"], o["color"]) for o in sample.state["objects"] if not o.get("static"))


def _kcc(parsed):
    """(kind, colour, count) per object: the attributes an expansion must keep."""
    return [s[:3] for s in parsed.summary()]

# ---- parsing ---------------------------------------------------------------------------------------------------------


def test_parse_examples():
    p = parse_prompt("two balls collide")
    assert (p.language, p.objects, p.actions, p.scenario) == \
        ("en", [ObjectSpec(kind="ball", count=2, actions=["collides"])], ["collides"], "physics/collision")
    assert parse_prompt("两个球相撞").summary() == p.summary() == [("ball", "", 2, "")]
    p = parse_prompt("a red ball moves to the left")
    assert p.summary() == [("ball", "red", 1, "left")] and p.scenario == "physics/uniform"
    assert parse_prompt("一个红色的球向左移动").summary() == p.summary()
    assert parse_prompt("a blue ball falls").summary() == [("ball", "blue", 1, "down")]  # "falls" implies down
    p = parse_prompt("red and blue balls")
    assert [(o.kind, o.color, o.count) for o in p.objects] == [("ball", "red", 1), ("ball", "blue", 1)]
    p = parse_prompt("a red box hits the blue box and comes to rest, and the blue box stays still")
    assert [(o.color, o.actions) for o in p.objects] == [("red", ["hits", "rests"]), ("blue", ["still"])]
    assert parse_prompt("three boxes").count() == 3 and parse_prompt("balls fall").count() is None
    assert parse_prompt("the ball").count() == 1 and parse_prompt("the two balls").count() == 2
    assert parse_prompt("a red and a blue ball").summary() == [("ball", "blue", 1, ""), ("ball", "red", 1, "")]
    p = parse_prompt("a small red ball moves right quickly near the top")
    assert (p.objects[0].size, p.objects[0].speed, p.objects[0].height) == ("small", "quickly", "top")
    assert parse_prompt("红球向左滚").summary() == [("ball", "red", 1, "left")]  # short forms of the colours


def test_unknown_words_and_synonyms():
    p = parse_prompt("a shiny red cube moves to the left")
    assert p.unknown == ["shiny"] and p.read_as == [("cube", "box")] and p.summary() == [("box", "red", 1, "left")]
    assert parse_prompt("一个闪亮的红色的球向右移动").unknown == ["闪亮"]
    assert parse_prompt("a dog runs in the park").unknown == ["dog runs", "park"]


def test_every_world_caption_parses_to_its_objects_in_both_languages(captions):
    for name, s in captions:
        for kind in ("detailed", "short"):
            en, zh = parse_prompt(s.caption["en"][kind]), parse_prompt(s.caption["zh"][kind])
            assert en.summary() == zh.summary(), (name, kind)
            assert sorted((o.kind, o.color) for o in en.objects) == _objects(s), (name, kind)
            assert en.unknown == zh.unknown == [], (name, kind)
            assert en.detailed == zh.detailed == (kind == "detailed"), (name, kind)
            if kind == "detailed":
                assert en.world == zh.world == name.split("/")[0]
            assert match(en, en) is not None


def test_errors():
    with pytest.raises(ValueError, match="empty"):
        parse_prompt("  ")
    with pytest.raises(ValueError, match="physics"):
        expand_prompt("a red ball", world="explore")

# ---- expansion -------------------------------------------------------------------------------------------------------


def test_detailed_captions_pass_through(captions):
    for name, s in captions:
        for lang in ("en", "zh"):
            e = expand_prompt(s.caption[lang]["detailed"], seed=3)
            assert (e.text, e.language, e.changed) == (s.caption[lang]["detailed"], lang, False), name
            assert e.notes[0] == "already a detailed caption"


def test_short_world_captions_expand_to_the_same_attributes(captions, monkeypatch):
    monkeypatch.setattr(prompts, "BUDGET", {"physics": 24, "scenes": 12})  # a miss costs 12 renders per template
    expanded = 0
    for name, s in captions[::2]:  # one seed per template
        for lang in ("en", "zh"):
            short = s.caption[lang]["short"]
            e = expand_prompt(short, seed=1)
            asked, got = parse_prompt(short), parse_prompt(e.text)
            assert e.language == got.language == lang
            if e.changed:
                expanded += 1
                assert got.detailed and match(asked, got) is not None, (name, short, e.text)
                assert _kcc(got) == _kcc(asked), (name, short, e.text)
                assert [o.directions for o in asked.objects if o.directions] == \
                    [o.directions[:len(a.directions)] for a, o in zip(asked.objects, got.objects) if a.directions]
    assert expanded >= 30  # all but the busiest scenes (many dominoes, boxes, piles) of 42


def test_short_prompts_become_detailed_captions():
    e = expand_prompt("two balls collide")
    assert e.scenario == "physics/collision" and e.text.startswith("On a white background, a ")
    assert e.text.endswith("collide; after the collision " + e.text.split("after the collision ")[1])
    got = parse_prompt(e.text)
    assert _kcc(got) == [("ball", c, 1) for c in sorted(got.colors)] and set(got.colors) <= set(physics.BALL_COLORS)
    z = expand_prompt("两个球相撞")
    assert z.language == "zh" and z.text.startswith("白色背景上，") and "两球相撞" in z.text
    e = expand_prompt("蓝色的球向右移动", seed=4)
    assert e.scenario == "physics/uniform" and "蓝色的球" in e.text and e.text.endswith("向右移动。")
    e = expand_prompt("a red ball falls")
    assert e.scenario == "scenes/ball_drop" and e.text.startswith("A side view of a grey floor.")
    assert "The red ball falls" in e.text
    e = expand_prompt("a red box slides to the right")  # scenes captions say where it starts, not which way
    assert e.scenario == "scenes/slide_friction" and "a red box on the left" in e.text
    assert expand_prompt("two balls collide", world="scenes").scenario == "scenes/two_ball_collide"
    e = expand_prompt("a red ball falls", world="physics")  # physics balls fall in arcs, thrown sideways
    assert not e.changed and e.notes[0] == "no physics clip shows all of it; kept as written"


def test_expansion_is_a_function_of_the_seed():
    texts = [expand_prompt("a ball moves to the left", seed=s).text for s in range(6)]
    assert texts == [expand_prompt("a ball moves to the left", seed=s).text for s in range(6)]
    assert len(set(texts)) > 1
    for t in texts:  # what the seed filled in is what the world draws
        o = parse_prompt(t).objects[0]
        assert o.color in physics.BALL_COLORS and o.size in ("tiny", "small", "large", "huge")
        assert o.direction == "left"


def test_unknown_words_are_kept_and_noted():
    e = expand_prompt("a shiny red ball moves to the left")
    assert e.text.endswith(" Shiny.") and "red ball moves left" in e.text
    assert any("'shiny'" in n for n in e.notes)
    z = expand_prompt("一个闪亮的红色的球向右移动")
    assert z.text.endswith("闪亮。") and any("闪亮" in n for n in z.notes)
    e = expand_prompt("a dog runs in the park")
    assert not e.changed and e.notes[0].endswith("kept as written")
    e = expand_prompt("a red cube slides to the left")
    assert "red box" in e.text and "read 'cube' as 'box'" in e.notes

# ---- the clip search -------------------------------------------------------------------------------------------------


def test_relabelled_captions_and_true_pixels():
    p = parse_prompt("a green box slides to the left")
    fast = find_clip(p, seed=2)  # colours renamed in the caption
    true = find_clip(p, seed=2, relabel=False, budget={"scenes": 400})  # found with the colour in its pixels
    for clip in (fast, true):
        assert clip.scenario == "scenes/slide_friction" and "green box" in clip.caption["en"]["detailed"]
    assert [o["color"] for o in true.sample.state["objects"] if not o["static"]] == ["green"]
    big = true.render(32, 32)
    assert big.size == (32, 32) and big.caption == true.sample.caption


def test_scenes_palette_is_the_scenes_colour_order():
    for sc in scenes.SCENARIOS[:6]:
        for seed in range(3):
            s = scenes.render(sc, seed=seed, frames=1, width=8, height=8)
            dyn = [o["color"] for o in s.state["objects"] if not o["static"]]
            assert scenes_palette(sc, seed)[:len(dyn)] == dyn


def test_templates_table_covers_what_the_worlds_draw():
    for t in TEMPLATES:
        world, sc = t.name.split("/")
        for seed in range(6):
            s = render(t.name, seed=seed, frames=1, width=8, height=8)
            kinds = [k for k, _ in _objects(s)]
            assert t.total[0] <= len(kinds) <= t.total[1], (t.name, seed, kinds)
            for k in set(kinds):
                assert k in t.kinds and t.kinds[k][0] <= kinds.count(k) <= t.kinds[k][1], (t.name, seed, kinds)
            assert {c for _, c in _objects(s)} <= set(t.colors) <= set(PALETTE)
