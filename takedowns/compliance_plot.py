"""The compliance report's plot (``modwatch report --plot``): one Kaplan–Meier curve per platform.

Each part is drawn for a reason:

* **The requests of the tables.** Posts' requests only: account-level ones are
  left out as :func:`takedowns.compliance.build` leaves them out, so a curve's
  n and median are its platform's row in the report.
* **A log time axis, a minute to weeks.** One platform removes in minutes,
  another in weeks, and the deadlines run from 1 h (EU) to 7 days (NetzDG,
  hate); on a linear axis the first two days took 5 % of the width.
* **The legal deadlines.** A dashed vertical line per distinct deadline,
  labelled above the axes with the jurisdictions that set it ("PK 48 h").
* **Confidence bands.** The pointwise 95 % band of each curve
  (takedowns/survival.py ``confidence_band``: Greenwood's variance on the
  log(-log S) scale, lifelines' band), shaded: a curve resting on a dozen
  requests looks as uncertain as it is.
* **Censoring ticks.** A tick on the curve at each censored time (a request
  still open, rejected or expired): where the ticks crowd, the curve goes on
  without knowing what those requests will do.
* **The legend outside the axes**, to the right, where it covers no curve.

matplotlib is imported when a plot is drawn, with the Agg backend (a file,
never a window), so the report's other formats never load it.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

from takedowns.compliance import Observation, duration, posts_and_accounts
from takedowns.survival import KaplanMeierStep, confidence_band, kaplan_meier_steps, km_quantile

# The time axis's marks, in seconds, labelled as people say them.
TIME_TICKS = (
    (1, "1 s"),
    (10, "10 s"),
    (60, "1 min"),
    (600, "10 min"),
    (3600, "1 h"),
    (6 * 3600, "6 h"),
    (86400, "1 d"),
    (2 * 86400, "2 d"),
    (7 * 86400, "7 d"),
    (30 * 86400, "30 d"),
    (90 * 86400, "90 d"),
    (365 * 86400, "1 y"),
)
# The axis spans at least a minute to a week (earlier removals or later
# observations widen it), so plots of different periods compare by eye.
SHORTEST_SPAN_SECONDS = 60
LONGEST_SPAN_SECONDS = 7 * 86400
RIGHT_MARGIN = 1.1  # past the last observation (or the week), so that the curves' ends show
# Censoring ticks closer than this on the log10 axis (about a pixel at the
# plot's width) are drawn once: a million open requests would draw a million.
TICK_SPACING_DECADES = 0.004


@dataclass(frozen=True, slots=True)
class Curve:
    platform: str
    requests: int
    median_seconds: float | None  # Kaplan–Meier, as in the report's table
    steps: tuple[KaplanMeierStep, ...]
    longest_seconds: float  # the platform's last observation, removed or censored: its curve ends there
    censored_seconds: tuple[float, ...]  # each censored observation's time, in order

    @property
    def label(self) -> str:
        return f"{self.platform} (n={self.requests:,}, median {duration(self.median_seconds)})"

    def survival_at(self, times: list[float]) -> list[float]:
        """S at each of ``times``: that of the last removal time at or before it, 1 before any."""
        step_times = [step.time for step in self.steps]
        indices = [bisect_right(step_times, seconds) - 1 for seconds in times]
        return [self.steps[index].survival if index >= 0 else 1.0 for index in indices]


def curves(observations_: list[Observation]) -> list[Curve]:
    """One curve per platform, of its posts' requests (the requests of the report's tables)."""
    posts, _accounts = posts_and_accounts(observations_)
    by_platform: dict[str, list[Observation]] = {}
    for observation in posts:
        by_platform.setdefault(observation.platform, []).append(observation)
    found = []
    for platform, group in sorted(by_platform.items()):
        steps = kaplan_meier_steps([(observation.seconds, observation.removed) for observation in group])
        found.append(
            Curve(
                platform=platform,
                requests=len(group),
                median_seconds=km_quantile([(step.time, step.survival) for step in steps], 0.5),
                steps=tuple(steps),
                longest_seconds=max(observation.seconds for observation in group),
                censored_seconds=tuple(sorted(observation.seconds for observation in group if not observation.removed)),
            )
        )
    return found


def deadlines(observations_: list[Observation]) -> list[tuple[float, str]]:
    """Each distinct legal deadline of the posts' requests, with its label: ``(172800, "PK 48 h")``."""
    posts, _accounts = posts_and_accounts(observations_)
    jurisdictions: dict[float, set[str]] = {}
    for observation in posts:
        if observation.deadline_seconds:
            # To the minute: one deadline, computed from two times in POSIX seconds, may differ in its last digits.
            seconds = round(observation.deadline_seconds / 60) * 60.0
            jurisdictions.setdefault(seconds, set()).add(observation.jurisdiction)
    return [
        (seconds, f"{', '.join(sorted(codes))} {_deadline(seconds)}")
        for seconds, codes in sorted(jurisdictions.items())
    ]


