"""The blocking Session where it is used for real: several threads, a running event loop, Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from vectorshift_sessions import ParticipantStatus, Session, SessionEvent, SessionEventType
from vectorshift_sessions.engine import LocalEngine

ET = SessionEventType


def test_listen_in_one_thread_send_in_another_disconnect_from_a_third(
    engine: LocalEngine, no_leaked_threads: None
) -> None:
    session = Session(owner_type="agent", owner_id="agent-echo", ws_url=engine.ws_url).connect()
    listener = session.listen()
    completes: list[SessionEvent] = []
    turns_done = threading.Semaphore(0)
    listener_ended = threading.Event()

    def listen() -> None:
        for event in listener:
            if event.is_complete:
                completes.append(event)
            if event.participant_status == ParticipantStatus.IDLE:
                turns_done.release()
        listener_ended.set()

    def send(texts: list[str]) -> None:
        for text in texts:
            session.send(text)
            assert turns_done.acquire(timeout=30)

    def read_history() -> None:
        for _ in range(5):
            session.get_messages()

    listening = threading.Thread(target=listen)
    listening.start()
    senders = [
        threading.Thread(target=send, args=([f"from {i} turn {t}" for t in range(3)],))
        for i in range(2)
    ]
    readers = [threading.Thread(target=read_history) for _ in range(2)]
    for thread in senders + readers:
        thread.start()
    for thread in senders + readers:
        thread.join()
    closer = threading.Thread(target=session.disconnect)
    closer.start()
    closer.join()
    assert listener_ended.wait(30), "disconnect() from another thread must wake the listener"
    listening.join()
    assert len(completes) == 6
    assert not session.is_connected


def test_blocking_session_inside_a_running_event_loop(engine: LocalEngine) -> None:
    """A notebook cell runs inside a loop: the blocking API must not need one of its own."""

    async def cell() -> str | None:
        with Session(owner_type="agent", owner_id="agent-echo", ws_url=engine.ws_url) as session:
            return session.ask("from inside a loop").text

    assert asyncio.run(cell()) == "from inside a loop"


def test_many_threads_each_with_a_session(engine: LocalEngine, no_leaked_threads: None) -> None:
    results: list[str | None] = []

    def worker(i: int) -> None:
        with Session(owner_type="agent", owner_id="agent-echo", ws_url=engine.ws_url) as session:
            results.append(session.ask(f"thread {i}").text)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == sorted(f"thread {i}" for i in range(20))  # type: ignore[type-var]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_during_listen_exits_promptly(engine: LocalEngine) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from vectorshift_sessions import Session
        with Session(owner_type="agent", owner_id="agent-echo", ws_url={engine.ws_url!r}) as s:
            try:
                print("listening", flush=True)
                for event in s.listen(event_types=["message_complete"]):
                    pass
            except KeyboardInterrupt:
                print("interrupted", flush=True)
        print("closed", flush=True)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "listening"
    os.kill(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert out.split() == ["interrupted", "closed"], err
    assert child.returncode == 0, err
    assert "Traceback" not in err


def test_the_reader_thread_never_waits_for_a_listener(engine: LocalEngine) -> None:
    """Publishing never sleeps: a listener that does not keep up costs the reader nothing
    (it used to wait up to 50 ms for room, holding up every caller)."""
    waits: list[tuple[int, str]] = []
    readers: set[int] = set()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event != "call":
            return
        name = frame.f_code.co_name
        if name == "_read_loop":
            readers.add(threading.get_ident())
        elif name == "wait":
            waits.append((threading.get_ident(), f"{frame.f_code.co_filename}:{frame.f_lineno}"))

    threading.setprofile(profile)  # for the threads started from now on: the reader
    try:
        with Session(owner_type="agent", owner_id="agent-bench", ws_url=engine.ws_url) as session:
            stuck = session.listen(maxsize=1)
            result = session.ask("3000")
            stuck.close()
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    assert len([e for e in result.events if e.type == SessionEventType.MESSAGE_DELTA]) == 3000
    assert readers, "the profile saw no reader thread"
    assert [where for ident, where in waits if ident in readers] == []


def test_a_refused_post_fails_in_its_own_thread_only(engine: LocalEngine) -> None:
    """Answers are matched to requests in order: a post refused while other threads post at
    the same moment must fail the thread that sent it, and no other (before the fix, about
    one round in two went wrong)."""
    with Session(owner_type="agent", owner_id="agent-echo", ws_url=engine.ws_url) as session:
        wrong = [outcome for outcome in (_posts_at_once(session) for _ in range(20)) if outcome]
    assert wrong == []


def _posts_at_once(session: Session) -> dict[object, str]:
    """Eight sends and one answer to an approval that does not exist, all at once; what went
    otherwise than expected (sent, sent, ..., refused)."""
    from vectorshift_sessions import PostError

    no_request = SessionEvent(ET.APPROVAL_REQUEST, session.session_id or "", "no-such", {})
    actions: dict[object, Any] = {i: lambda i=i: session.send(f"m{i}") for i in range(8)}
    actions["answer"] = lambda: session.respond(no_request, approved=True)
    results: dict[object, str] = {}
    start = threading.Barrier(len(actions))

    def post(key: object) -> None:
        start.wait()
        try:
            actions[key]()
            results[key] = "sent"
        except PostError:
            results[key] = "refused"

    threads = [threading.Thread(target=post, args=(key,)) for key in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = {**dict.fromkeys(range(8), "sent"), "answer": "refused"}
    return {key: value for key, value in results.items() if expected[key] != value}
