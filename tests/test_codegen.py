"""codegen/generate.py: unasync still does what it relies on, its tables are all used, and the
generated blocking code never speaks of async words."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "codegen_generate", ROOT / "codegen" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


generate = _load_generate()


def test_the_blocking_package_speaks_no_async_words() -> None:
    found = [
        where
        for path in sorted(generate.SRC_SYNC.rglob("*.py"))
        for where in generate.forbidden_words(path, path.read_text(encoding="utf-8"))
    ]
    assert not found, (
        "async wording in src/vectorshift_sessions/_sync/ (reword the async original, or add "
        "the phrase to PROSE in codegen/generate.py, then run python codegen/generate.py):\n"
        + "\n".join(found)
    )


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("use it as an async context manager", []),  # PROSE rewrites it; not forbidden as such
        ("    async with session:", ["async with"]),
        ("iterate the Async Iterator", ["Async Iterator"]),
        ("then aclose() it", ["aclose"]),
        ("Await the answer", ["Await"]),
        ("async for event in listener", ["async for"]),
        ("ConnectOnAwait, awaitable, closed", []),  # words, not parts of words
    ],
)
def test_forbidden_words(line: str, words: list[str]) -> None:
    found = generate.forbidden_words(generate.SRC_SYNC / "x.py", line)
    assert [where.rsplit(": ", 1)[1].strip("'") for where in found] == words
    assert generate.forbidden_words(ROOT / "tests" / "_sync" / "x.py", line) == []


@pytest.mark.parametrize(("phrase", "blocking"), generate.PROSE)
def test_prose_table_leaves_no_async_words(phrase: str, blocking: str) -> None:
    assert not generate.FORBIDDEN_IN_SYNC.search(generate._prose(phrase))
    assert generate._prose(f"# {phrase}x") == f"# {blocking}x"


# --- unasync, a pinned dependency used through a private hook ------------------------------

unasync = pytest.importorskip("unasync", reason="unasync is in the dev extra")


def test_unasync_private_hook_is_still_there() -> None:
    hook = getattr(unasync.Rule, "_unasync_tokens", None)
    assert hook is not None, (
        "unasync.Rule._unasync_tokens is gone: codegen/generate.py's unasync_tokens() relies on "
        "it; pin unasync>=0.6,<0.7 or port that one function"
    )
    assert list(inspect.signature(hook).parameters) == ["self", "tokens"], (
        "unasync.Rule._unasync_tokens changed its signature; adapt codegen's unasync_tokens()"
    )


def test_unasync_converts_the_known_input_as_expected() -> None:
    generate.self_test()  # raises UnasyncChanged, with a diff, when it does not
    rule = generate.make_rule(ROOT / "_async", ROOT / "_sync")
    assert generate.convert(generate.SELF_TEST_INPUT, rule) == generate.SELF_TEST_OUTPUT


def test_self_test_fails_loudly_when_unasync_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate, "SELF_TEST_OUTPUT", "something else\n")
    with pytest.raises(generate.UnasyncChanged, match=r"unasync .* no longer converts"):
        generate.self_test()
    monkeypatch.undo()
    monkeypatch.delattr(unasync.Rule, "_unasync_tokens")
    with pytest.raises(generate.UnasyncChanged, match=r"has no Rule\._unasync_tokens"):
        generate.self_test()


def test_docstrings_and_comments_read_right_but_code_strings_are_untouched() -> None:
    rule = generate.make_rule(ROOT / "_async", ROOT / "_sync")
    source = (
        "class AsyncClient:\n"
        '    """Use ``async with AsyncClient()``."""\n'
        "\n"
        '    NAME = "async with AsyncClient"  # await it\n'
        '    x = f("await ")\n'
    )
    assert generate.convert(source, rule) == (
        "class Client:\n"
        '    """Use ``with Client()``."""\n'
        "\n"
        '    NAME = "async with AsyncClient"  # it\n'
        '    x = f("await ")\n'
    )


@pytest.mark.parametrize("name", sorted(generate.REPLACEMENTS))
def test_every_replacement_is_used(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with_it = generate.expected_files()
    monkeypatch.delitem(generate.REPLACEMENTS, name)
    assert generate.expected_files() != with_it, (
        f"REPLACEMENTS[{name!r}] in codegen/generate.py changes nothing: remove it"
    )
