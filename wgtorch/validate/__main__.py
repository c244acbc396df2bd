"""``python -m wgtorch.validate``."""

import sys

from . import main

sys.exit(main())
