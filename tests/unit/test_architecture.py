"""The layering rules of docs/architecture.md, read from the source with ``ast`` so that they cannot rot:

- ``backends/`` imports nothing of localcore but the contract package ``localcore.contract``;
- the contract imports no other part of localcore and no aiohttp;
- a feature (``auth``, ``workspaces``, ``metering``, ``mail``) uses another only through that package's
  public names (``from localcore.auth import X``), never its modules;
- no module in ``localcore/`` or ``backends/`` grows past 450 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ("auth", "workspaces", "metering", "mail")
MAX_MODULE_LINES = 450


def modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def imported(path: Path) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, module, names) of every import in the file, relative imports resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            yield node.lineno, base, tuple(alias.name for alias in node.names)


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def test_backends_import_only_the_contract_of_localcore() -> None:
    wrong = [f"{where(path, line)} imports {module}" for path in modules("backends")
             for line, module, _ in imported(path)
             if module.split(".")[0] == "localcore" and not (module == "localcore.contract"
                                                              or module.startswith("localcore.contract."))]
    assert wrong == []


def test_the_contract_imports_no_feature_and_no_aiohttp() -> None:
    wrong = [f"{where(path, line)} imports {module}" for path in modules("localcore/contract")
             for line, module, _ in imported(path)
             if module.split(".")[0] == "aiohttp"
             or (module.startswith("localcore") and not module.startswith("localcore.contract"))]
    assert wrong == []


@pytest.mark.parametrize("feature", FEATURES)
def test_features_use_each_other_only_through_their_public_names(feature: str) -> None:
    wrong = []
    for path in modules(f"localcore/{feature}"):
        for line, module, names in imported(path):
            parts = module.split(".")
            if len(parts) < 2 or parts[0] != "localcore" or parts[1] not in FEATURES or parts[1] == feature:
                continue
            if len(parts) > 2:
                wrong.append(f"{where(path, line)} imports {module} (use `from localcore.{parts[1]} import …`)")
                continue
            public = _public_names(parts[1])
            wrong += [f"{where(path, line)} imports {name} from localcore.{parts[1]}, which does not export it"
                      for name in names if name not in public]
    assert wrong == []


def _public_names(feature: str) -> set[str]:
    tree = ast.parse((ROOT / "localcore" / feature / "__init__.py").read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return {ast.literal_eval(element) for element in node.value.elts}  # type: ignore[attr-defined]
    raise AssertionError(f"localcore/{feature}/__init__.py declares no __all__")


def test_no_module_is_over_450_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in modules("localcore", "backends")
            if (n := len(p.read_text("utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}
