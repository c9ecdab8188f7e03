"""MouthNet's streaming speaker normalisation: the recursive running mean, chunking-exact, offset-free."""

from __future__ import annotations

import numpy as np
import torch

from pyavatar.motion.learned.model import (
    _PRIOR_FLOOR,
    N_IN,
    N_MELS,
    NORM_PRIOR_FRAMES,
    MouthConfig,
    MouthNet,
    SpeakerNorm,
)


def test_speaker_norm_is_the_voicing_weighted_running_mean() -> None:
    torch.manual_seed(0)
    norm = SpeakerNorm(100)
    x = torch.randn(2, 1100, N_IN)
    x[..., -1] = torch.rand(2, 1100)
    with torch.no_grad():
        norm.prior.normal_()
        y, _ = norm(x, None)
    a, xn = np.exp(-1 / 100), x.double().numpy()
    prior = norm.prior.detach().double().numpy()
    swx, sw, ref = np.tile(NORM_PRIOR_FRAMES * prior, (2, 1)), np.full((2, 1), NORM_PRIOR_FRAMES), []
    for t in range(xn.shape[1]):
        swx = a * swx + xn[:, t, -1:] * xn[:, t, :N_MELS]
        sw = a * sw + xn[:, t, -1:]
        ref.append(xn[:, t, :N_MELS] - (_PRIOR_FLOOR * prior + swx) / (_PRIOR_FLOOR + sw))
    np.testing.assert_allclose(y[..., :N_MELS].numpy(), np.stack(ref, 1), atol=1e-5)
    np.testing.assert_array_equal(y[..., N_MELS:].numpy(), x[..., N_MELS:].numpy())


def test_speaker_norm_removes_a_spectral_offset_and_streams_exactly() -> None:
    torch.manual_seed(1)
    net = MouthNet(MouthConfig(hidden=16, layers=3, norm_frames=50))
    x = torch.randn(1, 900, N_IN)
    x[..., -1] = 1.0
    tilt = torch.linspace(-2, 2, N_MELS)
    shifted = x.clone()
    shifted[..., :N_MELS] += tilt
    with torch.no_grad():
        a, _ = net.norm(x, None)
        b, _ = net.norm(shifted, None)
        assert (a - b)[0, 600:].abs().max() < 0.05  # the offset is gone once the mean has settled
        whole, _ = net(x)
        parts, state = [], None
        for s in range(0, 900, 41):
            out, state = net(x[:, s : s + 41], state)
            parts.append(out)
    torch.testing.assert_close(torch.cat(parts, 1), whole, atol=1e-5, rtol=0)
