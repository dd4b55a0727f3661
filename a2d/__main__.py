"""``python -m a2d``: the ``a2d`` command line (see :mod:`a2d.cli`)."""

from a2d.cli import main

raise SystemExit(main())
