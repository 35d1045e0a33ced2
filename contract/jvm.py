"""JVM options the standby's Keycloak pods add to Keycloak's own (the program renders them, the lab measures them).

The JVM compiles hot methods twice: C1 first (quickly, with profiling), then C2 (slowly, for peak speed).
On a pod with one or two CPUs, C2's compiler thread takes a CPU away from Keycloak's start: ``python -m
bench.keycloak_start`` measures the start with C2's thresholds raised (``warm_start_aot_late_c2``) and the
token rate afterwards (``token_rate``), both sides in one run; docs/keycloak-image.md has the figures.
"""

from __future__ import annotations

#: C2 compiles a method after ten times the calls (and loop iterations) of HotSpot's defaults (Tier4*:
#: 5000 calls, 600 with 15000 calls plus loop iterations, 40000 loop iterations): during the start, methods
#: stay in C1's code; under traffic the hot ones still reach C2 within seconds. An AOT cache trained without
#: them still maps (``-XX:AOTMode=on`` starts), but the training start should pass them too: its profiles then
#: match, and the start measured faster.
LATE_C2_OPTIONS: tuple[str, ...] = (
    "-XX:Tier4InvocationThreshold=50000",
    "-XX:Tier4MinInvocationThreshold=20000",
    "-XX:Tier4CompileThreshold=60000",
    "-XX:Tier4BackEdgeThreshold=400000",
)