def _deadline(seconds: float) -> str:
    hours = seconds / 3600
    if hours < 1:
        return f"{seconds / 60:g} min"
    if hours < 72 or hours % 24:
        return f"{hours:g} h"
    return f"{hours / 24:g} d"


def time_span(curves_: list[Curve], deadlines_: list[tuple[float, str]]) -> tuple[float, float]:
    """The time axis's ends: from a tick of TIME_TICKS at or before a minute and the earliest
    removal, to a little past a week and the last observation or deadline."""
    earliest = min((step.time for curve in curves_ for step in curve.steps if step.time > 0), default=math.inf)
    latest = max([curve.longest_seconds for curve in curves_] + [seconds for seconds, _ in deadlines_], default=0.0)
    left = max((tick for tick, _ in TIME_TICKS if tick <= min(earliest, SHORTEST_SPAN_SECONDS)), default=1)
    return float(left), max(latest, LONGEST_SPAN_SECONDS) * RIGHT_MARGIN


def plot(observations_: list[Observation], path, title: str) -> list[str]:
    """Draw the plot into the PNG ``path``; the curves' legend labels, in order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import PercentFormatter

    drawn = curves(observations_)
    marked = deadlines(observations_)
    left, right = time_span(drawn, marked)
    figure, axes = pyplot.subplots(figsize=(11, 5.8), dpi=110, layout="constrained")
    colours = pyplot.get_cmap("tab10").colors
    for index, curve in enumerate(drawn):
        _draw_curve(axes, curve, left, colours[index % len(colours)])
    _draw_deadlines(axes, marked)
    _time_axis(axes, left, right)
    axes.set_ylabel("share of requested items still up")
    axes.set_ylim(0, 1.02)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0, symbol=" %"))
    axes.grid(alpha=0.3)
    figure.suptitle(title)
    explained = [
        Patch(facecolor="0.5", alpha=0.3, label="95 % band (Greenwood, log-log)"),
        Line2D(
            [], [], color="0.3", marker="|", linestyle="none", markersize=8, label="censored: open, rejected, expired"
        ),
        Line2D([], [], color="0.35", linestyle="--", linewidth=0.9, label="legal deadline"),
    ]
    handles = [line for line in axes.get_lines() if not line.get_label().startswith("_")] + explained
    figure.legend(handles=handles, loc="outside right upper", fontsize="small", frameon=False)
    figure.savefig(path)
    pyplot.close(figure)
    return [curve.label for curve in drawn]


def _draw_curve(axes, curve: Curve, left: float, colour) -> None:
    """The step curve from ``left`` to the platform's last observation, its band and its censoring ticks."""
    times = [left] + [max(step.time, left) for step in curve.steps] + [max(curve.longest_seconds, left)]
    survival = [1.0] + [step.survival for step in curve.steps]
    bands = [(1.0, 1.0)] + [confidence_band(step.survival, step.greenwood_sum) for step in curve.steps]
    survival.append(survival[-1])
    bands.append(bands[-1])
    axes.step(times, survival, where="post", color=colour, linewidth=1.6, label=curve.label)
    lower, upper = zip(*bands, strict=True)
    axes.fill_between(times, lower, upper, step="post", color=colour, alpha=0.15, linewidth=0)
    ticks = _thinned([max(seconds, left) for seconds in curve.censored_seconds])
    axes.plot(
        ticks,
        curve.survival_at(ticks),
        linestyle="none",
        marker="|",
        markersize=6,
        markeredgewidth=0.8,
        color=colour,
        label="_censored",
    )


def _thinned(times: list[float]) -> list[float]:
    """Sorted ``times`` without those within TICK_SPACING_DECADES of the last one kept."""
    kept: list[float] = []
    for seconds in times:
        if not kept or math.log10(seconds) - math.log10(kept[-1]) >= TICK_SPACING_DECADES:
            kept.append(seconds)
    return kept


def _draw_deadlines(axes, marked: list[tuple[float, str]]) -> None:
    """A dashed line per deadline, its label above the axes; labels of close deadlines on two rows."""
    previous = -math.inf
    row = 0
    for seconds, label in marked:
        row = 1 - row if math.log10(seconds) - previous < 0.45 else 0
        previous = math.log10(seconds)
        axes.axvline(seconds, color="0.35", linestyle="--", linewidth=0.9)
        axes.text(
            seconds,
            1.01 + 0.045 * row,
            label,
            transform=axes.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize="small",
            color="0.25",
        )


def _time_axis(axes, left: float, right: float) -> None:
    """Log scale, marked at TIME_TICKS (1 min, 10 min, 1 h, ...), no minor marks."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    shown = [(tick, label) for tick, label in TIME_TICKS if left <= tick <= right]
    axes.set_xscale("log")
    axes.set_xlim(left, right)
    axes.xaxis.set_major_locator(FixedLocator([tick for tick, _ in shown]))
    axes.xaxis.set_major_formatter(FixedFormatter([label for _, label in shown]))
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_xlabel("time since the request (log scale)")
