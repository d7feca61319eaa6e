"""``python -m fastctx``: the same command line as ``fastctx``."""

from .cli import main

raise SystemExit(main())
