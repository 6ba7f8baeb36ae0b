"""A chat page whose answers stream in from a VectorShift agent: Django, in one file.

    pip install vectorshift-sessions django
    python examples/django_app/app.py           # then open http://127.0.0.1:8000

That is Django's development server (``runserver``, WSGI, a thread per request) and the sync
views, with the blocking ``Session``. ``POST /async/chat`` is the same turn in an async view,
with ``AsyncSession``: serve it with an ASGI server (see README.md)::

    uvicorn --app-dir examples/django_app app:asgi_application

With no VectorShift variables set, ``python app.py`` embeds a local engine (its demo agent asks
for approval before filing a ticket); with VECTORSHIFT_API_KEY (and VECTORSHIFT_AGENT, an
agent's name) it talks to the hosted engine.

The conversation lives in the engine. The browser keeps only its session id, in Django's
session (a signed cookie: no database), and every request resumes the session by that id,
sends (or answers an approval), streams the turn as Server-Sent Events and detaches.
"""

# Django ships no type hints: django-stubs add them (nox -s typecheck checks this file with
# them); without them, Django's names are Any to mypy here.
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import os
import secrets
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIRequest
from django.core.management import execute_from_command_line
from django.core.wsgi import get_wsgi_application
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from vectorshift_sessions import (
    Agent,
    AsyncAgent,
    AsyncSession,
    Session,
    SessionEvent,
    SessionNotFoundError,
    VectorShiftError,
    event_from_json,
    to_sse,
)
from vectorshift_sessions.engine import LocalEngine

settings.configure(
    DEBUG=os.environ.get("DJANGO_DEBUG") == "1",
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
    ALLOWED_HOSTS=os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(","),
    ROOT_URLCONF=__name__,  # the urlpatterns below
    INSTALLED_APPS=[],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        # Kept for any form you add; the JSON views below are exempt and check Origin instead.
        "django.middleware.csrf.CsrfViewMiddleware",
    ],
    # The session is a signed cookie holding the engine's session id: no database needed.
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    # This app's own settings, read on each request.
    VECTORSHIFT_AGENT=os.environ.get("VECTORSHIFT_AGENT", "demo"),  # the agent's name
    VECTORSHIFT_HEARTBEAT=15.0,  # seconds of quiet before a keep-alive comment goes out
    VECTORSHIFT_TURN_TIMEOUT=300.0,  # the longest a turn may stream
)

PAGE = Path(__file__).with_name("chat.html")
# Stop reverse proxies (nginx and others) from holding the stream back.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

View = TypeVar("View", bound=Callable[..., Any])


# --- the conversation: resumed by the id in Django's session, or started -----------------------

_agent_ids: dict[str, str] = {}  # agent name -> id, looked up once


def agent_id(name: str) -> str:
    if name not in _agent_ids:
        _agent_ids[name] = Agent.fetch(name=name).id
    return _agent_ids[name]


async def aagent_id(name: str) -> str:
    if name not in _agent_ids:
        _agent_ids[name] = (await AsyncAgent.fetch(name=name)).id
    return _agent_ids[name]


def conversation(request: HttpRequest) -> Session:
    """This browser's session, resumed by the id in its Django session, or a new one."""
    session_id = request.session.get("session_id")
    if session_id:
        try:
            return Session(session_id=session_id).connect()
        except SessionNotFoundError:
            pass  # gone from the engine (a local engine in memory restarted): start anew
    owner_id = agent_id(settings.VECTORSHIFT_AGENT)
    session = Session(owner_type="agent", owner_id=owner_id).connect()
    request.session["session_id"] = session.session_id
    return session


async def aconversation(request: HttpRequest) -> AsyncSession:
    """``conversation()`` for an async view."""
    session_id = await request.session.aget("session_id")
    if session_id:
        try:
            return await AsyncSession(session_id=session_id).connect()
        except SessionNotFoundError:
            pass
    owner_id = await aagent_id(settings.VECTORSHIFT_AGENT)
    session = await AsyncSession(owner_type="agent", owner_id=owner_id).connect()
    await request.session.aset("session_id", session.session_id)
    return session


# --- the turn as Server-Sent Events, detaching when Django is done with the response ----------


def failure(exc: VectorShiftError) -> str:
    """The SSE message for a turn that cannot go on (timeout, engine gone): the page shows it."""
    return f"event: failure\ndata: {json.dumps({'error': str(exc)})}\n\n"


