"""Portrait preparation and paste-back for crop-based renderers.

* :func:`load_image`: any size, RGB / RGBA / grayscale, EXIF orientation applied.
* :func:`align_face`: a similarity transform that puts the face upright in a
  square crop (from landmarks, or from a user box ``crop=(x, y, w, h)``).
* :class:`Portrait`: the original image, its alignment, the 256² network input
  and a :class:`PasteBack` that blends rendered 512² crops into the original
  with a feathered mask, on any torch device, keeping size and background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import Tensor

from pyavatar.face.landmarks import FaceLandmarks, LandmarkBackend

CROP_SIZE = 512  # working crop (and render) resolution
INPUT_SIZE = 256  # network input resolution


class NoFaceError(ValueError):
    """No face was found; the message suggests passing ``--crop X,Y,W,H`` (SDK: ``crop=(x, y, w, h)``)."""


def load_image(image: str | Path | Image.Image | np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """An image as RGB uint8 (H, W, 3) plus its alpha channel (H, W) uint8 or None.

    Files and PIL images are rotated by their EXIF orientation. Arrays may be
    (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, uint8, uint16 or float
    in [0, 1].
    """
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"load_image: no such image file: {path}")
        with Image.open(path) as im:
            image = ImageOps.exif_transpose(im)
            image.load()
    if isinstance(image, Image.Image):
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = np.asarray(image.convert("RGBA"))
            return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3])
        return np.asarray(image.convert("RGB")).copy(), None
    arr = np.asarray(image)
    if arr.dtype == np.uint16:
        arr = (arr // 257).astype(np.uint8)
    elif arr.dtype.kind == "f":
        arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise ValueError(f"load_image: unsupported array dtype {arr.dtype} (uint8, uint16 or float in [0, 1])")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2), None
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        alpha = np.ascontiguousarray(arr[..., 3]) if arr.shape[2] == 4 else None
        return np.ascontiguousarray(arr[..., :3]), alpha
    raise ValueError(f"load_image: expected (H, W), (H, W, 1|3|4) image, got shape {arr.shape}")


@dataclass(frozen=True)
class CropParams:
    """How the face crop is framed.

    Attributes:
        scale: crop side as a multiple of the face landmarks' extent.
        vy_ratio: vertical shift of the crop centre, as a fraction of the side
            (negative = up, toward the forehead).
        rotate: level the eyes-to-mouth axis (otherwise keep the image axes).
    """

    scale: float = 2.0
    vy_ratio: float = -0.1
    rotate: bool = True


@dataclass(frozen=True)
class Alignment:
    """Similarity transform original → crop (``CROP_SIZE``² pixels).

    Attributes:
        matrix: (2, 3) affine, crop_xy = matrix @ (x, y, 1) (pixel centres).
    """

    matrix: np.ndarray

    @property
    def inverse(self) -> np.ndarray:
        """(2, 3) affine crop → original."""
        return cv2.invertAffineTransform(self.matrix)

    def crop(self, rgb: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
        """The aligned crop as uint8 (size, size, 3): bilinear warp to 512², then area resize."""
        crop = cv2.warpAffine(
            rgb, self.matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        if size != CROP_SIZE:
            crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        return crop


def _rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def _similarity(center: np.ndarray, side: float, angle: float) -> Alignment:
    """Square of ``side`` pixels centred on ``center``, rotated by ``angle`` (radians), → CROP_SIZE²."""
    rot = _rotation(angle) * (CROP_SIZE / side)
    # crop = rot @ (p - center) + (CROP_SIZE - 1) / 2, on pixel centres
    offset = (CROP_SIZE - 1) / 2 - rot @ center
    return Alignment(np.concatenate([rot, offset[:, None]], axis=1))


def align_face(face: FaceLandmarks, params: CropParams = CropParams()) -> Alignment:
    """Upright square crop around a face: side = scale × landmark extent, centre shifted by vy_ratio."""
    left, right = face.eye_centers()
    eyes = (left + right) / 2
    down = face.mouth_center() - eyes
    angle = math.atan2(down[0], down[1]) if params.rotate else 0.0  # tilt of the eyes→mouth axis from vertical
    rot = _rotation(angle)  # column-vector rotation that makes the eyes→mouth axis point down
    upright = face.points @ rot.T
    lo, hi = upright.min(axis=0), upright.max(axis=0)
    side = float((hi - lo).max()) * params.scale
    if side < 2:
        raise NoFaceError(
            "align_face: degenerate landmarks (face extent < 1 pixel); pass --crop X,Y,W,H (SDK: crop=(x, y, w, h))"
        )
    center_upright = (lo + hi) / 2 + np.array([0.0, params.vy_ratio * side])
    return _similarity(rot.T @ center_upright, side, angle)


def align_box(box: tuple[float, float, float, float]) -> Alignment:
    """Axis-aligned square crop covering the box (x, y, w, h) (side = max(w, h), same centre)."""
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise ValueError(f"crop: width and height must be positive, got crop={tuple(box)}")
    return _similarity(np.array([x + w / 2 - 0.5, y + h / 2 - 0.5]), max(w, h), 0.0)


def feather_mask(size: int = CROP_SIZE, feather: float = 0.08) -> np.ndarray:
    """(size, size) float32 mask: 1 inside, smooth fall-off to 0 over the outer ``feather`` fraction."""
    d = np.minimum(np.arange(size), np.arange(size)[::-1]).astype(np.float32) + 0.5
    t = np.clip(d / max(feather * size, 1e-6), 0, 1)
    ramp = t * t * (3 - 2 * t)
    return np.outer(ramp, ramp).astype(np.float32)


class PasteBack:
    """Blends rendered crops into the original image on a torch device.

    The region of the original covered by the crop is precomputed once: its
    sampling grid into the crop and the warped feather mask. Per frame one
    bilinear ``grid_sample`` and a blend produce full-size uint8 frames.

    Args:
        rgb: original image, uint8 (H, W, 3).
        alignment: original → crop transform.
        device: where frames are composed.
        feather: mask fall-off (fraction of the crop side).
    """

    def __init__(
        self, rgb: np.ndarray, alignment: Alignment, device: torch.device | str = "cpu", feather: float = 0.08
    ) -> None:
        self.device = torch.device(device)
        h, w = rgb.shape[:2]
        inv = alignment.inverse
        corners = np.array([[0, 0, 1], [CROP_SIZE - 1, 0, 1], [0, CROP_SIZE - 1, 1], [CROP_SIZE - 1, CROP_SIZE - 1, 1]])
        pts = corners @ inv.T
        x0, y0 = (max(0, math.floor(v - 1)) for v in pts.min(axis=0))
        x1, y1 = min(w, math.ceil(pts[:, 0].max() + 2)), min(h, math.ceil(pts[:, 1].max() + 2))
        self.roi = (x0, y0, max(x0, x1), max(y0, y1))
        # np.require copies a read-only or strided image: torch must not wrap memory it may not write
        self.original = torch.from_numpy(np.require(rgb, requirements=["C", "W"])).to(self.device)
        ys, xs = np.mgrid[y0 : self.roi[3], x0 : self.roi[2]].astype(np.float64)
        m = alignment.matrix
        u = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
        v = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
        grid = np.stack([(u + 0.5) / CROP_SIZE * 2 - 1, (v + 0.5) / CROP_SIZE * 2 - 1], axis=-1)
        self.grid = torch.from_numpy(grid.astype(np.float32)).unsqueeze(0).to(self.device)
        mask = torch.from_numpy(feather_mask(CROP_SIZE, feather))[None, None].to(self.device)
        self.mask = F.grid_sample(mask, self.grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        self.background = self.original[y0 : self.roi[3], x0 : self.roi[2]].permute(2, 0, 1).unsqueeze(0).float() / 255

    @property
    def empty(self) -> bool:
        """Whether the crop does not overlap the image at all."""
        return self.grid.shape[1] == 0 or self.grid.shape[2] == 0

    def __call__(self, crops: Tensor) -> Tensor:
        """(B, 3, 512, 512) float in [0, 1] → (B, H, W, 3) uint8 frames (truncating conversion)."""
        b = crops.shape[0]
        frames = self.original.unsqueeze(0).repeat(b, 1, 1, 1)
        if self.empty:
            return frames
        crops = crops.to(self.device, torch.float32)
        sampled = F.grid_sample(
            crops, self.grid.expand(b, -1, -1, -1), mode="bilinear", padding_mode="zeros", align_corners=False
        )
        blended = self.mask * sampled + (1 - self.mask) * self.background
        x0, y0, x1, y1 = self.roi
        frames[:, y0:y1, x0:x1] = (blended.clamp(0, 1) * 255).permute(0, 2, 3, 1).to(torch.uint8)
        return frames


@dataclass
class Portrait:
    """A prepared portrait: original pixels, the face alignment and the network input.

    Attributes:
        rgb: original image, uint8 (H, W, 3).
        alpha: original alpha channel (H, W) or None.
        alignment: original → crop transform.
        face: the landmarks used (None when the crop box was given).
        faces_found: number of faces the backend detected (0 with a crop box).
        crop256: network input, uint8 (256, 256, 3).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    alignment: Alignment
    face: FaceLandmarks | None
    faces_found: int
    crop256: np.ndarray = field(repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the original."""
        return self.rgb.shape[1], self.rgb.shape[0]

    def paste_back(self, device: torch.device | str = "cpu", feather: float = 0.08) -> PasteBack:
        """A :class:`PasteBack` for this portrait on ``device``."""
        return PasteBack(self.rgb, self.alignment, device, feather)

    def with_alpha(self, frames: np.ndarray) -> np.ndarray:
        """Frames (…, H, W, 3) with the original alpha appended when the input had one."""
        if self.alpha is None:
            return frames
        alpha = np.broadcast_to(self.alpha[..., None], (*frames.shape[:-1], 1))
        return np.concatenate([frames, alpha], axis=-1)


def prepare_portrait(
    image: str | Path | Image.Image | np.ndarray,
    *,
    crop: tuple[float, float, float, float] | None = None,
    face_index: int = 0,
    landmarks: LandmarkBackend | None = None,
    params: CropParams = CropParams(),
) -> Portrait:
    """Load, find the face and align it.

    Args:
        image: file, PIL image or array (see :func:`load_image`).
        crop: (x, y, w, h) box in original pixels to use instead of face
            detection (paintings, cartoons, animals); always accepted.
        face_index: which face when several are found (0 = largest).
        landmarks: landmark backend; default :class:`~pyavatar.face.landmarks.MediaPipeLandmarks`.
        params: crop framing.

    Raises:
        NoFaceError: no face found (suggests ``crop=``), or ``face_index`` out of range.
    """
    rgb, alpha = load_image(image)
    if crop is not None:
        alignment = align_box(crop)
        return Portrait(rgb, alpha, alignment, None, 0, alignment.crop(rgb))
    if landmarks is None:
        from pyavatar.render.landmarks import default_landmarks

        backend = default_landmarks()
        try:
            faces = backend.detect(rgb)
        finally:
            backend.close()
    else:
        faces = landmarks.detect(rgb)
    if not faces:
        h, w = rgb.shape[:2]
        raise NoFaceError(
            f"no face found in the {w}x{h} image; pass the face region in pixels with --crop X,Y,W,H "
            f"(e.g. --crop 0,0,{min(w, h)},{min(w, h)}; SDK: crop=(x, y, w, h)) for paintings, cartoons or animals"
        )
    if not 0 <= face_index < len(faces):
        raise NoFaceError(f"--face-index {face_index} out of range: {len(faces)} face(s) found (0 = largest)")
    face = faces[face_index]
    alignment = align_face(face, params)
    return Portrait(rgb, alpha, alignment, face, len(faces), alignment.crop(rgb))
