"""The words prompts are read with (kinema.prompts holds the reading): English phrase -> (category, value), built from
the worlds' own vocabularies (the palette, scenes' kinds, places and verbs, physics' words). Chinese prompts are read in
English through the worlds' glossary (kinema.models.glossary), plus the short forms in ZH_EXTRA.
"""

from __future__ import annotations

from kinema.worlds import physics, scenes
from kinema.worlds.base import COLOR_ZH, PALETTE

KINDS = scenes.DYNAMIC_KINDS  # ball, box, triangle, domino, plank
_NUMS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
SYNONYMS = {"sphere": "ball", "circle": "ball", "disc": "ball", "disk": "ball", "cube": "box", "block": "box",
            "square": "box", "crate": "box", "brick": "box", "wedge": "triangle", "board": "plank"}
PLURAL_SYNONYMS = {w + ("es" if w.endswith(("x", "sh", "ch")) else "s"): k for w, k in SYNONYMS.items()}
SCENERY = {"floor": "floor", "ground": "floor", "ramp": "ramp", "slope": "ramp", "incline": "ramp", "bar": "bar",
           "wall": "wall", "pivot": "pivot", "fulcrum": "pivot", "seesaw": "pivot", "pin": "pin", "screen": "screen",
           "occluder": "screen", "rod": "rod", "pendulum": "rod", "funnel": "bar"}
_VERB_FORMS = {  # action (the scenes world's verb keys, plus physics' collides / stops / thrown) -> its phrases
    "moves": "move|moves|moved|moving|travel|travels|travelling|go|goes|going|fly|flies|flying",
    "rolls": "roll|rolls|rolled|rolling", "slides": "slide|slides|slid|sliding|glide|glides",
    "rolls_down": "roll down|rolls down|rolled down|rolling down",
    "slides_down": "slide down|slides down|slid down|sliding down",
    "falls": "fall|falls|fell|falling|drop|drops|dropped|dropping|is dropped|falls in an arc|fall in an arc",
    "bounces": "bounce|bounces|bounced|bouncing|bounce off|bounces off|rebounds|bounce apart",
    "collides": "collide|collides|collided|colliding|crash|crashes|crash into|crashes into|bump into|bumps into",
    "hits": "hit|hits|hitting|strike|strikes|knock|knocks",
    "topples": "topple|topples|toppled|toppling|topple over|topples over|fall over|falls over|tip over|tips over",
    "tilts": "tilt|tilts|tilted|tilting", "swings": "swing|swings|swinging",
    "hides": "pass behind|passes behind|passing behind|goes behind|go behind|pass from behind|passes from behind",
    "emerges": "come out again|comes out again|emerge|emerges|reappear|reappears|appear again|appears again",
    "appears": "come out from behind|comes out from behind|come out|comes out",
    "leaves": "leave the picture|leaves the picture|leave the frame|leaves the frame",
    "rests": "come to rest|comes to rest|rest|rests|settle|settles", "stops": "stop|stops|stopped|stopping",
    "still": "stay still|stays still|at rest|still|stationary|motionless|does not move|stay|stays",
    "thrown": "is thrown|are thrown|be thrown|thrown|throw|throws|launched|tossed",
}
VERBS: dict[str, str] = {w: a for a, forms in _VERB_FORMS.items() for w in forms.split("|")}
# the action a prompt asks for is shown by any of these (a physics ball that "moves right" is how the worlds show one
# that rolls right); an action not listed here is shown only by itself
FAMILY = {"moves": set(VERBS.values()) - {"still", "rests", "stops", "collides", "hits"},
          "rolls": {"rolls", "rolls_down", "moves"}, "slides": {"slides", "slides_down", "moves"},
          "falls": {"falls", "thrown"}, "collides": {"collides", "hits"}, "hits": {"hits", "collides"},
          "rests": {"rests", "stops"}, "stops": {"stops", "rests"}}
MUTUAL = ("collides", "hits")  # checked for the scene as a whole, not per object
IMPLIED_DIRECTION = {"falls": "down", "still": "still"}

