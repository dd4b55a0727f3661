"""User-facing errors.

Anything the user can fix (a config value, a missing data folder, a missing weights file)
raises a subclass of :class:`A2DError`. Stages print such errors as one line on stderr and exit
with status 2; everything else is a bug and keeps its traceback.
"""

import re


class A2DError(Exception):
    """An error the user can fix; its message says what was expected, what was found, and what to do."""


class ConfigError(A2DError):
    """A bad config value, an unknown key or name, or a typo in an override."""


class DataError(A2DError):
    """Missing or unreadable data (datasets, weights, stage inputs)."""


def error_line(exc: BaseException) -> str:
    """The informative line of an error message (torch's run over many lines; TorchScript's
    end with the Python error raised inside the script)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    raised = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception): ", line)]
    return raised[-1] if raised else lines[0]
