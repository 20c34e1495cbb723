"""The run behind kinema-explore-guidance-interval-2026-12-05.md (session 13), re-runnable:

    python docs/eval/candidates/kinema-explore-guidance-interval-2026-12-05.py G1 G2 [kinema eval play arguments]

e.g. `... 3 1 --model src/kinema/assets/kinema-explore -n 6 --frames 129 --idm-worlds 0 --seed 0 --out DIR`.

Action guidance per sampling step, an experiment and not a play option: the first Euler step of each new frame (from
t = 1, where the frame's layout and motion are decided) uses guidance G1, the later steps G2 (a guidance interval, as
Kynkaenniemi et al. 2024, arXiv 2404.07724, apply text guidance only over part of the noise levels). It replaces
kinema.interactive.session.velocity for the run and then runs `kinema eval play` with the given arguments; the
model's own action guidance must be != 1 (the guided batch-2 forward is what gets re-weighted).
"""

from __future__ import annotations

import sys

import torch

from kinema.interactive import session as S

G1, G2 = float(sys.argv[1]), float(sys.argv[2])
_plain = S.velocity


def velocity(forward, x, t, cond, guidance, cache=None):
    """S.velocity with the guidance chosen by the step: G1 while a noisy frame is at t = 1, else G2."""
    if guidance == 1.0:
        return _plain(forward, x, t, cond, guidance, cache)
    noisy = t[cond.mask == 0]  # times of the frames being made (context frames have mask 1)
    g = G1 if noisy.numel() and float(noisy.max()) >= 0.999 else G2
    B = x.shape[0]
    null = torch.where(cond.mask.bool(), cond.actions, S.NULL_ACTION)
    two = S.cat_conds(cond, S.replace(cond, actions=null))
    v = forward(torch.cat([x, x]), torch.cat([t, t]), two, cache).float()  # (2B, C, T, h, w)
    return v[B:] + g * (v[:B] - v[B:])


if __name__ == "__main__":
    S.velocity = velocity  # advance() and Session look it up at call time
    from kinema.cli import main

    sys.exit(main(["eval", "play", *sys.argv[3:]]))
