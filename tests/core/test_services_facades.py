"""A services package's ``__init__`` is the one door callers use: code outside the package imports the public
services from it, never from its submodules (tests may reach a private helper in a submodule)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = ("core", "accounts", "notifications", "installments", "repayments", "simulators", "config", "bench")
PACKAGES = [path.parent for app in CODE for path in sorted((ROOT / app).glob("services/__init__.py"))]


def _dotted(package: Path) -> str:
    return ".".join(package.relative_to(ROOT).parts)


def test_the_services_packages_are_found() -> None:
    assert {_dotted(p) for p in PACKAGES} >= {"installments.services", "repayments.services"}


def test_code_outside_a_services_package_imports_its_facade() -> None:
    through_the_side = []
    for app in CODE:
        for path in sorted((ROOT / app).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                    continue
                for package in PACKAGES:
                    if node.module.startswith(_dotted(package) + ".") and package not in path.parents:
                        through_the_side.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}")
    assert through_the_side == [], f"import the services package, not its submodule: {through_the_side}"
