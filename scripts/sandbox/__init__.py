"""``sandbox``: a production-shaped ``moto_server`` to try the AWS commands on (never used by them).

* :mod:`scripts.sandbox.command`     – the ``sandbox`` command
* :mod:`scripts.sandbox.topology`    – the seeded topology (sandbox and tests) and its stack outputs
* :mod:`scripts.sandbox.sites`       – stand-in IdP sites over HTTP (sandbox and tests)
* :mod:`scripts.sandbox.motofix`     – two documented moto deviations from AWS, fixed for sandbox/tests only
* :mod:`scripts.sandbox.moto_server` – ``moto_server`` with those fixes
"""
