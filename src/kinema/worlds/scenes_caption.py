"""Captions for the `scenes` world: what happened, read off a state alone, then said in English and Chinese.

    from kinema.worlds.scenes_caption import caption
    caption(sample.state)  # {"en": {"detailed", "short"}, "zh": {"detailed", "short"}}

Contacts, tracks and visibility are read into events per object (falls, bounces off, hits, rolls down, topples, tilts,
swings, passes behind, comes out again, comes to rest), then worded from the dicts below, which hold every English and
Chinese word the captions use. `GLOSSARY` says how the Chinese ones read back in English (kinema.models.glossary).
"""

from __future__ import annotations

import math

import numpy as np

from kinema.worlds.base import COLOR_ZH

# ----------------------------------------------------------------------------------------------------------------------
# Words: every English and Chinese word the captions use
# ----------------------------------------------------------------------------------------------------------------------

KIND_EN: dict[str, tuple[str, str]] = {  # singular, plural
    "ball": ("ball", "balls"), "box": ("box", "boxes"), "triangle": ("triangle", "triangles"),
    "domino": ("domino", "dominoes"), "plank": ("plank", "planks"), "floor": ("floor", "floors"),
    "ramp": ("ramp", "ramps"), "bar": ("bar", "bars"), "wall": ("wall", "walls"), "fulcrum": ("pivot", "pivots"),
    "pin": ("pin", "pins"), "occluder": ("screen", "screens"),
}
KIND_ZH: dict[str, tuple[str, str]] = {  # noun, measure word
    "ball": ("球", "个"), "box": ("箱子", "个"), "triangle": ("三角块", "个"), "domino": ("骨牌", "块"),
    "plank": ("木板", "块"), "floor": ("地面", "片"), "ramp": ("斜坡", "个"), "bar": ("横杆", "根"),
    "wall": ("墙", "面"), "fulcrum": ("支架", "个"), "pin": ("钉子", "颗"), "occluder": ("屏风", "块"),
}
NEUTRAL_ZH: dict[str, str] = {"grey": "灰色", "dark grey": "深灰色", "brown": "棕色"}
NUM_ZH = {1: "一", 2: "两", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八"}
TIMES_EN = {2: "twice", 3: "three times", 4: "four times", 5: "five times"}
TIMES_ZH = {2: "两次", 3: "三次", 4: "四次", 5: "五次"}
PLACE_EN = {"left": "on the left", "middle": "in the middle", "right": "on the right"}
PLACE_ZH = {"left": "左边", "middle": "中间", "right": "右边"}
GLUE_EN = {"nouns": (", ", " and "), "verbs": (", ", " and "), "clauses": (", ", ", and "), "sentences": " ",
           "subject": "{s} {v}", "placed": "{n} {p}", "sentence": "{x}.", "view": "A side view of {x}.",
           "shows": "It shows {x}.", "the": "the", "a": "a", "an": "an", "times": "{n} times"}
GLUE_ZH = {"nouns": ("、", "和"), "verbs": ("，", "，然后"), "clauses": ("；", "；"), "sentences": "",
           "subject": "{s}{v}", "placed": "{p}{n}", "sentence": "{x}。", "view": "侧视图：{x}。",
           "shows": "画面中有{x}。", "of": "的", "times": "{n}次"}
GLUE = {"en": GLUE_EN, "zh": GLUE_ZH}

VERB_EN: dict[str, tuple[str, str]] = {  # singular, plural; {p} is the other object
    "hits": ("hits {p}", "hit {p}"), "hides": ("passes behind {p}", "pass behind {p}"),
    "emerges": ("comes out again", "come out again"),
    "appears": ("comes out from behind {p}", "come out from behind {p}"),
    "topples": ("topples over", "topple over"), "rolls_down": ("rolls down {p}", "roll down {p}"),
    "slides_down": ("slides down {p}", "slide down {p}"), "bounces": ("bounces off {p}", "bounce off {p}"),
    "swings": ("swings on a rod", "swing on rods"), "tilts": ("tilts", "tilt"), "falls": ("falls", "fall"),
    "rolls": ("rolls", "roll"), "slides": ("slides", "slide"), "leaves": ("leaves the picture", "leave the picture"),
    "rests": ("comes to rest", "come to rest"), "moves": ("moves", "move"), "still": ("stays still", "stay still"),
}
VERB_ZH: dict[str, str] = {
    "hits": "撞上{p}", "hides": "从{p}后面经过", "emerges": "又出现了", "appears": "从{p}后面出来", "topples": "翻倒了",
    "rolls_down": "滚下{p}", "slides_down": "滑下{p}", "bounces": "从{p}上弹起", "swings": "在细杆上摆动",
    "tilts": "倾斜", "falls": "落下", "rolls": "向前滚动", "slides": "向前滑动", "leaves": "离开画面",
    "rests": "停了下来", "moves": "移动", "still": "保持不动",
}
PRIORITY = ("hits", "hides", "emerges", "appears", "topples", "rolls_down", "slides_down", "bounces", "swings", "tilts",
            "falls", "rolls", "slides", "leaves", "rests", "moves", "still")
SOLO_VERBS = ("topples", "tilts", "swings", "falls", "rolls", "slides", "leaves", "rests", "moves", "still")

# zh -> (english, role): the table kinema.models.glossary.ZhGlossary.from_worlds() reads Chinese prompts with (roles
# as defined there). Kinds, colours, places, counts and the sentence openers come from the dicts above; of VERB_ZH's
# phrases the glossary composes the rest ("又出现了": appears again, "从 X 后面经过": passes from behind X).
GLOSSARY: dict[str, tuple[str, str]] = {
    **{zh: (KIND_EN[kind][0], "noun") for kind, (zh, _) in KIND_ZH.items()},
    **{mw: ("", "mw") for _, mw in KIND_ZH.values()},
    **{zh: (en, "adj") for en, zh in NEUTRAL_ZH.items()},
    **{PLACE_ZH[k]: (en, "place") for k, en in PLACE_EN.items()},
    **{TIMES_ZH[n]: (en, "adv") for n, en in TIMES_EN.items()},
    GLUE_ZH["times"].replace("{n}", ""): (GLUE_EN["times"].replace("{n}", "{}"), "unit"),  # 六次: "six times"
    **{GLUE_ZH[k].split("{x}")[0]: (GLUE_EN[k].split("{x}")[0].strip(), "word") for k in ("view", "shows")},
    "细杆": ("rod", "noun"), "停了下来": ("come to rest", "verb"),
}


# ----------------------------------------------------------------------------------------------------------------------
# Captions: read what happened off the state (contacts, tracks, visibility), then say it in English and Chinese
# ----------------------------------------------------------------------------------------------------------------------

def _analyse(state: dict) -> dict[int, list[tuple[int, str, int | None, int]]]:
    """Per dynamic object: (first frame, verb, other object id or None, times), in the order they happen."""
    objs = {o["id"]: o for o in state["objects"]}
    frames, T = state["frames"], len(state["frames"])
    order = [st["id"] for st in frames[0]["objects"]]
    acts: dict[int, list] = {i: [] for i in order}
    if T < 2:
        return {i: [] for i in order}
    tr = {i: [f["objects"][j] for f in frames] for j, i in enumerate(order)}

    def speed(i: int, k: int) -> float:
        return math.hypot(tr[i][k]["vx"], tr[i][k]["vy"])

    for e in state["events"]:
        k, a, b = e["frame"], e["a"], e["b"]
        for me, other, sign in ((a, b, 1.0), (b, a, -1.0)):
            if me not in acts:
                continue
            n = np.asarray(e["normal"]) * sign  # from me to the other
            if objs[other]["static"] and e["speed"] > 0.8:
                away = max(-(tr[me][q]["vx"] * n[0] + tr[me][q]["vy"] * n[1]) for q in (k, min(k + 1, T - 1)))
                if away > max(0.3 * e["speed"], 0.4):
                    acts[me].append((k, "bounces", other))
            elif not objs[other]["static"] and e["speed"] > 0.4 and k > 0:
                if (speed(me, k - 1), -me) > (speed(other, k - 1), -other):
                    acts[me].append((k, "hits", other))

    rods = {j["b"] for j in state["joints"] if j["kind"] == "rod"}
    occ = [o for o in objs.values() if o["kind"] == "occluder"]
    for i, track in tr.items():
        kind, add = objs[i]["kind"], acts[i].append
        xs, ys, ang = (np.array([f[key] for f in track]) for key in ("x", "y", "angle"))
        touch = [bool(f["touching"]) for f in track]
        if i in rods:
            if np.ptp(xs) > 0.3:
                add((0, "swings", None))
        else:  # falls: a stretch without contact that ends lower than it began
            k = 0
            while k < T:
                end = k
                while end < T and not touch[end]:
                    end += 1
                if end > k and ys[max(k - 1, 0)] - ys[min(end, T - 1)] >= 0.6:
                    add((k, "falls", None))
                    break
                k = end + 1
        on_slope = [k for k in range(T) if any(objs[t]["kind"] in ("ramp", "bar") for t in track[k]["touching"])]
        if on_slope and ys[on_slope[0]] - ys[on_slope[-1]] >= 0.4:
            slope = next(t for t in track[on_slope[0]]["touching"] if objs[t]["kind"] in ("ramp", "bar"))
            add((on_slope[0], "rolls_down" if kind == "ball" else "slides_down", slope))
        turn = np.abs(ang - ang[0])
        if kind == "plank" and turn.max() > 0.12:
            add((int(np.argmax(turn > 0.06)), "tilts", None))
        elif kind not in ("ball", "plank") and turn.max() > 1.0:
            add((int(np.argmax(turn > 0.35)), "topples", None))
        vis = np.array([f["visible_fraction"] for f in track])
        for oc in occ:
            w, h = oc["width"], oc["height"]
            behind = [(abs(xs[k] - oc["x"]) <= w / 2 and abs(ys[k] - oc["y"]) <= h / 2 and vis[k] < 0.5
                       and track[k]["in_view"]) for k in range(T)]
            if any(behind):
                k0 = behind.index(True)
                seen = [k for k in range(k0, T) if vis[k] >= 0.95]
                if k0 > 0:
                    add((k0, "hides", oc["id"]))
                if seen:
                    add((seen[0], "emerges", None) if k0 > 0 else (seen[0], "appears", oc["id"]))
        moving = [k for k in range(1, T) if touch[k] and abs(track[k]["vx"]) > 0.3 and abs(track[k]["vy"]) < 0.5]
        path = sum(abs(xs[k] - xs[k - 1]) for k in moving)
        done = {v for _, v, _ in acts[i]}
        if path >= 1.0 and i not in rods and not done & {"rolls_down", "slides_down", "topples"}:
            add((moving[0], "rolls" if kind == "ball" else "slides", None))
        inview = [f["in_view"] for f in track]
        if inview[0] and not inview[-1]:
            add((T - 1 - inview[::-1].index(True) + 1, "leaves", None))
        displaced = math.hypot(xs[-1] - xs[0], ys[-1] - ys[0]) > 0.15 or turn.max() > 0.1
        slow = [speed(i, k) < 0.08 and abs(track[k]["omega"]) < 0.15 for k in range(T)]
        if slow[-1] and inview[-1] and (acts[i] or displaced):
            k = T - 1
            while k > 0 and slow[k - 1]:
                k -= 1
            if k > 0:
                add((k, "rests", None))
        if not acts[i]:
            add((0, "moves" if displaced else "still", None))

    out = {}
    for i, found in acts.items():  # merge repeats into counts, order by time then importance
        merged: dict[tuple, list] = {}
        for k, verb, other in found:
            key = (verb, other)
            merged[key] = [min(k, merged[key][0]), merged[key][1] + 1] if key in merged else [k, 1]
        out[i] = sorted([(k, v, o, c) for (v, o), (k, c) in merged.items()],
                        key=lambda a: (a[0], PRIORITY.index(a[1])))
    return out


def _place(x: float) -> str:
    return "left" if x < 3.5 else "right" if x > 6.5 else "middle"


def _join(items: list[str], pair: tuple[str, str]) -> str:
    """"a, b and c" with pair = (", ", " and ")."""
    return items[0] if len(items) == 1 else pair[0].join(items[:-1]) + pair[1] + items[-1]


def _color(c: str, lang: str) -> str:
    return c if lang == "en" else COLOR_ZH.get(c) or NEUTRAL_ZH[c]


def _name(o: dict, lang: str, definite: bool = False) -> str:
    """"a red ball" / "一个红色的球"; definite: "the red ball" / "红色的球". Look-alike scenery gets its place."""
    c, kind, where = o["color"], o["kind"], o.get("where") if definite else None
    if lang == "en":
        art = GLUE_EN["the"] if definite else GLUE_EN["an"] if c[0] in "aeiou" else GLUE_EN["a"]
        return f"{art} {c} {KIND_EN[kind][0]}" + (f" {PLACE_EN[where]}" if where else "")
    noun, mw = KIND_ZH[kind]
    lead = PLACE_ZH[where] if where else "" if definite else NUM_ZH[1] + mw
    return f"{lead}{_color(c, 'zh')}{GLUE_ZH['of']}{noun}"


def _group_name(group: list[dict], lang: str, definite: bool) -> str:
    """Objects named together, one kind at a time: "red and blue balls" / "红色和蓝色的两个球"."""
    parts = []
    for kind in dict.fromkeys(o["kind"] for o in group):
        same = [o for o in group if o["kind"] == kind]
        colors = _join([_color(o["color"], lang) for o in same], GLUE[lang]["nouns"])
        if len(same) == 1:
            parts.append(_name(same[0], lang, definite))
        elif lang == "en":
            parts.append(f"{GLUE_EN['the'] + ' ' if definite else ''}{colors} {KIND_EN[kind][1]}")
        else:
            noun, mw = KIND_ZH[kind]
            parts.append(f"{colors}{GLUE_ZH['of']}{'' if definite else NUM_ZH[len(same)] + mw}{noun}")
    return _join(parts, GLUE[lang]["nouns"]) if parts else ""


def _phrase(verb: str, other: int | None, times: int, objs: dict, lang: str, plural: bool = False) -> str:
    """"bounces off the grey floor twice" / "从灰色的地面上弹起两次"."""
    p = _name(objs[other], lang, True) if other is not None else ""
    text = VERB_EN[verb][plural].format(p=p) if lang == "en" else VERB_ZH[verb].format(p=p)
    if times > 1:
        count = (TIMES_EN if lang == "en" else TIMES_ZH).get(times)
        text += (" " if lang == "en" else "") + (count or GLUE[lang]["times"].format(n=times))
    return text


def caption(state: dict) -> dict[str, dict[str, str]]:
    """Detailed and short captions, English and Chinese, from a scenes state alone."""
    objs = {o["id"]: dict(o) for o in state["objects"]}
    looks = [(o["kind"], o["color"]) for o in objs.values() if o["static"]]
    for o in objs.values():  # two grey bars: "the grey bar on the left"
        if o["static"] and looks.count((o["kind"], o["color"])) > 1:
            o["where"] = _place(o["x"])
    acts = _analyse(state)
    dyn, scenery = [objs[i] for i in acts], [o for o in objs.values() if o["static"] and o["kind"] != "pin"]
    x0 = {st["id"]: st["x"] for st in state["frames"][0]["objects"]}
    out = {}
    for lang, g in GLUE.items():
        def placed(o: dict, x: float) -> str:
            where = (PLACE_EN if lang == "en" else PLACE_ZH)[_place(x)]
            return _name(o, lang) if o["kind"] == "floor" else g["placed"].format(n=_name(o, lang), p=where)

        def says(subject: str, events: list, plural: bool = False) -> str:
            return g["subject"].format(s=subject, v=_join([_phrase(v, p, c, objs, lang, plural)
                                                           for _, v, p, c in events], g["verbs"]))

        # detailed: the scenery, the objects where they start, then each object's story in time order
        sentences = [g["view"].format(x=_join([placed(o, o["x"]) for o in scenery], g["nouns"])),
                     g["shows"].format(x=_join([placed(o, x0[o["id"]]) for o in dyn], g["nouns"]))]
        sentences += [g["sentence"].format(x=says(_name(o, lang, True), acts[o["id"]])) for o in dyn if acts[o["id"]]]
        # short: each actor with its two main events, then everything else grouped by its main solo verb
        clauses, named = [], set()
        for o in dyn:
            if o["role"] == "actor" and acts[o["id"]]:
                top = sorted(sorted(acts[o["id"]], key=lambda a: PRIORITY.index(a[1]))[:2])
                named |= {o["id"]} | {a[2] for a in top if a[2] is not None}
                clauses.append(says(_name(o, lang), top))
        groups: dict[str, list[dict]] = {}
        for o in dyn:
            if acts[o["id"]] and not (o["role"] == "actor" and o["id"] in named):
                solo = [a[1] for a in acts[o["id"]] if a[1] in SOLO_VERBS] or ["moves"]
                groups.setdefault(min(solo, key=PRIORITY.index), []).append(o)
        for verb, group in groups.items():
            who = _group_name(group, lang, definite=all(o["id"] in named for o in group))
            clauses.append(says(who, [(0, verb, None, 1)], plural=len(group) > 1))
        if not clauses:  # a single frame: name what is there
            clauses = [c for c in (_group_name(dyn, lang, False),
                                   _group_name([o for o in scenery if o["kind"] != "floor"], lang, False)) if c]
        out[lang] = {"detailed": g["sentences"].join(x[0].upper() + x[1:] for x in sentences),
                     "short": _join(clauses, g["clauses"])}
    return out

