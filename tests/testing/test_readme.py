"""The "Testing your code" guide (docs/guides/testing.md, once the README's section) runs: its
test files, in a real pytest run, record their cassette once and replay it after."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "docs" / "guides" / "testing.md"


def files_in_section(title: str) -> dict[str, str]:
    """The section's Python blocks that name a file on their first line (``# test_x.py``)."""
    text = README.read_text()
    start = text.index(f"# {title}\n")
    section = text[start:]  # the whole page
    files = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        first, _, body = block.partition("\n")
        named = re.fullmatch(r"# (test_\w+\.py)", first.strip())
        if named:
            files[named.group(1)] = body
    return files


@pytest.mark.timeout(120)
def test_the_testing_section_of_the_readme_runs(pytester: pytest.Pytester) -> None:
    files = files_in_section("Testing your code")
    assert set(files) == {"test_support.py", "test_recorded.py"}
    for name, body in files.items():
        pytester.path.joinpath(name).write_text(body)
    tests = sum(
        body.count("\ndef test_") + body.count("\nasync def test_") for body in files.values()
    )
    options = ("-p", "no:cacheprovider", "-p", "no:randomly")
    recorded = pytester.runpytest_subprocess(*options, "--vectorshift-record-mode=once")
    recorded.assert_outcomes(passed=tests)
    assert (pytester.path / "cassettes" / "support.jsonl").is_file()
    replayed = pytester.runpytest_subprocess(*options)
    replayed.assert_outcomes(passed=tests)
