"""What a drill leaves behind: its logs, the JSON and Markdown reports and the timeline chart."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from scripts.drill.chart import timeline_png
from scripts.report import Report
from scripts.timeutil import format_duration


def render_markdown(report: Report) -> str:
    """A post-mortem-ready summary: phases, RTO/RPO against targets, every check."""
    doc = report.to_dict()
    result = doc["result"]
    lines = [
        f"# idp-dr drill report: {'PASSED' if doc['ok'] else 'FAILED'}",
        "",
        f"- started {doc['started_at']}, took {format_duration(doc['duration_s'])}",
    ]
    if "method" in result:
        lines.append(f"- method **{result['method']}**")
    if "target" in result:
        lines.append(f"- recovery target {result['target']}; issuer `{result.get('issuer')}`")
    rpo, rto, targets = result.get("rpo"), result.get("rto"), result.get("targets")
    if rpo and targets:
        lines.append(f"- **RPO {rpo['rpo_s']} s** (target {targets['rpo_s']} s): {rpo['definition']}")
    if rto and targets and "total_s" in rto:
        lines.append(f"- **RTO {rto['total_s']} s** (target {targets['rto_s']} s): {result.get('rto_parts', '')}")
    lines += ["", "| phase | status | duration |", "| --- | --- | --- |"]
    for step in doc["steps"]:
        lines.append(f"| {step['name']} | {step['status']} | {format_duration(step['duration_s'])} |")
    lines += ["", "| check | result | evidence |", "| --- | --- | --- |"]
    for check in doc["checks"]:
        lines.append(f"| {check['name']} | {check['status']} | {check['message']} |")
    if "error" in doc:
        lines += ["", f"**error:** {doc['error']['message']}"]
    return "\n".join(lines)


class DrillArtefacts:
    """Writes the drill's artefacts (a mixin of :class:`~scripts.drill.base.DrillBase`)."""

    # ------------------------------------------------------------------ artefacts
    def collect_logs(self, out_dir: Path) -> None:
        """Copy server logs out of the workspace (which is removed) into the report directory."""
        for name, path in self.log_paths:
            if path.is_file():
                (out_dir / "logs").mkdir(exist_ok=True)
                shutil.copyfile(path, out_dir / "logs" / name)

    def write_artefacts(self, out_dir: Path) -> dict[str, Any]:
        chart = None
        clock = self.chart_clock
        if clock.spans:
            markers = {name: at for name, at in clock.instants.items()}
            chart = timeline_png(
                clock.spans,
                out_dir / "timeline.png",
                title=self.title,
                markers=markers,
                rto_s=self.rto.get("total_s"),
            )
        files = {"json": str(out_dir / "drill-report.json"), "markdown": str(out_dir / "drill-report.md")}
        if chart:
            files["timeline_png"] = str(chart)
        self.report.result["files"] = files
        self.report.show_result_in_text = False  # --json and drill-report.json carry everything
        self.report.notes.append(f"report: {out_dir}/ (drill-report.json, drill-report.md, timeline.png, logs/)")
        (out_dir / "drill-report.json").write_text(self.report.to_json() + "\n")
        (out_dir / "drill-report.md").write_text(render_markdown(self.report) + "\n")
        return files
