"""``python -m wormsign``."""

import sys

from wormsign.cli._early import main

sys.exit(main())
