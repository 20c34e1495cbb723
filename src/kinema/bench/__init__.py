"""`kinema bench`: measured numbers for kinema on the machine it runs on, each naming the machine and the command.

    machine.py   what this machine is (CPU model, cores, the ISA flags that decide bf16 speed) and how to report
    peak.py      fp32 / bf16 matmul peak and bf16 attention throughput: the denominator of every MFU
    train.py     one DiT training step (flow-matching loss, backward, AdamW), optionally beside diffusers' CogVideoX
    peer.py      diffusers' CogVideoX at a configuration matched to a kinema DiT (diffusers imported lazily)
    sample.py    one clip end to end through kinema.pipeline.Pipeline, split into its stages, against steps
    scaling.py   one DiT forward and one denoising step against the token count, with a fitted exponent

Absolute times do not transfer between machines; ratios measured in the same process (interleaved) do better.
"""
