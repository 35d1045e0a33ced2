"""``moto_server`` with :mod:`scripts.sandbox.motofix` applied, and its sandbox-only answers (the
sandbox's AWS stand-in).

    python -m scripts.sandbox.moto_server -H 127.0.0.1 -p 5000

Same arguments as ``python -m moto.server``.
"""

from scripts.lab import s3_ranges
from scripts.sandbox import motofix

s3_ranges.apply()
motofix.apply()
motofix.apply_replicated_backups()
motofix.apply_replica_lag()

from moto.server import main  # noqa: E402 - moto must be patched before its server imports models

if __name__ == "__main__":
    main()
