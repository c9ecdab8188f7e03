"""Portrait images in any common form → RGB uint8 plus optional alpha.

Size policy: the working portrait is at most :data:`MAX_SIDE` pixels on its
longer side; a larger image is downscaled once when it is loaded (a warning
says so), so face finding and rendering stay bounded in time and memory.
Renderers that output a crop keep the crop size asked for; full-frame renderers
render at the working size. Files beyond Pillow's decompression-bomb limit
(about 179 megapixels) are refused with a message naming the file.
High-bit-depth images (16-bit grey or colour, 32-bit integer or float grey) are
scaled to 8 bits, not clipped.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Longest side of the working portrait, in pixels.
MAX_SIDE = 2048


def _to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """A high-bit-depth Pillow array scaled to 0..255 (16-bit and float ranges; 32-bit ints holding 16-bit data)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "f":
        lo, hi = 0.0, 1.0 if float(np.nanmax(arr, initial=0.0)) <= 1.0 else float(np.nanmax(arr))
        scaled = (np.nan_to_num(arr) - lo) / max(hi - lo, 1e-12) * 255.0
    else:
        top = 65535.0 if mode.startswith("I;16") or int(arr.max(initial=0)) <= 65535 else float(np.iinfo(arr.dtype).max)
        scaled = arr.astype(np.float64) * (255.0 / top)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _read(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            if max(im.size) > MAX_SIDE:
                im.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced scale (cheap)
            im = ImageOps.exif_transpose(im)
            if max(im.size) > MAX_SIDE:
                w, h = im.size
                log.warning(
                    "portrait %s is %dx%d; working at most %d pixels a side (pyavatar.render.images.MAX_SIDE)",
                    path,
                    w,
                    h,
                    MAX_SIDE,
                )
                im.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
            if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
                return _to_uint8(np.asarray(im), im.mode)
            has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
            return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
    except Image.DecompressionBombError as e:
        raise ValueError(
            f"portrait {path} is too large to decode safely ({e}); downscale it to at most {MAX_SIDE} pixels a side"
        ) from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated, corrupt or not an image
        raise ValueError(f"portrait {path} cannot be read as an image: {e}") from None


def load_rgba(image: str | Path | np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W, 3) uint8 RGB and the (H, W) uint8 alpha channel (None when opaque).

    Files are read with Pillow (EXIF orientation applied, size policy above);
    arrays may be (H, W), (H, W, 3) or (H, W, 4) uint8 and are used as given.
    """
    if isinstance(image, (str, Path)):
        path = Path(image)
        if path.is_dir():
            raise ValueError(f"portrait {path} is a directory, not an image file")
        if not path.is_file():
            raise FileNotFoundError(f"portrait image not found: {path}")
        arr = _read(path)
    else:
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            raise ValueError(f"portrait array must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or min(arr.shape[:2]) < 2:
        raise ValueError(f"portrait must be (H, W), (H, W, 3) or (H, W, 4), got shape {arr.shape}")
    rgb = np.ascontiguousarray(arr[..., :3])
    alpha = np.ascontiguousarray(arr[..., 3]) if arr.shape[2] == 4 else None
    return rgb, alpha
