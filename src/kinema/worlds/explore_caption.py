"""Captions for the `explore` world: the place's style and colours, what the camera faces, then what it does.

    from kinema.worlds.explore import ACTIONS, make_world
    world = make_world("gallery", seed=3)
    caption("gallery", world.style, {"painting"}, world.facing(world.start_pose()), [(ACTIONS["W"], 1.2)])

Every English and Chinese word the captions use lives in the dicts below (the actions' own words are in
`explore.ACTIONS`). `GLOSSARY` says how the Chinese ones read back in English (kinema.models.glossary).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kinema.worlds.base import COLOR_ZH

if TYPE_CHECKING:
    from kinema.worlds.explore import Action

# ----------------------------------------------------------------------------------------------------------------------
# Words
# ----------------------------------------------------------------------------------------------------------------------

NEUTRAL_ZH: dict[str, str] = {"white": "白色", "grey": "灰色"}
COLORS_ZH = {**COLOR_ZH, **NEUTRAL_ZH}

AMOUNT_WORDS = {"turn": ("by {} degrees", "{}度"), "time": ("for {} s", "{}秒")}
FLOOR_WORDS = {"wood": ("a wooden floor", "木地板"), "marble": ("a marble floor", "大理石地面"),
               "checker": ("a black-and-white checkered floor", "黑白格子地面"), "carpet": ("a grey carpet", "灰色地毯"),
               "grass": ("grass", "草地"), "gravel": ("gravel", "碎石地")}

SCENE_WORDS = {   # (English detailed, English short, Chinese detailed, Chinese short); filled from the style
    "gallery": ("an exhibition hall with {wall} walls, {painting} paintings{pillars} and {floor}",
                "an exhibition hall with {wall} walls and {painting} paintings",
                "一个{wall_zh}墙壁、挂着{painting_zh}画作、{pillars_zh}铺着{floor_zh}的展厅",
                "一个{wall_zh}墙壁、挂着{painting_zh}画作的展厅"),
    "garden": ("a garden with green hedge walls, {flower} flower beds{trees} on {ground} under a {sky} sky",
               "a garden with {flower} flowers under a {sky} sky",
               "{sky_zh}天空下的花园，绿色树篱环绕，{ground_zh}上有{flower_zh}花坛{trees_zh}",
               "{sky_zh}天空下开着{flower_zh}花朵的花园"),
    "street": ("an old-town street with {house} houses, {door} doors and shutters, and cobblestones under a {sky} sky",
               "an old-town street with {house} houses and {door} doors",
               "{sky_zh}天空下的老城街道，{house_zh}房屋配着{door_zh}的门和百叶窗，地面铺着鹅卵石",
               "有{house_zh}房屋和{door_zh}门的老城街道"),
}
EXTRA_WORDS = {"pillars": (", {} pillars", "立着{}柱子、"), "trees": (" and trees", "和树木")}

THING_WORDS = {   # what the camera faces: (English, Chinese), "{}" gets the colour
    "painting": ("a {} painting", "一幅{}的画"), "pillar": ("a {} pillar", "一根{}的柱子"),
    "wall": ("a {} wall", "一面{}的墙"), "hedge": ("a hedge", "一道树篱"), "tree": ("a tree", "一棵树"),
    "house": ("a {} house", "一栋{}的房子"), "door": ("a {} door", "一扇{}的门"),
}

# zh -> (english, role): the table kinema.models.glossary.ZhGlossary.from_worlds() reads Chinese prompts with (roles
# as defined there). The floors, colours and amounts come from the dicts above; the nouns, measure words and links of
# SCENE_WORDS, THING_WORDS and the caption's sentences are listed. The actions (向前走, 向左转, ...) it composes.
GLOSSARY: dict[str, tuple[str, str]] = {
    **{zh: (en.removeprefix("a "), "noun" if en.startswith("a ") else "mass") for en, zh in FLOOR_WORDS.values()},
    **{zh: (en, "adj") for en, zh in NEUTRAL_ZH.items()},
    **{zh.replace("{}", ""): (en, "unit") for en, zh in AMOUNT_WORDS.values()},  # 0.5秒: "for 0.5 s"
    "展厅": ("exhibition hall", "noun"), "墙壁": ("wall", "noun"), "墙": ("wall", "noun"), "画作": ("painting", "noun"),
    "画": ("painting", "noun"), "柱子": ("pillar", "noun"), "花园": ("garden", "noun"), "天空": ("sky", "noun"),
    "花朵": ("flower", "noun"), "花坛": ("flower bed", "noun"), "树篱": ("hedge", "noun"), "树木": ("tree", "noun"),
    "树": ("tree", "noun"), "老城街道": ("old-town street", "noun"), "房屋": ("house", "noun"),
    "房子": ("house", "noun"), "门": ("door", "noun"), "百叶窗": ("shutter", "noun"), "地面": ("floor", "noun"),
    "鹅卵石": ("cobblestone", "noun"), "第一人称画面": ("first-person view", "noun"),
    **{mw: ("", "mw") for mw in "幅根面道棵栋扇"},
    **{zh: ("with", "prep") for zh in ("挂着", "立着", "铺着", "开着", "配着")},  # 挂着红色画作的展厅: the hall with ...
    "环绕": ("all around", "adv"), "第一人称漫步于": ("a first-person walk through", "word"),
    "起初正对着": ("start facing", "verb"), "正对着": ("facing", "word"), "继续探索": ("keep exploring", "verb"),
}


# ----------------------------------------------------------------------------------------------------------------------
# Captions
# ----------------------------------------------------------------------------------------------------------------------


def _segments(runs: list[tuple[Action, float]]) -> list[tuple[str, str, str, str]]:
    """(action, degrees turned or seconds) -> (English verb, English with amount, Chinese verb, Chinese with amount)."""
    out = []
    for a, amount in runs:
        text = f"{round(amount):d}" if a.turn else f"{amount:.1f}"
        en, zh = AMOUNT_WORDS["turn" if a.turn else "time"]
        out.append((a.verb_en, f"{a.verb_en} {en.format(text)}", a.verb_zh, a.verb_zh + zh.format(text)))
    return out


def _join_en(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + ", then " + parts[-1]


def _join_zh(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "，".join(parts[:-1]) + "，然后" + parts[-1]


def _articles(text: str) -> str:
    """"a orange sky" -> "an orange sky" (the colour words are filled in after the article)."""
    return re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)



def caption(scenario: str, style: dict[str, str], kinds: set[str], thing: dict[str, Any],
            runs: list[tuple[Action, float]]) -> dict[str, dict[str, str]]:
    """Detailed and short captions in English and Chinese. `kinds`: the kinds of objects the place has; `thing`: what
    the camera faces at the start ({"kind", "color"}); `runs`: the camera's actions, each with how far it went (degrees
    for a turn, else seconds)."""
    words: dict[str, str] = {}
    for k, v in style.items():
        en, zh = FLOOR_WORDS.get(v, (v, COLORS_ZH.get(v, v)))
        words[k], words[k + "_zh"] = en, zh
    words["pillars"], words["pillars_zh"] = ("", "")
    if "pillar" in kinds:
        words["pillars"] = EXTRA_WORDS["pillars"][0].format(style["pillar"])
        words["pillars_zh"] = EXTRA_WORDS["pillars"][1].format(COLORS_ZH[style["pillar"]])
    words["trees"], words["trees_zh"] = EXTRA_WORDS["trees"] if "tree" in kinds else ("", "")
    en_long, en_short, zh_long, zh_short = (t.format(**words) for t in SCENE_WORDS[scenario])
    t_en, t_zh = THING_WORDS[thing["kind"]]
    t_en, t_zh = t_en.format(thing["color"]), t_zh.format(COLORS_ZH[thing["color"]])
    segs = _segments(runs)
    if not segs:
        return {"en": {"detailed": _articles(f"A first-person view of {en_long}, facing {t_en}."),
                       "short": _articles(en_short)},
                "zh": {"detailed": f"{zh_long}的第一人称画面，正对着{t_zh}。", "short": zh_short}}
    more = len(segs) > 8
    long_en = _join_en([s[1] for s in segs[:8]] + (["keeps exploring"] if more else []))
    long_zh = _join_zh([s[3] for s in segs[:8]] + (["继续探索"] if more else []))
    short = segs[:3]
    return {
        "en": {"detailed": _articles(f"A first-person walk through {en_long}. The camera starts facing {t_en}, "
                                     f"{long_en}."),
               "short": _articles(f"{en_short}; the camera {_join_en([s[0] for s in short])}")},
        "zh": {"detailed": f"第一人称漫步于{zh_long}。镜头起初正对着{t_zh}，{long_zh}。",
               "short": f"{zh_short}；镜头{_join_zh([s[2] for s in short])}"},
    }

