"""Motion at the output rate when it is higher than the motion rate: linear interpolation between frames.

Input frame ``k`` (at ``in_fps``) is centred at ``(k + 0.5) / in_fps``, output
frame ``j`` at ``(j + 0.5) / out_fps``; an output frame is produced once the
input frame at or after its centre has arrived (so interpolation adds up to one
input frame of latency) and takes the weighted mean of the two input frames
around it. Output frames before the first input centre hold the first frame;
:meth:`MotionUpsampler.flush` holds the last one up to the end of the stream.
A jump in the input indices (a gap in the audio) restarts interpolation.
"""

from __future__ import annotations

import math
from dataclasses import replace

from pyavatar.packets import MotionFrame


def _lerp(a: MotionFrame, b: MotionFrame, w: float, index: int, pts_ns: int, fps: float) -> MotionFrame:
    cap = -1 if a.capture_ns < 0 or b.capture_ns < 0 else round(a.capture_ns + w * (b.capture_ns - a.capture_ns))
    near = b if w >= 0.5 else a
    keypoints = near.keypoints  # LivePortrait keypoint motion (expression, scale, translation, angles) blends too
    if a.keypoints is not None and b.keypoints is not None:
        keypoints = (a.keypoints + w * (b.keypoints - a.keypoints)).astype(a.keypoints.dtype)
    return replace(
        near,
        index=index,
        pts_ns=pts_ns,
        fps=fps,
        capture_ns=cap,
        params=(a.params + w * (b.params - a.params)).astype(a.params.dtype),
        visemes=(a.visemes + w * (b.visemes - a.visemes)).astype(a.visemes.dtype),
        speaking=a.speaking + w * (b.speaking - a.speaking),
        keypoints=keypoints,
    )


class MotionUpsampler:
    """Streaming ``in_fps`` → ``out_fps`` (``out_fps >= in_fps``); the identity when the rates are equal."""

    def __init__(self, in_fps: float, out_fps: float) -> None:
        if in_fps <= 0 or out_fps <= 0:
            raise ValueError(f"frame rates must be positive, got in_fps={in_fps}, out_fps={out_fps}")
        if out_fps < in_fps:
            raise ValueError(f"output rate {out_fps} is below the motion rate {in_fps}; use out_fps >= in_fps")
        self.in_fps = float(in_fps)
        self.out_fps = float(out_fps)
        self.reset()

    @property
    def identity(self) -> bool:
        """True when the rates are equal (frames pass through unchanged)."""
        return self.in_fps == self.out_fps

    def reset(self) -> None:
        """Forget the previous frame; the next input starts a new run."""
        self._prev: MotionFrame | None = None
        self._next: int | None = None  # next output index
        self._origin_ns: int | None = None  # stream time of input index 0

    def _pts(self, j: int) -> int:
        assert self._origin_ns is not None
        return self._origin_ns + round(j * 1e9 / self.out_fps)

    def process(self, frame: MotionFrame) -> list[MotionFrame]:
        """Output frames completed by input ``frame``."""
        if self.identity:
            return [frame]
        k = frame.index
        if self._prev is None or k != self._prev.index + 1:
            self._origin_ns = frame.pts_ns - round(k * 1e9 / self.in_fps)
            first = math.ceil(k * self.out_fps / self.in_fps - 1e-9)  # first output starting within frame k
            self._next = first if self._next is None else max(self._next, first)
            self._prev = None
        out = []
        c_k = (k + 0.5) / self.in_fps
        assert self._next is not None
        while (self._next + 0.5) / self.out_fps <= c_k + 1e-12:
            j = self._next
            d = (j + 0.5) / self.out_fps
            if self._prev is None:
                out.append(replace(frame, index=j, pts_ns=self._pts(j), fps=self.out_fps))
            else:
                c_p = (self._prev.index + 0.5) / self.in_fps
                w = min(1.0, max(0.0, (d - c_p) / (c_k - c_p)))
                out.append(_lerp(self._prev, frame, w, j, self._pts(j), self.out_fps))
            self._next += 1
        self._prev = frame
        return out

    def flush(self) -> list[MotionFrame]:
        """Output frames up to the end of the last input frame (holding it); then :meth:`reset`."""
        out = []
        if not self.identity and self._prev is not None and self._next is not None:
            end = (self._prev.index + 1) / self.in_fps
            while self._next / self.out_fps < end - 1e-12:
                j = self._next
                out.append(replace(self._prev, index=j, pts_ns=self._pts(j), fps=self.out_fps))
                self._next += 1
        nxt = self._next
        self.reset()
        self._next = nxt
        return out
