"""``python -m benchmarks.harness SCENARIO... [options]``: see ``benchmarks.harness``."""

import sys

from benchmarks.harness import main

sys.exit(main(sys.argv[1:]))
