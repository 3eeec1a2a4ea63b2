"""``python -m rtlab``: the command line (see :mod:`rtlab.cli`)."""

import sys

from .cli import main

sys.exit(main())
