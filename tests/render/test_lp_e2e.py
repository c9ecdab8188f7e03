"""Chained end-to-end conformance on the real-photo fixture (256² in, 512² out), both kernel backends."""

from __future__ import annotations

import pytest
import torch
from render_helpers import BACKENDS, max_abs

from pyavatar.render.liveportrait.keypoints import Motion
from pyavatar.render.liveportrait.renderer import LivePortraitRenderer, image_to_tensor, tensor_to_uint8
from pyavatar.render.liveportrait.weights import load_liveportrait

ATOL = 1e-5


@pytest.fixture(scope="module", params=BACKENDS)
def chain(request, lp_dir, reduced_config, lp_io):
    """Run the whole chain once per backend; the tests below inspect its stages."""
    torch.set_num_threads(2)
    io = lp_io("e2e")
    renderer = LivePortraitRenderer(load_liveportrait(lp_dir / "weights", reduced_config), kernel_backend=request.param)
    source = renderer.prepare_source(image_to_tensor(io["source_u8"].numpy()))
    drv = Motion.from_angles(
        io["drv.pitch_deg"], io["drv.yaw_deg"], io["drv.roll_deg"], io["drv.exp"], io["drv.t"], io["drv.scale"]
    )
    x_d = renderer.driving_keypoints(source, drv)
    with torch.inference_mode():
        warp = renderer.models.warping_module(
            source.feature, kp_source=source.keypoints, kp_driving=x_d, kernel_backend=request.param
        )
    image = renderer.warp_decode(source, x_d)
    return {"io": io, "renderer": renderer, "source": source, "drv": drv, "x_d": x_d, "warp": warp, "image": image}


def test_source_state(chain) -> None:
    io, src = chain["io"], chain["source"]
    assert max_abs(src.feature, io["f_s"]) <= ATOL
    assert max_abs(src.canonical, io["x_s_info.kp"]) <= ATOL
    assert max_abs(src.motion.exp, io["x_s_info.exp"]) <= ATOL
    assert max_abs(src.motion.t, io["x_s_info.t"]) <= ATOL
    assert max_abs(src.motion.scale, io["x_s_info.scale"]) <= ATOL
    deg = torch.cat([io["x_s_info.pitch_deg"], io["x_s_info.yaw_deg"], io["x_s_info.roll_deg"]], dim=1)
    assert max_abs(src.degrees, deg) <= 1e-4
    assert max_abs(src.motion.rotation, io["R_s"]) <= ATOL
    assert max_abs(src.keypoints, io["x_s"]) <= ATOL


def test_driving_keypoints(chain) -> None:
    io = chain["io"]
    assert max_abs(chain["drv"].rotation, io["R_d"]) <= ATOL
    assert max_abs(chain["drv"].keypoints(chain["source"].canonical), io["x_d"]) <= ATOL
    assert max_abs(chain["x_d"], io["x_d_stitched"]) <= ATOL


def test_warp_chained(chain) -> None:
    io = chain["io"]
    for key in ("occlusion_map", "deformation", "out"):
        assert max_abs(chain["warp"][key], io[f"warp.{key}"]) <= ATOL, key


def test_decoder_chained_and_staged(chain) -> None:
    io = chain["io"]
    assert max_abs(chain["image"], io["decoder.out"]) <= 2e-4
    with torch.inference_mode():
        staged = chain["renderer"].models.spade_generator(io["warp.out"])
    assert max_abs(staged, io["decoder.out"]) <= ATOL


def test_output_uint8(chain) -> None:
    ref = chain["io"]["output_u8"]
    out = tensor_to_uint8(chain["image"])
    diff = (out.int() - ref.int()).abs()
    assert out.dtype == torch.uint8 and out.shape == ref.shape
    assert int(diff.max()) <= 1
    assert int((diff > 0).sum()) <= 0.001 * ref.numel()


def test_render_equals_keypoints_then_warp_decode(chain) -> None:
    image = chain["renderer"].render(chain["source"], chain["drv"])
    assert torch.equal(image, chain["image"])


def test_gpu_options_are_refused_on_cpu(reduced_models) -> None:
    with pytest.raises(ValueError, match="'fp16' needs a CUDA device"):
        LivePortraitRenderer(reduced_models, device="cpu", precision="fp16")
    with pytest.raises(ValueError, match="cuda_graphs needs a CUDA device"):
        LivePortraitRenderer(reduced_models, device="cpu", cuda_graphs=True)
    with pytest.raises(ValueError, match="precision must be one of"):
        LivePortraitRenderer(reduced_models, precision="bf16")
