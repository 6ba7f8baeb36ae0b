"""The blocking transport reads the socket in chunks (not two exact reads per frame): frames
larger than a chunk, frames split across chunks and many small frames all arrive whole and in
order."""

from __future__ import annotations

import pytest

from vectorshift_sessions import Session, SessionEventType
from vectorshift_sessions._backends import _thread_backend
from vectorshift_sessions.engine import LocalEngine

CHUNK = _thread_backend._BufferedWebSocket._CHUNK


@pytest.mark.parametrize(
    ("count", "size"),
    [
        (3, CHUNK),  # each frame larger than a chunk (header + payload)
        (2, CHUNK - 3),  # a frame that ends just past a chunk's end
        (5_000, 7),  # many small frames, some split across chunks
        (40, 4_099),  # frames of an odd size, straddling every boundary
    ],
)
def test_frames_arrive_whole_across_read_chunks(engine: LocalEngine, count: int, size: int) -> None:
    with Session(owner_type="agent", owner_id="agent-bench", ws_url=engine.ws_url) as session:
        result = session.ask(f"{count} {size}")
    deltas = [e for e in result.events if e.type == SessionEventType.MESSAGE_DELTA]
    assert [e.data["index"] for e in deltas] == list(range(count))
    assert all(e.delta == "x" * size for e in deltas)
    assert result.text == "x" * size * count
