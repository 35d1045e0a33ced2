"""A failover's timeline (``timeline.json``) and its Markdown post-mortem skeleton."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contract.outputs import StackOutputs
from scripts import __version__
from scripts.failover.state import STEPS, State
from scripts.timeutil import format_duration, parse_iso


def write_timeline(state: State, outputs: StackOutputs, kube_description: str, state_dir: Path) -> tuple[Path, Path]:
    """timeline.json (every step's first start, end, result; every run) + the post-mortem skeleton."""
    st = state.data
    timeline = {
        "incident_id": st["incident_id"],
        "record": st["record"],
        "mode": st["mode"],
        "tool_version": __version__,
        "started_at": st["started_at"],
        "declared_at": st["declared_at"],
        "forced": st["forced"],
        "reason": st["reason"],
        "completed_at": st["completed_at"],
        "failed_back_at": st.get("failed_back_at"),
        "database": st.get("db"),
        "rpo": st.get("rpo"),
        "rto_target_s": outputs.rto_target_s,
        "rpo_target_s": outputs.rpo_target_s,
        "kubernetes": kube_description,
        "steps": [{"name": name, **st["steps"][name]} for name in STEPS if name in st["steps"]]
        + [{"name": name, **v} for name, v in st["steps"].items() if name not in STEPS],
        "runs": st["runs"],
        "failback": st.get("failback"),
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = state_dir / "timeline.json", state_dir / "postmortem.md"
    json_path.write_text(json.dumps(timeline, indent=2, default=str) + "\n")
    md_path.write_text(render_postmortem(timeline))
    return json_path, md_path


def render_postmortem(t: dict[str, Any]) -> str:
    """A blameless post-mortem skeleton with the measured timeline filled in."""
    declared, completed = parse_iso(t.get("declared_at")), parse_iso(t.get("completed_at"))
    rto = f"{format_duration((completed - declared).total_seconds())}" if declared and completed else "n/a"
    lines = [
        f"# Post-mortem: failover of {t['record']} ({t['incident_id']})",
        "",
        "_Skeleton written by `python -m scripts failover`. Fill in every TODO; keep it blameless._",
        "",
        "## Summary",
        "",
        f"- Mode: **{t['mode']}**; declared {t.get('declared_at') or 'n/a'}; "
        f"traffic cut {t.get('completed_at') or 'not yet'}",
        f"- Measured RTO (declared → traffic cut): **{rto}** "
        f"(target {format_duration(t.get('rto_target_s'))}; "
        "add DNS TTL and resolver caching for users)",
        f"- RPO evidence: {json.dumps(t.get('rpo'))} (target {format_duration(t.get('rpo_target_s'))})",
        f"- New database: {(t.get('database') or {}).get('host', 'n/a')}",
        f"- Forced over a healthy-looking primary: {'yes' if t.get('forced') else 'no'}"
        + (f" — reason: {t['reason']}" if t.get("reason") else ""),
        f"- Kubernetes: {t.get('kubernetes')}",
        "- Impact: TODO (who could not log in, for how long; sessions lost at the recovery site)",
        "",
        "## Timeline (UTC)",
        "",
        "| step | started | ended | result | attempts |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in t["steps"]:
        result = s.get("status", "")
        if s.get("error"):
            result += f": {str(s['error'])[:120]}"
        lines.append(
            f"| {s['name']} | {s.get('first_started_at') or s.get('started_at') or ''} | "
            f"{s.get('ended_at') or ''} | {result} | {s.get('attempts', 1)} |"
        )
    lines += ["", "Runs of the command:", ""]
    for r in t.get("runs", []):
        lines.append(
            f"- {r.get('started_at')} → {r.get('ended_at') or '…'}: {r.get('result')}"
            + (" (forced)" if r.get("forced") else "")
        )
    failback = t.get("failback")
    if failback:
        lines += [
            "",
            f"Failback: {failback.get('started_at')} → {failback.get('ended_at') or '…'}: {failback.get('result')}",
        ]
        if failback.get("overridden"):
            lines.append(
                f"- pre-checks overridden with --force ({failback.get('reason')}): " + "; ".join(failback["overridden"])
            )
    lines += [
        "",
        "## Root cause",
        "",
        "TODO",
        "",
        "## What went well / what went badly",
        "",
        "TODO",
        "",
        "## Action items",
        "",
        "- [ ] Rebuild the primary region; re-establish replication from the DR database",
        "- [ ] Fail back with `python -m scripts failback` once its pre-checks pass",
        "- [ ] TODO",
        "",
    ]
    return "\n".join(lines)
