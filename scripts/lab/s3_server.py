"""The lab's S3 store: ``moto_server`` with byte ranges served as S3 serves them (:mod:`scripts.lab.s3_ranges`).

python -m scripts.lab.s3_server -H 127.0.0.1 -p 5000
"""

from scripts.lab import s3_ranges

s3_ranges.apply()

from moto.server import main  # noqa: E402 - moto must be patched before its server imports models

if __name__ == "__main__":
    main()
