"""Timestamped packets the runtime moves between its stages (motion frames: :mod:`pyavatar.packets`).

``pts_ns`` is the stream time of the frame's start (the audio time it came
from); ``capture_ns`` is the :class:`~pyavatar.runtime.clock.Clock` time at
which the audio at the frame's centre was captured, so a sink's latency is
``now - capture_ns``. Offline (file) frames have ``capture_ns = -1``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from pyavatar.packets import MotionFrame


@dataclass(frozen=True)
class VideoFrame:
    """One rendered frame.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        alpha: (H, W) uint8 coverage of the portrait (from the source image's alpha) or None.
        motion: the motion it shows (index, timestamps, parameters).
        ready_ns: clock time at which rendering finished.
        repeat: True when the pacer re-sends the previous frame.
    """

    image: npt.NDArray[np.uint8]
    motion: MotionFrame
    alpha: npt.NDArray[np.uint8] | None = None
    ready_ns: int = -1
    repeat: bool = field(default=False, compare=False)

    @property
    def index(self) -> int:
        """The motion frame's index."""
        return self.motion.index

    @property
    def capture_ns(self) -> int:
        """Capture time of the audio it shows."""
        return self.motion.capture_ns

    def repeated(self) -> VideoFrame:
        """The same frame marked as a repeat."""
        return replace(self, repeat=True)


@dataclass(frozen=True)
class StreamInfo:
    """What outputs need to know when they start: frame size and rate, and a stats provider."""

    width: int
    height: int
    fps: float
    has_alpha: bool = False
    stats: Callable[[], dict[str, Any]] | None = field(default=None, compare=False)
