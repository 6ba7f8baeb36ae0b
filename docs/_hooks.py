"""mkdocs hook: every public name of the API is documented and shown in the API reference.

For each name in ``__all__`` of ``vectorshift_sessions``, ``vectorshift_sessions.engine`` and
``vectorshift_sessions.testing``, the build reports (as a warning, which ``mkdocs build
--strict`` turns into a failure) a name whose object has no docstring, and a name that no page
rendered (no element with the id ``<module>.<name>``, as mkdocstrings gives its headings).
Docstrings are read by griffe, as mkdocstrings reads them, from ``src/``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import griffe

MODULES = ("vectorshift_sessions", "vectorshift_sessions.engine", "vectorshift_sessions.testing")
log = logging.getLogger("mkdocs.hooks.public_api")  # under "mkdocs": counted by --strict
_ID = re.compile(r'\bid="(vectorshift_sessions(?:\.\w+)+)"')
_rendered: set[str] = set()


def public_modules(src: Path) -> dict[str, Any]:
    """The three modules, as griffe reads them from ``src/`` (loaded once)."""
    package = griffe.load(MODULES[0], search_paths=[src], docstring_parser="google")
    return {
        path: package if path == MODULES[0] else package[path.removeprefix(MODULES[0] + ".")]
        for path in MODULES
    }


def public_names(modules: dict[str, Any]) -> dict[str, list[str]]:
    """Each module's ``__all__``, read statically."""
    names: dict[str, list[str]] = {}
    for path, module in modules.items():
        exports = module.exports
        if not exports:
            raise RuntimeError(f"{path} has no __all__ that griffe can read")
        names[path] = [str(name) for name in exports]
    return names


def undocumented(modules: dict[str, Any], names: dict[str, list[str]]) -> list[str]:
    """``module.name`` for every public name whose object has no docstring (or cannot be found)."""
    missing: list[str] = []
    for path, module_names in names.items():
        for name in module_names:
            try:
                docstring = modules[path][name].docstring
            except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                missing.append(f"{path}.{name} (not found by griffe)")
                continue
            if docstring is None or not docstring.value.strip():
                missing.append(f"{path}.{name}")
    return missing


def on_pre_build(config: Any) -> None:
    _rendered.clear()


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    _rendered.update(_ID.findall(html))
    return html


def on_post_build(config: Any) -> None:
    modules = public_modules(Path(config.config_file_path).resolve().parent / "src")
    names = public_names(modules)
    missing = undocumented(modules, names)
    if missing:
        log.warning(
            "%d public name(s) without a docstring:\n  %s", len(missing), "\n  ".join(missing)
        )
    unrendered = [
        f"{path}.{name}"
        for path, module_names in names.items()
        for name in module_names
        if f"{path}.{name}" not in _rendered
    ]
    if unrendered:
        log.warning(
            "%d public name(s) not rendered in the API reference:\n  %s",
            len(unrendered),
            "\n  ".join(unrendered),
        )
