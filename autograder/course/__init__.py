"""A course on disk: ``source/``, ``release/``, ``solutions/`` and the assignments in them."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.errors import UserError

if TYPE_CHECKING:
    import nbformat

    from autograder.course.nbgrader_config import NbgraderConfig


class CourseError(UserError):
    """A problem with the course itself (not with a submission); the message says what to fix."""


@dataclass(frozen=True)
class Assignment:
    course: "Course"
    name: str

    @property
    def source_dir(self) -> Path:
        return self.course.root / "source" / self.name

    @property
    def release_dir(self) -> Path:
        return self.course.root / "release" / self.name

    @property
    def solutions_path(self) -> Path | None:
        """``solutions/<name>.py`` or the package ``solutions/<name>/``, if the assignment has references."""
        module = self.course.root / "solutions" / f"{self.name}.py"
        if module.is_file():
            return module
        package = self.course.root / "solutions" / self.name / "__init__.py"
        return package if package.is_file() else None

    @property
    def notebook_names(self) -> list[str]:
        """File names of the assignment's notebooks, e.g. ``["deep_mlps.ipynb"]``."""
        return sorted(p.name for p in self.source_dir.glob("*.ipynb"))

    def source_notebook_path(self, notebook: str) -> Path:
        return self.source_dir / notebook

    def read_source(self, notebook: str) -> nbformat.NotebookNode:
        path = self.source_notebook_path(notebook)
        try:
            import nbformat  # here: a command that reads no notebook (or not yet) does not pay for importing it

            return nbformat.read(path, as_version=4)
        except Exception as error:
            raise CourseError(f"{path}: cannot read the source notebook: {error}") from None

    def public_files(self) -> list[Path]:
        """Files (other than notebooks) under source/<assignment>/ that students receive, e.g. data/."""
        files = []
        for path in sorted(self.source_dir.rglob("*")):
            relative = path.relative_to(self.source_dir)
            if path.is_dir() or path.suffix == ".ipynb" or any(part.startswith(".") for part in relative.parts):
                continue
            if ".ipynb_checkpoints" in relative.parts or "__pycache__" in relative.parts:
                continue
            files.append(path)
        return files


@dataclass(frozen=True)
class Course:
    root: Path

    @classmethod
    def at(cls, directory: str | Path | None = None) -> "Course":
        root = Path(directory or ".").resolve()
        if not (root / "source").is_dir():
            raise CourseError(
                f"{root} is not a course directory: it has no source/ folder. "
                "Run the command from the course directory or pass --course DIR."
            )
        return cls(root)

    @functools.cached_property
    def nbgrader_config(self) -> "NbgraderConfig":
        """The course's ``nbgrader_config.py`` as nbgrader reads it (`autograder.course.nbgrader_config`);
        read once per command, its ignored settings warned about once."""
        from autograder.course.nbgrader_config import load, warn_ignored

        config = load(self.root)
        warn_ignored(config)
        return config

    @property
    def gradebook_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    @property
    def cache_dir(self) -> Path:
        return self.root / ".autograder"

    def assignment_names(self) -> list[str]:
        return sorted(p.name for p in (self.root / "source").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))

    def assignment(self, name: str) -> Assignment:
        assignment = Assignment(self, name)
        if not assignment.source_dir.is_dir() or not assignment.notebook_names:
            known = ", ".join(self.assignment_names()) or "none"
            raise CourseError(f"no assignment {name!r} in {self.root / 'source'} (assignments: {known})")
        return assignment

    def assignments(self, names: list[str] | None = None) -> list[Assignment]:
        return [self.assignment(name) for name in (names or self.assignment_names())]
