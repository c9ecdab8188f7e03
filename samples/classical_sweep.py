"""Contact sheet of the classical (weight-free) renderer: one parameter per row, swept left to right.

    python samples/classical_sweep.py [--image PORTRAIT] [--out FILE.png] [--tile 160]

Without ``--image`` it uses ``skimage.data.astronaut()`` (needs scikit-image); ``--out`` defaults to the
repository's ``docs/img/classical_sweep.png`` wherever the script is run from. Each row sweeps one
FaceParams field (or a pair) from its rest value to its extreme, rendered on
a 512² face crop, zoomed on the face and shrunk to ``--tile`` pixels; the
row's label is drawn on its first tile; the sheet is saved as a 256-colour PNG.
Also prints the mean render time per frame.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pyavatar.face.params import FaceParams
from pyavatar.render.classical import ClassicalRenderer

# (label, {field: value at the far end of the sweep})
ROWS = [
    ("jaw_open 0..1", {"jaw_open": 1.0}),
    ("blink 0..1", {"blink_left": 1.0, "blink_right": 1.0}),
    ("head_yaw -25..25", {"head_yaw": 25.0}),
    ("head_pitch -15..15", {"head_pitch": 15.0}),
    ("smile 0..1", {"smile_left": 1.0, "smile_right": 1.0}),
    ("mouth_round 0..1", {"mouth_round": 1.0}),
    ("brow down..up", {"brow_up_left": 1.0, "brow_up_right": 1.0}),
    ("gaze_yaw -35..35", {"gaze_yaw": 35.0}),
]
SYMMETRIC = {"head_yaw -25..25", "head_pitch -15..15", "gaze_yaw -35..35", "brow down..up"}
ZOOM = 0.7  # fraction of the 512² frame (centred on the face) shown in each tile


def sweep(ends: dict[str, float], steps: int, symmetric: bool) -> FaceParams:
    """``steps`` frames from rest to ``ends`` (or from −ends to +ends; brows go from down to up)."""
    t = np.linspace(-1.0, 1.0, steps) if symmetric else np.linspace(0.0, 1.0, steps)
    fields = {k: v * t for k, v in ends.items()}
    if "brow_up_left" in ends:  # negative half of the brow sweep: brows down
        fields = {k: np.clip(v * t, 0, None) for k, v in ends.items()} | {"brow_down": np.clip(-t, 0, None)}
    return FaceParams.from_fields(**fields)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", help="portrait file (default: scikit-image's astronaut)")
    ap.add_argument(
        "--out",
        default=str(Path(__file__).resolve().parents[1] / "docs" / "img" / "classical_sweep.png"),
        help="PNG to write (default: the repository's docs/img/classical_sweep.png)",
    )
    ap.add_argument("--tile", type=int, default=160, help="tile side in pixels")
    ap.add_argument("--steps", type=int, default=5, help="tiles per row")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.image:
        image: object = args.image
    else:
        try:
            from skimage.data import astronaut
        except ImportError:
            raise SystemExit(
                "the default portrait is scikit-image's astronaut: `pip install scikit-image`, or pass --image PORTRAIT"
            ) from None
        image = astronaut()
    renderer = ClassicalRenderer(output="crop", threads=args.threads)
    prepared = renderer.prepare(image)
    rows, times = [], []
    for label, ends in ROWS:
        params = sweep(ends, args.steps, label in SYMMETRIC)
        start = time.perf_counter()
        frames = renderer.render_params(prepared, params)
        times.append((time.perf_counter() - start) / len(params))
        side = frames.shape[1]
        lo, hi = int(side * (1 - ZOOM) / 2), int(side * (1 + ZOOM) / 2)
        tiles = [cv2.resize(f[lo:hi, lo:hi], (args.tile, args.tile), interpolation=cv2.INTER_AREA) for f in frames]
        cv2.putText(tiles[0], label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(tiles[0], label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(np.concatenate(tiles, axis=1))
    sheet = np.concatenate(rows, axis=0)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)
    print(
        f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]}, {out.stat().st_size / 1024:.0f} KB); "
        f"{1000 * float(np.mean(times)):.1f} ms per 512² frame on {args.threads} threads"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