class EventStream:
    """A turn's events as SSE messages: the body of a ``StreamingHttpResponse`` (WSGI).

    Django calls ``close()`` when it is done with the response: after the last message, after
    the client went away (a WSGI server notices at its next write, a heartbeat at the latest),
    or without the body ever being read. Each way, the session detaches; a turn still running
    goes on in the engine, and its messages are in the history for the next request.
    """

    def __init__(self, session: Session, events: Iterator[SessionEvent | None]) -> None:
        self.session = session
        self._events = events
        self._body = self._sse()

    def __iter__(self) -> Iterator[str]:
        return self._body

    def _sse(self) -> Generator[str, None, None]:
        try:
            for event in self._events:
                yield to_sse(event)  # None (a quiet moment) becomes the heartbeat comment
        except VectorShiftError as exc:
            yield failure(exc)
        finally:
            self._detach()

    def _detach(self) -> None:
        close = getattr(self._events, "close", None)  # the turn's generator: stop listening
        if close is not None:
            close()
        self.session.disconnect()  # safe to call twice

    def close(self) -> None:
        self._body.close()  # runs _sse's finally if it was started...
        self._detach()  # ...and detaches if it never was


_closing: set[asyncio.Task[None]] = set()  # AsyncEventStream.close()'s tasks, kept until done


class AsyncEventStream:
    """``EventStream`` for an async view (ASGI): an async iterable, so that Django streams it.

    Under ASGI the session detaches as soon as the client goes away: Django cancels the
    response, which ends the iteration. Django also calls ``close()`` (synchronously, from a
    worker thread or from the event loop's), which detaches if the body never ran.
    """

    def __init__(self, session: AsyncSession, events: AsyncIterator[SessionEvent | None]) -> None:
        self.session = session
        self._events = events
        self._body = self._sse()
        self._loop = asyncio.get_running_loop()
        self._detached = False

    def __aiter__(self) -> AsyncIterator[str]:
        return self._body

    async def _sse(self) -> AsyncGenerator[str, None]:
        try:
            async for event in self._events:
                yield to_sse(event)
        except VectorShiftError as exc:
            yield failure(exc)
        finally:
            await self._detach()

    async def _detach(self) -> None:
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()
        await self.session.disconnect()
        self._detached = True

    def close(self) -> None:
        if self._detached:  # the usual case: the body ran to its end, or was cancelled
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing is left to detach
            self._loop.call_soon_threadsafe(self._close_in_loop)

    def _close_in_loop(self) -> None:
        task = self._loop.create_task(self._aclose())
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def _aclose(self) -> None:
        try:
            await self._body.aclose()  # runs _sse's finally if it was started
        except RuntimeError:  # it is being iterated right now: detaching ends it
            await self.session.disconnect()
        else:
            await self._detach()  # in case it never was


def event_stream(body: EventStream | AsyncEventStream) -> StreamingHttpResponse:
    return StreamingHttpResponse(body, content_type="text/event-stream", headers=SSE_HEADERS)


# --- requests ---------------------------------------------------------------------------------


def refusal(request: HttpRequest) -> JsonResponse | None:
    """Why a JSON POST is refused, or None.

    These views are exempt from Django's CSRF token (the page is the same for every example and
    sends none). A browser adds an ``Origin`` header to every POST that a page's ``fetch()``
    makes, and another site's page cannot send ``Content-Type: application/json`` without a
    CORS preflight, which this app never allows: a POST from another site is refused here.
    """
    origin = request.headers.get("Origin")  # None from curl and other clients: no browser
    same_site = {f"{request.scheme}://{request.get_host()}", *settings.CSRF_TRUSTED_ORIGINS}
    if origin is not None and origin not in same_site:
        return JsonResponse({"error": f"cross-site request from {origin} refused"}, status=403)
    if request.content_type != "application/json":
        return JsonResponse({"error": "send Content-Type: application/json"}, status=415)
    return None


