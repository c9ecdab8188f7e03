"""``pyavatar bench render``: per-frame renderer timing against the PyTorch reference kernels.

Each renderer registers a case builder in :data:`RENDERERS`; a case is one
(stage, batch) pair with a function for pyavatar's kernels and one for the
PyTorch reference backend, timed alternately in the same process. Rows:
{renderer, stage, batch, device, backend, dtype, ms_median, ref_ms_median,
speedup} plus the model config and frame size.

``neural`` stages: ``warp_decode`` (W+G: driving keypoints → 512² crop) and
``frame`` (motion → keypoints + stitching → W+G → paste-back into a
full-size uint8 frame on the device). Without ``--weights`` the models get
random weights, which cost exactly the same to run. ``--config`` is ``full``
(the released model) or a ``models.yaml``-layout JSON file such as the
fixtures' ``config_reduced.json``. On CUDA, ``--cuda-graphs on off`` times
each case with W+G captured in CUDA graphs and eagerly; rows add
``cuda_graphs`` (whether the capture was actually used).

``classical`` (CPU): stage ``render`` turns FaceParams into a 512² frame
(vertices, C++ flow rasterizer and sampler); the reference (backend
``opencv``) warps the same deformed mesh triangle by triangle with OpenCV.
Rows add ``size``. The portrait is ``--image`` (default: scikit-image's
astronaut).
"""

from __future__ import annotations

import argparse
import math
import platform
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from pyavatar.bench.timing import interleaved_median_ms, set_threads, write_json

if TYPE_CHECKING:
    from pyavatar.render.liveportrait.config import LivePortraitConfig
    from pyavatar.render.liveportrait.weights import LivePortraitModels

DESCRIPTION = "per-frame renderer timing (W+G and keypoints → paste-back) vs the PyTorch reference kernels"
REFERENCE_BACKEND = "torch"


@dataclass
class Case:
    """One timed configuration: ``fast`` uses pyavatar's kernels, ``reference`` the PyTorch backend."""

    stage: str
    batch: int
    fast: Callable[[], object]
    reference: Callable[[], object]
    backend: str
    size: str | None = None
    graphs_used: Callable[[], bool] | None = None  # neural on CUDA: whether W+G ran captured


def _kernel_backend(device: torch.device) -> str:
    from pyavatar.kernels.dispatch import select

    return select("dense_warp", device, torch.float32).name


def _neural_cases(args: argparse.Namespace, device: torch.device) -> list[Case]:
    from pyavatar.render.liveportrait.weights import LivePortraitModels, load_liveportrait

    if args.weights:
        models = load_liveportrait(args.weights, _config(args.config))
    else:
        models = LivePortraitModels(_config(args.config)).randomize(seed=0)
    cases = []
    graphs = args.cuda_graphs if device.type == "cuda" else ["off"]
    for mode in dict.fromkeys(graphs):
        cases.extend(_neural_cases_for(args, device, models, cuda_graphs=mode == "on"))
    return cases


