"""``python -m <package>.video``: see :mod:`.cli`."""
import sys

from .cli import main

sys.exit(main())
