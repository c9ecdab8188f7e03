"""Streaming diffusion generator: 60 s continuity and constant memory, chunking, flush, latency, SSL path, outputs."""

from __future__ import annotations

import tracemalloc
from collections import deque

import numpy as np
import pytest
import torch

from pyavatar.motion.diffusion import (
    MotionControls,
    MotionModelConfig,
    SSLConfig,
    SSLEncoder,
    StreamConfig,
    StreamingMotionGenerator,
    StreamingSSL,
    chunk_face_params,
    chunk_fields,
    random_model,
)
from pyavatar.motion.joyvasa import SourceKeypoints, compose_keypoints, rotation_matrix
from pyavatar.packets import AudioChunk

SR = 16_000
TINY = MotionModelConfig(d_model=32, heads=2, blocks=1)
STREAM = StreamConfig(window=30, new_frames=10, lookahead=10, steps=2)


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Voiced bursts with a gliding pitch and a smooth envelope (period 1.37 s, not a multiple of a step)."""
    t = np.arange(int(SR * seconds)) / SR
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.5 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = 0.03 + 0.5 * (1 - np.cos(2 * np.pi * np.clip((t % 1.37) / 1.1, 0, 1)))
    return (0.2 * x * env).astype(np.float32)


def stream(gen: StreamingMotionGenerator, audio: np.ndarray, chunk: int = 3200, flush: bool = True) -> np.ndarray:
    out = []
    for i in range(0, len(audio), chunk):
        r = gen.push(AudioChunk(i * 1_000_000_000 // SR, SR, audio[i : i + chunk]))
        if r is not None:
            out.append(r.values)
    if flush:
        tail = gen.flush()
        if tail is not None:
            out.append(tail.values)
    return np.concatenate(out)


def _seam_stats(values: np.ndarray, n: int) -> tuple[float, float, float, float]:
    jumps = np.linalg.norm(np.diff(values, axis=0), axis=1)
    seam_idx = np.arange(n - 1, len(jumps), n)
    seams, within = jumps[seam_idx], np.delete(jumps, seam_idx)
    return seams.max(), within.max(), seams.mean(), within.mean()


@pytest.mark.slow
def test_sixty_seconds_continuous_and_constant_memory() -> None:
    model = random_model(TINY, seed=0)
    gen = StreamingMotionGenerator(model, STREAM)
    audio = speechlike(60.0)
    sizes, values = [], []
    try:
        for i in range(0, len(audio), 4000):
            r = gen.push(AudioChunk(i * 62_500, SR, audio[i : i + 4000]))
            if r is not None:
                values.append(r.values)
            sizes.append(gen.buffered_frames())
            if i == 16000 * 40:  # watch Python-level allocations over the last 20 s
                tracemalloc.start()
                base = tracemalloc.get_traced_memory()[0]
        late_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    v = np.concatenate(values)
    assert len(v) >= 60 * 25 - STREAM.new_frames - STREAM.lookahead - 1
    assert np.isfinite(v).all()
    # buffers never exceed one window plus what one push can add (4000 samples = 7 frames)
    for key in ("audio", "loudness", "noise"):
        assert max(s[key] for s in sizes) <= STREAM.window + 7, key
    assert max(s["history"] for s in sizes) == STREAM.context
    assert late_peak - base < 2_000_000, "python-level memory grew while streaming"
    seam_max, within_max, seam_mean, within_mean = _seam_stats(v, STREAM.new_frames)
    assert seam_max <= within_max
    assert seam_mean <= 1.1 * within_mean


def test_seam_test_detects_discontinuity() -> None:
    """Without anchoring and cross-fade the same stream has clearly larger jumps at the seams."""
    model = random_model(TINY, seed=0)
    cfg = StreamConfig(window=30, new_frames=10, lookahead=10, steps=2, anchor=False, crossfade=False)
    v = stream(StreamingMotionGenerator(model, cfg), speechlike(20.0), flush=False)
    _, _, seam_mean, within_mean = _seam_stats(v, cfg.new_frames)
    assert seam_mean > 1.15 * within_mean


def test_chunking_does_not_change_output_and_flush_completes() -> None:
    model = random_model(TINY, seed=1)
    audio = speechlike(3.0)[: 16000 * 3 - 123]
    a = stream(StreamingMotionGenerator(model, STREAM), audio, chunk=160)
    b = stream(StreamingMotionGenerator(model, STREAM), audio, chunk=7777)
    np.testing.assert_array_equal(a, b)
    n_feature_frames = -(-len(audio) // 160)
    assert len(a) == n_feature_frames // 4  # every complete 40 ms frame, none invented


def test_pts_are_contiguous() -> None:
    gen = StreamingMotionGenerator(random_model(TINY), STREAM)
    audio = speechlike(2.0)
    chunks = [
        gen.push(AudioChunk(5_000_000_000 + i * 62_500, SR, audio[i : i + 1600])) for i in range(0, len(audio), 1600)
    ]
    chunks = [c for c in chunks if c is not None] + [gen.flush()]
    expect = 5_000_000_000
    for c in chunks:
        assert c.pts_ns == expect and c.frame_rate == 25
        expect += len(c) * 40_000_000


def test_first_frame_delay_matches_lookahead() -> None:
    """The first frames appear once (new_frames + lookahead) frames of audio plus the feature look-ahead exist."""
    gen = StreamingMotionGenerator(random_model(TINY), STREAM)
    audio = speechlike(2.0)
    first_at = None
    for i in range(0, len(audio), 160):
        if gen.push(AudioChunk(i * 62_500, SR, audio[i : i + 160])) is not None:
            first_at = (i + 160) / SR
            break
    lat = gen.latency()
    assert lat["algorithmic"] == pytest.approx((10 + 10) / 25 + 0.016)
    assert first_at is not None and abs(first_at - lat["algorithmic"]) <= 0.011
    assert lat["first_frame"] > lat["algorithmic"] and lat["rtf"] > 0


def test_speech_encoder_path_streams() -> None:
    enc = SSLEncoder(
        SSLConfig(
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            conv_dim=(8,) * 7,
            num_conv_pos_embeddings=4,
            num_conv_pos_embedding_groups=2,
        )
    ).eval()
    cfg = MotionModelConfig(d_model=32, heads=2, blocks=1, audio="ssl", ssl_dim=16, ssl_states=3, ssl_downsample="conv")
    model = random_model(cfg, seed=2)
    ssl = StreamingSSL(enc, hop=5, left=10, lookahead=4)
    gen = StreamingMotionGenerator(model, STREAM, ssl=ssl)
    v = stream(gen, speechlike(3.0), chunk=1000)
    assert v.shape == (75, 70) and np.isfinite(v).all()
    assert gen.latency()["algorithmic"] == pytest.approx(20 / 25 + (4 * 320 + 80) / 16000)
    with pytest.raises(ValueError, match="expects 2 of 16"):
        StreamingMotionGenerator(
            random_model(MotionModelConfig(d_model=32, heads=2, blocks=1, audio="ssl", ssl_dim=16, ssl_states=2)),
            STREAM,
            ssl=ssl,
        )


def test_streaming_ssl_matches_offline_encoding_in_the_middle() -> None:
    """A per-frame-normalised encoder (wav2vec 2.0 large style) streams exactly what one long encoding gives.

    (Group-norm front ends, as in HuBERT base, normalise over the segment, so their streamed states differ a little.)
    """
    torch.manual_seed(0)
    enc = SSLEncoder(
        SSLConfig(
            hidden_size=16,
            num_hidden_layers=0,
            num_attention_heads=2,
            intermediate_size=32,
            conv_dim=(8,) * 7,
            conv_bias=True,
            feat_extract_norm="layer",
            do_stable_layer_norm=True,
            num_conv_pos_embeddings=4,
            num_conv_pos_embedding_groups=2,
        )
    ).eval()
    audio = speechlike(2.0)
    ssl = StreamingSSL(enc, hop=5, left=10, lookahead=6, all_layers=False)
    rows = ssl.process(AudioChunk(0, SR, audio))
    with torch.no_grad():
        full = enc(torch.from_numpy(audio)[None])[0]  # (L, C) at 50 Hz, starting at sample 0
    # no transformer layers: only the position convolution (kernel 4) sees neighbours
    got = rows[10:20, 0].reshape(20, -1)
    torch.testing.assert_close(got, full[20:40], rtol=1e-4, atol=1e-4)


def test_face_params_space_and_source_keypoints() -> None:
    fp = random_model(MotionModelConfig(space="face_params", d_model=32, heads=2, blocks=1), seed=3)
    gen = StreamingMotionGenerator(fp, STREAM)
    out = [gen.push(AudioChunk(0, SR, speechlike(1.5))), gen.flush()]
    params = chunk_face_params(out[0])
    assert len(params) == len(out[0]) and np.isfinite(params.values).all()
    rng = np.random.default_rng(0)
    src = SourceKeypoints(
        x_c=rng.normal(size=(21, 3)).astype(np.float32) * 0.3,
        R=np.eye(3, dtype=np.float32),
        exp=rng.normal(size=(21, 3)).astype(np.float32) * 0.01,
        scale=1.5,
        t=np.array([0.01, -0.02, 0.0], np.float32),
    )
    gen = StreamingMotionGenerator(random_model(TINY, seed=4), STREAM, source=src)
    chunks = [gen.push(AudioChunk(0, SR, speechlike(1.5))), gen.flush()]
    f = {k: np.concatenate([chunk_fields(c)[k] for c in chunks]) for k in ("exp", "scale", "t", "pitch", "yaw", "roll")}
    f["R"] = rotation_matrix(f["pitch"], f["yaw"], f["roll"])
    kp = np.concatenate([c.keypoints for c in chunks])
    np.testing.assert_allclose(kp, compose_keypoints(f, src), rtol=1e-5, atol=1e-6)  # reference = first frame
    with pytest.raises(ValueError, match="keypoints-space model"):
        StreamingMotionGenerator(fp, STREAM, source=src)


@pytest.mark.parametrize("kind", ["one_euro", "kalman", "ema", "none"])
def test_pose_smoothing_kinds(kind: str) -> None:
    model = random_model(TINY, seed=5)
    cfg = StreamConfig(window=30, new_frames=10, lookahead=10, steps=2, smoothing=kind)
    v = stream(StreamingMotionGenerator(model, cfg, MotionControls(seed=1)), speechlike(3.0))
    raw = stream(
        StreamingMotionGenerator(
            model,
            StreamConfig(window=30, new_frames=10, lookahead=10, steps=2, smoothing="none"),
            MotionControls(seed=1),
        ),
        speechlike(3.0),
    )
    pose = slice(63, 70)
    np.testing.assert_array_equal(v[:, :63], raw[:, :63])  # expression untouched
    rough = np.abs(np.diff(v[:, pose], axis=0)).mean()
    if kind == "none":
        np.testing.assert_array_equal(v, raw)
    else:
        assert rough < 0.8 * np.abs(np.diff(raw[:, pose], axis=0)).mean()


def test_denoiser_cache_is_bit_identical_across_steps_windows_and_control_changes() -> None:
    """Cached step/condition/position terms give exactly the uncached output, also after controls change."""
    model = random_model(MotionModelConfig(space="face_params", d_model=32, heads=2, blocks=2), seed=3)
    cfg = StreamConfig(window=12, new_frames=2, lookahead=0, steps=3)
    audio = speechlike(2.0)

    def run(cache: bool) -> np.ndarray:
        gen = StreamingMotionGenerator(model, cfg, MotionControls(seed=5), cache=cache)
        first = stream(gen, audio[:16000], chunk=640, flush=False)
        gen.set(emotion="happy", emotion_intensity=0.8, gaze=(10.0, -5.0), reference_pose=(5.0, 0.0, 0.0))
        return np.concatenate([first, stream(gen, audio[16000:], chunk=640)])

    cached, uncached = run(True), run(False)
    assert len(cached) == 50
    np.testing.assert_array_equal(cached, uncached)


def test_traced_graph_equals_the_eager_pytorch_forward() -> None:
    """graph=True runs the same operations: identical to eager with the PyTorch attention, close to the fused one."""
    model = random_model(MotionModelConfig(space="face_params", d_model=32, heads=2, blocks=2), seed=4)
    cfg = StreamConfig(window=12, new_frames=2, lookahead=0, steps=3)
    audio = speechlike(1.5)

    def run(graph: bool, backend: str | None) -> np.ndarray:
        model.kernel_backend = backend
        gen = StreamingMotionGenerator(model, cfg, MotionControls(seed=2), graph=graph)
        first = stream(gen, audio[:12000], chunk=640, flush=False)
        gen.set(emotion="sad", emotion_intensity=0.5)  # 3 rows either way; the graph's shapes stay
        gen.set(upper_emotion="happy")  # region composition: 4 denoiser rows, a second traced graph
        return np.concatenate([first, stream(gen, audio[12000:], chunk=640)])

    traced, eager = run(True, None), run(False, "torch")
    fused = run(False, None)
    model.kernel_backend = None
    np.testing.assert_array_equal(traced, eager)
    np.testing.assert_allclose(traced, fused, atol=1e-4)
    assert np.abs(traced - fused).max() > 0  # the fused kernel really was the other path


def test_warm_up_leaves_the_stream_unchanged() -> None:
    model = random_model(TINY, seed=6)
    audio = speechlike(1.5)
    warm = StreamingMotionGenerator(model, STREAM, MotionControls(seed=3))
    warm.warm_up()
    assert warm.step_times == deque() and warm.first_step_s is None
    np.testing.assert_array_equal(
        stream(warm, audio), stream(StreamingMotionGenerator(model, STREAM, MotionControls(seed=3)), audio)
    )
