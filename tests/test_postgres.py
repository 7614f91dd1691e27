"""The gradebook on PostgreSQL (by URL) holds what it holds on SQLite.

The server is real: Debian's `postgresql` package (installed by `.ci/run`, or here when it is missing and
we may install it), a data directory initialised in a temporary directory, started with `pg_ctl` on a
free loopback port as the `postgres` user (PostgreSQL refuses to run as root), stopped afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.results.gradebook import Gradebook
from conftest import CORRECT, hand_in, student_version

psycopg = pytest.importorskip("psycopg", reason="psycopg is a dependency of the package: pip install -e .")


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def install_postgres() -> str | None:
    """Install Debian's postgresql when it is missing; the reason it cannot be, or None."""
    if postgres_bin() is not None:
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "PostgreSQL is not installed and cannot be installed here (needs root and apt-get): apt-get install -y postgresql"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            return f"apt-get install postgresql failed: {result.stderr.strip()[-500:]}"
    return None if postgres_bin() is not None else "apt-get installed postgresql but no pg_ctl is under /usr/lib/postgresql"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_server():
    """``(host, port)`` of a PostgreSQL server of our own, trusting local connections as ``postgres``."""
    why_not = install_postgres()
    if why_not:
        pytest.skip(why_not)
    binaries = postgres_bin()
    base = Path(tempfile.mkdtemp(prefix="autograder-pg-"))
    base.chmod(0o755)  # the server's user must reach its data directory
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    sockets.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres user
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base)
            pytest.skip("running as root and there is no postgres user to run the server as")
        for path in (base, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def run(*command: str) -> None:
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, cwd=base)
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}\n{tail}")

    run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
    try:
        yield "127.0.0.1", port
    finally:
        subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True, cwd=base)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A new, empty database on the server, as a SQLAlchemy URL."""
    host, port = postgres_server
    name = f"grades_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@{host}:{port}/{name}"


@pytest.fixture
def batch(toy_course, tmp_path) -> Path:
    submissions = tmp_path / "submitted"
    hand_in(submissions, "correct", student_version(toy_course, CORRECT))
    hand_in(submissions, "untouched", student_version(toy_course, {}))
    hand_in(submissions, "half_wrong", student_version(toy_course, dict(CORRECT, half="answer_half = 0.4")))
    # a message with a NUL character: PostgreSQL's text columns cannot hold one, SQLite's can
    hand_in(submissions, "nul_in_message", student_version(toy_course, dict(CORRECT, double="def double(x):\n    raise RuntimeError('a\\x00b')")))
    hand_in(submissions, "unicode", student_version(toy_course, dict(CORRECT, double="def double(x):\n    raise ValueError('ünïcødé ✓')")))
    hand_in(submissions, "corrupt", b'{"cells": [')
    (submissions / "nobody").mkdir()
    # who should have handed in: "nobody" gets a `missing` row from the roster (without one, only submitters get rows)
    students = ["correct", "untouched", "half_wrong", "nul_in_message", "unicode", "corrupt", "nobody"]
    (submissions.parent / "roster.csv").write_text("student_id\n" + "\n".join(students) + "\n")
    return submissions


def grade(course: Path, submissions: Path, url: str, *extra: str) -> None:
    assert main(["grade", "toy", str(submissions), "--course", str(course), "--gradebook", url, "--workers", "2", "--quiet",
                 "--roster", str(submissions.parent / "roster.csv"), *extra]) == 0


def export(course: Path, url: str, output: Path) -> str:
    assert main(["export", "toy", "--course", str(course), "--gradebook", url, "--format", "csv", "--output", str(output)]) == 0
    return output.read_text()


@pytest.mark.slow
def test_a_batch_graded_into_postgresql_exports_what_sqlite_exports(toy_course, batch, postgres_url, tmp_path):
    sqlite = f"sqlite:///{tmp_path / 'gradebook.db'}"
    grade(toy_course, batch, sqlite)
    grade(toy_course, batch, postgres_url)
    expected = export(toy_course, sqlite, tmp_path / "sqlite.csv")
    assert expected.count("\n") == 1 + 7 * 4
    assert export(toy_course, postgres_url, tmp_path / "postgres.csv") == expected


@pytest.mark.slow
def test_regrading_into_postgresql_skips_unchanged_files_and_duplicates_nothing(toy_course, batch, postgres_url, tmp_path):
    grade(toy_course, batch, postgres_url)
    first = export(toy_course, postgres_url, tmp_path / "first.csv")
    with Gradebook(postgres_url) as gradebook:
        graded_at = {s.student_id: s.graded_at for s in gradebook.submissions("toy")}
    grade(toy_course, batch, postgres_url)
    with Gradebook(postgres_url) as gradebook:
        resumed = {s.student_id: s.graded_at for s in gradebook.submissions("toy")}
    # only "nobody" (no file, so nothing to compare) is looked at again
    assert {student for student in graded_at if resumed[student] != graded_at[student]} == {"nobody"}
    grade(toy_course, batch, postgres_url, "--force")
    assert export(toy_course, postgres_url, tmp_path / "again.csv") == first
    host_port_db = postgres_url.split("@", 1)[1]
    host_port, database = host_port_db.split("/", 1)
    host, port = host_port.split(":")
    with psycopg.connect(host=host, port=int(port), user="postgres", dbname=database) as connection:
        counts = connection.execute("SELECT (SELECT count(*) FROM submissions), (SELECT count(*) FROM results)").fetchone()
    assert counts == (7, 7 * 4)
    with Gradebook(postgres_url) as gradebook:
        regraded = {s.student_id: s.graded_at for s in gradebook.submissions("toy")}
    assert all(regraded[student] > graded_at[student] for student in graded_at), "--force regrades every row in place"


def _drop_added_columns(url: str) -> None:
    """Make ``url``'s gradebook look like one written before `ADDED_COLUMNS` existed."""
    from sqlalchemy import create_engine, text

    from autograder.results.gradebook import ADDED_COLUMNS

    engine = create_engine(url)
    with engine.begin() as connection:
        for table, column in ADDED_COLUMNS:
            connection.execute(text(f'ALTER TABLE {table} DROP COLUMN "{column}"'))
    engine.dispose()


