"""Portrait images in any common form → RGB uint8 plus optional alpha."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_rgba(image: str | Path | np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W, 3) uint8 RGB and the (H, W) uint8 alpha channel (None when opaque).

    Files are read with Pillow (EXIF orientation applied); arrays may be (H, W),
    (H, W, 3) or (H, W, 4) uint8.
    """
    if isinstance(image, (str, Path)):
        from PIL import Image, ImageOps

        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"portrait image not found: {path}")
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
            arr = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
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
