"""``python -m alphacode``: the same command line as ``alphacode``."""

import sys

from alphacode.cli import main

sys.exit(main())
