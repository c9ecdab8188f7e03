"""Virtual webcam output through a test backend registered with pyvirtualcam's backend registry."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

pyvirtualcam = pytest.importorskip("pyvirtualcam", reason="the virtual webcam output needs pyvirtualcam")

from pyvirtualcam.util import decode_fourcc  # noqa: E402

from pyavatar.outputs.virtualcam import Fitter, VirtualCamError, VirtualCamSink, read_stamp, stamp  # noqa: E402
from pyavatar.packets import MotionFrame  # noqa: E402
from pyavatar.runtime.frames import StreamInfo, VideoFrame  # noqa: E402

CHANNELS = {"raw ": 3, "ABGR": 4}


class TestCamera:
    """A pyvirtualcam backend that checks every frame and keeps (arrival time, frame)."""

    __test__ = False
    last: TestCamera | None = None
    clock: Callable[[], float] = time.monotonic  # arrival times (seconds)

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        fmt = decode_fourcc(fourcc)
        if fmt not in CHANNELS:
            raise RuntimeError(f"test camera: unsupported format {fmt!r}")
        if device == "missing":
            raise RuntimeError("test camera: device 'missing' not found")
        self.width, self.height, self.fps, self.fmt = width, height, fps, fmt
        self._device = device or "pyavatar-test-cam"
        self.frames: list[tuple[float, np.ndarray]] = []
        self.closed = False
        TestCamera.last = self

    def send(self, frame: np.ndarray) -> None:
        assert not self.closed
        assert frame.dtype == np.uint8 and frame.ndim == 1 and frame.flags.c_contiguous
        c = CHANNELS[self.fmt]
        assert frame.size == self.width * self.height * c, (frame.size, self.width, self.height, c)
        self.frames.append((TestCamera.clock(), frame.reshape(self.height, self.width, c).copy()))

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int | None:
        return None


@pytest.fixture
def test_backend() -> type[TestCamera]:
    pyvirtualcam.register_backend("pyavatar-test", TestCamera)
    yield TestCamera
    pyvirtualcam.camera.BACKENDS.pop("pyavatar-test", None)


def _vf(img: np.ndarray, alpha: np.ndarray | None = None, capture_ns: int = 0) -> VideoFrame:
    m = MotionFrame(0, 0, 30.0, capture_ns, np.zeros(25, np.float32), np.zeros(5, np.float32))
    return VideoFrame(img, m, alpha)


def test_fit_letterboxes_over_the_key_colour() -> None:
    img = np.full((100, 100, 3), 200, np.uint8)
    alpha = np.zeros((100, 100), np.uint8)
    alpha[25:75, 25:75] = 255
    out = Fitter((100, 100), (72, 128), (0, 255, 0)).fit(img, alpha, keep_alpha=False)
    assert out.shape == (72, 128, 3)
    assert (out[:, :20] == [0, 255, 0]).all() and (out[:, -20:] == [0, 255, 0]).all()  # margins
    assert (out[36, 64] == 200).all()  # opaque centre
    assert (out[3, 40] == [0, 255, 0]).all()  # transparent corner keyed
    rgba = Fitter((100, 100), (72, 128), (0, 255, 0)).fit(img, alpha, keep_alpha=True)
    assert rgba.shape == (72, 128, 4) and rgba[0, 0, 3] == 0 and rgba[36, 64, 3] == 255


def test_stamp_round_trip() -> None:
    img = np.zeros((8, 256, 3), np.uint8)
    t = 123_456_789_000_000
    stamp(img, t)
    assert read_stamp(img) == t


@pytest.mark.parametrize(
    ("fmt", "backend", "sent"), [("rgb", "pyavatar-test", 3), ("rgba", "pyavatar-test", 3), ("rgba", "unitycapture", 4)]
)
def test_sink_sends_the_right_size_and_format(
    test_backend: type[TestCamera], monkeypatch: pytest.MonkeyPatch, fmt: str, backend: str, sent: int
) -> None:
    monkeypatch.setitem(pyvirtualcam.camera.BACKENDS, "unitycapture", TestCamera)  # the alpha-carrying backend
    sink = VirtualCamSink(320, 180, fmt=fmt, backend=backend, stamp=True)
    assert (sink.note is not None) == (fmt == "rgba" and backend != "unitycapture")
    sink.start(StreamInfo(64, 64, 30.0))
    img = np.zeros((64, 64, 3), np.uint8)
    img[..., 0] = 255  # red portrait
    alpha = np.full((64, 64), 255, np.uint8)
    alpha[:8, :8] = 0  # a transparent corner
    sink.write_video(_vf(img, alpha, capture_ns=42_000_000))
    cam = test_backend.last
    assert cam is not None and (cam.width, cam.height, cam.fps) == (320, 180, 30.0)
    assert CHANNELS[cam.fmt] == sent
    frame = cam.frames[0][1]
    assert list(frame[90, 160, :3]) == [255, 0, 0]
    corner = frame[12, 75]  # inside the transparent corner of the fitted portrait (x from 70), below the stamp
    if sent == 4:
        assert corner[3] == 0 and frame[90, 160, 3] == 255
    else:
        assert list(corner) == [0, 255, 0]  # composited over the key colour
    assert read_stamp(frame) == 42_000_000
    assert sink.device_name == "pyavatar-test-cam"
    sink.close()
    assert cam.closed


def test_default_canvas_is_1280x720_and_options_stay_with_their_backend(test_backend: type[TestCamera]) -> None:
    sink = VirtualCamSink(backend="pyavatar-test", background="#0000ff")
    sink.start(StreamInfo(360, 360, 30.0))
    sink.write_video(_vf(np.full((360, 360, 3), 200, np.uint8)))
    cam = test_backend.last
    assert cam is not None and (cam.width, cam.height) == (1280, 720)
    frame = cam.frames[0][1]
    assert (frame[:, :280] == [0, 0, 255]).all() and (frame[:, 1000:] == [0, 0, 255]).all()  # keyable margins
    assert (frame[360, 640] == 200).all()  # the portrait fills the height, centred
    sink.close()
    with pytest.raises(ValueError, match="'bgr' only adds a conversion"):
        VirtualCamSink(fmt="bgr")
    with pytest.raises(ValueError, match=r"backend options \['device_name'\] need an explicit backend"):
        VirtualCamSink(device_name="x")


def test_errors_say_what_to_install(test_backend: type[TestCamera], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(VirtualCamError, match=r"unknown virtual camera backend 'nope'.*pyavatar-test"):
        VirtualCamSink(backend="nope").start(StreamInfo(64, 64, 30.0))
    with pytest.raises(VirtualCamError, match=r"(?s)no virtual camera could be opened.*'missing' not found.*To fix"):
        VirtualCamSink(backend="pyavatar-test", device="missing").start(StreamInfo(64, 64, 30.0))
    if sys.platform.startswith("linux"):
        with pytest.raises(VirtualCamError, match="v4l2loopback"):
            VirtualCamSink(backend="pyavatar-test", device="missing").start(StreamInfo(64, 64, 30.0))
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    with pytest.raises(VirtualCamError, match=r"pip install \"pyavatar\[webcam\]\""):
        VirtualCamSink().start(StreamInfo(64, 64, 30.0))
    with pytest.raises(ValueError, match="format"):
        VirtualCamSink(fmt="yuv")
    with pytest.raises(ValueError, match="width and height"):
        VirtualCamSink(width=640, height=None)


def test_live_session_feeds_the_camera_at_the_set_rate(
    test_backend: type[TestCamera], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from pyavatar import Avatar
    from pyavatar.assets import DEMO_PORTRAIT, DEMO_SPEECH
    from pyavatar.audio.sources import FileSource
    from pyavatar.render.probe import read_jaw
    from tests.runtime.helpers import Counted, LockstepClock

    clock = LockstepClock()  # the session runs tick by tick, the same on a loaded machine as on an idle one
    monkeypatch.setattr(TestCamera, "clock", staticmethod(lambda: clock.now_ns() / 1e9))
    avatar = Avatar.from_image(DEMO_PORTRAIT, renderer="probe", size=256)
    cam_sink = VirtualCamSink(256, 256, backend="pyavatar-test", stamp=True)
    session = avatar.session(fps=30, outputs=[cam_sink], clock=clock)
    motion = session.pipeline.motion = Counted(session.pipeline.motion)
    clock.follow(session.pipeline, motion)
    three_s = [c for c in FileSource(DEMO_SPEECH) if c.pts_ns < 3_000_000_000]
    session.start(clock.source(three_s, threading.Event()))
    assert session.wait(60)
    stats = session.stats()
    session.stop()
    cam = test_backend.last
    assert cam is not None and cam.closed and (cam.width, cam.height) == (256, 256)
    times = np.array([t for t, _ in cam.frames])
    rate = (len(times) - 1) / (times[-1] - times[0])
    gaps = np.diff(times)
    assert 28.5 < rate < 31.5, rate
    assert np.percentile(gaps, 95) < 0.06
    # ticks are one period apart except where the adaptive delay moved the grid (by a few ms each time)
    assert np.mean(np.abs(gaps - 1 / 30) < 1e-8) > 0.9
    assert stats["frames_out"] == len(cam.frames)
    assert stats["latency_frames"] + stats["drops"] == motion.produced  # each motion frame shown or counted
    lat = [(t * 1e9 - read_stamp(f)) / 1e6 for t, f in cam.frames[5:]]  # time stamps in pixels vs arrival
    assert 10 < np.median(lat) < 500
    assert max(read_jaw(f) for _, f in cam.frames) > 0.3  # the mouth opened with the speech
    print(
        f"virtual camera: {rate:.2f} fps, pixel-stamp latency p50 {np.median(lat):.1f} ms "
        f"p95 {np.percentile(lat, 95):.1f} ms; pipeline p95 {stats['p95_ms']:.1f} ms"
    )
