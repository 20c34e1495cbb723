"""kinema.flow: flow matching in three small files.

    path.py       the one time convention (t = 1 noise, t = 0 data), interpolation and velocity targets
    timesteps.py  logit-normal training times, resolution/duration-dependent shift, sampling schedules
    samplers.py   Euler and Heun with classifier-free guidance and clean context frames, as pure functions
"""

from kinema.flow.path import (DATA_T, NOISE_T, eps_from_velocity, expand_t, interpolate, target_velocity,
                              x0_from_velocity)
from kinema.flow.samplers import (SAMPLERS, cat_conds, guided_velocity, noise_like, sample, sample_euler,
                                  sample_heun)
from kinema.flow.timesteps import apply_shift, logit_normal, sampling_schedule, shift_for

__all__ = ["DATA_T", "NOISE_T", "SAMPLERS", "apply_shift", "cat_conds", "eps_from_velocity", "expand_t",
           "guided_velocity", "interpolate", "logit_normal", "noise_like", "sample", "sample_euler", "sample_heun",
           "sampling_schedule", "shift_for", "target_velocity", "x0_from_velocity"]
