"""The pyavatar SDK: :class:`Avatar` and :class:`Session` (offline and live), plus their building blocks.

See docs/sdk.md and samples/ for runnable examples.
"""

from pyavatar.sdk.avatar import Avatar, Session, prepare
from pyavatar.sdk.motion import MotionStage
from pyavatar.sdk.render import RenderResult
from pyavatar.sdk.sources import LiveAudio, paced
from pyavatar.sdk.stage import PortraitStage, PreparedRenderer

__all__ = [
    "Avatar",
    "LiveAudio",
    "MotionStage",
    "PortraitStage",
    "PreparedRenderer",
    "RenderResult",
    "Session",
    "paced",
    "prepare",
]
