"""``python -m kerasvet``."""

import sys

from kerasvet.cli import main

sys.exit(main())
