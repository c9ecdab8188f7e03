"""Contact sheet of the classical (weight-free) renderer on a photo, a scan, a cartoon and a cat.

    python samples/contact_sheet.py [--out docs/img/classical_contact_sheet.png] [--tile 192]

Rows: scikit-image's astronaut, matplotlib's Grace Hopper, a line-drawn cartoon
made here (:func:`cartoon`: outlines, a single-line mouth) and scikit-image's
cat (no detectable face: ``crop`` + ``face_points`` place the face template).
Columns: rest, speaking (jaw open), blink, happy, yaw −20°, yaw +20°. Each
tile is the full-size render cut around the face; the sheet is a lossless PNG.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pyavatar.face.params import FaceParams
from pyavatar.motion.emotion import preset
from pyavatar.render.classical import ClassicalRenderer

COLUMNS = [
    ("rest", {}),
    ("speaking", {"jaw_open": 0.8, "mouth_wide": 0.2}),
    ("blink", {"blink_left": 1.0, "blink_right": 1.0}),
    ("happy", preset("happy") | {"blink_left": 0.0, "blink_right": 0.0}),
    ("yaw -20", {"head_yaw": -20.0}),
    ("yaw +20", {"head_yaw": 20.0}),
]
CAT_CROP = (80.0, 30.0, 320.0, 270.0)  # skimage.data.chelsea(): face box, eyes and mouth centre
CAT_POINTS = ((170.0, 115.0), (318.0, 137.0), (258.0, 282.0))


def cartoon(size: int = 512) -> np.ndarray:
    """A cartoon head in flat colours with black outlines and a single-line mouth (no lips, no interior)."""
    s = size / 512
    img = np.full((size, size, 3), (250, 236, 200), np.uint8)

    def p(x: float, y: float) -> tuple[int, int]:
        return int(x * s), int(y * s)

    ink, skin, line = (25, 20, 20), (255, 214, 180), max(2, int(4 * s))
    cv2.rectangle(img, p(0, 430), p(512, 512), (70, 150, 110), -1)  # shirt
    cv2.rectangle(img, p(220, 360), p(292, 440), skin, -1)  # neck
    cv2.ellipse(img, p(256, 250), p(120, 150), 0, 0, 360, (200, 90, 40), -1)  # hair
    cv2.ellipse(img, p(256, 262), p(104, 130), 0, 0, 360, skin, -1)  # face
    cv2.ellipse(img, p(256, 262), p(104, 130), 0, 0, 360, ink, line)
    cv2.ellipse(img, p(256, 165), p(110, 48), 0, 180, 360, (200, 90, 40), -1)  # fringe
    for cx in (212, 300):
        cv2.ellipse(img, p(cx, 250), p(24, 15), 0, 0, 360, (255, 255, 255), -1)  # eye white
        cv2.circle(img, p(cx, 252), int(10 * s), (60, 120, 200), -1)  # iris
        cv2.circle(img, p(cx, 252), int(5 * s), ink, -1)  # pupil
        cv2.ellipse(img, p(cx, 250), p(24, 15), 0, 0, 360, ink, line)  # eye outline
        cv2.line(img, p(cx - 24, 218), p(cx + 24, 214), ink, line)  # brow
    cv2.line(img, p(256, 262), p(246, 300), ink, line)  # nose
    cv2.line(img, p(246, 300), p(260, 302), ink, line)
    cv2.ellipse(img, p(256, 328), p(32, 8), 0, 10, 170, (120, 30, 40), line)  # line mouth
    cv2.circle(img, p(190, 315), int(14 * s), (250, 170, 160), -1)  # cheeks
    cv2.circle(img, p(322, 315), int(14 * s), (250, 170, 160), -1)
    return cv2.GaussianBlur(img, (0, 0), 0.8 * s)


def portraits() -> list[tuple[str, np.ndarray, dict]]:
    """(label, RGB image, prepare keyword arguments) of the four rows."""
    from matplotlib import cbook

    try:
        from skimage.data import astronaut, chelsea
    except ImportError:
        raise SystemExit("the contact sheet's portraits come from scikit-image: `pip install scikit-image`") from None

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        hopper = np.asarray(im.convert("RGB"))
    return [
        ("astronaut", astronaut(), {}),
        ("Grace Hopper", hopper, {}),
        ("cartoon", cartoon(), {}),
        ("cat (--crop, --face-points)", chelsea(), {"crop": CAT_CROP, "face_points": CAT_POINTS}),
    ]


def tile(frame: np.ndarray, box: tuple[float, float, float, float], side: int) -> np.ndarray:
    """A square cut of ``frame`` around the face ``box`` (x0, y0, x1, y1), resized to ``side``."""
    x0, y0, x1, y1 = box
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2 + 0.05 * (y1 - y0), 0.7 * max(x1 - x0, y1 - y0)
    n = int(2 * half)
    shift = np.array([[1.0, 0.0, half - cx], [0.0, 1.0, half - cy]])
    cut = cv2.warpAffine(frame, shift, (n, n), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    return cv2.resize(cut, (side, side), interpolation=cv2.INTER_AREA)


def label(img: np.ndarray, text: str) -> None:
    """White text with a dark outline at the tile's top left."""
    for color, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(img, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, color, width, cv2.LINE_AA)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sheet = Path(__file__).resolve().parents[1] / "docs" / "img" / "classical_contact_sheet.png"
    ap.add_argument(
        "--out",
        default=str(sheet),
        help="PNG to write (default: the repository's docs/img/classical_contact_sheet.png)",
    )
    ap.add_argument("--tile", type=int, default=192, help="tile side in pixels")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    renderer = ClassicalRenderer(output="full", threads=args.threads)
    rows = []
    for name, image, kwargs in portraits():
        prepared = renderer.prepare(image, **kwargs)
        tiles = []
        for title, fields in COLUMNS:
            box = kwargs.get("crop")  # a template face may reach past the image: frame the given box then
            box = prepared.face_box if box is None else (box[0], box[1], box[0] + box[2], box[1] + box[3])
            t = tile(renderer.render(prepared, FaceParams.from_fields(**fields)), box, args.tile)
            label(t, f"{name}: {title}" if title == "rest" else title)
            tiles.append(t)
        rows.append(np.concatenate(tiles, axis=1))
    sheet = np.concatenate(rows, axis=0)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.png")
    Image.fromarray(sheet).save(tmp, optimize=True)  # lossless: the sheet is for judging artifacts
    tmp.replace(out)
    print(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]}, {out.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
