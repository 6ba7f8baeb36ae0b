"""What a test double raises when the code under test did something it was not told to expect."""

from __future__ import annotations

__all__ = ["Mismatch"]


class Mismatch(AssertionError):
    """The code under test did not do what the script or the cassette expected.

    Raised inside the scripted or replaying agent (so the session sees an ``ERROR`` event and
    never hangs), kept on the agent's ``mismatches`` list, and raised again when the test ends
    by the ``vectorshift_engine`` fixture, so the test fails with this message.
    """
