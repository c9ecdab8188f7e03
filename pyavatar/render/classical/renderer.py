"""The weight-free renderer: one portrait, a deformable face mesh, FaceParams in, frames out.

:meth:`ClassicalRenderer.prepare` finds the face (MediaPipe 478 landmarks and
their depth), builds the mesh on a *canvas* — the whole region around the face
at the portrait's own resolution (``output="full"``) or an upright square crop
(``output="crop"``, 512² by default) — and precomputes the expression bases
and synthesis colours. Each frame then costs a small matrix product for the
vertices, the C++ flow rasterizer and the C++ bicubic sampler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pyavatar.face.landmarks import MEDIAPIPE_478, FaceLandmarks, LandmarkBackend
from pyavatar.face.params import FaceParams
from pyavatar.face.quiet import native_stderr_quiet
from pyavatar.render.classical import raster
from pyavatar.render.classical.deform import TERMS, Rig
from pyavatar.render.classical.depth import landmark_depth
from pyavatar.render.classical.mesh import Mesh, build_mesh
from pyavatar.render.classical.mouth import MouthInterior, atlas
from pyavatar.render.classical.synthesis import DRAWN_LID_GAIN, LidShutter, eyelid_overlays, is_drawing, mouth_split
from pyavatar.render.classical.template import FacePoints, fit_eyes, fit_template
from pyavatar.render.landmarks import default_landmarks
from pyavatar.render.portrait import Alignment, CropParams, NoFaceError, align_face, load_image

OUTPUTS = ("full", "crop")


@dataclass
class ClassicalPortrait:
    """A prepared portrait (one render at a time: it holds the per-frame buffers).

    Attributes:
        image: the original pixels (H, W, C), C = 4 when a matte is kept.
        canvas: the pixels the mesh lives on (a view of ``image`` or the aligned crop).
        roi: (x0, y0, x1, y1) of the canvas in the original (``output="full"``), else None.
        alignment: original → crop transform (``output="crop"``), else None.
        face: the landmarks in original pixels.
        mesh: the deformable mesh in canvas pixels.
        rig: expression bases and head pivot.
        mouth: the synthesized mouth interior (its texture and per-frame placement).
        atlas: what the sampler reads: the canvas (mirrored around its edges) with the mouth texture below it.
        overlay_base: per-vertex overlay without blinks (zeros; the buffer each frame starts from).
        overlay_blink: per eye side, the eyelid overlay at a full blink.
        shutter: the lid shutters, which slide an animal's fur down over its eyes (collapsed otherwise).
        lid_gain: blink → eyelid overlay strength gain (drawings reach full strength early).
        source: per-frame source coordinates of the vertices in the atlas (the canvas's, shifted by its
            offset there; the cavity rows point into the mouth texture).
        border_source: the rest source coordinates of :attr:`Mesh.border` (they slide from there).
        flow: the last frame's backward flow (buffer).
        overlay_out: the last frame's overlay (buffer).
    """

    image: np.ndarray
    canvas: np.ndarray
    roi: tuple[int, int, int, int] | None
    alignment: Alignment | None
    face: FaceLandmarks
    mesh: Mesh
    rig: Rig
    mouth: MouthInterior
    atlas: np.ndarray
    overlay_base: np.ndarray
    overlay_blink: dict[str, np.ndarray]
    shutter: LidShutter
    lid_gain: float
    source: np.ndarray
    border_source: np.ndarray
    flow: np.ndarray
    overlay_out: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the rendered frames."""
        if self.roi is not None:
            return self.image.shape[1], self.image.shape[0]
        return self.canvas.shape[1], self.canvas.shape[0]

    @property
    def face_box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the face landmarks in output pixels."""
        pts = self.mesh.source[:468].astype(np.float64)
        if self.roi is not None:
            pts = pts + np.array(self.roi[:2])
        lo, hi = np.floor(pts.min(axis=0)), np.ceil(pts.max(axis=0))
        w, h = self.size
        return int(max(lo[0], 0)), int(max(lo[1], 0)), int(min(hi[0] + 1, w)), int(min(hi[1] + 1, h))


def _check_crop(crop: tuple[float, float, float, float], w: int, h: int) -> tuple[float, float, float, float]:
    """``crop`` as floats, checked against a ``w``×``h`` image (errors name the CLI option)."""
    x, y, bw, bh = (float(v) for v in crop)
    if not all(math.isfinite(v) for v in (x, y, bw, bh)) or bw <= 0 or bh <= 0:
        raise ValueError(f"--crop X,Y,W,H: width and height must be positive numbers, got {tuple(crop)}")
    if x + bw <= 0 or y + bh <= 0 or x >= w or y >= h:
        raise NoFaceError(f"--crop {x:g},{y:g},{bw:g},{bh:g} lies outside the {w}x{h} image")
    return x, y, bw, bh


def _person_matte(rgb: np.ndarray) -> np.ndarray:
    """(H, W) uint8 person matte from MediaPipe's selfie segmentation."""
    from mediapipe.python.solutions import selfie_segmentation

    with native_stderr_quiet(), selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        mask = seg.process(np.ascontiguousarray(rgb)).segmentation_mask
    return (np.clip(mask, 0, 1) * 255 + 0.5).astype(np.uint8)


