"""``python -m <package>.lic``: see :mod:`.cli`."""
import sys

from .cli import main

sys.exit(main())
