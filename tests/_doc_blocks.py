"""The Python blocks of README.md and docs/**/*.md: found here, run by tests/test_doc_blocks.py.

A block is a fenced ``python`` (or ``py``) block. Its kind:

- ``hosted``: the line before the fence is ``<!-- hosted: type-check only -->``; it only makes
  sense against the hosted engine, so it is type-checked with mypy instead of run (it must
  stand alone: its own imports);
- ``pytest``: its first line is ``# test_something.py``; it is written to a temporary
  directory under that name and run with pytest there (with the page's other such files);
- ``run``: every other block, run in page order in one fresh interpreter (a later block sees an
  earlier one's names) against a local engine, with top-level ``await`` allowed.

Run as a script (``python tests/_doc_blocks.py BLOCKS.json``), it is that interpreter: it runs
the ``run`` blocks listed in the JSON file and reports the first that fails by page and line.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import re
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOSTED_MARK = "<!-- hosted: type-check only -->"
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\s`]*)")
_TEST_FILE = re.compile(r"^#\s*(test_\w+\.py)\s*$")


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    line: int  # the line of the opening fence (1-based)
    kind: str  # "run", "hosted" or "pytest"
    source: str
    filename: str = ""  # for "pytest" blocks

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    def padded(self) -> str:
        """The source, shifted down so that its line numbers are the page's."""
        return "\n" * self.line + self.source


def pages(root: Path = ROOT) -> list[Path]:
    """README.md and every Markdown page of the site."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def blocks_of(path: Path, root: Path = ROOT) -> list[Block]:
    """The Python blocks of one Markdown page, in order."""
    page = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, start = match["fence"], i
        end = start + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if match["info"].lower() in ("python", "py"):
            indent = len(match["indent"])
            body = [
                line[indent:] if line[:indent].isspace() else line
                for line in lines[start + 1 : end]
            ]
            source = "\n".join(body) + "\n"
            before = lines[start - 1].strip() if start else ""
            test_file = _TEST_FILE.match(body[0]) if body else None
            if before == HOSTED_MARK:
                found.append(Block(page, start + 1, "hosted", source))
            elif test_file:
                found.append(Block(page, start + 1, "pytest", source, test_file[1]))
            else:
                found.append(Block(page, start + 1, "run", source))
        i = end + 1
    return found


def all_blocks(root: Path = ROOT) -> list[Block]:
    return [block for path in pages(root) for block in blocks_of(path, root)]


def dump(blocks: list[Block], path: Path) -> None:
    path.write_text(json.dumps([asdict(block) for block in blocks]), encoding="utf-8")


def run(blocks_json: str) -> int:
    """Run the blocks in order in one namespace; top-level ``await`` runs in one event loop."""
    blocks = [Block(**item) for item in json.loads(Path(blocks_json).read_text(encoding="utf-8"))]
    namespace: dict[str, object] = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()
    try:
        for block in blocks:
            print(f"--- {block.where}", flush=True)
            try:
                code = compile(
                    block.padded(),
                    str(ROOT / block.page),  # tracebacks show the page's own lines
                    "exec",
                    flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                    dont_inherit=True,
                )
                result = eval(code, namespace)
                if inspect.iscoroutine(result):
                    loop.run_until_complete(result)
            except BaseException:
                print(f"DOC BLOCK FAILED: {block.where}", file=sys.stderr)
                traceback.print_exc()
                return 1
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1]))
