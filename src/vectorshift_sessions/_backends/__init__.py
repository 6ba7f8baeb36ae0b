"""The two backend twins: the only code written twice (asyncio, threads + websocket-client).

Both expose the same small interface and nothing session-specific: ``connect`` a transport
(``send`` / ``recv_batch`` / ``ping`` / ``close`` / ``abort``), ``spawn`` a background worker,
``Event``, ``StateLock``, ``sleep`` and ``monotonic``. Both parse what they read with websockets'
Sans-I/O protocol, a socket read at a time. The session logic in ``_async/`` uses only these, so
``unasync`` can turn it into the blocking flavour by swapping the module.
"""
