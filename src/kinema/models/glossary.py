"""Chinese captions -> English captions, so an English text encoder can read them.

    g = ZhGlossary.from_worlds()
    g.translate("两个箱子在街道上快速向右移动。")  # "Two boxes move to the right quickly on the street."
    g.translate("一个蓝色墙壁、挂着红色画作的展厅")  # "An exhibition hall with blue walls and red paintings"

Longest-match segmentation over a phrase table (each entry: Chinese -> English words and a grammatical role), then a
few English word-order rules. Chinese puts adverbials before the verb, English after it (in reverse order: manner, then
place); "在 X 上" becomes "on X", "从 X 上" "off X"; "左边一个球" becomes "a ball on the left"; modifiers before 的 go
after their noun ("挡板后面的球": "the ball behind the screen", "蓝色墙壁的展厅": "the hall with blue walls", "展厅的墙":
"the wall of the hall"); "墙上有 Y" becomes "there is Y on the wall"; a count and its unit make an adverbial ("3秒":
"for 3 seconds"); counts pluralise nouns and verbs agree with their subject. It covers kinema's captions and prompts in
their style, not Chinese at large.

The table: BASE_TABLE below, the palette colours of kinema.worlds.base and, through `ZhGlossary.from_worlds()`, every
world's `GLOSSARY` (zh -> (english, role)) with the words of its own captions; a world's entries override the base's.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field

# ----------------------------------------------------------------------------------------------------------------------
# The phrase table
# ----------------------------------------------------------------------------------------------------------------------
# Each entry is zh -> (english, role). Roles drive the reassembly:
#   det "a" | num (counts) | mw measure word (dropped) | adj | noun | mass (noun without article) | verb (base form)
#   adv (adverbial, moved after its verb) | prep (opens a phrase closed by a noun phrase and maybe a loc; "with" makes
#   "with <things>") | loc (postposition) | place (said before its noun phrase, after it in English: "on the left")
#   unit (after a count, both make an adverbial: "秒": "for {} seconds", so 3秒 reads "for 3 seconds") | conj
#   part (particle, dropped) | punct | word (copied as is). Text outside the table is copied through unchanged.

ROLES = ("det", "num", "mw", "adj", "noun", "mass", "verb", "adv", "prep", "loc", "place", "unit", "conj", "part",
         "punct", "word")

_NUMS = "一二三四五六七八九十"
_NUM_EN = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

BASE_TABLE: dict[str, tuple[str, str]] = {
    **{zh: (en, "num") for zh, en in zip(_NUMS, _NUM_EN)}, "两": ("two", "num"), "几": ("several", "num"),
    **{m: ("", "mw") for m in "个只块根面堵幅条颗张座辆片"},
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
    "半径": ("radius", "noun"), "帧": ("frame", "noun"), "玩家": ("player", "noun"), "重力": ("gravity", "mass"),
    "大小": ("size", "noun"), "画面": ("scene", "noun"),
    "秒": ("for {} seconds", "unit"), "度": ("by {} degrees", "unit"), "次": ("{} times", "unit"),
    # colours (kinema.worlds.base.COLOR_ZH is merged in by ZhGlossary) and sizes
    "白色": ("white", "adj"), "灰色": ("grey", "adj"), "大": ("big", "adj"), "小": ("small", "adj"),
    "中等": ("medium", "adj"), "较大": ("larger", "adj"), "较小": ("smaller", "adj"), "静止": ("still", "adj"),
    # motion verbs
    "移动": ("move", "verb"), "运动": ("move", "verb"), "相撞": ("collide", "verb"), "碰撞": ("collide", "verb"),
    "落下": ("fall", "verb"), "下落": ("fall", "verb"), "掉落": ("fall", "verb"), "落下来": ("fall", "verb"),
    "掉下来": ("fall", "verb"), "滚动": ("roll", "verb"), "滚下": ("roll down", "verb"), "滚下来": ("roll down", "verb"),
    "滑下": ("slide down", "verb"), "滑下来": ("slide down", "verb"), "滑动": ("slide", "verb"),
    "弹起": ("bounce", "verb"), "反弹": ("bounce", "verb"), "弹开": ("bounce apart", "verb"),
    "停下": ("stop", "verb"), "停止": ("stop", "verb"), "撞到": ("hit", "verb"), "撞上": ("hit", "verb"),
    "撞击": ("hit", "verb"), "推动": ("push", "verb"), "挡住": ("block", "verb"), "遮挡": ("hide", "verb"),
    "经过": ("pass", "verb"), "穿过": ("pass through", "verb"), "出现": ("appear", "verb"), "出来": ("come out", "verb"),
    "消失": ("disappear", "verb"), "飞": ("fly", "verb"), "飞过": ("fly across", "verb"), "倒下": ("fall over", "verb"),
    "翻倒": ("topple over", "verb"), "摆动": ("swing", "verb"), "倾斜": ("tilt", "verb"), "离开": ("leave", "verb"),
    "开始": ("start", "verb"), "走": ("walk", "verb"), "行走": ("walk", "verb"), "转身": ("turn around", "verb"),
    "转": ("turn", "verb"), "左转": ("turn left", "verb"), "右转": ("turn right", "verb"), "平移": ("sidestep", "verb"),
    "后退": ("move back", "verb"), "向后退": ("move backward", "verb"), "停留": ("stay", "verb"),
    "看": ("look", "verb"), "有": ("have", "verb"), "是": ("be", "verb"), "保持": ("stay", "verb"),
    # directions, speeds and other adverbials
    "向左": ("to the left", "adv"), "向右": ("to the right", "adv"), "向上": ("upward", "adv"),
    "向下": ("downward", "adv"), "向前": ("forward", "adv"), "向后": ("backward", "adv"),
    "往左": ("to the left", "adv"), "往右": ("to the right", "adv"), "快速": ("quickly", "adv"),
    "快速地": ("quickly", "adv"), "迅速": ("quickly", "adv"), "缓慢": ("slowly", "adv"), "缓慢地": ("slowly", "adv"),
    "慢慢": ("slowly", "adv"), "慢慢地": ("slowly", "adv"), "匀速": ("at a constant speed", "adv"),
    "一起": ("together", "adv"), "又": ("again", "adv"), "再次": ("again", "adv"), "原地": ("in place", "adv"),
    "不动": ("still", "word"), "然后": ("then", "word"), "最后": ("finally", "word"), "之后": ("afterwards", "word"),
    # phrases, places, links
    "在": ("at", "prep"), "从": ("from", "prep"), "到": ("to", "prep"), "朝": ("towards", "prep"),
    "沿": ("along", "prep"), "沿着": ("along", "prep"), "上": ("on", "loc"), "里": ("in", "loc"), "中": ("in", "loc"),
    "下": ("under", "loc"), "下面": ("under", "loc"), "前面": ("in front of", "loc"), "后面": ("behind", "loc"),
    "后": ("behind", "loc"), "旁边": ("next to", "loc"), "上方": ("above", "loc"), "下方": ("below", "loc"),
    "左边": ("to the left of", "loc"), "右边": ("to the right of", "loc"),
    "和": ("and", "conj"), "与": ("and", "conj"), "并": ("and", "conj"), "并且": ("and", "conj"), "、": (",", "conj"),
    "一个": ("a", "det"), "这个": ("this", "det"), "那个": ("that", "det"), "每个": ("each", "det"),
    "它": ("it", "word"), "它们": ("they", "word"),
    **{p: ("", "part") for p in ("的", "地", "了", "着", "正在", "得", "被")},
    "，": (",", "punct"), "。": (".", "punct"), "；": (";", "punct"), "！": ("!", "punct"), "？": ("?", "punct"),
    "：": (":", "punct"),
}

# A preposition and the postposition closing its phrase read as one English preposition: 在 X 上 "on X", 从 X 上
# "off X", 从 X 里 "out of X", 从 X 后面 "from behind X".
PREP_LOC = {("from", "on"): "off", ("from", "in"): "out of"}
_SINGULAR = ("a", "an", "one", "1", "this", "that", "each")
_NUMBER = re.compile(r"\d+(\.\d+)?")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def has_cjk(text: str) -> bool:
    return _HAN.search(text) is not None


# ----------------------------------------------------------------------------------------------------------------------
# The translator: segmentation, then English reassembly clause by clause
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class Piece:
    zh: str
    en: str
    role: str  # one of ROLES, or "raw" for text outside the table


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
            if role not in ROLES:
                raise ValueError(f"role for {zh!r} must be one of {', '.join(ROLES)}, got {role!r}")
            self.table[zh] = (en, role)
        self._longest = max(len(k) for k in self.table)

    @classmethod
    def from_worlds(cls, extra: dict[str, str | tuple[str, str]] | None = None) -> ZhGlossary:
        """The base table, then every kinema world's `GLOSSARY` (zh -> (english, role)), then `extra`."""
        from kinema.worlds import WORLDS

        found: dict[str, str | tuple[str, str]] = {}
        for name in WORLDS:
            found.update(getattr(importlib.import_module(f"kinema.worlds.{name}"), "GLOSSARY", {}))
        return cls({**found, **(extra or {})})

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
            words = _clause(_combine(_chunk(clause)), state)
            if words:
                out.append(words)
            if p.en:
                out.append(p.en)
            clause = []
        s = re.sub(r"\s+([,.;:!?])", r"\1", " ".join(out)).strip()
        return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), s)


