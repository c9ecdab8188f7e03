"""Animate a portrait with the neural (LivePortrait-compatible) renderer and paste it back.

    python samples/render_neural.py --weights DIR [--image PHOTO] [--crop X,Y,W,H] [--out DIR]

DIR holds the released LivePortrait files (``*.pth`` or converted ``*.safetensors``).
Without ``--weights`` the sample runs the same pipeline on a small model with
RANDOM weights (the animation is noise; it shows that preparation, rendering
and paste-back work on an image of any size). Without ``--image`` it uses
``skimage.data.astronaut()`` placed on a larger canvas. Writes PNG frames and
an animated GIF of a head turn.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pyavatar.render import LivePortraitConfig, LivePortraitModels, Motion, NeuralRenderer, load_liveportrait


def default_image() -> np.ndarray:
    """The scikit-image astronaut on a 960×720 canvas (so the output is larger than the crop)."""
    from skimage import data

    canvas = np.full((720, 960, 3), 60, np.uint8)
    canvas[104:616, 300:812] = data.astronaut()
    return canvas


def head_turn(source_degrees: torch.Tensor, source: Motion, frames: int) -> Motion:
    """Yaw ±15° and a small nod around the source pose, keeping its expression."""
    phase = torch.arange(frames, dtype=torch.float32) / frames * 2 * math.pi
    pitch = source_degrees[:, 0] + 5 * torch.sin(2 * phase)
    yaw = source_degrees[:, 1] + 15 * torch.sin(phase)
    roll = source_degrees[:, 2].expand(frames)
    return Motion.from_angles(
        pitch,
        yaw,
        roll,
        source.exp.expand(frames, -1, -1),
        source.t.expand(frames, -1),
        source.scale.expand(frames, -1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", help="folder with the LivePortrait checkpoints (default: random weights)")
    parser.add_argument("--image", help="portrait file (default: the scikit-image astronaut on a canvas)")
    parser.add_argument("--crop", help="face box X,Y,W,H in pixels instead of face detection")
    parser.add_argument("--face-index", type=int, default=0, help="which face when several are found (0 = largest)")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="render_neural_out", help="output folder")
    args = parser.parse_args()

    cuda = args.device.startswith("cuda")
    if args.weights:
        models = load_liveportrait(args.weights)
        print(f"loaded LivePortrait weights from {args.weights}")
    else:
        config = LivePortraitConfig.reduced(spade_generator_params={"spade_hidden": 16})
        models = LivePortraitModels(config).randomize(seed=0)
        print(
            "no --weights given: using a small model with RANDOM weights; the animation is noise and only "
            "demonstrates preparation, rendering and paste-back"
        )
    renderer = NeuralRenderer(models, device=args.device, precision="fp16" if cuda else "fp32", cuda_graphs=cuda)
    image = args.image or default_image()
    crop = tuple(float(v) for v in args.crop.split(",")) if args.crop else None

    t0 = time.perf_counter()
    prepared = renderer.prepare(image, crop=crop, face_index=args.face_index)
    p = prepared.portrait
    how = f"{p.faces_found} face(s) found" if p.face is not None else "crop box given"
    print(f"prepared a {p.size[0]}x{p.size[1]} portrait ({how}) in {time.perf_counter() - t0:.2f} s")

    motion = head_turn(prepared.source.degrees.cpu(), prepared.source.motion.to("cpu"), args.frames)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images: list[Image.Image] = []
    t0 = time.perf_counter()
    for start in range(0, args.frames, args.batch):
        end = min(start + args.batch, args.frames)
        chunk = Motion(motion.rotation[start:end], motion.exp[start:end], motion.t[start:end], motion.scale[start:end])
        frames = p.with_alpha(renderer.render(prepared, chunk).cpu().numpy())
        images.extend(Image.fromarray(f) for f in frames)
    elapsed = time.perf_counter() - t0
    per_frame = elapsed / args.frames * 1e3
    print(f"rendered {args.frames} frames in {elapsed:.2f} s ({per_frame:.0f} ms/frame on {args.device})")
    for i, im in enumerate(images):
        im.save(out / f"frame_{i:03d}.png")
    images[0].save(out / "animation.gif", save_all=True, append_images=images[1:], duration=80, loop=0)
    print(f"wrote {len(images)} frames of {images[0].size[0]}x{images[0].size[1]} and animation.gif to {out}/")


if __name__ == "__main__":
    main()
