"""The layers point one way (enms <- baselines <- performance) and the numeric cores stay free of
Django, so they can be read, reused and tested on their own."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NUMERIC_PACKAGES = ("baselines/engine", "performance/drift")
NUMERIC_MODULES = ("performance/abstats.py", "performance/absim.py", "performance/hac.py", "performance/cusum.py",
                   "performance/alert_text.py")


def _imports(path: pathlib.Path) -> set[str]:
    """Every module a file imports, at any depth (inside functions too), relative ones resolved."""
    return _imports_of(path.read_text(), ".".join(path.relative_to(ROOT).parts[:-1]))


def _imports_of(source: str, package: str) -> set[str]:
    tree = ast.parse(source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join([*base, node.module] if node.module else base))
            else:
                found.add(node.module)
    return found


def _sources(*folders: str) -> list[pathlib.Path]:
    return sorted(
        p for folder in folders for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts
    )


def test_the_import_helper_sees_imports_inside_functions():
    source = "def f():\n    from performance.models import ModelAlert\n    from ..models import Machine\n"
    assert _imports_of(source, "baselines.api") == {"performance.models", "baselines.models"}


@pytest.mark.parametrize("layer", ["enms", "baselines"])
def test_lower_layers_never_import_performance(layer):
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imports(path) if m.split(".")[0] == "performance")
        for path in _sources(layer)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_enms_never_imports_baselines():
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imports(path) if m.split(".")[0] == "baselines")
        for path in _sources("enms")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_numeric_cores_import_no_django():
    paths = _sources(*NUMERIC_PACKAGES) + [ROOT / m for m in NUMERIC_MODULES]
    assert len(paths) >= 10
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imports(path) if m.split(".")[0] in {"django", "rest_framework", "celery", "enms"}
        )
        for path in paths
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_outgrows_one_concern():
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in _sources("enms", "baselines", "performance")
    }
    assert {k: n for k, n in sizes.items() if n > 650} == {}
