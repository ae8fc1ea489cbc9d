"""``python -m selfattn.bench lra ...`` (same as ``selfattn bench lra ...``)."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
