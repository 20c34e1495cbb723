"""The Chinese glossary (kinema.models.glossary): prompts in the worlds' style, extension, and the worlds' real captions
translated and embedded next to their English."""

import re
import sys
import types

import pytest
import torch

from kinema.models.glossary import ROLES, ZhGlossary, has_cjk
from kinema.models.text import MiniLMEncoder
from kinema.worlds import WORLDS, explore, physics, scenarios, scenes, world_module
from kinema.worlds.base import PALETTE


@pytest.fixture(scope="module")
def enc():
    torch.set_num_threads(1)
    return MiniLMEncoder()


# ---- prompts --------------------------------------------------------------------------------------------------------


def test_translations_read_as_english():
    g = ZhGlossary.from_worlds()
    assert g.translate("一个红色的球向右移动。") == "A red ball moves to the right."
    assert g.translate("绿色的球和黄色的球相撞，然后弹开。") == \
        "The green ball and the yellow ball collide, then bounce apart."
    assert g.translate("墙上有一幅画。") == "There is a painting on the wall."
    assert g.translate("挡板后面的球又出现了。") == "The ball behind the screen appears again."
    # prompts in the style of the worlds' captions
    assert g.translate("两个球相撞") == "Two balls collide"
    assert g.translate("红色的球从斜坡上滚下来") == "The red ball rolls down the ramp"
    assert g.translate("一个蓝色墙壁、挂着红色画作的展厅") == "An exhibition hall with blue walls and red paintings"
    assert g.translate("左边一个灰色的斜坡和右边两块红色的骨牌") == \
        "A grey ramp on the left and two red dominos on the right"
    assert g.translate("红色和蓝色的球从灰色的地面上弹起两次。") == "The red and blue balls bounce off the grey floor twice."
    assert g.translate("镜头向前走1.5秒，然后向左转90度") == \
        "The camera walks forward for 1.5 s, then turns to the left by 90 degrees"
    assert g.translate("already english") == "already english"
    assert has_cjk("球") and not has_cjk("ball, 3.5 m/s")


def test_glossary_is_extendable(monkeypatch):
    g = ZhGlossary({"六边形": ("hexagon", "noun"), "蓝色": "navy"})
    assert g.translate("一个蓝色的六边形向右移动。") == "A navy hexagon moves to the right."
    with pytest.raises(ValueError, match="role"):
        ZhGlossary({"六边形": ("hexagon", "shape")})
    fake = types.ModuleType("kinema.worlds.physics")  # a world's GLOSSARY: chinese -> (english, role)
    fake.GLOSSARY = {"六边形": ("hexagon", "noun"), "旋转": ("spin", "verb")}
    monkeypatch.setitem(sys.modules, "kinema.worlds.physics", fake)
    g = ZhGlossary.from_worlds()
    assert g.translate("两个六边形旋转。") == "Two hexagons spin."
    assert g.translate("一个六边形旋转。") == "A hexagon spins."


# ---- the worlds' real captions -------------------------------------------------------------------------------------

COLORS = (*PALETTE, "grey", "white", "brown")
KINDS = (physics.WORDS["ball"]["en"], *(en for en, _ in scenes.KIND_EN.values()), *explore.THING_WORDS,
         "exhibition hall", "garden", "street", "flower", "sky")
DIRECTIONS = ("left", "right", "forward", "backward")


def _real_captions() -> list[tuple[str, dict]]:
    """60 samples: every scenario of every world, tiny frames (captions do not depend on the pixels' size much)."""
    out = []
    for world in WORLDS:
        names = scenarios(world)
        seeds = range(2) if world == "scenes" else range(4)
        for name in names:
            for seed in seeds:
                kw = {"seed": seed, "width": 16, "height": 16, "frames": 16, "fps": 5.0, "ood": seed % 2 == 1}
                if world == "explore" and seed == 3:
                    kw["frames"] = 1  # the still view has its own sentence
                out.append((f"{world}/{name}/{seed}", world_module(world).render(name, **kw).caption))
    return out


def _says(word: str, text: str) -> bool:
    return re.search(rf"\b{word}(e?s)?\b", text, re.IGNORECASE) is not None


def test_world_glossaries_agree():
    seen: dict[str, tuple[str, tuple[str, str]]] = {}
    for world in WORLDS:
        for zh, (en, role) in world_module(world).GLOSSARY.items():
            assert role in ROLES and has_cjk(zh), (world, zh, role)
            other = seen.setdefault(zh, (world, (en, role)))
            assert other[1] == (en, role), f"{world} and {other[0]} read {zh!r} differently: {(en, role)}, {other[1]}"


def test_real_captions_translate_close_to_english(enc):
    g = ZhGlossary.from_worlds()
    rows = [(name, form, cap["en"][form], g.translate(cap["zh"][form]))
            for name, cap in _real_captions() for form in ("short", "detailed")]
    assert len(rows) == 120
    for name, form, en, tr in rows:
        assert not has_cjk(tr), (name, form, tr)  # every word of every world's Chinese is in the table
        if form == "short":  # what the model must get right: colours, kinds, directions
            for w in (*COLORS, *KINDS, *DIRECTIONS):
                assert _says(w, tr) or not _says(w, en), (name, w, en, tr)
    texts = sorted({t for row in rows for t in row[2:]}, key=len)  # similar lengths batch with little padding
    pooled = dict(zip(texts, enc.encode(texts).pooled))
    cos = torch.stack([pooled[en] @ pooled[tr] for _, _, en, tr in rows])
    for form in ("short", "detailed"):
        c = cos[[i for i, row in enumerate(rows) if row[1] == form]]
        print(f"\n{form}: cosine(translate(zh), en) over {len(c)} captions: mean {c.mean():.3f}, min {c.min():.3f}, "
              f"quartiles {[round(q, 3) for q in c.quantile(torch.tensor([0.25, 0.5, 0.75])).tolist()]}")
    worst = int(cos.argmin())
    print("worst:", rows[worst][0], rows[worst][1], "|", rows[worst][2], "|", rows[worst][3])
    assert cos.mean() > 0.95 and cos.min() > 0.85, cos
