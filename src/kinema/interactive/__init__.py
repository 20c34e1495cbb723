"""Interactive world mode: steer a camera through a generated explore world, frame by frame, in real time on a CPU.

    model.py     PlayDiT (sliding-window causal DiT + actions), WindowCache, PRESETS, VAE_PRESETS (time_down = 1)
    session.py   PlayModel, Session (one player's KV cache, decoder cache and generator), rollout, reference_rollout
    data.py      explore walks with per-frame actions (the trainer's step-indexed data), action policies
    recipe.py    training objective and runs (VAE, PlayDiT), export to a model directory, load_play
    idm.py       closed-form inverse dynamics: which action turned frame a into frame b (plane sweep)
    evaluate.py  PSNR/SSIM by horizon, action following, loop closure, stability, repeat-last-frame baseline
    bench.py     frames per second and latency per frame, 1/2/4 steps, several sizes
    live.py      the terminal player (raw tty, ANSI half-block frames)

The CLI (kinema.cli.play) imports this package; nothing here imports the CLI.
"""