# ----------------------------------------------------------------------------------------------------------------------
# Noun phrases
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class _NP:
    lead: str | None = None  # determiner or count ("a", "two", "0.5"); None: "the" (nothing for a mass noun)
    adjs: list[str] = field(default_factory=list)  # adjectives; "," / "and" between coordinated ones
    nouns: list[str] = field(default_factory=list)
    mass: bool = False
    tail: list[str] = field(default_factory=list)  # said after the noun: places, "with ..." and "of ..." modifiers
    items: list[_NP] = field(default_factory=list)  # a coordinated list of noun phrases ...
    seps: list[str] = field(default_factory=list)  # ... and what joins them ("," or "and")

    @property
    def plural(self) -> bool:
        coordinated = any(a in (",", "and") for a in self.adjs)  # 红色和蓝色的球: the red and blue balls
        return bool(self.items) or coordinated or (self.lead is not None and self.lead not in _SINGULAR)

    @property
    def described(self) -> bool:  # has adjectives: before 的 it reads as "with ..." (蓝色墙壁的展厅)
        return any(i.described for i in self.items) if self.items else bool(self.adjs)

    def say(self, bare: bool = False) -> str:
        """"the red ball on the left", "two boxes". Bare (after "with", "there is"), a noun without a count is any
        number of them: "red balls"."""
        if self.items:
            return " ".join([_series([i.say(bare) for i in self.items], self.seps), *self.tail])
        lead, head = self.lead, " ".join(self.nouns)
        if head and not self.mass and (self.plural or bare and lead is None):
            head = _plural(head)
        body = " ".join(w for w in (_adjectives(self.adjs), head, *self.tail) if w)
        if lead == "one":
            lead = "a"
        if lead is None and self.nouns and not self.mass and not bare:
            lead = "the"
        if lead == "a" and body[:1] in "aeiou":
            lead = "an"
        return f"{lead} {body}".strip() if lead else body


