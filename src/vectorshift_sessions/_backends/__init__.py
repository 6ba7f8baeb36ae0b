"""The two backend twins: the only code written twice (asyncio + websockets, threads + websocket-client).

Both expose the same small interface and nothing session-specific: ``connect`` a transport
(``send`` / ``recv`` / ``ping`` / ``close``), ``spawn`` a background worker, ``Event``,
``Lock``, ``sleep`` and ``monotonic``. The session logic in ``_async/`` uses only these, so
``unasync`` can turn it into the blocking flavour by swapping the module.
"""
