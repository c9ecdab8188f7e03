"""MouthNet's cepstral liftering (``cepstra``): envelope kept, harmonic ripple removed, streaming exact."""

from __future__ import annotations

import pytest
import torch

from pyavatar.motion.learned.model import N_IN, N_MELS, MouthConfig, MouthNet


def _net(cepstra: int, seed: int = 0) -> MouthNet:
    torch.manual_seed(seed)
    return MouthNet(MouthConfig(hidden=16, layers=3, norm_frames=50, cepstra=cepstra)).eval()


def test_all_components_is_no_liftering() -> None:
    full, plain = _net(N_MELS), _net(0)
    plain.load_state_dict(full.state_dict())  # the projection is not a weight: same checkpoint keys
    x = torch.randn(1, 200, N_IN)
    with torch.no_grad():
        torch.testing.assert_close(full(x)[0], plain(x)[0], atol=5e-4, rtol=0)  # float32 rounding of D Dᵀ


def test_lifter_keeps_the_envelope_and_drops_a_harmonic_ripple() -> None:
    lifter = _net(20).lifter
    assert lifter is not None
    bands = torch.arange(N_MELS, dtype=torch.float32)
    envelope = torch.exp(-(((bands - 20) / 12) ** 2)) - 0.5 * torch.exp(-(((bands - 55) / 10) ** 2))
    ripple = 0.8 * torch.cos(torch.pi * bands * 2 / 5)  # a comb every 5 bands, like 200 Hz harmonics
    assert (envelope @ lifter - envelope).abs().max() < 0.05
    assert (ripple @ lifter).norm() < 0.15 * ripple.norm()


def test_liftered_model_streams_exactly() -> None:
    net = _net(24, seed=3)
    x = torch.randn(1, 500, N_IN)
    x[..., -1] = 1.0
    with torch.no_grad():
        whole, _ = net(x)
        parts, state = [], None
        for s in range(0, 500, 37):
            out, state = net(x[:, s : s + 37], state)
            parts.append(out)
    torch.testing.assert_close(torch.cat(parts, 1), whole, atol=1e-5, rtol=0)


@pytest.mark.parametrize("k", [-1, N_MELS + 1])
def test_out_of_range_cepstra_is_refused(k: int) -> None:
    with pytest.raises(ValueError, match=f"cepstra={k}"):
        MouthNet(MouthConfig(cepstra=k))