def _old_and_new_rows(url: str):
    from autograder.results.gradebook import StoredResult, StoredSubmission

    def row(student, memory=None, seconds=None):
        return StoredSubmission("toy", student, "toy.ipynb", "", "0" * 64, "ok", "",
                                [StoredResult("half_test", 1.0, 1.0, "passed", duration_s=seconds, peak_memory_bytes=memory)],
                                duration_s=1.5, peak_memory_bytes=memory)

    with Gradebook(url) as gradebook:
        gradebook.store(row("old"))
    _drop_added_columns(url)
    with Gradebook(url) as gradebook:  # opening adds the columns back, empty
        gradebook.store(row("new", memory=3 * 2**32, seconds=0.25))  # over 4 GiB: a 64-bit column
        stored = {s.student_id: s for s in gradebook.submissions("toy")}
    with Gradebook(url) as gradebook:  # and opening again changes nothing
        assert {s.student_id for s in gradebook.submissions("toy")} == {"old", "new"}
    return stored


def test_a_gradebook_written_before_the_memory_columns_opens_and_stores_them_in_sqlite(tmp_path):
    stored = _old_and_new_rows(f"sqlite:///{tmp_path / 'old.db'}")
    assert (stored["old"].peak_memory_bytes, stored["old"].results[0].duration_s) == (None, None)
    assert (stored["new"].peak_memory_bytes, stored["new"].results[0].peak_memory_bytes) == (3 * 2**32, 3 * 2**32)
    assert stored["new"].results[0].duration_s == 0.25 and stored["new"].duration_s == 1.5


def test_a_gradebook_written_before_the_memory_columns_opens_and_stores_them_in_postgresql(postgres_url):
    stored = _old_and_new_rows(postgres_url)
    assert stored["old"].peak_memory_bytes is None and stored["new"].peak_memory_bytes == 3 * 2**32
    assert stored["new"].results[0].duration_s == 0.25


def test_an_old_gradebook_opened_read_only_says_how_to_add_the_columns(tmp_path):
    from autograder.errors import UserError

    path = tmp_path / "old.db"
    with Gradebook(f"sqlite:///{path}"):
        pass
    _drop_added_columns(f"sqlite:///{path}")
    with pytest.raises(UserError, match=r"lacks the column submissions.peak_memory_bytes.*open it once with write access"):
        Gradebook(f"sqlite:///file:{path}?mode=ro&uri=true")
