"""``python -m <package>.segmentation``: see :mod:`.cli`."""
import sys

from .cli import main

sys.exit(main())
