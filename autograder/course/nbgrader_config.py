"""The course's ``nbgrader_config.py``, read as nbgrader reads it, and what we do with each setting.

nbgrader's commands load ``nbgrader_config.py`` from the course directory with traitlets'
`PyFileConfigLoader` (the file is Python: ``c = get_config()`` then ``c.Section.setting = value``). We load
the same file the same way (it is the instructor's own file, trusted like ``solutions/``; it is executed only
to read the configuration, on the instructor's and grader's side, never in a student's process), and:

* **honour** every setting that changes what ``nbgrader generate_assignment`` writes, by handing the whole
  configuration to nbgrader's own preprocessors (`autograder.prepare.release`), which read their sections as
  they do inside nbgrader: ``ClearSolutions`` (``code_stub`` per language, ``text_stub``,
  ``begin_solution_delimeter``/``end_solution_delimeter``, nbgrader's spelling, ``enforce_metadata``),
  ``ClearHiddenTests`` (its delimiters, ``enforce_metadata``), ``ClearMarkScheme`` (its delimiters,
  ``enforce_metadata``, ``check_attachment_leakage``), ``IncludeHeaderFooter`` (``header``/``footer``,
  relative to the course directory), ``LockCells`` (``lock_*``), ``ClearOutput`` (``remove_metadata_fields``),
  and ``enabled`` of each of these;
* **map** the execution timeout to our per-cell limit: ``Execute.timeout`` (nbgrader's, which wins, as
  traitlets gives a subclass's section precedence) or ``ExecutePreprocessor.timeout`` becomes
  `autograder.sandbox.limits.Limits.cell_timeout` when ``--timeout`` is left at its default;
* **warn**, one line per setting, about every other setting present, naming it and saying what we do
  instead (`NbgraderConfig.ignored`), except nbgrader's exchange and course-id settings, which nbgrader's
  own ``release_assignment``/``fetch``/``submit`` keep using beside us (docs/nbgrader.md).

Only ``<course>/nbgrader_config.py`` is read: nbgrader's other places (``~/.jupyter``, ``/etc/jupyter``) are
per-user settings of a Jupyter install, not part of the course, and a release must depend only on the course.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import CourseError

CONFIG_FILE = "nbgrader_config.py"

#: Settings of nbgrader's release preprocessors that `autograder.prepare.release` honours (section -> names).
RELEASE_SETTINGS: dict[str, frozenset[str]] = {
    "ClearSolutions": frozenset({"code_stub", "text_stub", "begin_solution_delimeter", "end_solution_delimeter",
                                 "enforce_metadata", "enabled"}),
    "ClearHiddenTests": frozenset({"begin_test_delimeter", "end_test_delimeter", "enforce_metadata", "enabled"}),
    "ClearMarkScheme": frozenset({"begin_mark_scheme_delimeter", "end_mark_scheme_delimeter", "enforce_metadata",
                                  "check_attachment_leakage", "enabled"}),
    "IncludeHeaderFooter": frozenset({"header", "footer", "enabled"}),
    "LockCells": frozenset({"lock_solution_cells", "lock_grade_cells", "lock_readonly_cells", "lock_all_cells", "enabled"}),
    "ClearOutput": frozenset({"remove_metadata_fields", "enabled"}),
}

#: Sections whose ``timeout`` becomes our per-cell limit, the one that wins first.
TIMEOUT_SECTIONS = ("Execute", "ExecutePreprocessor")

#: Settings used by nbgrader's own exchange commands, which a course keeps running beside us
#: (docs/nbgrader.md): neither release nor grading depends on them, so they are not warned about.
EXCHANGE_SECTIONS_PREFIX = "Exchange"
EXCHANGE_SETTINGS = frozenset({("CourseDirectory", "course_id")})

#: Why a setting we know of is ignored: (section, name or "*") -> what we do instead.
WHY_IGNORED: dict[tuple[str, str], str] = {
    ("Execute", "allow_errors"): "autograder always runs every cell after an error (nbgrader's default, "
                                 "allow_errors = True); an error costs only the questions whose test cells fail",
    ("ExecutePreprocessor", "allow_errors"): "autograder always runs every cell after an error; an error costs only "
                                             "the questions whose test cells fail",
    ("Execute", "interrupt_on_timeout"): "a cell over the time limit is always stopped and costs its question",
    ("Execute", "execute_retries"): "a run is never retried; a failure of the grader itself is a grader_error row, "
                                    "graded again by the next `grade`",
    ("Execute", "extra_arguments"): "the kernel is our warm, sandboxed interpreter, not a Jupyter kernel",
    ("Execute", "raise_on_iopub_timeout"): "there is no Jupyter kernel (no iopub channel)",
    ("Execute", "error_on_timeout"): "a timed-out cell gets status timeout, with its own message",
    ("ComputeChecksums", "enabled"): "checksums are always computed: grading relies on them",
    ("InstantiateTests", "*"): "nbgrader's autotests are not supported: a test cell with AUTOTEST is refused at release",
    ("CourseDirectory", "*"): "autograder's course layout is fixed: source/, release/, solutions/ (docs/authoring.md)",
    ("GenerateAssignment", "*"): "autograder release runs its own fixed pipeline of nbgrader's preprocessors",
    ("Autograde", "*"): "grading is `autograder grade` (sandboxed, verdicts outside the student's process)",
    ("SaveCells", "*"): "autograder keeps no nbgrader database; the grading manifest is kept under .autograder/",
    ("Exporter", "*"): "autograder writes notebooks itself (nbformat 4)",
}


@dataclass(frozen=True)
class NbgraderConfig:
    """One course's nbgrader configuration (empty when the course has no ``nbgrader_config.py``)."""

    root: Path
    path: Path | None = None
    settings: dict = field(default_factory=dict)  # section -> {name: value}, as traitlets loaded them
    _config: object = None  # the traitlets `Config`, handed to nbgrader's preprocessors

    @property
    def traitlets_config(self):
        from traitlets.config import Config

        return self._config if self._config is not None else Config()

    def value(self, section: str, name: str, default=None):
        return self.settings.get(section, {}).get(name, default)

    def _notebook_path(self, name: str) -> Path | None:
        """IncludeHeaderFooter's ``header`` or ``footer``: relative to the course directory, as nbgrader
        reads it (its converters run from there)."""
        if self.value("IncludeHeaderFooter", "enabled", True) is False:
            return None
        value = self.value("IncludeHeaderFooter", name, "")
        if not value:
            return None
        path = (self.root / str(value)).resolve()
        if not path.is_file():
            raise CourseError(f"{self.path}: IncludeHeaderFooter.{name} = {value!r}: no such notebook "
                              f"(nbgrader reads it relative to the course directory {self.root})")
        return path

    @property
    def header(self) -> Path | None:
        return self._notebook_path("header")

    @property
    def footer(self) -> Path | None:
        return self._notebook_path("footer")

    @property
    def cell_timeout(self) -> float | None:
        """Seconds per cell, where the config sets one nbgrader would apply; None otherwise (ours then holds).
        nbgrader's ``None`` or ``-1`` (no limit) leaves ours too (warned in `ignored`)."""
        for section in TIMEOUT_SECTIONS:
            value = self.value(section, "timeout")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                return float(value)
            if section in self.settings and "timeout" in self.settings[section]:
                return None
        return None

    def fingerprint(self) -> bytes:
        """What a release depends on here: the file's bytes and the header's and footer's, so a kept grading
        manifest is rebuilt when any of them changes."""
        digest = hashlib.sha256()
        for path in (self.path, self.header, self.footer):
            digest.update(b"\0" if path is None else path.read_bytes())
        return digest.digest()

    def ignored(self) -> list[str]:
        """One line per setting present that neither release nor grading honours, naming it and why."""
        lines = []
        for section, values in sorted(self.settings.items()):
            for name in sorted(values):
                if name in RELEASE_SETTINGS.get(section, ()) and (section, name) not in WHY_IGNORED:
                    continue
                if section.startswith(EXCHANGE_SECTIONS_PREFIX) or (section, name) in EXCHANGE_SETTINGS:
                    continue
                if section in TIMEOUT_SECTIONS and name == "timeout":
                    if self.cell_timeout is None:
                        lines.append(f"{section}.timeout = {values[name]!r} is ignored: autograder always limits a "
                                     "cell's time (--timeout, default 60 s)")
                    continue
                why = WHY_IGNORED.get((section, name)) or WHY_IGNORED.get((section, "*"))
                if why is None:
                    why = f"not a setting of nbgrader's {section}" if section in RELEASE_SETTINGS else "autograder does not read it"
                lines.append(f"{section}.{name} is ignored: {why}")
        return [f"{self.path}: {line}" for line in lines]


def load(root: Path) -> NbgraderConfig:
    """The configuration in ``<root>/nbgrader_config.py`` (an empty one without the file)."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return NbgraderConfig(root)
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    try:
        config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    except ConfigFileNotFound:
        return NbgraderConfig(root)
    except Exception as error:  # noqa: BLE001 - the instructor's Python file failed: say where, as one line
        raise CourseError(f"{path}: cannot be read as nbgrader reads it ({type(error).__name__}: {error}); "
                          "fix the file or remove it") from None
    settings = {section: dict(values) for section, values in config.items() if hasattr(values, "items")}
    return NbgraderConfig(root, path, settings, config)


_warned: set[str] = set()


def warn_ignored(config: NbgraderConfig, stream=None) -> list[str]:
    """Write each ignored setting's line to stderr, once per process; returns the lines written now."""
    fresh = [line for line in config.ignored() if line not in _warned]
    for line in fresh:
        _warned.add(line)
        print(f"warning: {line}", file=stream or sys.stderr)
    return fresh
