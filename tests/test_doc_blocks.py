"""Every Python block of README.md and docs/**/*.md works (how blocks are found and marked:
tests/_doc_blocks.py).

- The ``run`` blocks of a page run in order in one fresh interpreter, against a local engine
  this module starts (its variables exported), in a temporary directory.
- A page's ``# test_*.py`` blocks are written to a temporary directory and run with pytest.
- ``hosted`` blocks (type-check only) go through mypy together.

A failure names the page and the line of the block's opening fence.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import _doc_blocks
from tests._doc_blocks import ROOT, Block
from vectorshift_sessions.engine import LocalEngine

BLOCKS = _doc_blocks.all_blocks()


def _by_page(kind: str) -> dict[str, list[Block]]:
    grouped: dict[str, list[Block]] = {}
    for block in BLOCKS:
        if block.kind == kind:
            grouped.setdefault(block.page, []).append(block)
    return grouped


RUN, TEST_FILES, HOSTED = _by_page("run"), _by_page("pytest"), _by_page("hosted")


def _clean_env() -> dict[str, str]:
    """This process's environment without any VECTORSHIFT_* variable (no hosted engine)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECTORSHIFT_")}
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, str(ROOT), env.get("PYTHONPATH")) if p)
    return env


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine(db=":memory:") as engine:
        yield engine


def test_the_pages_have_blocks_of_every_kind() -> None:
    assert "README.md" in RUN
    assert RUN and TEST_FILES and HOSTED, (len(RUN), len(TEST_FILES), len(HOSTED))


@pytest.mark.parametrize("page", sorted(RUN))
def test_page_blocks_run(page: str, engine: LocalEngine, tmp_path: Path) -> None:
    blocks_json = tmp_path / "blocks.json"
    _doc_blocks.dump(RUN[page], blocks_json)
    work = tmp_path / "cwd"
    work.mkdir()
    env = {**_clean_env(), **engine.env()}
    done = subprocess.run(
        [sys.executable, str(Path(_doc_blocks.__file__)), str(blocks_json)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode:
        failed = re.search(r"DOC BLOCK FAILED: (\S+)", done.stderr)
        where = failed[1] if failed else page
        pytest.fail(f"the block at {where} failed:\n{done.stderr}", pytrace=False)


@pytest.mark.parametrize("page", sorted(TEST_FILES))
def test_page_test_files_pass(page: str, tmp_path: Path) -> None:
    for block in TEST_FILES[page]:
        (tmp_path / block.filename).write_text(block.source, encoding="utf-8")
    where = {block.filename: block.where for block in TEST_FILES[page]}
    runs = [[]]
    if any("vectorshift_cassette" in block.source for block in TEST_FILES[page]):
        # Record the missing cassettes (against a local engine: no key here), then replay them.
        runs = [["--vectorshift-record-mode=once"], []]
    for options in runs:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, "."],
            cwd=tmp_path,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode:
            pytest.fail(
                f"pytest {' '.join(options)} on the test files of {page} ({where}) failed:\n"
                f"{done.stdout}\n{done.stderr}",
                pytrace=False,
            )


def _checkable(block: Block) -> str:
    """The block as a module mypy accepts, on the page's line numbers: a block with top-level
    ``await`` / ``async with`` becomes the body of an annotated coroutine function."""
    code = compile(block.source, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if not code.co_flags & inspect.CO_COROUTINE:
        return block.padded()
    body = "".join(
        f"    {line}" if line.strip() else line for line in block.source.splitlines(True)
    )
    return "\n" * (block.line - 1) + "async def _block() -> None:\n" + body


def test_hosted_blocks_type_check(tmp_path: Path) -> None:
    # mypy is in the dev extra, not the test one: nox -s docs installs it and runs this test.
    pytest.importorskip("mypy", reason="mypy is not installed (nox -s docs runs this test)")
    names: dict[str, Block] = {}
    for block in (block for blocks in HOSTED.values() for block in blocks):
        name = re.sub(r"\W", "_", block.page) + f"_L{block.line}.py"
        (tmp_path / name).write_text(_checkable(block), encoding="utf-8")
        names[name] = block
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-error-summary",
            "--hide-error-context",
            "--disable-error-code=top-level-await",
            "--follow-imports=silent",
            f"--cache-dir={ROOT / '.mypy_cache' / 'doc-blocks'}",
            *sorted(names),
        ],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode:
        report = done.stdout + done.stderr
        for name, block in names.items():  # the temporary file's name -> the page's
            report = report.replace(f"{name}:", f"{block.page}:")
        pytest.fail(f"hosted blocks do not type-check:\n{report}", pytrace=False)
