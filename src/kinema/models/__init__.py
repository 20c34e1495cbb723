"""kinema.models: the networks. ``vae`` (causal video VAE, the video compression network), ``dit`` and ``layers``
(the spacetime Diffusion Transformer), ``text`` (text encoders). Import the submodule you need; nothing is
re-exported."""
