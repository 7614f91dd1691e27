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


def readable_size(value: int) -> str:
    """A size as a message shows it: ``1 GiB``, ``512 MiB``, ``1.5 GiB``."""
    for suffix, unit in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= unit:
            return f"{round(value / unit, 2):g} {suffix}"
    return f"{value} bytes"


def _limit(default, option: str, help: str, *, brief: str, kind=None, choices=None, metavar=None, cli_default=None,
           unit: str = "", zero_is_off=True):
    """A field of `Limits` with what the CLI and the docs need to know about it: its option, its help text,
    a ``brief`` for the docs' list of options, and the ``unit`` its default is shown in ("s", "characters";
    sizes are shown as sizes, e.g. 4G)."""
    return field(default=default, metadata={"option": option, "help": help, "brief": brief, "kind": kind or type(default),
                                            "choices": choices, "metavar": metavar, "cli_default": cli_default, "unit": unit,
                                            "zero_is_off": zero_is_off and not choices})


@dataclass
class Limits:
    """What one submission may use; a limit marked so in its help is switched off with 0."""

    cell_timeout: float = _limit(60.0, "--timeout", "seconds per cell", brief="per cell", metavar="S", unit="s")
    total_timeout: float = _limit(600.0, "--budget", "seconds per submission, all cells and resumed runs together",
                                  brief="per submission", metavar="S", unit="s")
    memory: int = _limit(4 * 2**30, "--memory", "memory per submission, e.g. 2G (a cgroup where available, else RLIMIT_DATA)",
                         brief="per submission", kind=parse_size, metavar="SIZE")
    processes: int = _limit(256, "--processes", "processes and threads per submission (cgroup pids.max, else RLIMIT_NPROC)",
                            brief="per submission, threads included", metavar="N")
    file_size: int = _limit(256 * 2**20, "--file-size", "largest file a submission may write (RLIMIT_FSIZE)",
                            brief="the largest file a submission may write", kind=parse_size, metavar="SIZE")
    output_limit: int = _limit(20000, "--output-limit", "characters of output kept per cell, head and tail",
                               brief="kept per cell, head and tail", metavar="N", unit="characters", zero_is_off=False)
    isolation: str = _limit("auto", "--isolation", "auto: bubblewrap where it runs, else uid and rlimits only (said in the "
                            "output); bwrap: refuse to grade without it; none: no sandbox",
                            brief="`bwrap` refuses to grade without bubblewrap", choices=ISOLATIONS)
    device: str = _limit("cpu", "--device", "where student code runs: auto = cuda when a GPU is visible; cuda: one run per GPU, "
                         "determinism switches set by the harness", brief="`auto`: cuda when a GPU is visible",
                         choices=DEVICES, cli_default="auto")

    def memory_text(self) -> str:
        """The memory limit as a message says it ("1 GiB", "512 MiB"); "no memory limit" when it is off."""
        return readable_size(self.memory) if self.memory else "no memory limit"

    def confinement(self):
        from autograder.sandbox.confine import Confinement

        return Confinement.detect(self.isolation)


def limit_fields():
    """The fields of `Limits` in the order the CLI lists them."""
    return fields(Limits)


def option_default(item) -> str:
    """The default of a limit's option as help and docs show it: ``60 s``, ``4G``, ``20000 characters``, ``auto``."""
    meta = item.metadata
    value = meta["cli_default"] if meta["cli_default"] is not None else item.default
    text = format_size(value) if meta["kind"] is parse_size else f"{value:g}" if isinstance(value, float) else str(value)
    return f"{text} {meta['unit']}" if meta["unit"] else text


def add_limit_options(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """One option per limit (or per name in ``only``), its default and help text taken from `Limits`."""
    for item in limit_fields():
        if only is not None and item.name not in only:
            continue
        meta = item.metadata
        default = meta["cli_default"] if meta["cli_default"] is not None else item.default
        extra = {} if meta["choices"] else {"type": meta["kind"], "metavar": meta["metavar"]}
        parser.add_argument(meta["option"], dest=item.name, default=default, choices=meta["choices"],
                            help=f"{meta['help']} (default: {option_default(item)}" + ("; 0 = none)" if meta["zero_is_off"] else ")"),
                            **extra)


#: How docs/security.md's list of the limit options begins (`tests/test_limits.py` compares the paragraph).
OPTIONS_PARAGRAPH_START = "Options of `grade` and `verify`:"


def options_paragraph() -> str:
    """docs/security.md's paragraph listing every limit option with its default, generated from `Limits`."""
    listed = []
    for item in limit_fields():
        meta = item.metadata
        name = f"`{meta['option']} {'|'.join(meta['choices'])}`" if meta["choices"] else f"`{meta['option']}`"
        listed.append(f"{name} (default {option_default(item)}; {meta['brief']})" if meta["choices"]
                      else f"{name} ({meta['brief']}, default {option_default(item)})")
    off = [f"`{item.metadata['option']}`" for item in limit_fields() if not item.metadata["zero_is_off"] and not item.metadata["choices"]]
    return (f"{OPTIONS_PARAGRAPH_START} {', '.join(listed)}. `0` switches a limit off"
            + (f" ({', '.join(off)} excepted)." if off else "."))


def limits_from_options(args: argparse.Namespace, **overrides) -> Limits:
    """A `Limits` from parsed options (those absent keep their defaults), with ``overrides`` applied last."""
    values = {item.name: getattr(args, item.name) for item in limit_fields() if hasattr(args, item.name)}
    return Limits(**(values | overrides))
