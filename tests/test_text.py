"""Text encoders: our torch MiniLM against sentence-transformers, the cache, Chinese prompts through the glossary
(the glossary itself: test_glossary.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kinema.models.text import (MiniLMEncoder, MultilingualEncoder, TextEmbedding, TextEncoder, ZhGlossary,
                                load_text_encoder, minilm_dir)

PROMPTS = ["A red ball moves to the right.",
           "Two balls collide on a white background, then bounce apart.",
           "camera",
           "The camera walks forward through an exhibition hall with paintings on the walls and a pillar."]

PAIRS = [("一个红色的球向右移动。", "A red ball moves to the right."),
         ("蓝色的箱子从斜坡上滑下。", "The blue box slides down the ramp."),
         ("两个球相撞。", "Two balls collide."),
         ("绿色的球和黄色的球相撞，然后弹开。", "The green ball and the yellow ball collide, then bounce apart."),
         ("一个紫色的三角块向左缓慢移动。", "A purple triangle moves slowly to the left."),
         ("一个大的橙色球落下并弹起。", "A big orange ball falls and bounces."),
         ("镜头在展厅里向前移动。", "The camera moves forward in the exhibition hall."),
         ("墙上有一幅画。", "There is a painting on the wall."),
         ("黑色的横杆挡住了青色的球。", "The black bar blocks the cyan ball."),
         ("一个红色的球在白色背景上沿抛物线运动。", "A red ball moves along a parabola on a white background."),
         ("挡板后面的球又出现了。", "The ball behind the screen appears again."),
         ("两个箱子在街道上快速向右移动。", "Two boxes move quickly to the right along the street.")]


@pytest.fixture(scope="module")
def enc():
    torch.set_num_threads(1)
    return MiniLMEncoder()


def cos(a, b):
    return (a * b).sum(-1)  # pooled vectors are unit length


# ---- the exact oracle: sentence-transformers on the same files -----------------------------------------------------


def test_matches_sentence_transformers(enc, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(minilm_dir()), device="cpu")
    ref_tokens = st.encode(PROMPTS, output_value="token_embeddings", convert_to_tensor=False)
    ref_pooled = st.encode(PROMPTS, convert_to_tensor=True)
    got = enc.encode(PROMPTS)
    assert got.tokens.dtype == torch.float32 and got.tokens.shape == (4, max(len(t) for t in ref_tokens), 384)
    for i, ref in enumerate(ref_tokens):
        n = ref.shape[0]
        assert got.mask[i].sum() == n and got.mask[i, :n].all()
        torch.testing.assert_close(got.tokens[i, :n], ref, atol=1e-4, rtol=0)
        assert (got.tokens[i, n:] == 0).all()  # padded rows are exactly zero
    torch.testing.assert_close(got.pooled, ref_pooled, atol=1e-4, rtol=0)
    torch.testing.assert_close(got.pooled.norm(dim=-1), torch.ones(4))


def test_transformers_is_never_imported():
    code = ("import sys; from kinema.models.text import load_text_encoder; "
            "load_text_encoder('minilm+zh').encode(['a', '一个球']); "
            "assert 'transformers' not in sys.modules and 'sentence_transformers' not in sys.modules")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_batch_does_not_change_a_prompt(enc):
    alone = enc._encode_uncached(["camera"])["camera"]
    batched = enc._encode_uncached(["camera", PROMPTS[3]])["camera"]
    torch.testing.assert_close(alone[0], batched[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(alone[1], batched[1], atol=1e-5, rtol=0)


# ---- cache ---------------------------------------------------------------------------------------------------------


def test_cache_hits_skip_the_model_and_are_not_aliased(enc, monkeypatch):
    enc.clear_cache()
    first = enc.encode(["a ball", "a box", "a ball"])
    torch.testing.assert_close(first.tokens[0], first.tokens[2], atol=0, rtol=0)
    assert enc.cached() == ["a box", "a ball"]  # least recently used first
    first.tokens.zero_()  # callers may do what they like with their tensors

    def boom(_):
        raise AssertionError("cache miss")

    monkeypatch.setattr(enc, "_encode_uncached", boom)
    again = enc.encode(["a ball", "a box"])
    assert again.tokens.abs().sum() > 0
    assert enc.cached() == ["a ball", "a box"]


def test_lru_evicts_the_oldest():
    small = MiniLMEncoder(cache_size=2)
    small.encode(["one"])
    small.encode(["two"])
    small.encode(["one"])  # "one" is now the most recent
    small.encode(["three"])
    assert small.cached() == ["one", "three"]


def test_cache_file_round_trip(enc, tmp_path, monkeypatch):
    enc.clear_cache()
    want = enc.encode(PROMPTS)
    assert enc.save_cache(tmp_path / "captions.safetensors") == len(PROMPTS)
    enc.clear_cache()
    assert enc.load_cache(tmp_path / "captions.safetensors") == len(PROMPTS)
    monkeypatch.setattr(enc, "_encode_uncached", lambda _: pytest.fail("cache miss"))
    got = enc.encode(PROMPTS)
    for a, b in ((got.tokens, want.tokens), (got.mask, want.mask), (got.pooled, want.pooled)):
        assert torch.equal(a, b)
    other = MiniLMEncoder(max_length=16)
    with pytest.raises(ValueError, match="max_length"):
        other.load_cache(tmp_path / "captions.safetensors")


def test_embedding_cat_pads_tokens(enc):
    a, b = enc.encode(["camera"]), enc.encode([PROMPTS[1]])
    ab = a.cat(b)
    assert ab.tokens.shape == (2, b.tokens.shape[1], 384) and ab.mask.sum(1).tolist() == [3, b.mask.sum().item()]
    assert (ab.tokens[0, 3:] == 0).all() and torch.equal(ab.pooled, torch.cat([a.pooled, b.pooled]))


def test_bad_input(enc, tmp_path):
    with pytest.raises(ValueError, match="list of strings"):
        enc.encode("a single string")
    with pytest.raises(ValueError, match="max_length"):
        MiniLMEncoder(max_length=1000)
    with pytest.raises(ValueError, match="unknown text encoder"):
        load_text_encoder("clip")
    with pytest.raises(ValueError, match="not found or has no config.json"):
        load_text_encoder(str(tmp_path / "no-such-t5"))


# ---- Chinese through the glossary (the translator itself: test_glossary.py) -------------------------------------


def test_translated_captions_embed_close_to_english(enc):
    zh = MultilingualEncoder(enc, ZhGlossary.from_worlds())
    en = enc.encode([e for _, e in PAIRS]).pooled
    translated = cos(zh.encode([z for z, _ in PAIRS]).pooled, en)
    raw = cos(enc.encode([z for z, _ in PAIRS]).pooled, en)
    print("\ncosine to English: translated", [round(x, 3) for x in translated.tolist()],
          "\n                   raw zh    ", [round(x, 3) for x in raw.tolist()])
    assert (translated > 0.8).all(), translated
    assert raw.max() < 0.5 and raw.mean() < 0.3, raw  # MiniLM's vocabulary is English: raw Chinese is mostly [UNK]
    assert (translated - raw).min() > 0.5


def test_loader_and_protocol(enc):
    zh = load_text_encoder("minilm+zh")
    assert isinstance(zh, MultilingualEncoder) and isinstance(zh, TextEncoder) and isinstance(enc, TextEncoder)
    assert zh.dim == enc.dim == 384
    assert zh.translate("两个球相撞。") == "Two balls collide."
    out = zh.encode(["两个球相撞。"])
    assert isinstance(out, TextEmbedding)
    torch.testing.assert_close(out.pooled, enc.encode(["Two balls collide."]).pooled, atol=1e-5, rtol=0)
