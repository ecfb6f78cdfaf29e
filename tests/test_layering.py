"""The layers of PRODUCT.md "Architecture": only the core, service.py and kandianctl reach the store.

Checked from the source (every import, function-level ones too), so a lazy
import cannot hide a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import kandian

ROOT = Path(kandian.__file__).parent

# everything but the core, the store itself, service.py (which wires them) and kandianctl
ALLOWED = {"core", "store", "service.py", "ctl", "__init__.py", "__pycache__"}
CHECKED = tuple(sorted(p.name for p in ROOT.iterdir() if p.name not in ALLOWED and (p.is_dir() or p.suffix == ".py")))


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The absolute names of the modules *path* imports (relative imports resolved)."""
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    return found


def files(*names: str) -> list[Path]:
    out: list[Path] = []
    for name in names:
        target = ROOT / name
        out.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target])
    return out


class StoreLayerTests(SynchronousTestCase):
    def test_resolves_relative_imports(self) -> None:
        self.assertIn("kandian.core.errors.DatabaseUnavailable", imports(ROOT / "admin" / "web.py"))

    def test_interfaces_do_not_import_the_store(self) -> None:
        def store(name: str) -> bool:
            return name == "kandian.store" or name.startswith("kandian.store.")

        offenders = {_module(path): sorted(filter(store, imports(path))) for path in files(*CHECKED)}
        self.assertEqual({module: names for module, names in offenders.items() if names}, {})
