"""Every limit on one run: its default, its unit and its help text, in one place.

The CLI builds its options from these fields (`autograder.cli`), `docs/security.md` is checked against them
(`tests/test_limits.py`), and the runner receives the values it enforces in the job. Every limit can be
switched off with 0 (the output limit excepted).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields

#: Choices of `Limits.isolation` (see `autograder.sandbox.confine`).
ISOLATIONS = ("auto", "bwrap", "none")
#: Choices of the ``--device`` option; a `Limits` holds a resolved one ("cpu" or "cuda"), or "auto" only in a
#: plan shipped to a Dask cluster, where each worker resolves it for itself.
DEVICES = ("auto", "cpu", "cuda")

_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str) -> int:
    """``4G``, ``512M``, ``100k`` or a number of bytes; 0 = no limit."""
    cleaned = str(text).strip().lower().removesuffix("ib").removesuffix("b")
    try:
        return int(float(cleaned[:-1]) * _UNITS[cleaned[-1]]) if cleaned and cleaned[-1] in _UNITS else int(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: use e.g. 4G, 512M or a number of bytes") from None


def format_size(value: int) -> str:
    for suffix, unit in (("G", 2**30), ("M", 2**20), ("k", 2**10)):
        if value and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)


def _limit(default, option: str, help: str, *, kind=None, choices=None, metavar=None, cli_default=None, shown=None, zero_is_off=True):
    """A field of `Limits` with what the CLI and the docs need to know about it."""
    return field(default=default, metadata={"option": option, "help": help, "kind": kind or type(default), "choices": choices,
                                            "metavar": metavar, "cli_default": cli_default, "shown": shown,
                                            "zero_is_off": zero_is_off and not choices})


@dataclass
class Limits:
    """What one submission may use; a limit marked so in its help is switched off with 0."""

    cell_timeout: float = _limit(60.0, "--timeout", "seconds per cell", metavar="S", shown="60 s")
    total_timeout: float = _limit(600.0, "--budget", "seconds per submission, all cells and resumed runs together",
                                  metavar="S", shown="600 s")
    memory: int = _limit(4 * 2**30, "--memory", "memory per submission, e.g. 2G (a cgroup where available, else RLIMIT_DATA)",
                         kind=parse_size, metavar="SIZE", shown="4G")
    processes: int = _limit(256, "--processes", "processes and threads per submission (cgroup pids.max, else RLIMIT_NPROC)",
                            metavar="N", shown="256")
    file_size: int = _limit(256 * 2**20, "--file-size", "largest file a submission may write (RLIMIT_FSIZE)",
                            kind=parse_size, metavar="SIZE", shown="256M")
    output_limit: int = _limit(20000, "--output-limit", "characters of output kept per cell, head and tail",
                               metavar="N", shown="20000 characters", zero_is_off=False)
    isolation: str = _limit("auto", "--isolation", "auto: bubblewrap where it runs, else uid and rlimits only (said in the "
                            "output); bwrap: refuse to grade without it; none: no sandbox", choices=ISOLATIONS, shown="auto")
    device: str = _limit("cpu", "--device", "where student code runs: auto = cuda when a GPU is visible; cuda: one run per GPU, "
                         "determinism switches set by the harness", choices=DEVICES, cli_default="auto", shown="auto")

    def confinement(self):
        from autograder.sandbox.confine import Confinement

        return Confinement.detect(self.isolation)


def limit_fields():
    """The fields of `Limits` in the order the CLI lists them."""
    return fields(Limits)


def add_limit_options(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """One option per limit (or per name in ``only``), its default and help text taken from `Limits`."""
    for item in limit_fields():
        if only is not None and item.name not in only:
            continue
        meta = item.metadata
        default = meta["cli_default"] if meta["cli_default"] is not None else item.default
        shown = meta["shown"]
        kind = meta["kind"]
        extra = {} if meta["choices"] else {"type": kind, "metavar": meta["metavar"]}
        parser.add_argument(meta["option"], dest=item.name, default=default, choices=meta["choices"],
                            help=f"{meta['help']} (default: {shown}" + ("; 0 = none)" if meta["zero_is_off"] else ")"), **extra)


def limits_from_options(args: argparse.Namespace, **overrides) -> Limits:
    """A `Limits` from parsed options (those absent keep their defaults), with ``overrides`` applied last."""
    values = {item.name: getattr(args, item.name) for item in limit_fields() if hasattr(args, item.name)}
    return Limits(**(values | overrides))