def _neural_cases_for(
    args: argparse.Namespace, device: torch.device, models: LivePortraitModels, *, cuda_graphs: bool
) -> list[Case]:
    import numpy as np

    from pyavatar.render.liveportrait.keypoints import Motion
    from pyavatar.render.liveportrait.renderer import LivePortraitRenderer, image_to_tensor
    from pyavatar.render.portrait import PasteBack, align_box

    backend = _kernel_backend(device)
    options = {"device": device, "precision": args.dtype, "cuda_graphs": cuda_graphs}
    fast = LivePortraitRenderer(models, kernel_backend=backend, **options)
    ref = LivePortraitRenderer(models, kernel_backend=REFERENCE_BACKEND, **options)

    w, h = args.frame_size
    gen = np.random.default_rng(0)
    frame = gen.integers(0, 256, (h, w, 3), dtype=np.uint8)
    side = min(w, h) // 2
    alignment = align_box(((w - side) / 2, (h - side) / 2, side, side))
    paste = PasteBack(frame, alignment, device)
    source = fast.prepare_source(image_to_tensor(alignment.crop(frame), device))

    cases = []
    for b in args.batch:
        phase = torch.linspace(0, 2 * math.pi, b)
        motion = Motion.from_angles(
            source.degrees[:, 0].cpu() + 5 * torch.sin(phase),
            source.degrees[:, 1].cpu() + 15 * torch.sin(phase),
            source.degrees[:, 2].cpu().expand(b),
            source.motion.exp.cpu().expand(b, -1, -1),
            source.motion.t.cpu().expand(b, -1),
            source.motion.scale.cpu().expand(b, -1),
        ).to(device)
        x_d = fast.driving_keypoints(source, motion)
        cases.append(
            Case(
                "warp_decode",
                b,
                lambda r=fast, x=x_d: r.warp_decode(source, x),
                lambda r=ref, x=x_d: r.warp_decode(source, x),
                backend,
                graphs_used=lambda: fast.cuda_graphs,
            )
        )
        cases.append(
            Case(
                "frame",
                b,
                lambda r=fast, m=motion: paste(r.render(source, m)),
                lambda r=ref, m=motion: paste(r.render(source, m)),
                backend,
                graphs_used=lambda: fast.cuda_graphs,
            )
        )
    return cases


CLASSICAL_SIZE = 512
CLASSICAL_REFERENCE = "opencv"


def _classical_cases(args: argparse.Namespace, device: torch.device) -> list[Case]:
    import numpy as np

    from pyavatar.face.params import FaceParams
    from pyavatar.render.classical import ClassicalRenderer
    from pyavatar.render.classical.reference import triangle_warp

    if args.image:
        image: object = args.image
    else:
        try:
            from skimage.data import astronaut
        except ImportError:
            raise SystemExit(
                "bench render --renderer classical: pass --image PORTRAIT (or pip install 'pyavatar[bench]')"
            ) from None
        image = astronaut()
    renderer = ClassicalRenderer(output="crop", crop_size=CLASSICAL_SIZE, threads=args.threads)
    prepared = renderer.prepare(image)
    phase = np.linspace(0, 2 * math.pi, 48, endpoint=False)
    params = FaceParams.from_fields(
        jaw_open=0.5 + 0.5 * np.sin(3 * phase),
        head_yaw=15 * np.sin(phase),
        head_pitch=6 * np.sin(2 * phase),
        blink_left=np.clip(np.sin(5 * phase), 0, 1),
        blink_right=np.clip(np.sin(5 * phase), 0, 1),
        smile_left=0.4 + 0.4 * np.cos(phase),
        smile_right=0.4 + 0.4 * np.cos(phase),
        gaze_yaw=20 * np.cos(2 * phase),
    )
    mesh, rig = prepared.mesh, prepared.rig
    coefficients = rig.coefficients(params)
    counters = {"fast": 0, "reference": 0}

    def step(name: str) -> int:
        counters[name] = (counters[name] + 1) % len(params)
        return counters[name]

    def fast() -> object:
        return renderer.render(prepared, params, step("fast"))

    def reference() -> object:
        positions = rig.positions(params, coefficients, step("reference"))
        return triangle_warp(prepared.canvas, mesh.source, positions, mesh.triangles)

    size = f"{CLASSICAL_SIZE}x{CLASSICAL_SIZE}"
    return [Case("render", 1, fast, reference, "cpp", size)]


def _config(name: str) -> LivePortraitConfig:
    """``full`` (the released model) or a ``models.yaml``-layout JSON file."""
    from pyavatar.render.liveportrait.config import LivePortraitConfig

    if name == "full":
        return LivePortraitConfig()
    try:
        return LivePortraitConfig.from_json(name)
    except (OSError, ValueError) as exc:
        hint = "pass 'full' or a models.yaml-layout JSON file"
        raise SystemExit(f"bench render --config {name}: {exc} ({hint})") from None


