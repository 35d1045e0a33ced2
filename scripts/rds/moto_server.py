"""``moto_server`` with :mod:`scripts.rds.motofix` applied (the sandbox's AWS stand-in).

    python -m scripts.rds.moto_server -H 127.0.0.1 -p 5000

Same arguments as ``python -m moto.server``.
"""

from scripts.rds import motofix

motofix.apply()

from moto.server import main  # noqa: E402 - moto must be patched before its server imports models

if __name__ == "__main__":
    main()
