"""Virtual webcam output through pyvirtualcam.

The camera is 1280x720 by default (the size many apps and pyvirtualcam's
macOS backend require): the animated portrait is fitted onto that canvas
(aspect kept, centred; the margins and, with a portrait that has alpha, its
transparent parts get the ``background`` colour, a keyable green by default).
Frames go out as RGB, which every backend takes (pyvirtualcam converts to the
device's native format once). ``fmt="rgba"`` keeps the alpha channel only on
the ``unitycapture`` backend, the one that carries it; elsewhere the sink
composites over the key colour, sends RGB and says so in :attr:`note`. The
pacer sets the rate, so the sink never sleeps. With ``stamp=True`` the first pixel row carries the frame's
capture time (pyvirtualcam's latency-probe idea): :func:`read_stamp` decodes it
on the receiving side.

Backends: ``v4l2loopback`` (Linux), ``obs`` (Windows/macOS), ``unitycapture``
(Windows), or any registered with ``pyvirtualcam.register_backend``.
"""

from __future__ import annotations

import logging
import platform
from typing import TYPE_CHECKING

import cv2
import numpy as np

from pyavatar.runtime.frames import StreamInfo, VideoFrame

if TYPE_CHECKING:
    from pyvirtualcam import Camera

log = logging.getLogger(__name__)

FORMATS = ("rgb", "rgba")
DEFAULT_SIZE = (1280, 720)
#: Backends whose device keeps an alpha channel.
ALPHA_BACKENDS = ("unitycapture",)
STAMP_BITS = 48  # capture time in microseconds (wraps after ~8.9 years of uptime)
_CELL = 4  # pixels per stamp bit


class VirtualCamError(RuntimeError):
    """No virtual camera could be opened; the message says what to install or start."""


def _install_hint() -> str:
    system = platform.system()
    if system == "Linux":
        return (
            "install v4l2loopback and load it: sudo apt install v4l2loopback-dkms && "
            "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=pyavatar"
        )
    if system == "Windows":
        return "install OBS Studio >= 26 (its virtual camera) or the Unity Capture driver (alpha support)"
    if system == "Darwin":
        return "install OBS Studio >= 30 and start/stop its virtual camera once to register it"
    return f"pyvirtualcam has no backend for {system}"