LEXICON: dict[str, tuple[str, object]] = {
    **{c: ("color", c) for c in PALETTE},
    **{w: ("scolor", w) for w in ("grey", "gray", "brown", "dark grey", "white")},
    **{k: ("kind", (k, False)) for k in KINDS}, **{scenes.KIND_EN[k][1]: ("kind", (k, True)) for k in KINDS},
    "dominos": ("kind", ("domino", True)),
    **{w: ("kind", (k, w in PLURAL_SYNONYMS)) for w, k in {**SYNONYMS, **PLURAL_SYNONYMS}.items()},
    **{w: ("scenery", s) for w, s in SCENERY.items()}, **{w + "s": ("scenery", s) for w, s in SCENERY.items()},
    "object": ("kind", (None, False)), "objects": ("kind", (None, True)), "thing": ("kind", (None, False)),
    "things": ("kind", (None, True)), "shape": ("kind", (None, False)), "shapes": ("kind", (None, True)),
    **{w: ("det", 1) for w in ("a", "an")}, **{w: ("the", None) for w in ("the", "this", "that", "these", "those")},
    **{w: ("count", i + 1) for i, w in enumerate(_NUMS)}, "a pair of": ("count", 2), "both": ("the", 2),
    **{w: ("count", None) for w in ("several", "some", "many")},
    **{w: ("size", w) for w in ("tiny", "small", "large", "huge")}, "big": ("size", "large"),
    "little": ("size", "small"), "very small": ("size", "tiny"), "very large": ("size", "huge"),
    "giant": ("size", "huge"),
    **{w: ("speed", w) for w in ("very slowly", "slowly", "quickly", "very quickly")},
    "slow": ("speed", "slowly"), "fast": ("speed", "quickly"), "very fast": ("speed", "very quickly"),
    "rapidly": ("speed", "quickly"), "very slow": ("speed", "very slowly"),
    **{w: ("dir", "left") for w in ("left", "to the left", "leftward", "leftwards", "towards the left",
                                    "from right to left")},
    **{w: ("dir", "right") for w in ("right", "to the right", "rightward", "rightwards", "towards the right",
                                     "from left to right")},
    **{w: ("dir", "up") for w in ("up", "upward", "upwards")},
    **{w: ("dir", "down") for w in ("down", "downward", "downwards", "straight down")},
    "falls straight down": ("verb+dir", ("falls", "down")), "fall straight down": ("verb+dir", ("falls", "down")),
    **{w: ("place", p) for p, w in scenes.PLACE_EN.items()}, "in the center": ("place", "middle"),
    "in the centre": ("place", "middle"),
    **{w: ("height", "top") for w in ("near the top", "from near the top", "at the top")},
    **{w: ("height", "middle") for w in ("at mid height", "at mid-height")},
    **{w: ("height", "bottom") for w in ("near the bottom", "at the bottom")},
    **{w: ("verb", a) for w, a in VERBS.items()},
    "after the collision": ("after", None), "and": ("and", None), "then": ("and", None),
    **{w: ("filler", None) for w in (
        "on|of|it|shows|is|are|at|from|near|under|gravity|in|arc|with|each|other|another|into|onto|off|toward|towards|"
        "across|over|along|there|which|its|their|while|as|again|one another|a constant speed|at a constant speed|"
        "background|side view|a side view|view|picture|frame|scene|together|finally|afterwards|by|to|they|them|"
        "someone|mid|height|top|bottom|way|path|forward|times|once").split("|") + list(scenes.TIMES_EN.values())},
}
MAX_WORDS = max(len(k.split()) for k in LEXICON)

# A Chinese prompt is read by the worlds' glossary, plus a few short forms (红球: a red ball; 滚: roll).
ZH_EXTRA = {**{zh[0]: (en, "adj") for en, zh in COLOR_ZH.items()}, "滚": ("roll", "verb"), "滑": ("slide", "verb"),
            "撞": ("collide", "verb"), "掉": ("fall", "verb"), "弹": ("bounce", "verb")}
OPENERS = {"physics": (physics.WORDS["on_white"]["en"].rstrip(","), physics.WORDS["on_white"]["zh"].rstrip("，")),
           "scenes": (scenes.GLUE_EN["view"].split("{x}")[0].strip(), scenes.GLUE_ZH["view"].split("{x}")[0])}
