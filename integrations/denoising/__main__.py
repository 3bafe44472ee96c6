"""``python -m <package>.denoising``: see :mod:`.cli`."""
import sys

from .cli import main

sys.exit(main())
