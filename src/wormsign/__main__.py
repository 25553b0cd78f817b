"""``python -m wormsign``."""

import sys

from wormsign.cli.main import main

sys.exit(main())
