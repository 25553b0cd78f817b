"""``docs/architecture.md`` names only what exists: every repo path and every module it cites.

The page is the newcomer's map; a renamed file or module must fail here, not mislead a reader.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
TEXT = DOC.read_text(encoding="utf-8")

#: Inline code spans (fenced blocks have none of the cited names).
SPANS = re.findall(r"`([^`\n]+)`", TEXT)
#: A repo path: starts with one of the top folders, made of path characters. Templates such as
#: ``corpus/<area>/`` and globs are not paths of one file and are left out.
PATH = re.compile(r"(?<![\w/.])(?:src|tests|docs|benchmarks)/[\w./-]+")
MODULE = re.compile(r"(?<![\w.])wormsign(?:\.\w+)+")

PATHS = sorted({m.rstrip(".") for s in SPANS if "<" not in s and "*" not in s
                for m in PATH.findall(s)})
MODULES = sorted({m for s in SPANS for m in MODULE.findall(s)})
PACKAGES = sorted(p.name for p in (ROOT / "src" / "wormsign").iterdir()
                  if (p / "__init__.py").is_file())


def test_the_doc_cites_paths_and_modules() -> None:
    # If the patterns stopped matching, the two tests below would pass on nothing.
    assert len(PATHS) >= 40, PATHS
    assert len(MODULES) >= 9, MODULES


@pytest.mark.parametrize("path", PATHS)
def test_every_cited_path_exists(path: str) -> None:
    assert (ROOT / path).exists(), f"docs/architecture.md cites {path}, which does not exist"


@pytest.mark.parametrize("name", MODULES)
def test_every_cited_module_imports(name: str) -> None:
    parts = name.split(".")
    # The longest importable prefix is the module; anything after it must be an attribute.
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as exc:
            if exc.name and not exc.name.startswith("wormsign"):
                pytest.skip(f"{name} needs {exc.name}, an optional third-party package")
            continue
        for attr in parts[cut:]:
            assert hasattr(obj, attr), f"{name}: {'.'.join(parts[:cut])} has no {attr}"
            obj = getattr(obj, attr)
        return
    pytest.fail(f"docs/architecture.md cites {name}, which does not import")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_is_on_the_map(package: str) -> None:
    assert f"`wormsign.{package}`" in TEXT, f"docs/architecture.md does not describe {package}"


def test_the_readme_links_the_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/architecture.md" in readme
    # After the two first commands and their explanation, before the first section.
    assert readme.index("```bash") < readme.index("docs/architecture.md") < readme.index("## ")