class ClassicalRenderer:
    """Animates any portrait on the CPU without learned weights (see the module docstring).

    Args:
        output: ``"full"`` (frames at the portrait's size) or ``"crop"`` (an
            upright ``crop_size``² crop around the face).
        crop_size: side of the crop frames.
        crop_params: crop framing for ``output="crop"`` (default scale 2.2).
        margin: side of the full-mode canvas around the face, in face sizes.
        landmarks: landmark backend returning the MediaPipe 478-point scheme
            (default: a :class:`~pyavatar.face.landmarks.MediaPipeLandmarks` made and closed in each ``prepare``).
        alpha: return RGBA frames; the alpha is the portrait's own alpha
            channel or, without one, a person matte.
        background: key colour (r, g, b) composited behind the person (RGB frames).
        threads: CPU threads for the C++ kernels (None: leave the current setting).
    """

    name = "classical"

    def __init__(
        self,
        *,
        output: str = "full",
        crop_size: int = 512,
        crop_params: CropParams | None = None,
        margin: float = 2.4,
        landmarks: LandmarkBackend | None = None,
        alpha: bool = False,
        background: tuple[int, int, int] | None = None,
        threads: int | None = None,
    ) -> None:
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        if crop_size < 64:
            raise ValueError(f"crop_size must be >= 64, got {crop_size}")
        if margin < 1.2:
            raise ValueError(f"margin must be >= 1.2, got {margin}")
        if alpha and background is not None:
            raise ValueError("choose alpha=True (RGBA frames) or a background key colour, not both")
        if background is not None and (len(background) != 3 or not all(0 <= int(c) <= 255 for c in background)):
            raise ValueError(f"background must be an (r, g, b) colour in 0..255, got {background!r}")
        self.output = output
        self.crop_size = int(crop_size)
        self.crop_params = crop_params or CropParams(scale=2.2)
        self.margin = float(margin)
        self.landmarks = landmarks
        self.alpha = alpha
        self.background = None if background is None else np.array(background, np.float32)
        if threads is not None:
            raster.set_threads(threads)

    # ------------------------------------------------------------------------------------- prepare

    def _detect(
        self, rgb: np.ndarray, crop: tuple[float, float, float, float] | None, face_index: int
    ) -> FaceLandmarks | None:
        """The chosen face's landmarks, or None when a ``crop`` box holds no face a detector finds."""
        h, w = rgb.shape[:2]
        x0 = y0 = 0
        region = rgb
        if crop is not None:  # search only a little beyond the given box
            x, y, bw, bh = _check_crop(crop, w, h)
            pad = 0.25 * max(bw, bh)
            x0, y0 = int(max(0, math.floor(x - pad))), int(max(0, math.floor(y - pad)))
            x1, y1 = int(min(w, math.ceil(x + bw + pad))), int(min(h, math.ceil(y + bh + pad)))
            region = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        if self.landmarks is None:  # a backend made for this call only: a renderer holds no MediaPipe graphs
            backend = default_landmarks()
            try:
                faces = backend.detect(region)
            finally:
                backend.close()
        else:
            faces = self.landmarks.detect(region)
        if not faces:
            if crop is not None:
                return None
            raise NoFaceError(
                f"no face found in the {w}x{h} image; pass the face box with --crop X,Y,W,H (SDK: "
                "crop=(x, y, w, h)) to animate it with a face template (animals, drawings), and "
                "--face-points LX,LY,RX,RY,MX,MY (eyes and mouth centre) where the template guesses wrong"
            )
        if not 0 <= face_index < len(faces):
            raise NoFaceError(f"--face-index {face_index} out of range: {len(faces)} face(s) found (0 = largest)")
        face = faces[face_index]
        if face.scheme != MEDIAPIPE_478 or face.points.shape != (478, 2):
            raise ValueError(f"the classical renderer needs {MEDIAPIPE_478!r} landmarks, got {face.scheme!r}")
        if x0 or y0:
            bx, by, bw, bh = face.box
            face = FaceLandmarks((bx + x0, by + y0, bw, bh), face.points + np.array([x0, y0]), face.score, face.scheme)
        return face

    def prepare(
        self,
        image: str | Path | Image.Image | np.ndarray,
        *,
        crop: tuple[float, float, float, float] | None = None,
        face_index: int = 0,
        face_points: FacePoints | np.ndarray | None = None,
    ) -> ClassicalPortrait:
        """Find the face, build the mesh and bases.

        ``crop`` = (x, y, w, h) limits the search to that box; when no face is
        found there (an animal, a stylised drawing) a face template is fitted
        to the box instead. ``face_points`` = (left eye, right eye, mouth
        centre) skips detection and pins the template's eyes and mouth there
        (its lids opened to the eye rims found around them, :func:`fit_eyes`).
        """
        rgb, alpha = load_image(image)
        templated = True
        if face_points is not None:
            if crop is not None:
                _check_crop(crop, rgb.shape[1], rgb.shape[0])
            face, depth = fit_template(crop, face_points)
            face = FaceLandmarks(face.box, fit_eyes(face.points, rgb), face.score, face.scheme)
        else:
            found = self._detect(rgb, crop, face_index)
            if found is None:
                face, depth = fit_template(crop)
            else:
                face, depth, templated = found, landmark_depth(rgb, found.points), False
        if alpha is None and (self.alpha or self.background is not None):
            alpha = _person_matte(rgb)
        pixels = rgb if alpha is None else np.ascontiguousarray(np.concatenate([rgb, alpha[..., None]], axis=2))
        if self.output == "crop":
            alignment = align_face(face, self.crop_params)
            s = self.crop_size
            matrix = alignment.matrix * np.array([[s / 512.0], [s / 512.0]])
            matrix[:, 2] += 0.5 * (s / 512.0 - 1)  # scale about pixel edges, not centres
            alignment = Alignment(matrix)
            canvas = cv2.warpAffine(pixels, matrix, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
            points = face.points @ matrix[:, :2].T + matrix[:, 2]
            depth = depth * float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
            h, w = rgb.shape[:2]
            corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
            valid = corners @ matrix[:, :2].T + matrix[:, 2]
            roi = None
        else:
            h, w = rgb.shape[:2]
            lo, hi = face.points.min(axis=0), face.points.max(axis=0)
            center, side = (lo + hi) / 2, float((hi - lo).max()) * self.margin
            x0, y0 = int(max(0, math.floor(center[0] - side / 2))), int(max(0, math.floor(center[1] - side / 2)))
            x1, y1 = int(min(w, math.ceil(center[0] + side / 2))), int(min(h, math.ceil(center[1] + side / 2)))
            roi = (x0, y0, x1, y1)
            canvas = pixels[y0:y1, x0:x1]
            points = face.points - np.array([x0, y0])
            alignment = None
            valid = None
        ch, cw = canvas.shape[:2]
        split = mouth_split(canvas, points)
        mesh = build_mesh(points, depth, (cw, ch), split, valid)
        rig = Rig(mesh)
        drawing = is_drawing(canvas, mesh)
        style = "drawing" if drawing else "animal" if templated else "photo"
        mouth = MouthInterior(canvas, mesh, split, style)
        sampled, mouth.origin, offset = atlas(canvas, mouth.texture, mesh.source.min(axis=0), mesh.source.max(axis=0))
        source = (mesh.source + np.array(offset, np.float32)).astype(np.float32)  # atlas coordinates
        overlay = np.zeros((mesh.num_vertices, 4), np.float32)
        return ClassicalPortrait(
            image=pixels,
            canvas=canvas,
            roi=roi,
            alignment=alignment,
            face=face,
            mesh=mesh,
            rig=rig,
            mouth=mouth,
            atlas=sampled,
            overlay_blink=eyelid_overlays(canvas, mesh, fur=style == "animal"),
            shutter=LidShutter(canvas, mesh, rig.detach_upper_lids() if style == "animal" else None, source),
            lid_gain=DRAWN_LID_GAIN if drawing else 1.0,
            source=source,
            border_source=source[mesh.border].copy(),
            overlay_base=overlay,
            flow=np.empty((ch, cw, 2), np.float32),
            overlay_out=np.empty((ch, cw, 4), np.float32),
        )

    # -------------------------------------------------------------------------------------- render

    def flow(
        self, prepared: ClassicalPortrait, params: FaceParams, frame: int = 0, *, sample_into: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One frame's backward flow (h, w, 2) into the portrait's atlas and its overlay (h, w, 4) (buffers reused).

        With ``sample_into`` (uint8 (h, w, C)), the warped canvas is written there too.
        """
        rig = prepared.rig
        coefficients = rig.coefficients(params[frame])
        slide = np.empty((len(prepared.border_source), 2), np.float32)
        positions = rig.positions(params[frame], coefficients, 0, border_slide=slide)
        prepared.source[prepared.mesh.border] = prepared.border_source - slide
        overlay = prepared.overlay_base.copy()
        for side, extra in prepared.overlay_blink.items():
            overlay += min(1.0, prepared.lid_gain * float(params[f"blink_{side}"][frame])) * extra
        blinks = {side: float(coefficients[0, TERMS.index(f"blink_{side}")]) for side in ("left", "right")}
        prepared.shutter.place(positions, prepared.source, overlay, blinks)
        prepared.mouth.place(positions, prepared.source, overlay)
        mesh = prepared.mesh
        raster.rasterize_flow(
            positions,
            prepared.source,
            mesh.triangles,
            mesh.size,
            overlay,
            out=(prepared.flow, prepared.overlay_out),
            sample=None if sample_into is None else (prepared.atlas, sample_into),
        )
        return prepared.flow, prepared.overlay_out

    def _finish(self, prepared: ClassicalPortrait, canvas_frame: np.ndarray) -> np.ndarray:
        if prepared.roi is not None:
            x0, y0, x1, y1 = prepared.roi
            frame = prepared.image.copy()
            frame[y0:y1, x0:x1] = canvas_frame
        else:
            frame = canvas_frame
        if frame.shape[2] == 4 and self.background is not None:
            a = frame[..., 3:4].astype(np.float32) / 255.0
            rgb = frame[..., :3].astype(np.float32) * a + self.background * (1 - a)
            return (rgb + 0.5).astype(np.uint8)
        if frame.shape[2] == 4 and not self.alpha:
            return np.ascontiguousarray(frame[..., :3])
        return frame

    def render(self, prepared: ClassicalPortrait, params: FaceParams, frame: int = 0) -> np.ndarray:
        """One frame (row ``frame`` of ``params``): (H, W, 3) uint8, or (H, W, 4) with ``alpha=True``."""
        if not 0 <= frame < len(params):
            raise IndexError(f"frame {frame} out of range for {len(params)} frame(s) of params")
        out = np.empty(prepared.canvas.shape, np.uint8)
        self.flow(prepared, params, frame, sample_into=out)
        return self._finish(prepared, out)

    def render_params(self, prepared: ClassicalPortrait, params: FaceParams) -> np.ndarray:
        """Frames for every row of ``params``: (T, H, W, 3) uint8 (4 channels with ``alpha=True``)."""
        return np.stack([self.render(prepared, params, t) for t in range(len(params))])
