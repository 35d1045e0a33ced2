"""Game days: ``drill --local``, the whole disaster and recovery on one machine, measured.

* :mod:`scripts.drill.local`     – runs a drill by its method, and writes its artefacts on every path
* :mod:`scripts.drill.base`      – the phases both methods share, in order (prepare, workload, disaster, verify, audit)
* :mod:`scripts.drill.by_wal`    – recovery by point-in-time restore from the archived WAL
* :mod:`scripts.drill.by_dump`   – recovery from the newest verified logical dump
* :mod:`scripts.drill.audit`     – the audit of the restore and the RPO/RTO objectives
* :mod:`scripts.drill.artefacts` – logs, JSON and Markdown reports, the timeline chart (:mod:`~scripts.drill.chart`)
* :mod:`scripts.drill.workload`, :mod:`scripts.drill.data` – marker rows and users; bulk data and WAL
* :mod:`scripts.drill.timing`, :mod:`scripts.drill.names` – the drill's clock and phases; its fixed names
* :mod:`scripts.drill.cli`       – the command line
"""
