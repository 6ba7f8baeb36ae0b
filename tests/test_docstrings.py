"""The public surface is documented in Google style, which the documentation site renders.

Walks ``__all__`` of ``vectorshift_sessions``, ``vectorshift_sessions.engine`` and
``vectorshift_sessions.testing`` (both flavours' classes are in the root's), plus the handle
collections ``client.agents`` / ``client.chatbots``. For every public class, function, method
and property: a docstring; every parameter named in ``Args:`` (a class's ``__init__``
parameters in the class docstring, where an attrs class may name them under ``Attributes:``);
no ``Args:`` entry for a parameter that does not exist; ``Returns:`` when the return annotation
is not ``None`` (``Yields:`` for generators; either for a function that returns an iterator;
properties are exempt). An enum names its members, an attrs class its public fields, under
``Attributes:``.

Skipped: names that are not classes or functions (constants such as ``SSE_HEARTBEAT`` and type
aliases such as ``SendManyItem``, whose docstrings, strings after the assignment, only griffe
reads: the documentation build checks them), members whose names start with
``_``, members inherited from outside the package (``Exception``, ``str``, ``Enum``), and an
``__init__`` a class inherits (the class that defines it documents its parameters).

Finally, the generated blocking flavour's docstrings and comments never speak of async-only
things (``codegen/generate.py`` rewrites them; extend its ``PROSE`` table when this fails).
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import io
import re
import tokenize
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PACKAGE = "vectorshift_sessions"
MODULES = (PACKAGE, f"{PACKAGE}.engine", f"{PACKAGE}.testing")
#: Public classes reachable from the surface but not named in an ``__all__``.
EXTRA = (f"{PACKAGE}._async.client:AsyncHandles", f"{PACKAGE}._sync.client:Handles")
SYNC_DIR = Path(__file__).resolve().parent.parent / "src" / PACKAGE / "_sync"

#: ``*args`` / ``**kwargs`` that only pass through to a documented callable, so need no entry.
PASS_THROUGH: set[str] = set()

SECTIONS = (
    "Args",
    "Arguments",
    "Attributes",
    "Example",
    "Examples",
    "Note",
    "Notes",
    "Raises",
    "Returns",
    "Warning",
    "Warnings",
    "Yields",
)
_HEADER = re.compile(rf"^({'|'.join(SECTIONS)}):\s*$")
_ENTRY = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:")

#: Words that make no sense in blocking code, looked for in the _sync/ docstrings and comments.
ASYNC_ONLY = re.compile(
    r"\b(?:async (?:iterators?|iterables?|with|for|def|context managers?)|aclose|"
    r"await(?:s|ed|able)?|coroutines?|asyncio tasks?)\b",
    re.IGNORECASE,
)


# --- parsing --------------------------------------------------------------------------------


def sections(doc: str) -> dict[str, list[str]]:
    """A Google-style docstring's sections, each as its indented lines. As for mkdocstrings,
    a section starts after a blank line (or at the top)."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    previous = ""
    for line in inspect.cleandoc(doc).splitlines():
        header = _HEADER.match(line) if not previous.strip() else None
        previous = line
        if header:
            current = out.setdefault(header.group(1), [])
        elif current is not None and (not line.strip() or line.startswith(" ")):
            current.append(line)
        else:
            current = None
    return out


