"""``python -m wgtorch.bench``."""

import sys

from . import main

sys.exit(main())