def _adjectives(adjs: list[str]) -> str:
    """["purple", ",", "red", "and", "cyan"] -> "purple, red and cyan"; ["small", "red"] -> "small red"."""
    items, seps = [""], []
    for a in adjs:
        if a in (",", "and"):
            seps.append(a)
            items.append("")
        else:
            items[-1] = f"{items[-1]} {a}".strip()
    return _series(items, seps)


def _series(items: list[str], seps: list[str]) -> str:
    """Items joined by their separators, the last one "and" as English says it: "a, b and c"."""
    if seps and "and" not in seps:
        seps = [*seps[:-1], "and"]
    out = items[0]
    for sep, item in zip(seps, items[1:]):
        out += (", " if sep == "," else f" {sep} ") + item
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Reassembly: pieces -> phrases -> English word order
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class _Phrase:
    kind: str  # "np" | "adv" | "with" | "verb" | "prep" | "loc" | "place" | "conj" | "de" | "word"
    en: str = ""
    np: _NP | None = None


def _chunk(pieces: list[Piece]) -> list[_Phrase]:
    """Group pieces into noun phrases (count + adjectives + nouns) and one-piece phrases; 的 after a noun marks a
    modifier ("de")."""
    out: list[_Phrase] = []
    np: _NP | None = None

    def flush() -> None:
        nonlocal np
        if np is not None:
            words = " ".join(w for w in (np.lead, _adjectives(np.adjs)) if w)
            out.append(_Phrase("np", np=np) if np.nouns else _Phrase("word", words))
        np = None

    for k, p in enumerate(pieces):
        nxt = pieces[k + 1].role if k + 1 < len(pieces) else None
        count = p.role in ("det", "num") or (p.role == "raw" and _NUMBER.fullmatch(p.en) is not None)
        if count or p.role in ("adj", "noun", "mass"):
            if np is not None and (np.nouns and p.role not in ("noun", "mass") or count and np.lead):
                flush()  # a count or an adjective after the noun starts the next noun phrase
            np = np or _NP()
            if count:
                np.lead = p.en
            elif p.role == "adj":
                np.adjs.append(p.en)
            else:
                np.nouns.append(p.en)
                np.mass = p.role == "mass"
        elif p.role == "mw":
            continue
        elif p.role == "unit":  # 0.2秒: "for 0.2 seconds"
            if np is not None and np.lead and not np.nouns and not np.adjs:
                out.append(_Phrase("adv", p.en.format(np.lead)))
                np = None
            else:
                flush()
                out.append(_Phrase("word", " ".join(p.en.format("").split())))
        elif p.role == "conj" and np is not None and np.adjs and not np.nouns and nxt == "adj":
            np.adjs.append(p.en)  # coordinated adjectives: 红色和蓝色的球
        elif p.role == "part":  # dropped, but 的 after a noun or a place marks what comes before as a modifier
            if p.zh == "的" and nxt in ("det", "num", "adj", "noun", "mass") and (np is None or np.nouns):
                flush()
                if out and out[-1].kind in ("np", "loc"):
                    out.append(_Phrase("de"))
        else:
            flush()
            out.append(_Phrase(p.role if p.role in ("verb", "adv", "prep", "loc", "place", "conj") else "word", p.en))
    flush()
    return out