def entries(lines: list[str]) -> list[str]:
    """The names a section's entries document (lines at the section's own indentation)."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return []
    indent = min(len(line) - len(line.lstrip()) for line in lines)
    names = []
    for line in lines:
        if len(line) - len(line.lstrip()) == indent:
            match = _ENTRY.match(line.strip())
            if match:
                names.append(match.group(1).lstrip("*"))
    return names


# --- the surface ----------------------------------------------------------------------------


def _ours(obj: object) -> bool:
    return (getattr(obj, "__module__", None) or "").startswith(PACKAGE)


def public_objects() -> Iterator[tuple[str, Any, type | None]]:
    """``(name, object, owning class)`` for every public class, function, method, property."""
    seen: set[int] = set()
    roots: list[tuple[str, Any]] = []
    for modname in MODULES:
        module = importlib.import_module(modname)
        roots += [(f"{modname}.{name}", getattr(module, name)) for name in module.__all__]
    for spec in EXTRA:
        modname, name = spec.split(":")
        roots.append((f"{modname}.{name}", getattr(importlib.import_module(modname), name)))
    for qualname, obj in roots:
        # A generic alias (``AgentFunction``) passes inspect.isclass() on Python 3.10.
        is_alias = typing.get_origin(obj) is not None
        if id(obj) in seen or is_alias or not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        seen.add(id(obj))
        yield qualname, obj, None
        if not inspect.isclass(obj):
            continue
        done: set[str] = set()
        for base in obj.__mro__:
            if not _ours(base):
                continue
            for name, member in vars(base).items():
                if name.startswith("_") or name in done:
                    continue
                done.add(name)
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if inspect.isfunction(member) or isinstance(member, property):
                    yield f"{qualname}.{name}", member, obj


SURFACE = list(public_objects())


def _attrs_fields(cls: type) -> list[str]:
    fields = getattr(cls, "__attrs_attrs__", ())
    return [field.alias or field.name for field in fields if not field.name.startswith("_")]


def _init_parameters(cls: type) -> tuple[list[inspect.Parameter], bool] | None:
    """The parameters of the class's ``__init__`` (``None`` when it is not the package's), and
    whether the class defines it itself (else it inherits it from a base of the package's)."""
    for base in cls.__mro__:
        init = vars(base).get("__init__")
        if init is not None:
            if not (_ours(base) and inspect.isfunction(init)):
                return None
            params = list(inspect.signature(init).parameters.values())[1:]
            return [param for param in params if param.name not in _private_fields(cls)], (
                base is cls
            )
    return None


def _private_fields(cls: type) -> set[str]:
    """The init parameters of an attrs class's private fields (``_x`` takes ``x``)."""
    fields = getattr(cls, "__attrs_attrs__", ())
    return {field.alias for field in fields if field.name.startswith("_")}


def _is_iterator(annotation: object) -> bool:
    return bool(re.match(r"^(?:Async)?(?:Iterator|Generator|Iterable)\[", str(annotation)))


def problems(name: str, obj: Any, owner: type | None) -> list[str]:
    """What is missing from one object's docstring (empty when nothing is)."""
    target: Callable[..., Any] | None = obj.fget if isinstance(obj, property) else obj
    doc = inspect.getdoc(target) if not inspect.isclass(obj) else obj.__doc__
    if not doc or not doc.strip():
        return [f"{name}: no docstring"]
    if isinstance(obj, property):
        return []
    found = sections(doc)
    args = entries(found.get("Args", []) + found.get("Arguments", []))
    out = []
    if inspect.isclass(obj):
        attributes = entries(found.get("Attributes", []))
        init = _init_parameters(obj)
        if issubclass(obj, enum.Enum):
            missing = [member.name for member in obj if member.name not in attributes]
            if missing:
                out.append(f"{name}: enum members not under Attributes: {', '.join(missing)}")
        fields = _attrs_fields(obj)
        missing = [field for field in fields if field not in attributes + args]
        if missing:
            out.append(f"{name}: attrs fields not under Attributes: {', '.join(missing)}")
        if init is None:
            if args:
                out.append(f"{name}: Args: but the class has no __init__ of the package's")
            return out
        params, own = init
        if not own:  # the base that defines __init__ documents it; Args: here is optional
            extra = [arg for arg in args if arg not in {param.name for param in params}]
            if extra:
                out.append(f"{name}: Args: names parameters that do not exist: {', '.join(extra)}")
            return out
        documented = args + (attributes if fields else [])
        qual = f"{name}.__init__"
    else:
        params = list(inspect.signature(obj).parameters.values())
        if params and params[0].name in ("self", "cls") and owner is not None:
            params = params[1:]
        documented = args
        qual = name
        returns = inspect.signature(obj).return_annotation
        if returns not in (None, "None", inspect.Signature.empty):
            generator = inspect.isgeneratorfunction(obj) or inspect.isasyncgenfunction(obj)
            if generator and "Yields" not in found:
                out.append(f"{name}: generator without a Yields: section")
            elif not generator and _is_iterator(returns):
                if "Yields" not in found and "Returns" not in found:
                    out.append(f"{name}: returns an iterator but has no Yields: (or Returns:)")
            elif not generator and "Returns" not in found:
                out.append(f"{name}: returns {returns} but has no Returns: section")
    names = [param.name for param in params]
    missing = [
        param.name
        for param in params
        if param.name not in documented
        and not (
            param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
            and f"{qual}:{param.name}" in PASS_THROUGH
        )
    ]
    if missing:
        out.append(f"{name}: parameters not under Args: {', '.join(missing)}")
    extra = [arg for arg in args if arg not in names]
    if extra:
        out.append(f"{name}: Args: names parameters that do not exist: {', '.join(extra)}")
    return out


# --- tests ----------------------------------------------------------------------------------


def test_the_surface_is_walked() -> None:
    names = {name for name, _, _ in SURFACE}
    for expected in (
        f"{PACKAGE}.AsyncSession.stream",
        f"{PACKAGE}.Session.stream",
        f"{PACKAGE}.AsyncClient.base_url",
        f"{PACKAGE}.engine.Turn.say",
        f"{PACKAGE}.testing.say",
    ):
        assert expected in names
    assert len(SURFACE) > 250


@pytest.mark.parametrize(("name", "obj", "owner"), SURFACE, ids=[name for name, *_ in SURFACE])
def test_public_object_is_documented(name: str, obj: Any, owner: type | None) -> None:
    found = problems(name, obj, owner)
    assert not found, "\n".join(found)


def test_the_checker_finds_what_is_missing() -> None:
    def documented(a: int, *, b: str = "") -> int:
        """Add.

        Args:
            a: A number.
            b (str): A name,
                over two lines.

        Returns:
            The sum.
        """
        return a

    def undocumented(a: int, c: int) -> int:
        """Add.

        Args:
            a: A number.
            b: Gone.
        """
        return a

    def bare(a: int) -> None:
        pass

    assert problems("documented", documented, None) == []
    assert problems("undocumented", undocumented, None) == [
        "undocumented: returns int but has no Returns: section",
        "undocumented: parameters not under Args: c",
        "undocumented: Args: names parameters that do not exist: b",
    ]
    assert problems("bare", bare, None) == ["bare: no docstring"]


#: What a rewrite leaves when the async phrase it rewrote was wrapped over two lines
#: ("an\n async context manager" -> "an context manager").
BAD_ARTICLE = re.compile(r"\ban (?:context manager|generator)s?\b|\ba (?:iterator|iterable)s?\b")


def _prose(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, text)`` of every comment and string statement (docstrings) in a file, each
    with its whitespace (line breaks too) collapsed, so that wrapped phrases are found."""
    source = path.read_text(encoding="utf-8")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            yield node.lineno, " ".join(node.value.value.split())


def test_blocking_docstrings_and_comments_speak_no_async() -> None:
    files = sorted(SYNC_DIR.rglob("*.py"))
    assert files
    found = [
        f"{path.relative_to(SYNC_DIR.parent.parent.parent)}:{line}: {match.group(0)!r}"
        for path in files
        for line, text in _prose(path)
        for pattern in (ASYNC_ONLY, BAD_ARTICLE)
        for match in pattern.finditer(text)
    ]
    assert not found, (
        "async-only words in the blocking flavour's docstrings or comments (reword the async "
        "original, or add the phrase to PROSE in codegen/generate.py, then run python "
        "codegen/generate.py):\n" + "\n".join(found)
    )


def test_the_async_word_check_can_fail() -> None:
    assert ASYNC_ONLY.search("returns an awaitable")
    assert ASYNC_ONLY.search("the asyncio task ends")
    assert not ASYNC_ONLY.search("status awaiting_approval; ConnectOnAwait")
    assert BAD_ARTICLE.search("use it as an context manager")
    assert not BAD_ARTICLE.search("an iterator, and a context manager")
