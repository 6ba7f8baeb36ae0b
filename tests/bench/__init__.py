"""The benchmark harness: ``python -m tests.bench`` (or ``nox -s bench``) from the repo root.

Measures, in one run and side by side, this package's ``AsyncSession`` and ``Session`` against
the official client (``vectorshift.session.Session``) and the raw WebSocket floors (plain
``websockets`` asyncio / sync loops and plain ``websocket-client`` loops that only receive and
``json.loads``): stream throughput, ten listeners on one session against one, latency, many
concurrent sessions (up to 10,000 in one process: ``scale10k``), cold start, the blocking flavour
under threads, and a soak (hundreds of sessions, many turns, every connection cut every few
seconds: memory over time, nothing lost or repeated, nothing left behind). The local engine runs
in its own process, so client and engine never share a GIL; every measurement runs in a fresh
client process.

Results go to ``bench-results/``: ``results.md`` (tables, machine), ``results.json`` and
``results.png``. ``--quick`` is a short run (10,000 deltas, 2 rounds, up to 100 sessions).

Nothing here is a pytest test (no file is named ``test_*.py``): timings belong to the benchmark.
"""
