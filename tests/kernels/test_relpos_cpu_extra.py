"""C++ CPU relpos_attention against the PyTorch reference and the AniTalker (espnet) fixture."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pyavatar.kernels import reference, relpos_attention

core = pytest.importorskip("pyavatar._core", reason="pyavatar._core is not built")

TOL = 1e-5


def _runnable_isas() -> list[str]:
    info = core.build_info()
    return [name for name in info["compiled_isas"] if name != "v3" or info["cpu_supports_v3"]]


@pytest.fixture(params=_runnable_isas())
def isa(request: pytest.FixtureRequest):
    """Run the test once per CPU build this machine can execute."""
    core.set_active_isa(request.param)
    yield request.param
    core.set_active_isa("auto")


def _rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def _inputs(b: int, t: int, h: int, dk: int, pos_batch: int | None, gen: torch.Generator):
    q, k, v = (torch.randn(b, t, h, dk, generator=gen) for _ in range(3))
    pos_shape = (2 * t - 1, h, dk) if pos_batch is None else (pos_batch, 2 * t - 1, h, dk)
    pos = torch.randn(*pos_shape, generator=gen)
    u, w = torch.randn(h, dk, generator=gen), torch.randn(h, dk, generator=gen)
    return q, k, v, pos, u, w


def _mask(kind: str, b: int, t: int, gen: torch.Generator) -> torch.Tensor | None:
    if kind == "none":
        return None
    if kind == "random":
        return torch.rand(b, t, generator=gen) > 0.3
    m = torch.ones(b, t, dtype=torch.bool)
    if kind == "padded":  # last batch element has its second half padded
        m[-1, t // 2 :] = False
    elif kind == "empty_row":  # first batch element has no valid key at all
        m[0] = False
    return m


SHAPES = [  # (B, T, H, Dk, pos batch: None = 3-D shared, 1 = broadcast, B = per batch)
    (1, 1, 1, 8, None),
    (2, 1, 3, 16, 2),
    (2, 7, 2, 20, 1),
    (3, 33, 2, 64, 3),
    (2, 50, 4, 32, None),
    (1, 61, 2, 256, 1),
    (1, 37, 2, 512, None),
    (2, 13, 3, 5, 2),
]
CONTEXTS = [None, (-1, 0), (3, 2), (0, 0), (5, -1), (-1, -1), (0, -1)]


@pytest.mark.parametrize(("b", "t", "h", "dk", "pos_batch"), SHAPES)
@pytest.mark.parametrize("mask_kind", ["none", "random", "padded", "empty_row"])
def test_matches_reference(isa: str, b: int, t: int, h: int, dk: int, pos_batch: int | None, mask_kind: str) -> None:
    gen = torch.Generator().manual_seed(b * 1000 + t * 10 + dk)
    q, k, v, pos, u, w = _inputs(b, t, h, dk, pos_batch, gen)
    mask = _mask(mask_kind, b, t, gen)
    for context in CONTEXTS:
        ref = reference.relpos_attention(q, k, v, pos, u, w, key_mask=mask, context=context)
        out = relpos_attention(q, k, v, pos, u, w, key_mask=mask, context=context, backend="cpp")
        assert out.shape == ref.shape and out.is_contiguous()
        assert _rel_err(out, ref) <= TOL, (isa, context)
        if mask_kind == "empty_row":
            assert torch.count_nonzero(out[0]) == 0


@pytest.mark.parametrize(("t", "dk"), [(45, 64), (19, 256)])
def test_strided_inputs(isa: str, t: int, dk: int) -> None:
    """Transposed and sliced views of q/k/v/pos/biases give the same result as contiguous copies."""
    gen = torch.Generator().manual_seed(7)
    b, h = 2, 3
    q = torch.randn(b, h, t, dk, generator=gen).transpose(1, 2)  # (B, T, H, Dk) over (B, H, T, Dk) storage
    k = torch.randn(dk, b, t, h, generator=gen).permute(1, 2, 3, 0)  # channel stride != 1
    v = torch.randn(b, t, h, 2 * dk, generator=gen)[..., ::2]  # channel stride 2
    pos = torch.randn(h, 2 * t - 1, dk, generator=gen).transpose(0, 1).unsqueeze(0).expand(b, -1, -1, -1)
    u = torch.randn(dk, h, generator=gen).t()
    w = torch.randn(h, dk, generator=gen)
    mask = torch.rand(b, t, generator=gen) > 0.2
    for context in (None, (4, 1)):
        ref = reference.relpos_attention(
            q.contiguous(),
            k.contiguous(),
            v.contiguous(),
            pos.contiguous(),
            u.contiguous(),
            w,
            key_mask=mask,
            context=context,
        )
        out = relpos_attention(q, k, v, pos, u, w, key_mask=mask, context=context, backend="cpp")
        assert _rel_err(out, ref) <= TOL, context


@pytest.mark.parametrize("context", [None, (20, 5), (-1, 0)])
def test_long_sequence_windows(isa: str, context: tuple[int, int] | None) -> None:
    """Several row panels per head, windows that skip most keys, explicit scale."""
    gen = torch.Generator().manual_seed(11)
    q, k, v, pos, u, w = _inputs(1, 301, 2, 64, 1, gen)
    mask = torch.ones(1, 301, dtype=torch.bool)
    mask[0, 280:] = False
    ref = reference.relpos_attention(q, k, v, pos, u, w, key_mask=mask, context=context, scale=0.05)
    out = relpos_attention(q, k, v, pos, u, w, key_mask=mask, context=context, scale=0.05, backend="cpp")
    assert _rel_err(out, ref) <= TOL


def test_independent_of_thread_count() -> None:
    """Rows are computed the same way whatever the split (per-thread or shared packing, panel
    size), so results are bitwise identical."""
    gen = torch.Generator().manual_seed(3)
    q, k, v, pos, u, w = _inputs(1, 97, 2, 64, None, gen)
    previous = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 8):
            torch.set_num_threads(n)
            outs.append(relpos_attention(q, k, v, pos, u, w, context=(30, 30), backend="cpp"))
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(outs[0], outs[1])


def _espnet_mhsa(
    x: torch.Tensor, pos_emb: torch.Tensor, mask: torch.Tensor | None, params: dict[str, torch.Tensor], heads: int
) -> torch.Tensor:
    """espnet RelPositionMultiHeadedAttention (new rel_shift) with the core from the C++ kernel."""
    b, t, d = x.shape
    dk = d // heads

    def proj(name: str, inp: torch.Tensor) -> torch.Tensor:
        return F.linear(inp, params[f"{name}.weight"], params.get(f"{name}.bias"))

    q, k, v = (proj(f"linear_{n}", x).view(b, t, heads, dk) for n in "qkv")
    pos = proj("linear_pos", pos_emb).view(pos_emb.shape[0], 2 * t - 1, heads, dk)
    key_mask = None if mask is None else mask[:, 0, :]
    core_out = relpos_attention(
        q, k, v, pos, params["pos_bias_u"], params["pos_bias_v"], key_mask=key_mask, backend="cpp"
    )
    return proj("linear_out", core_out.reshape(b, t, d))


def test_anitalker_fixture(isa: str, fixtures_dir: Path) -> None:
    from safetensors.torch import load_file

    tensors = load_file(fixtures_dir / "motion/anitalker/anitalker_conformer_tiny.safetensors")
    prefix = "enc.encoders.0.self_attn."
    params = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    heads = params["pos_bias_u"].shape[0]
    x, pos_emb = tensors["in.mhsa_x"], tensors["mid.pos_emb"]
    for mask, key in ((None, "out.mhsa_layer0"), (tensors["in.mhsa_mask"], "out.mhsa_layer0_masked")):
        out = _espnet_mhsa(x, pos_emb, mask, params, heads)
        assert _rel_err(out, tensors[key]) <= TOL, key


def test_huge_context_is_unlimited(isa: str) -> None:
    """Window sizes far beyond T (up to int64 max) behave like -1."""
    gen = torch.Generator().manual_seed(5)
    q, k, v, pos, u, w = _inputs(1, 23, 2, 16, None, gen)
    ref = reference.relpos_attention(q, k, v, pos, u, w)
    for context in ((2**63 - 1, 2**63 - 1), (10**12, -1), (-1, 10**12)):
        out = relpos_attention(q, k, v, pos, u, w, context=context, backend="cpp")
        assert _rel_err(out, ref) <= TOL, context
