"""``python -m pinnace``: the pinnace command."""

import sys

from pinnace.cli.main import main

sys.exit(main())
