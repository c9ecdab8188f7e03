"""pyavatar's own OSC namespace: every parameter, the visemes, the emotion and live statistics.

Per tick (bundled within ``max_bytes``, 1200 by default; all numbers float32):

| address | arguments |
|---|---|
| ``/pyavatar/pose`` | head_yaw head_pitch head_roll (degrees) head_x head_y head_z (face heights) |
| ``/pyavatar/face`` | every field of :data:`pyavatar.face.params.NAMES`, in that order |
| ``/pyavatar/viseme`` | aa ih ou ee oh speaking (0..1) |
| ``/pyavatar/emotion`` | name (string), intensity, then happy sad angry surprised relaxed weights |

Once per ``stats_interval`` seconds (when the pipeline provides statistics):
``/pyavatar/stats`` p50_ms p95_ms max_ms fps_in fps_out drops repeats.
Angles and sides follow :mod:`pyavatar.face.params` (yaw left +, pitch down +,
roll right ear down +; left/right are the avatar's own).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyavatar.face.params import EMOTIONS, NAMES
from pyavatar.outputs.osc import MAX_DATAGRAM, RateSender, message, pack
from pyavatar.packets import MotionFrame
from pyavatar.runtime.clock import Clock

DEFAULT_PORT = 9000
POSE = ("head_yaw", "head_pitch", "head_roll", "head_x", "head_y", "head_z")
STATS = ("p50_ms", "p95_ms", "max_ms", "fps_in", "fps_out", "drops", "repeats")
_I = {n: i for i, n in enumerate(NAMES)}


def frame_messages(frame: MotionFrame) -> list[bytes]:
    """The four per-frame messages of ``frame``."""
    p = [float(v) for v in frame.params]
    return [
        message("/pyavatar/pose", *(p[_I[k]] for k in POSE)),
        message("/pyavatar/face", *p),
        message("/pyavatar/viseme", *(float(v) for v in frame.visemes), float(frame.speaking)),
        message("/pyavatar/emotion", frame.emotion, float(frame.intensity), *(p[_I[k]] for k in EMOTIONS)),
    ]


def stats_message(stats: dict[str, Any]) -> bytes:
    """``/pyavatar/stats`` for a pipeline stats snapshot."""
    return message("/pyavatar/stats", *(float(stats.get(k, 0.0)) for k in STATS))


class RawOscSender(RateSender):
    """Sends the ``/pyavatar/*`` namespace to ``host:port`` at ``rate`` Hz (and stats every ``stats_interval`` s).

    Args:
        bundle: bundle the tick's messages (False: one datagram per message).
        max_bytes: largest datagram; a tick that does not fit is split into several bundles.
        stats_interval: seconds between ``/pyavatar/stats`` messages; 0 disables them.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        rate: float = 60.0,
        bundle: bool = True,
        stats_interval: float = 1.0,
        max_bytes: int = MAX_DATAGRAM,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(host, port, rate, clock=clock, name="raw-osc", max_bytes=max_bytes)
        if stats_interval < 0:
            raise ValueError(f"stats_interval must be >= 0, got {stats_interval}")
        self.bundle = bundle
        self.stats_interval = stats_interval
        self._next_stats = 0.0

    def describe(self) -> str:
        """One line for a start-up banner."""
        return f"OSC /pyavatar/* to {self.host}:{self.port} at {self.rate:g} Hz"

    def idle_frame(self) -> MotionFrame:
        """Neutral parameters, sent until the first frame arrives."""
        return MotionFrame(-1, 0, self.rate, -1, np.zeros(len(NAMES), np.float32), np.zeros(5, np.float32))

    def encode(self, frame: MotionFrame | None, t: float) -> list[bytes]:
        """One tick's datagrams for ``frame`` (None: neutral) at sender time ``t``, with stats when due."""
        msgs = frame_messages(frame or self.idle_frame())
        stats_fn = self.info.stats if self.info is not None else None
        if self.stats_interval and stats_fn is not None and t >= self._next_stats:
            self._next_stats = t + self.stats_interval
            msgs.append(stats_message(stats_fn()))
        return pack(msgs, self.max_bytes, self.bundle)
