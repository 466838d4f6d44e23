"""Layers point one way (STYLE.md convention 2): a static walk over the imports, and a runtime check that
the gateway and the launcher never load TensorFlow."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import cellkiosk

PACKAGE_DIR = Path(cellkiosk.__file__).resolve().parent
SERVICES = ("gateway", "consumer", "autoscaler")
PURE = ("imaging", "postprocess", "measure", "tracking", "evaluation")
PURE_MUST_NOT_IMPORT = (*SERVICES, "training", "inference")
HEAVY = ("tensorflow", "keras", "tf_keras", "tensorflow_serving")  # must stay lazy outside training/
LAZY_ENTRY_POINTS = ("cellkiosk.gateway.app", "cellkiosk.gateway.__main__", "cellkiosk.launcher")


@dataclass(frozen=True)
class Import:
    """One imported module name, where it is, and whether it runs when the module is imported."""

    module: str  # the importing module, e.g. cellkiosk.gateway.app
    target: str  # the imported module, e.g. cellkiosk.core.queue
    line: int
    at_import_time: bool  # False inside a function body or under ``if TYPE_CHECKING:``

    def __str__(self) -> str:
        where = "module level" if self.at_import_time else "inside a function"
        return f"{self.module} (line {self.line}, {where}) imports {self.target}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """Absolute name of the module a ``from ... import`` reads from."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> list[Import]:
    """Every import in a file; those in function bodies or ``if TYPE_CHECKING`` do not run at import time."""
    module = module_name(path)
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, eager: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(module, alias.name, node.lineno, eager) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = resolve(module, is_package, node)
            found.append(Import(module, source, node.lineno, eager))
            # ``from cellkiosk import gateway`` imports the subpackage itself.
            found.extend(Import(module, f"{source}.{alias.name}", node.lineno, eager) for alias in node.names)
        for name, value in ast.iter_fields(node):
            children = value if isinstance(value, list) else [value]
            for child in children:
                if not isinstance(child, ast.AST):
                    continue
                lazy = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) and name == "body"
                lazy = lazy or (isinstance(node, ast.If) and name == "body" and is_type_checking(node.test))
                visit(child, eager and not lazy)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), True)
    return found


ALL_IMPORTS = [imp for path in sorted(PACKAGE_DIR.rglob("*.py")) for imp in imports_of(path)]


def subpackage(name: str) -> str | None:
    """``imaging`` for ``cellkiosk.imaging.io``; None outside cellkiosk or for top-level modules."""
    parts = name.split(".")
    if parts[0] != "cellkiosk" or len(parts) < 2:
        return None
    if (PACKAGE_DIR / parts[1]).is_dir():
        return parts[1]
    return None


def top_level_module(name: str) -> str | None:
    """``launcher`` for ``cellkiosk.launcher`` (modules that sit beside the subpackages)."""
    parts = name.split(".")
    return parts[1] if parts[0] == "cellkiosk" and len(parts) >= 2 and subpackage(name) is None else None


def crossings(rule: str, imports: list[Import] = ALL_IMPORTS) -> list[str]:
    """The imports that break one layering rule, as readable lines."""
    bad = []
    for imp in imports:
        src, dst = subpackage(imp.module), subpackage(imp.target)
        dst_is_cellkiosk = imp.target.startswith("cellkiosk.")
        if rule == "core" and src == "core" and dst_is_cellkiosk and dst != "core":
            bad.append(imp)
        elif rule == "services" and src in SERVICES and dst in SERVICES and src != dst:
            bad.append(imp)
        elif rule == "services" and src in SERVICES and top_level_module(imp.target) not in (None, "__init__"):
            bad.append(imp)  # e.g. the gateway reaching into the launcher or the CLI
        elif rule == "pure" and src in PURE and dst in PURE_MUST_NOT_IMPORT:
            bad.append(imp)
        elif rule == "heavy" and imp.at_import_time and imp.target.split(".")[0] in HEAVY and src != "training":
            bad.append(imp)
    return [str(imp) for imp in bad]


