"""End to end with a real microphone: speech played into a PulseAudio virtual mic drives the live runtime.

The session runs for more than 10 s with the probe renderer; a python-osc
server on loopback receives the VMC stream and a test virtual-camera backend
receives the frames. Checks: VMC ``A`` and ``/pyavatar/face`` jaw values follow
the speech envelope, the camera gets frames at the set rate, and the
capture→output latency is measured and reported.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pythonosc", reason="python-osc receives the VMC stream")
pyvirtualcam = pytest.importorskip("pyvirtualcam")

from pyavatar import Avatar  # noqa: E402
from pyavatar.assets import DEMO_PORTRAIT  # noqa: E402
from pyavatar.outputs.virtualcam import VirtualCamSink, read_stamp  # noqa: E402
from pyavatar.outputs.vmc import VmcSender  # noqa: E402
from tests.outputs.osc_receiver import Receiver  # noqa: E402
from tests.outputs.test_virtualcam import TestCamera  # noqa: E402
from tests.runtime.helpers import pyavatar_threads  # noqa: E402

FPS = 30
RUN_S = 11.0
PLAY_AT_S = 1.0


@pytest.fixture(scope="module")
def phrases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, int]:
    """Three phrases with a second of silence between them, and their 10 ms RMS envelope."""
    import soundfile as sf

    from pyavatar.evaluation.espeak import Espeak

    e = Espeak()
    parts = []
    for text in ("Good morning, everyone.", "The avatar follows my voice.", "Thank you and goodbye."):
        u = e.synthesize(text, "en-us")
        parts += [u.samples * 0.8, np.zeros(u.sample_rate, np.float32)]
    x = np.concatenate(parts)
    path = tmp_path_factory.mktemp("mic") / "phrases.wav"
    sf.write(path, x, u.sample_rate)
    hop = u.sample_rate // 100
    env = np.sqrt(np.mean(x[: len(x) // hop * hop].reshape(-1, hop) ** 2, axis=1))
    return path, env, u.sample_rate


def _track(messages: list[tuple[float, tuple]], t0: float, name: str | None, index: int) -> tuple[np.ndarray, ...]:
    t = np.array([m[0] - t0 for m in messages if name is None or m[1][0] == name])
    v = np.array([float(m[1][index]) for m in messages if name is None or m[1][0] == name])
    return t, v


@pytest.mark.slow
def test_microphone_to_vmc_and_virtual_camera(virtual_mic, phrases, record_property) -> None:
    from pyavatar.audio.mic import MicSource

    wav, env, _ = phrases
    pyvirtualcam.register_backend("pyavatar-test", TestCamera)
    try:
        avatar = Avatar.from_image(DEMO_PORTRAIT, renderer="probe", size=256)
        with Receiver() as rx:
            cam = VirtualCamSink(256, 256, backend="pyavatar-test", stamp=True)  # the portrait size
            vmc = VmcSender("127.0.0.1", rx.port, rate=60.0, vocabularies=("vrm0", "arkit"))
            from pyavatar.outputs.raw_osc import RawOscSender

            raw = RawOscSender("127.0.0.1", rx.port, rate=60.0)
            session = avatar.session(fps=FPS, outputs=[cam, vmc, raw])
            mic = MicSource("pulse", sample_rate=48000, channels=2, stall_timeout=3.0)
            session.start(mic)
            t0 = time.monotonic()
            player: list = []
            timer = threading.Timer(PLAY_AT_S, lambda: player.append((time.monotonic() - t0, virtual_mic.play(wav))))
            timer.start()
            try:
                finished = session.wait(RUN_S)
                stats = session.stats()
            finally:
                timer.cancel()
                session.stop()
                for _, p in player:
                    p.wait(timeout=10)
            time.sleep(0.1)
    finally:
        pyvirtualcam.camera.BACKENDS.pop("pyavatar-test", None)
    assert not finished, "the microphone stream ran until stopped"
    assert pyavatar_threads() == []
    assert player, "speech was played"
    played_at = player[0][0]

    # VMC: JawOpen follows the speech: correlation with the envelope of what was played, at the best lag
    # within 1.5 s after playback started (paplay and PulseAudio add their own delay).
    grid = np.arange(0, RUN_S, 0.01)
    start = int(played_at * 100)
    lags = range(start, min(len(grid) - len(env), start + 150))

    def follows(name: str) -> tuple[float, float]:
        t, v = _track(rx.of("/VMC/Ext/Blend/Val"), t0, name, 1)
        assert len(t) > 50 * RUN_S, f"VMC {name} kept coming at 60 Hz"
        x = np.interp(grid, t, v)
        assert x[:start].max() < 0.05, f"VMC {name}: mouth closed before the speech"
        r, s = max((float(np.corrcoef(x[s : s + len(env)], env)[0, 1]), s) for s in lags)
        print(f"VMC {name} vs speech envelope: r = {r:.2f} at {s / 100 - played_at:.2f} s after playback")
        return r, x.max()

    jaw_r, jaw_max = follows("JawOpen")
    assert jaw_r > 0.6 and jaw_max > 0.3
    assert max(a[1] for _, a in rx.of("/VMC/Ext/Blend/Val") if a[0] == "A") == 0.0  # vrm0,arkit: ARKit mouth only
    ft, fjaw = _track(rx.of("/pyavatar/face"), t0, None, 6)  # jaw_open is field 6 of /pyavatar/face
    assert fjaw.max() > 0.3 and np.interp(grid, ft, fjaw)[:start].max() < 0.05

    # Virtual camera: the set rate, and the pipeline latency measured two ways (metrics and pixel stamps).
    times = np.array([t for t, _ in cam_frames()])
    rate_out = (len(times) - 1) / (times[-1] - times[0])
    stamped = [(t * 1e9 - read_stamp(f)) / 1e6 for t, f in cam_frames() if read_stamp(f) > 0]
    print(
        f"camera {rate_out:.2f} fps; capture->output latency p50 {stats['p50_ms']:.1f} ms p95 {stats['p95_ms']:.1f} ms "
        f"max {stats['max_ms']:.1f} ms (pixel stamps p95 {np.percentile(stamped, 95):.1f} ms), playout delay "
        f"{stats['delay_ms']:.1f} ms, drops {stats['drops_by_stage']}, repeats {stats['repeats']}, {stats['counters']}"
    )
    record_property("latency_p50_ms", stats["p50_ms"])
    record_property("latency_p95_ms", stats["p95_ms"])
    record_property("latency_max_ms", stats["max_ms"])
    record_property("camera_fps", rate_out)
    # Rate and latency are wall-clock figures: recorded above and measured in benchmarks/LIVE.md, not asserted
    # here. What holds on any machine, loaded or not: frames kept coming, and the pipeline's own latency
    # figures agree with the pixel stamps the camera received.
    assert len(times) > FPS * RUN_S / 2 and rate_out > 0
    assert 0 < stats["p50_ms"] <= stats["p95_ms"] <= stats["max_ms"]
    assert abs(np.percentile(stamped, 95) - stats["p95_ms"]) < max(30.0, 0.2 * stats["p95_ms"])
    assert stats["latency_frames"] > FPS * (RUN_S - 4)


def cam_frames() -> list[tuple[float, np.ndarray]]:
    assert TestCamera.last is not None
    return TestCamera.last.frames