def _combine(ph: list[_Phrase]) -> list[_Phrase]:
    """Places join their noun phrase, noun phrases join into lists, prepositions and postpositions make adverbials,
    then modifiers before 的 join the noun after it."""
    return _modifiers(_adverbials(_coordinate(_places(ph))))


def _places(ph: list[_Phrase]) -> list[_Phrase]:
    """左边一个球 -> "a ball on the left"; a place without its noun phrase is an adverbial."""
    out: list[_Phrase] = []
    for p in ph:
        if p.kind == "np" and out and out[-1].kind == "place":
            p.np.tail.append(out.pop().en)
        out.append(p)
    return [_Phrase("adv", p.en) if p.kind == "place" else p for p in out]


def _coordinate(ph: list[_Phrase]) -> list[_Phrase]:
    """NP 和 NP、NP -> one plural noun phrase listing them."""
    out: list[_Phrase] = []
    for p in ph:
        if p.kind == "np" and len(out) >= 2 and out[-1].kind == "conj" and out[-2].kind == "np":
            sep, first = out.pop().en, out[-1].np
            if not first.items:
                first = out[-1].np = _NP(items=[first])
            first.items.append(p.np)
            first.seps.append(sep)
        else:
            out.append(p)
    return out


def _adverbials(ph: list[_Phrase]) -> list[_Phrase]:
    """prep NP [loc] -> "on the ramp", "off the floor", "with red paintings" (kind "with"); NP loc -> "on the wall"."""
    out: list[_Phrase] = []
    i = 0
    while i < len(ph):
        p, nxt = ph[i], ph[i + 1] if i + 1 < len(ph) else None
        loc = ph[i + 2].en if i + 2 < len(ph) and ph[i + 2].kind == "loc" else None
        if p.kind == "prep" and nxt is not None and nxt.kind == "np":
            if p.en == "with":  # right after a noun phrase it is that noun's: 房屋配着门 "houses with doors"
                with_ = nxt.np.say(bare=True)
                if out and out[-1].kind == "np":
                    out[-1].np.tail.append(f"with {with_}")
                else:
                    out.append(_Phrase("with", with_))
                i += 2
                continue
            prep = p.en if loc is None else loc if p.en == "at" else PREP_LOC.get((p.en, loc), f"{p.en} {loc}")
            out.append(_Phrase("adv", f"{prep} {nxt.np.say()}"))
            i += 2 if loc is None else 3
        elif p.kind == "np" and nxt is not None and nxt.kind == "loc":
            out.append(_Phrase("adv", f"{nxt.en} {p.np.say()}"))
            i += 2
        elif p.kind == "prep" and p.en == "at":  # 在 without its noun phrase: 在左边, 在移动 (is moving)
            i += 1
        else:
            out.append(p)
            i += 1
    return out


