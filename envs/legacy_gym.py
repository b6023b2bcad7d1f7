"""Import the unmaintained ``gym`` package without its start-up banner.

``memory_maze`` and ``crafter`` do ``import gym`` when they are imported (we use neither
package's gym API). gym 0.26 then prints a multi-line "Gym has been unmaintained" notice to
stderr in every process. We hide exactly that print: stderr is captured only while gym is being
imported, and replayed if the import fails, so real errors stay visible.
"""

from __future__ import annotations

import contextlib
import io
import sys


def import_gym_quietly() -> None:
    """Import ``gym`` once with its banner suppressed (a no-op when gym is absent or loaded)."""
    if "gym" in sys.modules:
        return
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            import gym  # noqa: F401
    except ImportError:
        # Not installed (or broken): the packages that want it report that themselves.
        sys.stderr.write(captured.getvalue())
    except Exception:
        sys.stderr.write(captured.getvalue())
        raise
