"""A small Kubernetes adapter: ``kubectl`` for real, a JSON-file fake for tests and the sandbox.

* :mod:`scripts.k8s.adapter` – the adapter interface, ``kubectl`` and ``--kube-adapter`` parsing
"""
