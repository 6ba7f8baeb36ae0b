"""The ``vectorshift-sessions`` command line.

One function per command: ``add_<command>_parser(subparsers)`` declares it and
``run_<command>(args) -> int`` runs it (the exit code). `build_parser` wires them up.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "main"]

DEFAULT_ENGINE_PORT = 8765

# argparse's subparsers action has no public type name.
Subparsers = Any


def _version() -> str:
    from . import __version__

    return __version__


# --- engine ---------------------------------------------------------------------------------


def add_engine_parser(subparsers: Subparsers) -> None:
    from .engine import DEFAULT_MAX_FRAME_BYTES, default_db_path

    parser = subparsers.add_parser(
        "engine",
        help="run a local engine (sessions over WebSocket, and the REST API)",
        description=(
            "Serve the VectorShift session protocol and REST API locally, with built-in agents "
            "(echo, demo, bench; openai when configured). Prints the URLs and the environment "
            "variables a client needs. Stop it with Ctrl-C."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_ENGINE_PORT,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help=f"SQLite file for sessions and history, or :memory: (default: {default_db_path()})",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        action="append",
        default=[],
        help="accept this API key (Authorization: Bearer); repeatable. Without any, no key is "
        "needed",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="agents and chatbots file (.json, or .toml on 3.11+)"
    )
    parser.add_argument(
        "--max-frame-bytes",
        type=int,
        default=DEFAULT_MAX_FRAME_BYTES,
        help="largest frame a client may send (default: %(default)s)",
    )
    parser.add_argument(
        "--max-sessions", type=int, default=10_000, help="sessions kept (default: %(default)s)"
    )
    parser.add_argument(
        "--max-history",
        type=int,
        default=10_000,
        help="messages kept per session (default: %(default)s)",
    )
    parser.add_argument(
        "--turn-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="pause before each delta and event, to watch turns unfold (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="(default: %(default)s)",
    )
    parser.set_defaults(run=run_engine)


def run_engine(args: argparse.Namespace) -> int:
    from .engine import LocalEngine

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    raise_open_files_limit()
    try:
        engine = LocalEngine(
            args.host,
            args.port,
            db=args.db,
            api_keys=args.api_key,
            config=args.config,
            max_frame_bytes=args.max_frame_bytes,
            max_sessions=args.max_sessions,
            max_history=args.max_history,
            turn_delay=args.turn_delay,
        )
    except ValueError as exc:
        print(f"vectorshift-sessions engine: error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(engine))
    except KeyboardInterrupt:
        pass  # Ctrl-C where no signal handler could be installed (Windows): already stopped
    except OSError as exc:
        print(
            f"vectorshift-sessions engine: cannot serve on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    print("engine stopped", flush=True)
    return 0


def raise_open_files_limit() -> int | None:
    """Each connection is a file: take the soft limit on open files up to the hard one (a soft
    limit of 1,024, common, would cap the engine near 1,000 sessions). The new limit; ``None``
    where there is no such limit (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
        logging.getLogger("vectorshift_sessions.engine").info(
            "open files: limit raised from %d to %d", soft, hard
        )
        return hard
    return soft


async def _serve(engine: Any) -> None:
    await engine.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            pass
    try:
        print(_banner(engine), flush=True)
        await stop.wait()
    finally:
        await engine.stop()


def _banner(engine: Any) -> str:
    agents = ", ".join(f"{a.name} ({a.id})" for a in engine.catalog.agents())
    chatbots = ", ".join(f"{b.name} ({b.id})" for b, _ in engine.catalog.chatbots())
    lines = [
        f"vectorshift-sessions local engine {_version()}",
        f"  REST API:   {engine.base_url}",
        f"  WebSocket:  {engine.session_url}",
        f"  Database:   {engine.db_path}",
        f"  Agents:     {agents}",
        f"  Chatbots:   {chatbots}",
        "Point a client at it:",
        f"  export VECTORSHIFT_BASE_URL={engine.base_url}",
        f"  export VECTORSHIFT_WS_URL={engine.ws_url}",
    ]
    if engine.api_keys:
        lines.append("  export VECTORSHIFT_API_KEY=<one of the --api-key values>")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


# --- demo ---------------------------------------------------------------------------------


def add_demo_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="a scripted session against an embedded local engine, showing every event type",
        description=(
            "Start an embedded local engine and run a scripted conversation end to end, in both "
            "flavours (AsyncSession and the blocking Session), showing every event as it "
            "streams: thinking, tool calls and results, search results, an approval, a "
            "re-authorization request, an error, history, resume by id. No account, no network."
        ),
    )
    parser.add_argument(
        "--turn-delay",
        type=float,
        default=0.01,
        metavar="SECONDS",
        help="the engine's pause between events, to watch them stream (default: %(default)s)",
    )
    parser.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo as demo

    return demo(turn_delay=args.turn_delay)


# --- chat ---------------------------------------------------------------------------------


def add_chat_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "chat",
        help="chat with an agent or chatbot in the terminal",
        description=(
            "An interactive chat with streamed answers, tool activity and approval prompts. "
            "With an API key (--api-key or VECTORSHIFT_API_KEY) and an --agent or --chatbot it "
            "talks to that engine (VECTORSHIFT_BASE_URL, default the hosted API); otherwise to "
            "an embedded local engine (agent 'demo' unless you name another)."
        ),
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--agent", metavar="NAME", help="the agent's name")
    target.add_argument("--chatbot", metavar="NAME", help="the chatbot's name")
    parser.add_argument("--api-key", metavar="KEY", help="default: VECTORSHIFT_API_KEY")
    parser.add_argument("--base-url", metavar="URL", help="default: VECTORSHIFT_BASE_URL")
    parser.add_argument("--ws-url", metavar="URL", help="default: VECTORSHIFT_WS_URL")
    parser.add_argument(
        "--record",
        metavar="FILE",
        help="append every frame of the session, both ways, to FILE (a JSON Lines cassette "
        "that vectorshift_sessions.testing.Cassette replays offline; the API key is never "
        "written); an existing FILE must be a cassette",
    )
    parser.set_defaults(run=run_chat)


def run_chat(args: argparse.Namespace) -> int:
    from ._chat import run_chat as chat

    return chat(
        agent=args.agent,
        chatbot=args.chatbot,
        api_key=args.api_key,
        base_url=args.base_url,
        ws_url=args.ws_url,
        record=args.record,
    )


# --- wiring -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vectorshift-sessions",
        description="Real-time sessions with VectorShift agents and chatbots, and a local engine.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_engine_parser(subparsers)
    add_demo_parser(subparsers)
    add_chat_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:  # Ctrl-C outside a command's own handling: no traceback
        return 130
    return code
