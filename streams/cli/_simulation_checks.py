"""What ``modwatch simulate`` checks at the end of a run: the report, the accounting and each platform's median.

:func:`report_and_check` prints ``modwatch report`` over the run's ledger
(open requests censored at scaled time, see sim/platforms.py) and draws its
plot, then checks what modwatch measured against what the simulated platforms
did (their ground truth, ``handles.ground_truth()``):

* accounting: every request the platforms accepted is in the ledger once,
  every removal they reported is recorded once, no request is delivered twice
  (an idempotent replay is counted, not a second request);
* per platform, the configured median time to removal lies in the 99.9 %
  Brookmeyer-Crowley interval of the Kaplan-Meier median modwatch measured
  (``sim.median_agrees``); a platform with fewer than ``MIN_REMOVALS``
  removals is reported as not checked, never as agreeing.

It returns the exit status: 0 when the accounting holds, at least one platform
was checked and none disagrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from takedowns.accounts import ACCOUNT_MARK

console = Console(stderr=True)
MIN_REMOVALS = 8
# Measured = drawn latency + the delivery delay (milliseconds here); see sim.median_agrees.
DELIVERY_SLACK_SECONDS = 5.0
# A removal reported this recently may still be on its way through the worker.
SETTLE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class PlatformCheck:
    platform: str
    requests: int
    removed: int
    expected_median_seconds: float
    measured_median_seconds: float | None
    verdict: str  # agrees | DISAGREES | not checked
    detail: str  # S(configured median) and the allowed distance from 0.5, or why not checked


def report_and_check(
    ledger: list[dict], handles, platforms_config, scale: float, plot_path: Path, run_name: str
) -> int:
    import sim
    from takedowns import compliance, compliance_plot

    now = datetime.now(UTC)
    observed = compliance.observations(ledger, now, time_scale=scale)
    print(compliance.render_markdown(compliance.build(observed), "the start of the run", "now"))
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    compliance_plot.plot(observed, plot_path, f"{run_name}: requested items still up (simulated platforms)")
    console.print(f"wrote {plot_path}")

    problems = _accounting_problems(ledger, handles)
    checks = []
    latest = compliance.latest_records(ledger)
    for platform, behaviour in sorted(platforms_config.platforms.items()):
        # Posts' requests: account-level ones (takedowns/accounts.py) carry no page to re-check.
        group = [found for found in observed if found.platform == platform and found.target == "item"]
        deadlines = [
            record.deadline - record.requested_at
            for record in latest.values()
            if record.platform == platform and record.deadline is not None and record.requested_at is not None
        ]
        expected = behaviour.expected_median_seconds(deadlines[0] if deadlines else None)
        durations = [(found.seconds, found.removed) for found in group]
        removed = sum(found.removed for found in group)
        curve = compliance.kaplan_meier(durations)
        measured = compliance.km_quantile(curve, 0.5)
        if removed < MIN_REMOVALS:
            checks.append(
                PlatformCheck(
                    platform, len(group), removed, expected, measured, "not checked", f"needs {MIN_REMOVALS} removals"
                )
            )
            continue
        check = sim.median_agrees(durations, expected, slack_seconds=DELIVERY_SLACK_SECONDS)
        detail = f"S = {check.survival_at_expected:.2f}, 0.5 ± {check.z * check.standard_error:.2f}"
        checks.append(
            PlatformCheck(
                platform, len(group), removed, expected, measured, "agrees" if check.agrees else "DISAGREES", detail
            )
        )
    _show_checks(checks, problems)
    checked = [check for check in checks if check.verdict != "not checked"]
    if not checked:
        console.print("[bold red]no platform had enough removals to check: run longer (--minutes)[/]")
    return 0 if not problems and checked and all(check.verdict == "agrees" for check in checked) else 1


def _accounting_problems(ledger: list[dict], handles) -> list[str]:
    """Every accepted request in the ledger once; every reported removal recorded once."""
    problems = []
    transitions = [record for record in ledger if "to" in record and record.get("kind") != "delivery_attempt"]
    requested = {record["request_id"] for record in transitions if record["to"] == "requested"}
    removals: dict[str, set] = {}
    for record in transitions:
        if record["to"] == "removed":
            removals.setdefault(record["request_id"], set()).add(record.get("seq"))
    for record in handles.ground_truth():
        if record.post_id.startswith(ACCOUNT_MARK) and not handles_callback(handles, record):
            continue  # an account-level request has no page the poller could see go: not observable there
        if record.request_id not in requested:
            problems.append(f"{record.platform}: {record.request_id} reached the platform but is not in the ledger")
        called_back = record.callback_status is not None and 200 <= record.callback_status < 300
        reported = record.removed_wall_at is not None and (called_back or not handles_callback(handles, record))
        settled = reported and (datetime.now(UTC) - record.removed_wall_at).total_seconds() > SETTLE_SECONDS
        if settled and record.request_id not in removals:
            problems.append(
                f"{record.platform}: {record.request_id} was removed and reported, but modwatch did not record it"
            )
    latest = {record["request_id"]: record for record in transitions}
    for record in handles.ground_truth():
        measured = latest.get(record.request_id)
        if not measured or measured["to"] != "removed" or record.removed_at is None:
            continue
        seconds = (
            datetime.fromisoformat(measured["removed_at"]) - datetime.fromisoformat(measured["requested_at"])
        ).total_seconds()
        if abs(seconds - record.latency_seconds) > DELIVERY_SLACK_SECONDS:
            problems.append(
                f"{record.platform}: {record.request_id} measured {seconds:.1f} s to removal, "
                f"the platform took {record.latency_seconds:.1f} s"
            )
    for request_id, seqs in removals.items():
        if len(seqs) > 1:
            problems.append(f"{request_id}: removal recorded {len(seqs)} times")
    delivered = [record.request_id for record in handles.ground_truth()]
    if len(delivered) != len(set(delivered)):
        problems.append(f"{len(delivered) - len(set(delivered))} requests reached a platform twice as new requests")
    return problems


def handles_callback(handles, record) -> bool:
    return handles.config.platforms[record.platform].callback


def _show_checks(checks: list[PlatformCheck], problems: list[str]) -> None:
    from takedowns.compliance import duration

    table = Table(
        title="Does modwatch measure what the platforms did?",
        caption="S: Kaplan-Meier share still up at the configured median; it agrees within 0.5 ± 3.29 "
        "standard errors (99.9 % Brookmeyer-Crowley)",
    )
    for column in ("platform", "requests", "removed", "configured median", "measured median", "check", "verdict"):
        table.add_column(column)
    for check in checks:
        style = {"agrees": "green", "DISAGREES": "bold red"}.get(check.verdict, "yellow")
        table.add_row(
            check.platform,
            str(check.requests),
            str(check.removed),
            duration(check.expected_median_seconds),
            duration(check.measured_median_seconds),
            check.detail,
            f"[{style}]{check.verdict}[/]",
        )
    console.print(table)
    if problems:
        console.print(f"[bold red]{len(problems)} accounting problem(s):[/]")
        for problem in problems[:20]:
            console.print(f"  {problem}")
    else:
        console.print(
            "[green]accounting: every accepted request is in the ledger once, every reported removal recorded once[/]"
        )
