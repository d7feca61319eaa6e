#!/usr/bin/env python
"""Print the side-by-side throughput tables: fastctx against the Python peers.

    python benchmarks/compare.py render                 # 1,000,000 events per shape
    python benchmarks/compare.py parse --rows 200000 --repeat 5 --shapes clf,csv
    python benchmarks/compare.py render --markdown      # the README table
    python benchmarks/compare.py all --threads 1,2      # also the labelled 2-thread rows

The measuring lives in ``fastctx.bench`` (so an installed ``fastctx bench`` runs the same
code without this checkout); this script only calls it. ``run`` and ``format_table`` are
re-exported for scripts that import this file.
"""

import sys

from fastctx.bench import format_table, main, run

__all__ = ["run", "format_table", "main"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
