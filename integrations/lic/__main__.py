"""``python -m integrations.lic``: see :mod:`integrations.lic.cli`."""
import sys

from .cli import main

sys.exit(main())
