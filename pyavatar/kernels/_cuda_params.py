"""The params structs of the CUDA kernels as NumPy dtypes, read from the kernel source text.

Every CUDA kernel takes one params struct by value. The structs are written once, in
``csrc/common/view_params.h``, ``csrc/warp/warp_params.h`` and ``csrc/attention/relpos_params.h``:
the host launchers of ``pyavatar._cuda`` fill them in C++, and the CuPy backend fills the dtype that
:func:`struct_dtype` builds from the very text it hands to NVRTC, so the layout is one fact.
``tests/kernels/test_cuda_params.py`` checks these dtypes against what the host compiler and nvcc lay out.

The headers keep to a small grammar (see ``view_params.h``): ``struct`` definitions, optionally
``template <typename T, int R>``; one member per declaration; members are pointers, ``long long``,
``int``, ``float``, ``unsigned char``, instances of such structs, or arrays of those sized by a literal or
a template parameter. NumPy's ``align=True`` lays such a struct out as C and C++ do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from torch import Tensor

POINTER = np.dtype("<u8")  # device pointers are 64-bit wherever CUDA runs; no other member is unsigned 64-bit
_SCALARS: dict[str, np.dtype[Any]] = {
    "long long": np.dtype("<i8"),
    "int": np.dtype("<i4"),
    "float": np.dtype("<f4"),
    "unsigned char": np.dtype("u1"),
}

_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_STRUCT = re.compile(
    r"(?:template\s*<(?P<params>[^<>]*)>\s*)?\bstruct\s+(?P<name>\w+)\s*\{(?P<body>[^{}]*)\}\s*;", re.DOTALL
)
_MEMBER = re.compile(r"^(?P<type>.*?[\s*>])(?P<name>\w+)\s*(?:\[\s*(?P<count>\w+)\s*\])?$")
_INSTANCE = re.compile(r"^(?P<name>\w+)\s*<(?P<args>.*)>$")


@dataclass(frozen=True)
class _Struct:
    """A struct definition as written: its template parameter names and the text between its braces."""

    name: str
    params: tuple[str, ...]
    body: str

    def members(self) -> list[tuple[str, str, str | None]]:
        """``(type, name, array length or None)`` of each member, in order."""
        members = []
        for declaration in self.body.split(";"):
            declaration = " ".join(declaration.split())
            if not declaration:
                continue
            member = _MEMBER.match(declaration)
            if member is None or "," in re.sub(r"<[^<>]*>", "", member["type"]):
                raise ValueError(
                    f"struct {self.name}: cannot read '{declaration}' (one member per declaration: "
                    "TYPE NAME or TYPE NAME[N])"
                )
            members.append((member["type"].strip(), member["name"], member["count"]))
        return members


def _definitions(text: str) -> dict[str, _Struct]:
    """Every brace-free struct defined in ``text`` (a C++ source), by name; members are read when asked for."""
    found: dict[str, _Struct] = {}
    for match in _STRUCT.finditer(_COMMENT.sub(" ", text)):
        params = tuple(p.split()[-1] for p in match["params"].split(",")) if match["params"] else ()
        found[match["name"]] = _Struct(match["name"], params, match["body"])
    return found


def _member_dtype(kind: str, env: Mapping[str, str], structs: Mapping[str, _Struct], where: str) -> np.dtype[Any]:
    """The dtype of one member type, template parameters replaced from ``env``."""
    if kind.endswith("*"):
        return POINTER
    instance = _INSTANCE.match(kind)
    if instance is not None:
        args = [a.strip() for a in instance["args"].split(",")]
        return _dtype(instance["name"], [env.get(a, a) for a in args], structs, where)
    scalar = " ".join(w for w in kind.split() if w != "const")
    if scalar in _SCALARS:
        return _SCALARS[scalar]
    raise ValueError(f"{where}: member type '{kind}' is not a pointer, {', '.join(_SCALARS)} or a struct")


def _dtype(name: str, args: list[str], structs: Mapping[str, _Struct], where: str = "") -> np.dtype[np.void]:
    """The aligned dtype of struct ``name`` instantiated with template arguments ``args``."""
    if name not in structs:
        raise ValueError(f"{where or name}: struct {name} is not defined in the kernel source")
    struct = structs[name]
    if len(args) != len(struct.params):
        raise ValueError(f"{where or name}: struct {name} takes {len(struct.params)} template arguments, got {args}")
    env = dict(zip(struct.params, args, strict=True))
    names: list[str] = []
    formats: list[np.dtype[Any]] = []
    for kind, member, count in struct.members():
        dtype = _member_dtype(kind, env, structs, f"{name}.{member}")
        if count is not None:
            length = env.get(count, count)
            if not length.isdigit():
                raise ValueError(f"{name}.{member}: array length '{count}' is not a literal or template argument")
            dtype = np.dtype((dtype, (int(length),)))
        names.append(member)
        formats.append(dtype)
    return np.dtype({"names": names, "formats": formats}, align=True)


def struct_dtype(text: str, name: str) -> np.dtype[np.void]:
    """The NumPy dtype of params struct ``name`` (a ``template <typename T>`` struct) defined in ``text``.

    The element type ``T`` appears only behind pointers, so one dtype serves every element type.
    """
    structs = _definitions(text)
    template = structs[name].params if name in structs else ()
    return _dtype(name, ["T"] * len(template), structs)


def pack(dtype: np.dtype[np.void], values: Mapping[str, object]) -> NDArray[np.void]:
    """One struct of ``dtype`` (a one-element array, as CuPy passes a struct by value) from ``values`` by member name.

    A view member takes a tensor (data pointer, sizes, element strides) or None (all zero); a pointer member
    a tensor or None (null); any other member a number.
    """
    params = np.zeros(1, dtype)
    for name in dtype.names or ():
        if name not in values:
            raise KeyError(f"params member '{name}' has no value (given: {', '.join(values)})")
        value = values[name]
        field = dtype.fields[name][0] if dtype.fields else dtype
        if field.names is not None:  # a View
            if value is None:
                continue
            if not isinstance(value, Tensor) or value.dim() != field["size"].shape[0]:
                raise ValueError(f"params member '{name}': expected a {field['size'].shape[0]}-D tensor, got {value!r}")
            params[name]["data"] = value.data_ptr()
            params[name]["size"] = value.shape
            params[name]["stride"] = value.stride()
        elif field == POINTER:
            params[name] = 0 if value is None else _data_ptr(name, value)
        else:
            params[name] = value
    return params


def _data_ptr(name: str, value: object) -> int:
    if not isinstance(value, Tensor):
        raise ValueError(f"params member '{name}': expected a tensor or None, got {value!r}")
    return value.data_ptr()