def test_the_walk_sees_the_package() -> None:
    modules = {imp.module for imp in ALL_IMPORTS}
    for name in ("cellkiosk.core.queue", "cellkiosk.gateway.app", "cellkiosk.imaging.io", *LAZY_ENTRY_POINTS):
        assert name in modules
    eager = {(imp.module, imp.target) for imp in ALL_IMPORTS if imp.at_import_time}
    assert ("cellkiosk.gateway.app", "cellkiosk.core.queue") in eager
    assert ("cellkiosk.gateway.app", "cellkiosk.core.queue.JobQueue") in eager  # names are kept too
    lazy_tf = [imp for imp in ALL_IMPORTS if imp.target == "tensorflow" and not imp.at_import_time]
    assert lazy_tf, "expected the lazy TensorFlow imports of cellkiosk.inference.predictor to be found"


def test_core_imports_no_other_subpackage() -> None:
    bad = crossings("core")
    assert not bad, "core must not import services or other subpackages:\n" + "\n".join(bad)


def test_services_do_not_import_each_other() -> None:
    bad = crossings("services")
    assert not bad, "gateway, consumer and autoscaler must not import each other:\n" + "\n".join(bad)


def test_pure_packages_import_no_service_training_or_inference() -> None:
    bad = crossings("pure")
    assert not bad, f"{', '.join(PURE)} must stay pure:\n" + "\n".join(bad)


def test_tensorflow_is_imported_lazily_outside_training() -> None:
    bad = crossings("heavy")
    assert not bad, "TensorFlow/Keras may only be imported inside functions outside training/:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("rule", "module", "target", "eager"),
    [
        ("core", "cellkiosk.core.queue", "cellkiosk.imaging.io", True),
        ("core", "cellkiosk.core.settings", "cellkiosk.inference.store", False),
        ("services", "cellkiosk.gateway.routes.jobs", "cellkiosk.consumer.worker", False),
        ("services", "cellkiosk.autoscaler", "cellkiosk.gateway", True),
        ("services", "cellkiosk.consumer.worker", "cellkiosk.launcher", True),
        ("pure", "cellkiosk.postprocess.deep_watershed", "cellkiosk.training.targets", True),
        ("pure", "cellkiosk.imaging.io", "cellkiosk.inference.model_card", False),
        ("heavy", "cellkiosk.inference.predictor", "tensorflow", True),
        ("heavy", "cellkiosk.gateway.app", "keras.layers", True),
    ],
)
def test_each_rule_names_the_offender(rule: str, module: str, target: str, eager: bool) -> None:
    offender = Import(module, target, 7, eager)
    assert crossings(rule, [offender]) == [str(offender)]
    assert module in str(offender) and target in str(offender) and "line 7" in str(offender)


@pytest.mark.parametrize(
    ("rule", "module", "target", "eager"),
    [
        ("core", "cellkiosk.core.queue", "cellkiosk.core.jobs", True),
        ("core", "cellkiosk.core.jobs", "cellkiosk", True),
        ("services", "cellkiosk.gateway.app", "cellkiosk.inference.store", True),
        ("services", "cellkiosk.consumer.worker", "cellkiosk.consumer.batch", True),
        ("pure", "cellkiosk.imaging.io", "cellkiosk.core.errors", True),
        ("heavy", "cellkiosk.inference.predictor", "tensorflow", False),
        ("heavy", "cellkiosk.training.model", "keras", True),
        ("heavy", "cellkiosk.gateway.app", "tensorflowish", True),
    ],
)
def test_allowed_imports_pass(rule: str, module: str, target: str, eager: bool) -> None:
    assert crossings(rule, [Import(module, target, 1, eager)]) == []


def test_resolve_relative_imports() -> None:
    tree = ast.parse("from . import x\nfrom ..core import jobs\nfrom .io import read\n")
    nodes = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert resolve("cellkiosk.imaging.io", False, nodes[0]) == "cellkiosk.imaging"
    assert resolve("cellkiosk.imaging.io", False, nodes[1]) == "cellkiosk.core"
    assert resolve("cellkiosk.imaging", True, nodes[2]) == "cellkiosk.imaging.io"


@pytest.mark.parametrize("entry_point", LAZY_ENTRY_POINTS)
@pytest.mark.slow
def test_entry_point_does_not_load_tensorflow(entry_point: str) -> None:
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({entry_point!r})\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"importing {entry_point} failed:\n{result.stderr[-3000:]}"
    loaded = result.stdout.strip()
    assert not loaded, f"importing {entry_point} loaded {loaded.split(',')[:10]}"
