"""idp-dr runbook scripts: one CLI, ``python -m scripts <command>``.

Each command lives in its own module and registers itself in ``scripts.cli``.
"""

__version__ = "0.1.0"
