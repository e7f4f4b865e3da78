"""``python -m bench`` (from the repository root): every benchmark, one table. See ``bench/run.py``."""

from __future__ import annotations

import sys
from pathlib import Path

# The benchmark modules import each other as top-level modules (``harness``, ``report``), as they do when
# run as scripts (``python bench/bench_me.py``), where bench/ is sys.path[0].
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import main

sys.exit(main())
