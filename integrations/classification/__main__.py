"""``python -m <package>.classification``: see :mod:`.cli`."""
import sys

from .cli import main

sys.exit(main())