def parse_color(text: str | tuple[int, int, int]) -> tuple[int, int, int]:
    """``"#00ff00"``, ``"00ff00"``, ``"0,255,0"`` or a tuple → (r, g, b)."""
    if isinstance(text, tuple):
        rgb = text
    else:
        t = text.strip().lstrip("#")
        if "," in t:
            rgb = tuple(int(v) for v in t.split(","))  # type: ignore[assignment]
        elif len(t) == 6:
            rgb = tuple(int(t[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[assignment]
        else:
            raise ValueError(f"colour must be '#rrggbb' or 'r,g,b', got {text!r}")
    if len(rgb) != 3 or not all(0 <= int(v) <= 255 for v in rgb):
        raise ValueError(f"colour components must be three values 0..255, got {text!r}")
    return int(rgb[0]), int(rgb[1]), int(rgb[2])


def stamp(image: np.ndarray, t_ns: int) -> None:
    """Write ``t_ns`` (as microseconds) into the first pixel rows of ``image`` (H, W, C), in place."""
    us = (int(t_ns) // 1000) & ((1 << STAMP_BITS) - 1)
    if image.shape[1] < STAMP_BITS * _CELL or image.shape[0] < _CELL:
        raise ValueError(f"frame too small for a time stamp: need {STAMP_BITS * _CELL}x{_CELL} px")
    for b in range(STAMP_BITS):
        image[:_CELL, b * _CELL : (b + 1) * _CELL, :3] = 255 if (us >> b) & 1 else 0


def read_stamp(image: np.ndarray) -> int:
    """The time written by :func:`stamp`, in nanoseconds (microsecond resolution)."""
    img = np.asarray(image)
    us = 0
    for b in range(STAMP_BITS):
        if img[1 : _CELL - 1, b * _CELL + 1 : (b + 1) * _CELL - 1, :3].mean() > 127:
            us |= 1 << b
    return us * 1000


class Fitter:
    """Letterboxes (H, W, 3) frames with optional alpha into a (height, width) canvas over a background colour.

    Runs once per output frame on the live path, so the canvas and the background are built once and the
    resize and the alpha blend go through OpenCV (a 512² portrait into 1280x720 costs about 1 ms).
    """

    def __init__(self, src: tuple[int, int], dst: tuple[int, int], background: tuple[int, int, int]) -> None:
        (sh, sw), (dh, dw) = src, dst
        scale = min(dw / sw, dh / sh)
        self.size = (max(1, round(sw * scale)), max(1, round(sh * scale)))  # (w, h)
        self.offset = ((dh - self.size[1]) // 2, (dw - self.size[0]) // 2)
        self.dst = dst
        self.background = np.array(background, np.uint8)
        self.identity = self.size == (sw, sh) and dst == src
        self._interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        self._canvas = np.empty((dh, dw, 3), np.uint8)
        self._canvas[...] = self.background
        self._canvas_alpha = np.zeros((dh, dw, 4), np.uint8)
        self._canvas_alpha[..., :3] = self.background
        self._backdrop = np.empty((self.size[1], self.size[0], 3), np.uint8)  # the key colour behind the portrait
        self._backdrop[...] = self.background

    def _resize(self, a: np.ndarray) -> np.ndarray:
        if self.size == (a.shape[1], a.shape[0]):
            return a
        return cv2.resize(a, self.size, interpolation=self._interpolation)

    def fit(self, image: np.ndarray, alpha: np.ndarray | None, keep_alpha: bool) -> np.ndarray:
        """(height, width, 3 or 4) uint8: RGB over the background, plus the alpha channel when ``keep_alpha``."""
        img = np.ascontiguousarray(self._resize(image))
        a = self._resize(alpha) if alpha is not None else None
        if a is not None and not keep_alpha:  # composite over the key colour
            weight = a.astype(np.float32) * np.float32(1 / 255)
            img = cv2.blendLinear(img, self._backdrop, weight, 1.0 - weight)
        if self.identity and not keep_alpha:
            return img
        out = (self._canvas_alpha if keep_alpha else self._canvas).copy()
        y, x = self.offset
        h, w = img.shape[:2]
        out[y : y + h, x : x + w, :3] = img
        if keep_alpha:
            out[y : y + h, x : x + w, 3] = 255 if a is None else a
        return out


class VirtualCamSink:
    """Sends frames to a virtual webcam.

    Args:
        width, height: camera size (default 1280x720; ``None, None``: the portrait's own size).
        fmt: ``"rgb"``, or ``"rgba"`` (alpha on ``backend="unitycapture"``; elsewhere converted to RGB
            over ``background``, see :attr:`note`).
        backend: pyvirtualcam backend name (None tries every registered one).
        device: backend device (e.g. ``/dev/video2``).
        background: colour behind the portrait and in the margins (keyable; default green).
        stamp: write each frame's capture time into its first pixel row (latency probe).
        backend_options: extra keyword arguments for the named ``backend`` only (refused without one,
            since the default tries several backends that do not share options).
    """

    def __init__(
        self,
        width: int | None = DEFAULT_SIZE[0],
        height: int | None = DEFAULT_SIZE[1],
        *,
        fmt: str = "rgb",
        backend: str | None = None,
        device: str | None = None,
        background: str | tuple[int, int, int] = (0, 255, 0),
        stamp: bool = False,
        **backend_options: object,
    ) -> None:
        if fmt == "bgr":
            raise ValueError(
                "virtual camera format 'bgr' only adds a conversion (frames are RGB and every backend "
                "takes RGB); use 'rgb'"
            )
        if fmt not in FORMATS:
            raise ValueError(f"virtual camera format must be one of {FORMATS}, got {fmt!r}")
        if backend_options and backend is None:
            raise ValueError(
                f"backend options {sorted(backend_options)} need an explicit backend (the default tries "
                "every backend, which do not share options)"
            )
        if (width is None) != (height is None) or (width is not None and (width < 2 or height < 2)):  # type: ignore[operator]
            raise ValueError(f"give both width and height (>= 2) or neither, got {width}x{height}")
        self.width, self.height, self.requested_fmt = width, height, fmt
        self.fmt = fmt if fmt == "rgb" or backend in ALPHA_BACKENDS else "rgb"
        #: Why the sent format differs from the requested one (None when it does not).
        self.note: str | None = None
        if self.fmt != fmt:
            key = parse_color(background)
            self.note = (
                f"--cam-format rgba: only the {'/'.join(ALPHA_BACKENDS)} backend keeps alpha; "
                f"sending RGB with transparent parts over the key colour {key}"
            )
        self.backend, self.device = backend, device
        self.background = parse_color(background)
        self.stamp = stamp
        self.options = backend_options
        self.camera: Camera | None = None
        self._fitter: Fitter | None = None
        self.frames_sent = 0

    def start(self, info: StreamInfo) -> None:
        """Open the virtual camera (errors name the size, rate and backend and say what to install)."""
        try:
            import pyvirtualcam
        except ImportError as e:
            raise VirtualCamError(
                f'the virtual webcam output needs pyvirtualcam: pip install "pyavatar[webcam]" ({e})'
            ) from e
        width, height = self.width or info.width, self.height or info.height
        if self.backend is not None and self.backend not in pyvirtualcam.camera.BACKENDS:
            known = sorted(pyvirtualcam.camera.BACKENDS) or ["none"]
            raise VirtualCamError(
                f"unknown virtual camera backend {self.backend!r}; registered: {known}. {_install_hint()}"
            )
        fmt = {"rgb": pyvirtualcam.PixelFormat.RGB, "rgba": pyvirtualcam.PixelFormat.RGBA}[self.fmt]
        if self.note:
            log.warning("%s", self.note)
        try:
            self.camera = pyvirtualcam.Camera(
                width, height, info.fps, fmt=fmt, device=self.device, backend=self.backend, **self.options
            )
        except RuntimeError as e:
            raise VirtualCamError(
                f"no virtual camera could be opened ({width}x{height} @ {info.fps:g} fps):\n{e}\n"
                f"To fix: {_install_hint()}"
            ) from e
        self._fitter = Fitter((info.height, info.width), (height, width), self.background)

    @property
    def device_name(self) -> str | None:
        """The device the backend opened."""
        return self.camera.device if self.camera is not None else None

    def describe(self) -> str:
        """One line for a start-up banner (the device once started)."""
        size = f"{self.width}x{self.height}" if self.width else "portrait size"
        return f"virtual webcam {self.device_name} ({size}, {self.fmt})" + (f"; note: {self.note}" if self.note else "")

    def write_video(self, frame: VideoFrame) -> None:
        """Fit ``frame`` into the camera's size and send it."""
        assert self._fitter is not None and self.camera is not None, "start() first"
        out = self._fitter.fit(frame.image, frame.alpha, self.fmt == "rgba")
        if self.stamp:
            out = out.copy() if out is frame.image else out
            stamp(out, frame.capture_ns)
        self.camera.send(out)
        self.frames_sent += 1

    def close(self) -> None:
        """Close the camera."""
        cam, self.camera = self.camera, None
        if cam is not None:
            cam.close()
