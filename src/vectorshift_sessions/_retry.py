"""Exponential backoff with jitter: how long to wait before the next attempt, and when to stop."""

from __future__ import annotations

import random

import attrs

__all__ = ["ReconnectPolicy", "backoff_delay"]


def backoff_delay(
    attempt: int,
    *,
    initial: float,
    maximum: float,
    multiplier: float = 2.0,
    jitter: float = 0.5,
    rng: random.Random | None = None,
) -> float:
    """The wait before retry number ``attempt`` (0-based): ``initial * multiplier**attempt``
    capped at ``maximum``, then spread by +/- ``jitter`` (a fraction) so that many clients
    cut off together do not come back together."""
    base = min(maximum, initial * multiplier ** min(attempt, 64))
    spread = base * jitter
    return max(0.0, base + (rng or random).uniform(-spread, spread))


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"ReconnectPolicy.{attribute.name} must be > 0, got {value!r}")


@attrs.frozen
class ReconnectPolicy:
    """How a session recovers when its connection drops without being asked to.

    It reconnects to the same session id after ``backoff_delay`` waits (from ``initial_delay``
    up to ``max_delay``), and gives up ``deadline`` seconds after the drop. Pass
    ``reconnect=False`` to a session to turn recovery off.

    Attributes:
        deadline: Seconds after the drop at which recovery gives up
            (``ReconnectFailedError``).
        initial_delay: The first wait, in seconds.
        max_delay: The longest wait, in seconds.
        multiplier: How much each wait grows over the one before.
        jitter: How much each wait is spread, as a fraction (0 to 1).

    Raises:
        ValueError: A time or the multiplier is not positive, or ``jitter`` is not in 0..1.
    """

    deadline: float = attrs.field(default=60.0, validator=_positive)
    initial_delay: float = attrs.field(default=0.05, validator=_positive)
    max_delay: float = attrs.field(default=5.0, validator=_positive)
    multiplier: float = attrs.field(default=2.0, validator=_positive)
    jitter: float = attrs.field(
        default=0.5, validator=attrs.validators.and_(attrs.validators.ge(0), attrs.validators.le(1))
    )

    def delay(self, attempt: int) -> float:
        """The wait before reconnection attempt ``attempt``.

        Args:
            attempt: How many attempts were made before this one (0 for the first).

        Returns:
            Seconds to wait: exponential, capped at ``max_delay``, spread by ``jitter``.
        """
        return backoff_delay(
            attempt,
            initial=self.initial_delay,
            maximum=self.max_delay,
            multiplier=self.multiplier,
            jitter=self.jitter,
        )
