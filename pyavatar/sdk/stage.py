"""The render stage: a prepared FaceRenderer turned into the runtime's :class:`FrameRenderer`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyavatar.face.params import NAMES, FaceParams
from pyavatar.packets import VRM_VISEMES, MotionFrame
from pyavatar.render.base import FaceRenderer
from pyavatar.runtime import control as ctl
from pyavatar.runtime.frames import VideoFrame


@dataclass(frozen=True)
class PreparedRenderer:
    """A renderer and the state its ``prepare`` returned for one portrait."""

    renderer: FaceRenderer
    state: Any

    def render(self, params: FaceParams) -> np.ndarray:
        """(T, H, W, 3) uint8 frames, checked."""
        out = self.renderer.render_params(self.state, params)
        if not isinstance(out, np.ndarray):  # e.g. a torch tensor
            out = np.asarray(out.cpu() if hasattr(out, "cpu") else out)
        if out.dtype != np.uint8 or out.ndim != 4 or out.shape[0] != len(params) or out.shape[3] != 3:
            raise TypeError(
                f"renderer {self.renderer.name!r} returned {out.dtype} {out.shape}; "
                f"expected ({len(params)}, H, W, 3) uint8"
            )
        return out


def keypoint_portrait(prepared: PreparedRenderer) -> Any:
    """The :class:`~pyavatar.sdk.keypoints.NeuralKeypointPortrait` of a prepared neural renderer, else None."""
    if getattr(prepared.renderer, "render_keypoints", None) is None:
        return None
    from pyavatar.sdk.keypoints import NeuralKeypointPortrait

    return NeuralKeypointPortrait(prepared.renderer, prepared.state)


def render_frames(prepared: PreparedRenderer, frames: Sequence[MotionFrame]) -> np.ndarray:
    """(T, H, W, 3) frames: keypoint motion directly on the neural renderer, FaceParams otherwise."""
    binding = keypoint_portrait(prepared) if all(f.keypoints is not None for f in frames) else None
    if binding is None:
        return prepared.render(FaceParams(np.stack([f.params for f in frames])))
    kp = np.stack([f.keypoints for f in frames])  # type: ignore[misc]
    ref = frames[0].keypoints_ref
    assert ref is not None
    return binding.renderer.render_keypoints(binding.state, binding.keypoints(kp, ref))


def _rest_motion() -> MotionFrame:
    return MotionFrame(-1, 0, 0.0, -1, np.zeros(len(NAMES), np.float32), np.zeros(len(VRM_VISEMES), np.float32))


class PortraitStage:
    """Renders motion frames of one portrait; swaps renderers on :class:`~pyavatar.runtime.control.SwapRenderer`.

    Args:
        prepared: the renderer and its prepared portrait.
        alpha: (H, W) uint8 coverage from the source image, attached to every frame (resized if the
            renderer's frames have another size).
    """

    def __init__(self, prepared: PreparedRenderer, alpha: np.ndarray | None = None) -> None:
        self._current = prepared
        rest = prepared.render(FaceParams.neutral(1))[0]
        self.height, self.width = rest.shape[:2]
        if alpha is not None and alpha.shape != (self.height, self.width):
            from PIL import Image

            alpha = np.asarray(Image.fromarray(alpha).resize((self.width, self.height), Image.BILINEAR))
        self.alpha = alpha
        self.has_alpha = alpha is not None
        self._rest = VideoFrame(rest, _rest_motion(), alpha)

    @property
    def renderer(self) -> FaceRenderer:
        """The renderer in use."""
        return self._current.renderer

    def render(self, frames: Sequence[MotionFrame]) -> list[VideoFrame]:
        """One frame per motion frame, rendered in one batch."""
        images = render_frames(self._current, frames)
        if images.shape[1:3] != (self.height, self.width):
            raise ValueError(
                f"renderer {self.renderer.name!r} changed the frame size to {images.shape[2]}x"
                f"{images.shape[1]} (session is {self.width}x{self.height})"
            )
        return [VideoFrame(images[i], f, self.alpha) for i, f in enumerate(frames)]

    def rest_frame(self) -> VideoFrame:
        """The neutral portrait."""
        return self._rest

    def check_control(self, event: Any) -> None:
        """A swap must carry a :class:`PreparedRenderer` whose frames have this session's size."""
        if not isinstance(event, ctl.SwapRenderer) or not isinstance(event.renderer, PreparedRenderer):
            raise ValueError(f"PortraitStage needs SwapRenderer(PreparedRenderer(...)), got {event!r}")
        shape = event.renderer.render(FaceParams.neutral(1)).shape[1:3]
        if shape != (self.height, self.width):
            raise ValueError(
                f"renderer {event.renderer.renderer.name!r} renders {shape[1]}x{shape[0]}, "
                f"the session {self.width}x{self.height}"
            )

    def apply_control(self, event: Any) -> None:
        """Switch to the event's renderer (checked by :meth:`check_control` when it was sent)."""
        if not isinstance(event, ctl.SwapRenderer) or not isinstance(event.renderer, PreparedRenderer):
            raise ValueError(f"PortraitStage cannot apply {event!r}")
        self._current = event.renderer
