"""A run's persisted state, so an interrupted run resumes, and who holds it, so two runs never race.

* :mod:`scripts.runstate.store`   – where the state lives (the DR bucket, or ``--state-dir``), with
  conditional writes, and the lock
* :mod:`scripts.runstate.journal` – a command's steps as a journal on such a store (``restore dump``,
  ``recover``), and the timeline and post-mortem written from it
"""

from scripts.runstate.journal import Journal, write_timeline

__all__ = ["Journal", "write_timeline"]