def _modifiers(ph: list[_Phrase]) -> list[_Phrase]:
    """M 的 H -> H and then M: places as they are ("the ball behind the screen"), described things and "有 X" as
    "with X" ("the hall with blue walls and red paintings"), other noun phrases as "of X" ("the wall of the hall")."""
    out: list[_Phrase] = []
    for p in ph:
        if not out or out[-1].kind != "de":
            out.append(p)
            continue
        out.pop()
        if p.kind != "np":
            out.append(p)
            continue
        run: list[_Phrase] = []  # the modifiers: everything back to the clause's last verb or word
        while out and out[-1].kind in ("np", "adv", "with", "conj"):
            run.insert(0, out.pop())
        while run and run[0].kind == "conj":
            out.append(run.pop(0))
        have = bool(run) and bool(out) and out[-1].kind == "verb" and out[-1].en == "have"
        if have:
            out.pop()
        head, withs, after = p.np, [], []
        for m in run:
            if m.kind == "with":
                withs.append(m.en)
            elif m.kind == "adv":
                after.append(m.en)
            elif m.kind == "np" and (have or m.np.described):
                if not withs and head.lead is None and m.np.lead in ("a", "one"):
                    head.lead, m.np.lead = m.np.lead, None  # 一个[蓝色墙壁]的展厅: the article is the hall's
                withs.append(m.np.say(bare=True))
            elif m.kind == "np":
                after.append(f"of {m.np.say()}")
        head.tail += ([f"with {_series(withs, [','] * (len(withs) - 1))}"] if withs else []) + after
        out.append(p)
    return [p for p in out if p.kind != "de"]


def _clause(phrases: list[_Phrase], state: dict) -> str:
    """English word order: adverbials after their verb (and its object), in reverse; verbs agree with the subject."""
    words: list[str] = []
    pending: list[str] = []  # adverbials waiting for their verb (Chinese puts them before it, English after)
    prev_verb = there = False
    for i, ph in enumerate(phrases):
        nxt = phrases[i + 1] if i + 1 < len(phrases) else None
        if ph.kind == "adv":
            pending.append(ph.en)
            continue
        if ph.kind == "verb":
            if ph.en == "have" and pending and _is_place(pending[-1]):  # 墙上有一幅画: there is a painting on the wall
                there = True
                some = nxt is not None and nxt.kind == "np" and (nxt.np.plural or not (nxt.np.lead or nxt.np.mass))
                words.append("there are" if some else "there is")
            else:
                words.append(("to " + ph.en) if prev_verb else _conjugate(ph.en, state["plural"]))
            prev_verb = True
            if nxt is None or nxt.kind != "np":  # else an object follows: the adverbials go after it
                after = pending[::-1]
                if after and ph.en.endswith((" down", " up")) and after[0].startswith("off "):
                    after[0] = after[0][4:]  # 从斜坡上滚下来: "rolls down the ramp", not "rolls down off the ramp"
                words.extend(after)
                pending = []
            continue
        if ph.kind == "np":
            if not prev_verb:
                state["plural"] = ph.np.plural
            words.append(ph.np.say(bare=there))
            there = False
            if prev_verb:
                words.extend(reversed(pending))
                pending = []
        else:
            words.append(f"with {ph.en}" if ph.kind == "with" else ph.en)
        prev_verb = False
    words.extend(reversed(pending))
    return " ".join(w for w in words if w)


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
