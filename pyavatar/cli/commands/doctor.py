"""``pyavatar doctor``: what this installation can run, and why anything cannot."""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys

OPTIONAL_PACKAGES = ("triton", "cupy", "mediapipe", "sounddevice", "soundfile", "av", "pyvirtualcam", "pythonosc")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``doctor`` command and its options to ``sub``."""
    p = sub.add_parser(
        "doctor",
        help="report versions, native modules and kernel backends",
        description="Report the pyavatar, Python and torch versions, the native modules, the CUDA devices this "
        "torch can see, each kernel backend (available or why not, and the devices it can run on here) and the "
        "optional packages. Attach its --json output to bug reports.",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def _usable(devices: tuple[str, ...], cuda_available: bool) -> list[str]:
    """The devices a backend can run on here: ``cuda`` only when this torch sees a CUDA device."""
    return [d for d in devices if cuda_available or not d.startswith("cuda")]


def report() -> dict:
    """The doctor report as a dictionary."""
    import torch

    from pyavatar import __version__
    from pyavatar.kernels import backends

    try:
        import pyavatar._core as core

        native = {"build": core.build_info(), "cpu_isa": core.active_isa()}
    except ImportError as exc:
        native = {"error": str(exc)}
    available = torch.cuda.is_available()
    cuda: dict[str, object] = {"available": available}
    if available:
        cuda["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "pyavatar": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "native": native,
        "cuda": cuda,
        "backends": [vars(b) | {"devices": _usable(b.devices, available)} for b in backends()],
        "optional_packages": {name: importlib.util.find_spec(name) is not None for name in OPTIONAL_PACKAGES},
    }


def run(args: argparse.Namespace) -> int:
    """Print the report (``--json``: as JSON); 0."""
    r = report()
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"pyavatar {r['pyavatar']}  python {r['python']}  torch {r['torch']} ({r['torch_threads']} threads)")
    print(f"platform  {r['platform']}")
    native = r["native"]
    if "error" in native:
        print(f"native    pyavatar._core NOT importable: {native['error']}")
    else:
        b = native["build"]
        print(
            f"native    pyavatar._core {b['version']} ({b['compiler']}, OpenMP {'on' if b['openmp'] else 'off'}, "
            f"ISA builds {'/'.join(b['compiled_isas'])}, using {native['cpu_isa']})"
        )
    cuda = r["cuda"]
    print(f"cuda      {', '.join(cuda['devices']) if cuda['available'] else 'no CUDA device'}")
    print("\nkernel backends")
    print(f"  {'backend':<8} {'available':<10} {'devices':<24} reason")
    for b in r["backends"]:
        devices = ", ".join(b["devices"]) or "(none here)"
        print(f"  {b['name']:<8} {'yes' if b['available'] else 'no':<10} {devices:<24} {b['reason']}")
    print("\noptional packages")
    for name, present in r["optional_packages"].items():
        print(f"  {name:<13} {'installed' if present else 'missing'}")
    return 0
