"""``python -m tests.bench [--quick] [--only SCENARIO ...] [--out DIR]``."""

from __future__ import annotations

from .runner import main

raise SystemExit(main())
