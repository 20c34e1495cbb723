"""Chinese captions -> English captions, so an English text encoder can read them.

    g = ZhGlossary.from_worlds()
    g.translate("两个箱子在街道上快速向右移动。")  # "Two boxes move to the right quickly on the street."

Longest-match segmentation over a phrase table (each entry: Chinese -> English words and a grammatical role), then a
few English word-order rules: adverbials that Chinese puts before the verb go after it (in reverse order: English says
manner, then place), "在 X 上" becomes "on X", "X 的 Y" becomes "Y of X", "墙上有 Y" becomes "there is Y on the wall",
counts pluralise nouns and verbs agree with their subject. It covers kinema's caption templates, not Chinese at large;
the worlds' own word dicts (`<NAME>_ZH`, english -> chinese) join the table through `ZhGlossary.from_worlds()`.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass

# ----------------------------------------------------------------------------------------------------------------------
# Chinese -> English glossary: longest-match segmentation over a phrase table, then English word order
# ----------------------------------------------------------------------------------------------------------------------
# Each entry is zh -> (english, role). Roles drive the reassembly:
#   det "a" | num (counts) | mw measure word (dropped) | adj | noun | mass (noun without article) | verb (base form)
#   adv (adverbial, moved after its verb) | prep (opens a phrase, closed by loc) | loc (postposition) | conj | part
#   (particle, dropped) | word (copied as is). Text outside the table is copied through unchanged.

_NUMS = "一二三四五六七八九十"
_NUM_EN = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

BASE_TABLE: dict[str, tuple[str, str]] = {
    **{zh: (en, "num") for zh, en in zip(_NUMS, _NUM_EN)}, "两": ("two", "num"), "几": ("several", "num"),
    **{m: ("", "mw") for m in "个只块根面堵幅条颗张座辆"},
    # kinds and scenes
    "球": ("ball", "noun"), "小球": ("ball", "noun"), "箱子": ("box", "noun"), "方块": ("box", "noun"),
    "三角块": ("triangle", "noun"), "三角形": ("triangle", "noun"), "斜坡": ("ramp", "noun"),
    "横杆": ("bar", "noun"), "墙": ("wall", "noun"), "墙壁": ("wall", "noun"), "挡板": ("screen", "noun"),
    "遮挡物": ("occluder", "noun"),
    "地面": ("ground", "noun"), "地板": ("floor", "noun"), "展厅": ("exhibition hall", "noun"),
    "花园": ("garden", "noun"), "街道": ("street", "noun"), "画": ("painting", "noun"), "柱子": ("pillar", "noun"),
    "房间": ("room", "noun"), "门": ("door", "noun"), "树": ("tree", "noun"), "走廊": ("corridor", "noun"),
    "镜头": ("camera", "noun"), "摄像机": ("camera", "noun"), "物体": ("object", "noun"), "背景": ("background", "noun"),
    "抛物线": ("parabola", "noun"), "直线": ("straight line", "noun"), "速度": ("speed", "noun"),
    "半径": ("radius", "noun"), "秒": ("second", "noun"), "帧": ("frame", "noun"), "玩家": ("player", "noun"),
    "重力": ("gravity", "mass"), "大小": ("size", "noun"), "画面": ("scene", "noun"),
    # colours (kinema.worlds.base.COLOR_ZH is merged in by ZhGlossary) and sizes
    "白色": ("white", "adj"), "灰色": ("gray", "adj"), "大": ("big", "adj"), "小": ("small", "adj"),
    "中等": ("medium", "adj"), "较大": ("larger", "adj"), "较小": ("smaller", "adj"), "静止": ("still", "adj"),
    # motion verbs
    "移动": ("move", "verb"), "运动": ("move", "verb"), "相撞": ("collide", "verb"), "碰撞": ("collide", "verb"),
    "落下": ("fall", "verb"), "下落": ("fall", "verb"), "掉落": ("fall", "verb"), "滚动": ("roll", "verb"),
    "滚下": ("roll down", "verb"), "滑下": ("slide down", "verb"), "滑动": ("slide", "verb"),
    "弹起": ("bounce", "verb"), "反弹": ("bounce", "verb"), "弹开": ("bounce apart", "verb"),
    "停下": ("stop", "verb"), "停止": ("stop", "verb"), "撞到": ("hit", "verb"), "撞上": ("hit", "verb"),
    "撞击": ("hit", "verb"), "推动": ("push", "verb"), "挡住": ("block", "verb"), "遮挡": ("hide", "verb"),
    "经过": ("pass", "verb"), "穿过": ("pass through", "verb"), "出现": ("appear", "verb"),
    "消失": ("disappear", "verb"), "飞": ("fly", "verb"), "飞过": ("fly across", "verb"), "倒下": ("fall over", "verb"),
    "开始": ("start", "verb"), "走": ("walk", "verb"), "行走": ("walk", "verb"), "转身": ("turn around", "verb"),
    "左转": ("turn left", "verb"), "右转": ("turn right", "verb"), "看": ("look", "verb"), "有": ("have", "verb"),
    "是": ("be", "verb"), "保持": ("stay", "verb"),
    # directions, speeds and other adverbials
    "向左": ("to the left", "adv"), "向右": ("to the right", "adv"), "向上": ("upward", "adv"),
    "向下": ("downward", "adv"), "向前": ("forward", "adv"), "向后": ("backward", "adv"),
    "往左": ("to the left", "adv"), "往右": ("to the right", "adv"), "快速": ("quickly", "adv"),
    "快速地": ("quickly", "adv"), "迅速": ("quickly", "adv"), "缓慢": ("slowly", "adv"), "缓慢地": ("slowly", "adv"),
    "慢慢": ("slowly", "adv"), "慢慢地": ("slowly", "adv"), "匀速": ("at a constant speed", "adv"),
    "一起": ("together", "adv"), "又": ("again", "adv"), "再次": ("again", "adv"), "然后": ("then", "word"),
    "最后": ("finally", "word"),
    "之后": ("afterwards", "word"),
    # phrases, places, links
    "在": ("at", "prep"), "从": ("from", "prep"), "到": ("to", "prep"), "朝": ("towards", "prep"),
    "沿": ("along", "prep"), "沿着": ("along", "prep"), "上": ("on", "loc"), "里": ("in", "loc"), "中": ("in", "loc"),
    "下面": ("under", "loc"), "前面": ("in front of", "loc"), "后面": ("behind", "loc"), "后": ("behind", "loc"),
    "旁边": ("next to", "loc"), "上方": ("above", "loc"), "下方": ("below", "loc"),
    "左边": ("to the left of", "loc"), "右边": ("to the right of", "loc"),
    "和": ("and", "conj"), "与": ("and", "conj"), "并": ("and", "conj"), "并且": ("and", "conj"),
    "一个": ("a", "det"), "这个": ("this", "det"), "那个": ("that", "det"), "每个": ("each", "det"),
    "它": ("it", "word"), "它们": ("they", "word"),
    **{p: ("", "part") for p in ("的", "地", "了", "着", "正在", "得")},
    "，": (",", "punct"), "。": (".", "punct"), "、": (",", "punct"), "；": (";", "punct"), "！": ("!", "punct"),
    "？": ("?", "punct"), "：": (":", "punct"),
}

# Role of a world's `<NAME>_ZH` dict, from the first word of its name (COLOR_ZH -> adj, KIND_ZH -> noun, ...).
ROLE_BY_DICT_PREFIX = {"COLOR": "adj", "SIZE": "adj", "KIND": "noun", "SHAPE": "noun", "OBJECT": "noun",
                       "SCENE": "noun", "PLACE": "noun", "THING": "noun", "DIRECTION": "adv", "DIR": "adv",
                       "SPEED": "adv", "VERB": "verb", "MOTION": "verb", "ACTION": "verb"}

# ----------------------------------------------------------------------------------------------------------------------
# Segmentation and English reassembly
# ----------------------------------------------------------------------------------------------------------------------

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ROLES = ("det", "num", "mw", "adj", "noun", "mass", "verb", "adv", "prep", "loc", "conj", "part", "punct", "word")


def has_cjk(text: str) -> bool:
    return _HAN.search(text) is not None


@dataclass
class Piece:
    zh: str
    en: str
    role: str  # one of _ROLES, or "raw" for text outside the table


@dataclass
class _Phrase:  # a noun phrase, an adverbial, a verb or a word, after chunking
    kind: str  # "np" | "adv" | "verb" | "loc" | "de" | "conj" | "word"
    en: str
    plural: bool = False


class ZhGlossary:
    """Chinese caption -> English caption, good enough that both embed close together.

    `extra` adds or overrides entries: zh -> (english, role), or zh -> english, which keeps the role of the entry it
    overrides (new words get role "word": copied in place, no reordering).
    """

    def __init__(self, extra: dict[str, str | tuple[str, str]] | None = None):
        from kinema.worlds.base import COLOR_ZH

        self.table: dict[str, tuple[str, str]] = dict(BASE_TABLE)
        self.table.update({zh: (en, "adj") for en, zh in COLOR_ZH.items()})
        for zh, v in (extra or {}).items():
            en, role = (v, self.table.get(zh, ("", "word"))[1]) if isinstance(v, str) else v
            if role not in _ROLES:
                raise ValueError(f"role for {zh!r} must be one of {', '.join(_ROLES)}, got {role!r}")
            self.table[zh] = (en, role)
        self._longest = max(len(k) for k in self.table)

    @classmethod
    def from_worlds(cls, extra: dict[str, str | tuple[str, str]] | None = None) -> ZhGlossary:
        """Add every module-level `<NAME>_ZH: dict[english, chinese]` of the kinema worlds (absent worlds skipped)."""
        from kinema.worlds import WORLDS

        found: dict[str, str | tuple[str, str]] = {}
        for name in ("base", *WORLDS):
            try:
                mod = importlib.import_module(f"kinema.worlds.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"kinema.worlds.{name}":
                    raise
                continue
            for attr, value in vars(mod).items():
                if attr.endswith("_ZH") and isinstance(value, dict):
                    role = ROLE_BY_DICT_PREFIX.get(attr.split("_")[0], "word")
                    found.update({zh: (en, role) for en, zh in value.items()
                                  if isinstance(en, str) and isinstance(zh, str)})
        return cls({**found, **(extra or {})})

    # ---- segmentation ------------------------------------------------------------------------------------------------

    def segment(self, text: str) -> list[Piece]:
        """Longest match over the table; runs of text outside it become "raw" pieces."""
        pieces: list[Piece] = []
        i = 0
        while i < len(text):
            for n in range(min(self._longest, len(text) - i), 0, -1):
                if text[i:i + n] in self.table:
                    en, role = self.table[text[i:i + n]]
                    pieces.append(Piece(text[i:i + n], en, role))
                    i += n
                    break
            else:
                if pieces and pieces[-1].role == "raw":
                    pieces[-1].zh += text[i]
                    pieces[-1].en += text[i]
                else:
                    pieces.append(Piece(text[i], text[i], "raw"))
                i += 1
        for p in pieces:
            if p.role == "raw":
                p.en = p.en.strip()
        return [p for p in pieces if p.role != "raw" or p.en]

    # ---- reassembly --------------------------------------------------------------------------------------------------

    def translate(self, text: str) -> str:
        if not has_cjk(text):
            return text
        out: list[str] = []
        state = {"plural": None}  # the last subject's number carries across the clauses of a caption
        clause: list[Piece] = []
        for p in self.segment(text) + [Piece("", "", "punct")]:
            if p.role != "punct":
                clause.append(p)
                continue
            words = self._clause(clause, state)
            if words:
                out.append(words)
            if p.en:
                out.append(p.en)
            clause = []
        s = re.sub(r"\s+([,.;:!?])", r"\1", " ".join(out)).strip()
        return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), s)

    def _clause(self, pieces: list[Piece], state: dict) -> str:
        phrases = _combine(_chunk(pieces))
        words: list[str] = []
        pending: list[str] = []  # adverbials waiting for their verb (Chinese puts them before it, English after)
        prev_verb = False
        for i, ph in enumerate(phrases):
            if ph.kind == "adv":
                pending.append(ph.en)
                continue
            if ph.kind == "verb":
                if ph.en == "have" and pending and _is_place(pending[-1]):  # 墙上有一幅画: there is a painting on the wall
                    obj = phrases[i + 1] if i + 1 < len(phrases) and phrases[i + 1].kind == "np" else None
                    words.append("there are" if obj is not None and obj.plural else "there is")
                    prev_verb = True
                    continue
                words.append(("to " + ph.en) if prev_verb else _conjugate(ph.en, state["plural"]))
                prev_verb = True
                if i + 1 < len(phrases) and phrases[i + 1].kind == "np":
                    continue  # an object follows: the adverbials go after it
                words.extend(reversed(pending))
                pending = []
                continue
            if ph.kind == "np" and not prev_verb:
                state["plural"] = ph.plural
            words.append(ph.en)
            if ph.kind == "np" and prev_verb:
                words.extend(reversed(pending))
                pending = []
            prev_verb = prev_verb and ph.kind == "verb"
        words.extend(reversed(pending))
        return " ".join(w for w in words if w)


def _chunk(pieces: list[Piece]) -> list[_Phrase]:
    """Group pieces into noun phrases (det/count + adjectives + nouns) and single-piece phrases."""
    out: list[_Phrase] = []
    np_words: list[str] = []
    lead, has_noun, mass = None, False, False  # lead: the determiner or count word of the phrase being built

    def flush() -> None:
        nonlocal np_words, lead, has_noun, mass
        if np_words or lead:
            plural = lead is not None and lead not in ("a", "one", "1", "this", "that", "each")
            words = list(np_words)
            if plural and has_noun:
                words[-1] = _plural(words[-1])
            first = "a" if lead == "one" else lead
            if first is None and has_noun and not mass:
                first = "the"
            if first == "a" and words and words[0][:1] in "aeiou":
                first = "an"
            out.append(_Phrase("np" if has_noun else "word", " ".join(([first] if first else []) + words), plural))
        np_words, lead, has_noun, mass = [], None, False, False

    for k, p in enumerate(pieces):
        nxt = pieces[k + 1].role if k + 1 < len(pieces) else None
        is_count = p.role in ("det", "num") or (p.role == "raw" and p.en.isdigit())
        if (is_count or p.role == "adj") and has_noun:
            flush()
        if is_count:
            lead = p.en
        elif p.role == "adj":
            np_words.append(p.en)
        elif p.role in ("noun", "mass"):
            np_words.append(p.en)
            has_noun, mass = True, p.role == "mass"
        elif p.role == "mw":
            continue
        elif p.role == "part":
            if p.zh != "的" or nxt not in ("det", "num", "adj", "noun", "mass"):
                continue
            if has_noun:
                flush()
            if out and out[-1].kind in ("np", "loc") and not np_words and lead is None:
                out.append(_Phrase("de", ""))  # a modifier phrase before 的 goes after the head noun
        else:
            flush()
            out.append(_Phrase(p.role if p.role in ("verb", "adv", "loc", "conj", "prep") else "word", p.en))
    flush()
    return out


def _combine(ph: list[_Phrase]) -> list[_Phrase]:
    """prep NP loc -> adverbial ("on the ramp"); NP loc 的 NP -> "NP on NP"; NP 的 NP -> "NP of NP"; NP and NP."""
    out: list[_Phrase] = []
    i = 0
    while i < len(ph):
        p = ph[i]
        if p.kind == "prep" and i + 1 < len(ph) and ph[i + 1].kind == "np":
            has_loc = i + 2 < len(ph) and ph[i + 2].kind == "loc"
            lead = ph[i + 2].en if has_loc and p.en == "at" else p.en
            out.append(_Phrase("adv", f"{lead} {ph[i + 1].en}"))
            i += 3 if has_loc else 2
        elif p.kind == "np" and i + 1 < len(ph) and ph[i + 1].kind == "loc":
            out.append(_Phrase("adv", f"{ph[i + 1].en} {p.en}"))
            i += 2
        else:
            out.append(p)
            i += 1
    merged: list[_Phrase] = []
    for p in out:  # modifiers before 的 attach after the head noun; "and" joins noun phrases
        if merged and p.kind == "np" and merged[-1].kind == "de" and len(merged) >= 2:
            mod = merged[-2]
            text = f"{p.en} {mod.en}" if mod.kind == "adv" else f"{p.en} of {mod.en}"
            merged[-2:] = [_Phrase("np", text, p.plural)]
        elif merged and p.kind == "np" and merged[-1].kind == "conj" and len(merged) >= 2 and merged[-2].kind == "np":
            merged[-3:] = [_Phrase("np", f"{merged[-2].en} and {p.en}", True)]
        else:
            merged.append(p)
    return [p if p.kind != "de" else _Phrase("word", "") for p in merged]


def _is_place(adv: str) -> bool:
    return adv.split(" ")[0] in ("on", "in", "under", "behind", "next", "at") or adv.startswith("in front")


def _plural(word: str) -> str:
    head, _, last = word.rpartition(" ")
    if last.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}".strip()


def _conjugate(verb: str, plural: bool | None) -> str:
    """Base form -> present tense for a singular subject ("slide down" -> "slides down"); plural/none keeps the base."""
    first, _, rest = verb.partition(" ")
    if first == "be":
        first = "are" if plural else "is"
    elif plural is False and first == "have":
        first = "has"
    elif plural is False and not (first.endswith("s") and not first.endswith("ss")):
        first = _plural(first)  # same spelling rules as nouns: pass -> passes, fly -> flies
    return f"{first} {rest}".strip()
