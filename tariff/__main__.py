"""``python -m tariff …``: the tariff CLI without the core installed."""

import sys

from tariff.cli import main

sys.exit(main())
