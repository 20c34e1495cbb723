"""Shared fixtures."""

import json
from dataclasses import asdict, replace

import pytest
import torch


@pytest.fixture(scope="session")
def make_tiny_model(tmp_path_factory):
    """make_tiny_model(name, frames) -> an exported-model directory with a fresh tiny DiT and VAE (what
    Pipeline.from_pretrained loads), trained range 16x16 and `frames` frames."""
    def make(name: str, frames: int):
        from safetensors.torch import save_file

        from kinema.models.dit import PRESETS as DIT_PRESETS
        from kinema.models.dit import DiT
        from kinema.models.vae import PRESETS as VAE_PRESETS
        from kinema.models.vae import CausalVAE

        out = tmp_path_factory.mktemp(name)
        vae_cfg = VAE_PRESETS["tiny"]
        dit_cfg = replace(DIT_PRESETS["tiny"], latent_channels=vae_cfg.latent_channels)
        vae = CausalVAE(vae_cfg, generator=torch.Generator().manual_seed(0))
        save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, str(out / "vae.safetensors"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            dit = DiT(dit_cfg)
        save_file({k: v.contiguous() for k, v in dit.state_dict().items()}, str(out / "dit.safetensors"))
        config = {"kind": "pipeline", "name": name, "dit": asdict(dit_cfg), "vae": asdict(vae_cfg),
                  "text_encoder": "minilm", "flow": {}, "data": {"sizes": ["16x16"], "frames": [frames]}}
        (out / "config.json").write_text(json.dumps(config))
        return out
    return make
