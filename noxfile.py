"""Sessions: tests (every Python 3.10-3.13 found), examples, lint, typecheck, codegen, docs, bench."""

from __future__ import annotations

from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
nox.options.sessions = ["lint", "typecheck", "codegen", "docs", "tests", "examples"]
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite against the real local engine."""
    session.install("-e", ".[test]")
    session.run("pytest", "--ignore=tests/examples", *session.posargs)


@nox.session(python="3.12")
def examples(session: nox.Session) -> None:
    """examples/ run as tests, the Flask page in headless Chromium among them: once, on one
    Python. The browser test fails here (it skips elsewhere) when Chromium is missing."""
    session.install("-e", ".[examples]")
    session.env["VECTORSHIFT_REQUIRE_BROWSER"] = "1"
    session.run("pytest", "tests/examples", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "codegen", "examples", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "codegen", "examples", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict, then basedpyright (strict), on src/, examples/ and tests/typing/ (the
    files and settings are pyproject.toml's), with opentelemetry installed and without it."""
    session.install(
        "-e",
        ".[test]",
        "mypy>=1.11",
        "basedpyright>=1.40",
        # what examples/ import (not the whole examples extra: no browser, no notebook);
        # Django ships no type hints, django-stubs do
        "flask>=3.0",
        "django>=5.0",
        "django-stubs",
        "fastapi>=0.110",
        "uvicorn>=0.30",
    )
    # This session's interpreter, named: basedpyright would otherwise pick the project's .venv
    # (which .ci/run makes, without the examples' frameworks).
    python = ("--pythonpath", str(Path(session.virtualenv.location) / "bin" / "python"))
    session.run("mypy")
    session.run("basedpyright", *python)
    # opentelemetry is optional (the otel extra): src/ must type-check without it too.
    session.run("python", "-m", "pip", "uninstall", "-y", "opentelemetry-sdk", "opentelemetry-api")
    session.run("mypy")
    # All but tests/typing/otel_surface.py, which hands OpenTelemetry's own providers over.
    session.run("basedpyright", *python, "src", "examples", "tests/typing/public_surface.py")


@nox.session
def codegen(session: nox.Session) -> None:
    """Fails when src/vectorshift_sessions/_sync/ is stale or was edited by hand."""
    session.install("unasync>=0.6,<0.7", "setuptools")
    session.run("python", "codegen/generate.py", "--check")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation: every Python block of README.md and docs/ (tests/test_doc_blocks.py,
    the hosted-only blocks through mypy), then the site, built strictly: a broken link, a
    missing cross-reference or an undocumented public name fails (docs/_hooks.py).
    ``nox -s docs -- serve`` serves the site instead."""
    session.install("-e", ".[docs,test]", "mypy>=1.11")
    session.env["NO_MKDOCS_2_WARNING"] = "1"
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:])
        return
    session.run("pytest", "tests/test_doc_blocks.py", "-p", "no:cacheprovider")
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark harness: ours side by side with the official client and the raw floors."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "tests.bench", *session.posargs)
