"""`python -m zoo` runs the command line (see `zoo.cli`)."""

import sys

from zoo.cli import main

sys.exit(main())
