"""``python -m mobo`` is the same command as ``python -m mobo.run``."""

from __future__ import annotations

import sys

from mobo.run import main

if __name__ == "__main__":
    sys.exit(main())
