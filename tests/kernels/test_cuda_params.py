"""The CuPy backend's params structs have the layout the C++ and CUDA compilers give the params headers.

:mod:`pyavatar.kernels._cuda_params` reads each op's params struct out of the kernel source and builds
a NumPy dtype from it. Here a small program compiled by the host C++ compiler (and, when nvcc is
present, static assertions compiled for the device) check every member's offset and size and each
struct's size and alignment against that dtype. No GPU needed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from pyavatar.kernels import _cupy
from pyavatar.kernels._cuda_params import POINTER, pack, struct_dtype
from pyavatar.kernels.spec import SPECS, DenseWarpArgs

from .test_cuda_build import _nvcc

CSRC = Path(__file__).resolve().parents[2] / "csrc"
HEADERS = ("warp/warp_params.h", "attention/relpos_params.h")
NAMESPACES = ("pyavatar_warp", "pyavatar_attn")
# The element type appears only behind pointers: a 4-byte and a 2-byte one must give the same layout.
ELEMENTS = ("float", "unsigned short")


def _struct(op: str) -> str:
    return "".join(w.capitalize() for w in op.split("_")) + "Params"


def _members(dtype: np.dtype, prefix: str = "") -> Iterator[tuple[str, int, int]]:
    """(dotted member path, offset, size) of every member, nested ones included, offsets from the outer struct."""
    for name in dtype.names or ():
        field, offset = dtype.fields[name][:2]
        yield prefix + name, offset, field.itemsize
        if field.names is not None:
            yield from ((p, offset + o, s) for p, o, s in _members(field, prefix + name + "."))


def _expected() -> dict[str, tuple[int, int]]:
    """What the dtypes say, keyed as the probes print it: struct -> (size, alignment), member -> (offset, size)."""
    facts = {}
    for op in SPECS:
        dtype = _cupy.params_dtype(op)
        for element in ELEMENTS:
            struct = f"{_struct(op)}<{element}>"
            facts[struct] = (dtype.itemsize, dtype.alignment)
            facts.update({f"{struct}.{path}": (offset, size) for path, offset, size in _members(dtype)})
    return facts


def _probe_lines(fact: Callable[[str, str, str], str]) -> list[str]:
    """C++ statements with ``fact(key, expression, expression)`` for every fact of :func:`_expected`."""
    lines = []
    for op in SPECS:
        dtype = _cupy.params_dtype(op)
        for element in ELEMENTS:
            struct = f"{_struct(op)}<{element}>"
            lines.append(f"{{ using S = {struct};")
            lines.append("  static_assert(std::is_standard_layout<S>::value && std::is_trivially_copyable<S>::value);")
            lines.append("  " + fact(struct, "sizeof(S)", "alignof(S)"))
            for name in dtype.names:
                lines.append(f"  {{ using M = decltype(S::{name});")
                lines.append("    " + fact(f"{struct}.{name}", f"offsetof(S, {name})", "sizeof(M)"))
                for sub in dtype.fields[name][0].names or ():
                    key = f"{struct}.{name}.{sub}"
                    lines.append("    " + fact(key, f"offsetof(S, {name}) + offsetof(M, {sub})", f"sizeof(M::{sub})"))
                lines.append("  }")
            lines.append("}")
    return lines


def _prelude() -> str:
    includes = "\n".join(f'#include "{h}"' for h in HEADERS)
    namespaces = "\n".join(f"using namespace {ns};" for ns in NAMESPACES)
    return f"#include <cstddef>\n#include <cstdio>\n#include <type_traits>\n{includes}\n{namespaces}\n"


def _run(cmd: list[str]) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return result.stdout


def test_every_op_has_a_params_struct_of_its_args_then_its_outputs():
    for op, spec in SPECS.items():
        dtype = _cupy.params_dtype(op)
        assert dtype.isalignedstruct, op
        args = [n for n in dtype.names if n in spec.args._fields]
        outputs = [n for n in dtype.names if n not in spec.args._fields]
        assert len(outputs) == spec.max_outputs and outputs[0] == "output", (op, outputs)
        assert all(dtype.fields[n][0] == POINTER for n in outputs), op
        # every arg reaches the kernel, except dense_warp's flag, which is the deformation pointer being set
        assert set(spec.args._fields) - set(args) <= {"return_deformation"}, op
    assert _cupy.params_dtype("relpos_attention").itemsize <= 4096  # CUDA's kernel parameter limit


def test_layout_matches_the_host_compiler(tmp_path):
    cxx = next((shutil.which(c) for c in ("c++", "g++", "clang++") if shutil.which(c)), None)
    if cxx is None:
        pytest.skip("no host C++ compiler (c++, g++ or clang++) on PATH")

    def fact(key: str, a: str, b: str) -> str:
        return f'std::printf("{key} %zu %zu\\n", static_cast<std::size_t>({a}), static_cast<std::size_t>({b}));'

    body = "\n".join("  " + line for line in _probe_lines(fact))
    (tmp_path / "probe.cpp").write_text(f"{_prelude()}int main() {{\n{body}\n  return 0;\n}}\n")
    _run(
        [cxx, "-std=c++17", "-Wall", "-Werror", f"-I{CSRC}", "-o", str(tmp_path / "probe"), str(tmp_path / "probe.cpp")]
    )
    measured = {}
    for line in _run([str(tmp_path / "probe")]).splitlines():
        key, a, b = line.rsplit(" ", 2)
        measured[key] = (int(a), int(b))
    assert measured == _expected()


def test_layout_matches_nvcc_device_compilation(tmp_path):
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found (CUDACXX, PATH, CUDA_HOME, /usr/local/cuda): device layout not checked")
    expected = _expected()

    def fact(key: str, a: str, b: str) -> str:
        x, y = expected[key]
        return f'static_assert(({a}) == {x} && ({b}) == {y}, "{key}: layout differs from the NumPy dtype");'

    body = "\n".join("  " + line for line in _probe_lines(fact))
    (tmp_path / "probe.cu").write_text(f"{_prelude()}__global__ void pyavatar_params_layout() {{\n{body}\n}}\n")
    ptx = tmp_path / "probe.ptx"
    _run([nvcc, "-std=c++17", "--ptx", "-arch=compute_80", f"-I{CSRC}", "-o", str(ptx), str(tmp_path / "probe.cu")])


def test_reader_refuses_what_it_cannot_lay_out():
    with pytest.raises(ValueError, match=r"S\.x: member type 'double'"):
        struct_dtype("struct S { double x; };", "S")
    with pytest.raises(ValueError, match="one member per declaration"):
        struct_dtype("struct S { long long a, b; };", "S")
    assert struct_dtype("struct Other { int a, b; };\nstruct S { int x; };", "S").itemsize == 4  # only S is read
    with pytest.raises(ValueError, match="struct Missing is not defined"):
        struct_dtype("template <typename T> struct S { Missing<const T, 2> m; };", "S")
    with pytest.raises(ValueError, match="array length 'N'"):
        struct_dtype("struct S { int a[N]; };", "S")
    text = "template <typename T, int R> struct V { T* data; long long size[R]; };\n"
    text += "template <typename T> struct P { V<const T, 3> v; /* note */ float f; // tail\n int i; };"
    dtype = struct_dtype(text, "P")
    assert [(n, dtype.fields[n][1]) for n in dtype.names] == [("v", 0), ("f", 32), ("i", 36)]
    assert dtype.itemsize == 40 and dtype["v"]["size"].shape == (3,)


def test_pack_fills_views_pointers_and_numbers_by_name():
    feature = torch.zeros(2, 3, 4, 5, 6)[:, :, :, 1:]
    mask = torch.zeros(2, 4, 3, 3, 3)
    kp = torch.zeros(2, 3, 3).transpose(1, 2)
    out = torch.zeros(2, 3, 3, 3, 3)
    struct = _cupy.params("dense_warp", DenseWarpArgs(feature, mask, kp, kp, False), (out,))
    assert struct.shape == (1,) and struct.dtype == _cupy.params_dtype("dense_warp")
    for name, tensor in (("feature", feature), ("mask", mask), ("kp_source", kp), ("kp_driving", kp)):
        view = struct[0][name]
        assert (int(view["data"]), tuple(view["size"]), tuple(view["stride"])) == (
            tensor.data_ptr(),
            tuple(tensor.shape),
            tensor.stride(),
        ), name
    assert int(struct[0]["output"]) == out.data_ptr() and int(struct[0]["deformation"]) == 0
    with pytest.raises(ValueError, match="params member 'q': expected a 4-D tensor"):
        pack(_cupy.params_dtype("relpos_attention"), {"q": feature})
    with pytest.raises(KeyError, match="params member 'feature' has no value"):
        pack(_cupy.params_dtype("dense_warp"), {})