RENDERERS: dict[str, Callable[[argparse.Namespace, torch.device], list[Case]]] = {
    "neural": _neural_cases,
    "classical": _classical_cases,
}


def _frame_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"frame size must look like 1280x720, got {text!r}") from None
    return w, h


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the render suite's options."""
    p.add_argument(
        "--renderer", choices=sorted(RENDERERS), default="neural", help="which renderer to time (default: neural)"
    )
    p.add_argument(
        "--config",
        default="full",
        metavar="full|FILE",
        help="model size: 'full' (the released model) or a models.yaml-layout JSON file, "
        "e.g. the conformance fixtures' config_reduced.json",
    )
    p.add_argument("--weights", help="checkpoint folder (default: random weights of the chosen size)")
    p.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="torch device (default: cuda when available, else cpu)",
    )
    p.add_argument("--dtype", choices=("fp32", "fp16"), help="default: fp16 on CUDA, fp32 on CPU")
    p.add_argument(
        "--batch", type=int, nargs="+", default=[1, 4], help="frames rendered per call, one row each (default: 1 4)"
    )
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds before timing (default: 2)")
    p.add_argument("--reps", type=int, default=15, help="timed rounds per case (each runs fast and reference)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (torch and the C++ kernels)")
    p.add_argument(
        "--frame-size",
        type=_frame_size,
        default=(1280, 720),
        help="output frame WxH for the paste-back (default: 1280x720)",
    )
    p.add_argument(
        "--cuda-graphs",
        nargs="+",
        choices=("on", "off"),
        default=["on"],
        help="CUDA only: W+G captured in CUDA graphs, eager, or both ('on off'); default on",
    )
    p.add_argument("--image", help="portrait for --renderer classical (default: scikit-image's astronaut)")
    p.add_argument("--json", metavar="FILE", help="write the rows to this file")


def run(args: argparse.Namespace) -> int:
    """Time the chosen renderer against its reference; print a table and optionally write JSON."""
    set_threads(args.threads)
    device = torch.device("cpu" if args.renderer == "classical" else args.device)
    args.dtype = args.dtype or ("fp16" if device.type == "cuda" else "fp32")
    cases = RENDERERS[args.renderer](args, device)
    rows = []
    sync = device if device.type == "cuda" else None
    for case in cases:
        with torch.inference_mode():
            fast_ms, ref_ms = interleaved_median_ms(
                [case.fast, case.reference], warmup=args.warmup, rounds=args.reps, device=sync
            )
        row = {
            "renderer": args.renderer,
            "stage": case.stage,
            "batch": case.batch,
            "device": torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"cpu ({platform.machine()}, {args.threads} threads)",
            "backend": case.backend,
            "dtype": args.dtype,
            **({"cuda_graphs": case.graphs_used()} if case.graphs_used and device.type == "cuda" else {}),
            "ms_median": round(fast_ms, 3),
            "ref_ms_median": round(ref_ms, 3),
            "speedup": round(ref_ms / fast_ms, 3),
            **(
                {"size": case.size, "reference": CLASSICAL_REFERENCE}
                if case.size
                else {
                    "config": args.config,
                    "weights": "given" if args.weights else "random",
                    "frame_size": "x".join(str(v) for v in args.frame_size),
                }
            ),
            "reps": args.reps,
        }
        rows.append(row)
        write_json(args.json, {"suite": "render", "rows": rows})  # after every row: slow CPU runs keep partial results
        print(
            f"{row['renderer']:8s} {row['stage']:12s} b={row['batch']:<2d} {row['backend']:6s} {row['dtype']} "
            f"{row['ms_median']:10.2f} ms  ref {row['ref_ms_median']:10.2f} ms  ×{row['speedup']:.2f}  "
            f"({case.size or args.config}{', graphs' if row.get('cuda_graphs') else ''})",
            flush=True,
        )
    return 0
