"""User-facing errors.

Anything the user can fix (a config value, a missing data folder, a missing weights file)
raises a subclass of :class:`A2DError`. Stages print such errors as one line on stderr and exit
with status 2; everything else is a bug and keeps its traceback.
"""


class A2DError(Exception):
    """An error the user can fix; its message says what was expected, what was found, and what to do."""


class ConfigError(A2DError):
    """A bad config value, an unknown key or name, or a typo in an override."""


class DataError(A2DError):
    """Missing or unreadable data (datasets, weights, stage inputs)."""
