"""examples/notebook/notebook.ipynb, executed cell by cell on a real ipykernel (nbclient)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[examples]'")
nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[examples]'")
kernelspec = pytest.importorskip("ipykernel.kernelspec", reason="pip install -e '.[examples]'")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebook" / "notebook.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The notebook, run once for this module's tests, as a user runs it: no VECTORSHIFT_*
    variable (it starts its own engine), in a directory of its own, on a "python3" kernel that
    is this Python's ipykernel whatever kernels the machine has (JUPYTER_PATH is searched
    first)."""
    jupyter = tmp_path_factory.mktemp("jupyter")
    kernelspec.write_kernel_spec(jupyter / "kernels" / "python3")  # argv: sys.executable
    workdir = tmp_path_factory.mktemp("notebook")
    with pytest.MonkeyPatch.context() as mp:  # the kernel inherits this environment
        for name in [name for name in os.environ if name.startswith("VECTORSHIFT_")]:
            mp.delenv(name)
        mp.setenv("JUPYTER_PATH", str(jupyter))
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(
            notebook,
            timeout=120,
            kernel_name="python3",
            coalesce_streams=False,  # one output per print: shows what was printed when
            resources={"metadata": {"path": str(workdir)}},
        )
        client.execute()  # raises CellExecutionError, naming the cell, if one fails
    yield notebook


def outputs(notebook: Any, cell_id: str) -> list[str]:
    """The stream outputs (stdout, in order) of the code cell ``cell_id``."""
    [cell] = [c for c in notebook.cells if c.cell_type == "code" and c.id == cell_id]
    assert all(o.output_type == "stream" and o.name == "stdout" for o in cell.outputs)
    return [o.text for o in cell.outputs]


def test_the_notebook_runs_without_errors_on_a_fresh_kernel(executed: Any) -> None:
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert outputs(executed, "setup")[0].startswith("engine: http://127.0.0.1:")


def test_the_blocking_cell_streams_in_the_notebooks_event_loop(executed: Any) -> None:
    printed = outputs(executed, "blocking")
    assert "".join(printed) == "Hello from a blocking cell\n"
    assert len(printed) > 1  # printed delta by delta, as they arrived


def test_the_async_cell_streams_with_top_level_await(executed: Any) -> None:
    printed = outputs(executed, "async")
    assert "".join(printed) == "Hello from an async cell\n"
    assert len(printed) > 1


def test_the_resumed_session_keeps_the_conversation_of_the_first_cell(executed: Any) -> None:
    assert "".join(outputs(executed, "resume")) == (
        "And hello again, after resuming\n"
        "user: Hello from a blocking cell\n"
        "agent: Hello from a blocking cell\n"
        "user: And hello again, after resuming\n"
        "agent: And hello again, after resuming\n"
    )


def test_the_approval_cell_approves_and_streams_the_rest_of_the_turn(executed: Any) -> None:
    printed = "".join(outputs(executed, "approval"))
    before, approved, after = printed.partition(
        "[approval requested for create_ticket: approved]\n"
    )
    assert approved, printed
    assert before == "[tool call: knowledge_base_search]\n[tool call: create_ticket]\n"
    assert after.startswith("I searched the knowledge base for “How do I reset my password?”")
    assert after.endswith("I also filed ticket DEMO-1042 (priority normal) for a follow-up.\n")