def json_post(view: View) -> View:
    """A view for a JSON POST from the page (sync or async): see ``refusal()``."""
    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_checked(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            refused = refusal(request)
            return refused if refused is not None else await view(request, *args, **kwargs)

        checked: Callable[..., Any] = async_checked
    else:

        @functools.wraps(view)
        def sync_checked(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            refused = refusal(request)
            return refused if refused is not None else view(request, *args, **kwargs)

        checked = sync_checked
    return cast("View", csrf_exempt(require_POST(checked)))


def get_only(view: View) -> View:
    """Django's ``require_GET`` (405 for other methods), typed."""
    # require_GET is this; django-stubs type it with a type variable pyright cannot solve
    return require_http_methods(["GET"])(view)


def json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body)
    except ValueError:
        return {}
    return cast("dict[str, Any]", body) if isinstance(body, dict) else {}


def message_of(request: HttpRequest) -> str | None:
    message = json_body(request).get("message")
    return message if isinstance(message, str) and message.strip() else None


NO_MESSAGE = {"error": 'post JSON {"message": "your question"}'}


# --- views ------------------------------------------------------------------------------------


@get_only
def page(request: HttpRequest) -> FileResponse:
    return FileResponse(PAGE.open("rb"), content_type="text/html; charset=utf-8")


@json_post
def chat(request: HttpRequest) -> HttpResponseBase:
    message = message_of(request)
    if message is None:
        return JsonResponse(NO_MESSAGE, status=400)
    session = conversation(request)
    try:  # checked before anything is sent (too long, not valid Unicode, ...)
        events = session.stream(
            message,
            heartbeat=settings.VECTORSHIFT_HEARTBEAT,
            timeout=settings.VECTORSHIFT_TURN_TIMEOUT,
        )
    except (TypeError, ValueError) as exc:
        session.disconnect()
        return JsonResponse({"error": str(exc)}, status=400)
    return event_stream(EventStream(session, events))


@json_post
async def async_chat(request: HttpRequest) -> HttpResponseBase:
    """``chat``, async: served by an ASGI server."""
    if not isinstance(request, ASGIRequest):  # WSGI would buffer it, in an event loop of its own
        error = "POST /async/chat needs an ASGI server: uvicorn app:asgi_application"
        return JsonResponse({"error": error}, status=501)
    message = message_of(request)
    if message is None:
        return JsonResponse(NO_MESSAGE, status=400)
    session = await aconversation(request)
    try:  # checked before anything is sent (too long, not valid Unicode, ...)
        events = session.stream(
            message,
            heartbeat=settings.VECTORSHIFT_HEARTBEAT,
            timeout=settings.VECTORSHIFT_TURN_TIMEOUT,
        )
    except (TypeError, ValueError) as exc:
        await session.disconnect()
        return JsonResponse({"error": str(exc)}, status=400)
    return event_stream(AsyncEventStream(session, events))


@json_post
def approve(request: HttpRequest) -> HttpResponseBase:
    body = json_body(request)
    session_id = request.session.get("session_id")
    if not session_id:
        return JsonResponse({"error": "no conversation yet: send a message first"}, status=409)
    approved = body.get("approved")
    if not isinstance(approved, bool):
        return JsonResponse({"error": "approved must be true or false"}, status=400)
    try:
        event = event_from_json(body.get("event", {}))
    except ValueError as exc:
        return JsonResponse({"error": f"not an approval request: {exc}"}, status=400)
    session = Session(session_id=session_id)
    try:  # checked before anything is sent: an approval request of this session
        events = session.respond_stream(
            event,
            approved=approved,
            deny_reason=None if approved else "denied in the page",
            heartbeat=settings.VECTORSHIFT_HEARTBEAT,
            timeout=settings.VECTORSHIFT_TURN_TIMEOUT,
        )
    except (TypeError, ValueError) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    try:
        session.connect()  # only now: a bad request opened no connection
    except SessionNotFoundError:
        request.session.pop("session_id", None)
        return JsonResponse({"error": "the conversation is gone: send a message"}, status=409)
    return event_stream(EventStream(session, events))


@get_only
def history(request: HttpRequest) -> JsonResponse:
    session_id = request.session.get("session_id")
    if not session_id:
        return JsonResponse({"messages": []})
    try:
        with Session(session_id=session_id) as session:
            messages = session.get_messages()
    except SessionNotFoundError:
        return JsonResponse({"messages": []})
    return JsonResponse(
        {
            "messages": [  # what was said, without the tool calls and thinking between
                {"role": "user" if m.is_user else "agent", "text": m.text}
                for m in messages
                if m.content_type == "data_type_message" and m.text
            ]
        }
    )


@json_post
def reset(request: HttpRequest) -> HttpResponse:
    request.session.pop("session_id", None)
    return HttpResponse(status=204)


urlpatterns = [
    path("", page),
    path("chat", chat),
    path("async/chat", async_chat),
    path("approve", approve),
    path("history", history),
    path("reset", reset),
]

wsgi_application = get_wsgi_application()  # gunicorn -k gthread --threads 16 app:wsgi_application
asgi_application = get_asgi_application()  # uvicorn app:asgi_application


# --- python app.py ----------------------------------------------------------------------------


def configured() -> bool:
    """True when the environment names an engine (the hosted one, or one you run yourself)."""
    return bool(os.environ.get("VECTORSHIFT_API_KEY") or os.environ.get("VECTORSHIFT_BASE_URL"))


def main() -> None:
    """``runserver`` on PORT (8000), or the management command given (``python app.py check``).

    The embedded engine starts here, in the first process. With the autoreloader (the default)
    that process only watches: the server runs in a child process, restarted on each code
    change, which inherits the environment set here (the engine's address and the secret key),
    so it talks to the same engine and conversations survive a reload.
    """
    argv = (
        sys.argv
        if len(sys.argv) > 1
        else [sys.argv[0], "runserver", os.environ.get("PORT", "8000")]
    )
    with contextlib.ExitStack() as stack:
        if not configured():
            engine = stack.enter_context(LocalEngine(db=":memory:", turn_delay=0.05))
            os.environ.update(engine.env())
            print(f"an embedded local engine at {engine.base_url}")
        os.environ.setdefault("DJANGO_SECRET_KEY", settings.SECRET_KEY)
        # The development server, one thread per request: a stream holds its thread.
        execute_from_command_line(argv)


if __name__ == "__main__":
    main()
