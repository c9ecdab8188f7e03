"""The dependency rules of docs/architecture.md, checked on the source.

Every import counts, wherever it is written: module level, inside functions, under
``if TYPE_CHECKING``, and the dynamic forms the package uses — ``importlib.import_module`` with a
literal name or with a name taken from a module-level dict of literals (the lazy ``_LAZY`` tables),
and ``"pyavatar.module:attribute"`` factory strings (the renderer and motion-source registries).
Names built at run time (f-strings) cannot be resolved and are not counted.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pyavatar"
ROOT = "__init__"  # pyavatar/__init__.py itself

# top-level package or module -> the top-level names it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    ROOT: {"sdk"},  # pyavatar.Avatar / pyavatar.Session, loaded lazily
    "_core": set(),  # compiled extension (csrc/, bindings/core*.cpp): imports no Python module
    "_cuda": set(),  # compiled CUDA extension (bindings/cuda.cpp)
    "_native": {"_core", "_cuda"},  # the one loader of the compiled modules (standard library only)
    "assets": set(),
    "packets": set(),
    "userdirs": set(),
    "checkpoints": set(),
    "worker": set(),  # the one worker-thread helper: a leaf every layer may use
    "kernels": {"_native"},
    "face": set(),
    "audio": {"packets", "worker"},
    "motion": {"audio", "face", "packets", "kernels", "checkpoints", "tracking", "video", "worker"},
    "render": {"face", "kernels", "userdirs", "checkpoints", "_native"},
    "evaluation": {"audio", "motion", "packets"},
    "data": {
        "audio",
        "checkpoints",
        "evaluation",
        "face",
        "packets",
        "tracking",
        "video",
    },  # extract-motion: video → dataset
    "training": {"audio", "checkpoints", "evaluation", "face", "motion", "packets"},  # diffusion: FaceParams targets
    "runtime": {"packets"},
    "outputs": {"face", "packets", "runtime", "userdirs", "worker", "_native"},
    "video": {"worker"},
    "tracking": {"face", "video"},
    "sdk": {"audio", "face", "motion", "outputs", "packets", "render", "runtime"},
    "batch": {"sdk", "render", "motion", "audio", "packets", "userdirs"},
    "bench": set(
        "_core _native assets audio batch checkpoints evaluation face kernels motion outputs packets render "
        "runtime sdk tracking userdirs video worker".split()
    ),
    "cli": {ROOT}
    | set(
        "_core _native assets audio batch bench checkpoints data evaluation face kernels motion outputs packets render "
        "runtime sdk tracking training userdirs video worker".split()
    ),
}
#: Compiled extension modules: importable, but with no Python source to read.
NATIVE = {"pyavatar._core", "pyavatar._cuda"}
#: Modules only the command line may import (they parse command-line and config-file options).
CLI_ONLY = {"pyavatar.cli.config"}

_FACTORY = re.compile(r"pyavatar(\.\w+)+:\w+")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The pyavatar module ``name`` loads (its longest existing prefix: ``pkg.attr`` is ``pkg``), else None."""
    while name.startswith("pyavatar"):
        if name in MODULES or name in NATIVE:
            return name
        name = name.rpartition(".")[0]
    return None


