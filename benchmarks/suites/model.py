"""What a benchmark suite describes, and what scripts/bench does with it.

A suite (one module per benchmark in this folder) builds a `Suite`: groups of cases that measure the
same configuration on different systems. The runner runs every group once per repetition, the
group's cases back to back in an order that rotates each round, so slow drift of the machine (other
processes, thermal state) hits every system alike and a ratio can be taken within one round.
Each case is a command that prints one result; everything else (statistics, tables, ratios, goals,
results.json/.csv, plots) is the runner's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Optional


def parse_json_line(stdout: str) -> dict:
    """The couring programs and the peers print one JSON object with `ops` and `seconds`."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            result = json.loads(line)
            result["rate"] = result["ops"] / result["seconds"]
            return result
    raise ValueError("no JSON result line in the output")


@dataclass
class Case:
    system: str                      # the series name in tables and plots, e.g. "couring io_uring"
    argv: list[str]
    parse: Callable[[str], dict] = parse_json_line  # stdout -> {"rate": ..., extras...}
    pin: bool = False                # run under taskset on the runner's CPU (single-threaded programs)
    env: dict = field(default_factory=dict)
    expect_backend: Optional[str] = None  # the couring backend the program must report


@dataclass
class Group:
    params: dict                     # what the cases share, e.g. {"mode": "page cache", "qd": 32}
    cases: list[Case]
    before_round: Optional[Callable[[], None]] = None  # e.g. warm the page cache


@dataclass
class Goal:
    text: str
    where: dict                      # params of the group the goal is about
    system: str
    versus: Optional[str]            # a system, "best peer" (Suite.best_of), or None: the value itself
    at_least: Optional[float] = None
    at_most: Optional[float] = None  # e.g. a latency ratio (no worse: at_most=1), bytes per connection
    metric: Optional[str] = None     # "rate" or an extra's key; None: the suite's ratio_metric
    format: str = "{:.0f}"           # how an absolute figure (versus=None) is shown


@dataclass
class Plot:
    name: str                        # file name without extension
    title: str
    x: str                           # the param on the x axis
    xlabel: str
    where: dict = field(default_factory=dict)  # only groups with these params
    logx: bool = True
    logy: bool = True
    metric: str = "rate"             # or an extra's key (plotted as medians)
    ylabel: str = ""


@dataclass
class Suite:
    name: str
    title: str
    unit: str                        # what `rate` counts per second, e.g. "ops/s", "IOPS"
    params: list[tuple[str, str]]    # (param key, column header), the table's leading columns
    groups: list[Group]
    references: list[str] = field(default_factory=list)  # systems that get a "÷ X" ratio column
    extras: list[tuple[str, str, str]] = field(default_factory=list)  # (result key, header, format)
    ns_per_op: str = ""              # header of a time-per-op column, e.g. "ns/op" (one thread of work)
    goals: list[Goal] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # printed under the table
    # What "÷ X" columns and goals compare: "rate", or an extra's key such as requests per server
    # CPU-second (header: ratio_metric_header).
    ratio_metric: str = "rate"
    ratio_metric_header: str = ""
    # The systems a "best peer" reference picks from, each round, by ratio_metric.
    best_of: list[str] = field(default_factory=list)
    # A server and its client, each pinned to its own CPU by the case itself (serve_and_drive.py).
    client_server: bool = False
