#!/usr/bin/env bash
# Remakes every file in docs/gallery with the shipped model (kinema-physics). Run from the repo root:
#   bash docs/gallery/make_gallery.sh
# Each capability is one CLI command; the GIFs are what it wrote, film strips (*.png) show 8 frames of each.
set -euo pipefail
K=${KINEMA:-.venv/bin/kinema}
G=docs/gallery
T=$(mktemp -d)
time_it() { local t0=$(date +%s%N); "$@"; echo "  took $(( ($(date +%s%N) - t0) / 1000000 )) ms"; }

# inputs: ground-truth world clips (evaluation seeds, never trained on)
$K worlds render physics/collision -o $T/collision.mp4 --seed 10000003 --frames 33 --size 64x64
$K worlds render physics/uniform -o $T/uniform.mp4 --seed 10000001 --frames 33 --size 64x64
$K worlds render physics/parabola -o $T/parabola.mp4 --seed 10000002 --frames 33 --size 64x64
$K worlds render physics/uniform -o $T/still.png --seed 10000005 --frames 1 --size 64x64

time_it $K generate "a red ball moves to the right" -o $G/t2v_en.gif --frames 33 --seed 1
time_it $K generate "两个球相撞" -o $G/t2v_zh.gif --frames 33 --seed 2
time_it $K generate "a green ball falls" -o $G/t2v_wide.gif --frames 17 --size 112x64 --seed 3
time_it $K generate "a blue ball moves up" -o $G/t2v_tall.gif --frames 17 --size 64x112 --seed 4
time_it $K generate "a red ball" -o $G/t2i.png --frames 1 --seed 5
time_it $K animate $T/still.png -o $G/animate.gif --frames 33 --seed 6
time_it $K extend $T/collision.mp4 -o $G/extend.gif --context-frames 3 --frames 33 --seed 7
time_it $K extend $T/uniform.mp4 -o $G/extend_backward.gif --backward --context-frames 3 --frames 33 --seed 8
time_it $K connect $T/uniform.mp4 $T/parabola.mp4 -o $G/connect.gif --frames 17 --seed 9
time_it $K generate "a yellow ball moves to the left" -o $G/loop.gif --frames 33 --loop --seed 10
time_it $K edit $T/uniform.mp4 -o $G/edit.gif --prompt "a blue ball moves to the right" --strength 0.7 --seed 11
time_it $K extend $T/parabola.mp4 -o $G/long_60s.mp4 --context-frames 3 --frames 600 --seed 12
time_it $K play --actions "W W W W A A A W W W D D D W W W W . . S S" -o $G/play_compare.gif --compare --seed 3

.venv/bin/python - "$G" "$T" <<'PY'
import sys
from pathlib import Path
from kinema.cli.demo import film_strips
from kinema.video import read_video, write_video
g, t = Path(sys.argv[1]), Path(sys.argv[2])
for f in sorted(g.glob("*.gif")) + [g / "long_60s.mp4"]:
    v, _ = read_video(f)
    write_video(g / f"{f.stem}_strip.png", film_strips([v], [f.stem])[None], 1.0)
    print(f"{f.name}: {len(v)} frames")
PY
rm -rf "$T"
