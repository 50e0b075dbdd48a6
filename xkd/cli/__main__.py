"""``python -m xkd.cli``: the same as the ``xkd`` command."""

import sys

from xkd.cli import main

sys.exit(main())
