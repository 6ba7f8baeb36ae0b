"""Session logic and REST client, written once for asyncio; codegen makes ``_sync/`` from it."""