def _literal_tables(tree: ast.Module) -> dict[str, list[str]]:
    """Module-level ``NAME = {...}`` dicts: their string values (candidates for ``import_module(NAME[...])``)."""
    tables = {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            values = [v.value for v in node.value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
            for t in targets:
                if isinstance(t, ast.Name):
                    tables[t.id] = values
    return tables


def _is_import_call(node: ast.Call) -> bool:
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    return name == "import_module"


@cache
def imports_of(module: str, factories: bool = True) -> frozenset[str]:
    """The pyavatar modules ``module`` imports, statically or dynamically (see the module docstring).

    ``factories=False`` leaves out the registries' ``"module:attribute"`` strings (loaded by name on first use).
    """
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tables = _literal_tables(tree)
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            names += [f"{base}.{a.name}" for a in node.names]  # a submodule, else resolves to ``base``
        elif isinstance(node, ast.Call) and _is_import_call(node) and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.append(arg.value)
            elif isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name):
                names += tables.get(arg.value.id, [])
        elif (
            factories
            and isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _FACTORY.fullmatch(node.value)
        ):
            names.append(node.value.partition(":")[0])
    found = {_resolve(n) for n in names}
    return frozenset(m for m in found if m is not None and m != module)


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _describe(component: list[str], graph: dict[str, set[str]]) -> str:
    edges = [f"  {a} -> {b}" for a in component for b in sorted(graph[a]) if b in component]
    return "cycle:\n" + "\n".join(edges)


def test_every_top_level_module_has_rules():
    names = {_top(m) for m in MODULES} | {m.split(".")[1] for m in NATIVE}
    assert names == set(ALLOWED), (
        f"without rules: {sorted(names - set(ALLOWED))}; rules for nothing: {sorted(set(ALLOWED) - names)}"
    )


def test_the_rules_themselves_have_no_cycle():
    graph = {name: set(allowed) for name, allowed in ALLOWED.items()}
    assert not _cycles(graph), [_describe(c, graph) for c in _cycles(graph)]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_layering_allows(package: str):
    bad = []
    for module in sorted(m for m in MODULES if _top(m) == package):
        extra = {_top(t) for t in imports_of(module)} - ALLOWED[package] - {package}
        if extra:
            bad.append(f"{MODULES[module].relative_to(PACKAGE.parent)} imports {sorted(extra)}")
    assert not bad, "\n".join(bad)


def test_private_modules_are_imported_only_inside_their_package():
    """``pkg._impl`` (a ``_``-prefixed module below the top level) is ``pkg``'s own business."""
    bad = []
    for module in sorted(MODULES):
        for target in sorted(imports_of(module)):
            parts = target.split(".")
            private = [i for i, p in enumerate(parts) if p.startswith("_") and i > 1]
            if private:
                owner = ".".join(parts[: private[0]])
                if module != owner and not module.startswith(owner + "."):
                    bad.append(f"{module} imports {target} (private to {owner})")
    assert not bad, "\n".join(bad)


def test_cli_only_modules_are_imported_only_by_the_cli():
    assert CLI_ONLY <= set(MODULES), f"missing: {sorted(CLI_ONLY - set(MODULES))}"
    assert all(m.startswith("pyavatar.cli.") for m in CLI_ONLY)
    bad = [
        f"{module} imports {sorted(imports_of(module) & CLI_ONLY)}"
        for module in sorted(MODULES)
        if imports_of(module) & CLI_ONLY and not module.startswith("pyavatar.cli")
    ]
    assert not bad, "\n".join(bad)


def test_modules_import_each_other_without_cycles():
    """No module needs another that needs it back, even through an import inside a function.

    A registry's ``"module:attribute"`` entries are not counted here: a built-in source or renderer
    implements the protocol its registry defines and is loaded by name when first asked for (the
    layering rules above still count those strings).
    """
    graph = {m: set(imports_of(m, factories=False)) for m in MODULES}
    cycles = _cycles(graph)
    assert not cycles, "\n".join(_describe(c, graph) for c in cycles)


def test_subpackages_import_each_other_without_cycles():
    """Between packages (directories) that do not contain each other, dependencies go one way.

    A package and its own subpackages may refer to each other (a registry naming its built-in
    sources, the sources using the registry's protocol); the module test above still applies to them.
    """
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        a = _package_of(module)
        graph.setdefault(a, set())
        for target in imports_of(module, factories=False):
            if target in NATIVE:
                continue
            b = _package_of(target)
            if a != b and not b.startswith(a + ".") and not a.startswith(b + "."):
                graph[a].add(b)
    cycles = _cycles(graph)
    assert not cycles, "\n".join(_describe(c, graph) for c in cycles)


def test_the_checker_sees_every_kind_of_import():
    """The dynamic forms are found (a checker that saw nothing would pass everything)."""
    assert "pyavatar._native" in imports_of("pyavatar.kernels._cpp")  # from ... import
    assert "pyavatar.sdk" in imports_of("pyavatar")  # import_module(_LAZY[name])
    assert "pyavatar.render.classical" in imports_of("pyavatar.render.registry")  # "module:attribute"
    assert "pyavatar.sdk.render" in imports_of("pyavatar.sdk.avatar")  # from ... import
