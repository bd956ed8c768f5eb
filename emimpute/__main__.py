"""``python -m emimpute``: the same as the ``emimpute`` command."""

import sys

from emimpute._cli import main

if __name__ == "__main__":
    sys.exit(main())
