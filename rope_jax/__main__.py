"""``python -m rope_jax``: the command line (see :mod:`rope_jax.cli`)."""

import sys

from rope_jax.cli import main

if __name__ == "__main__":
    sys.exit(main())
