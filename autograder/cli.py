"""The `autograder` command: one subcommand per job."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

# jsonschema builds rfc3987_syntax's grammar at import (1.3-1.8 s of CPU, most of a command's start-up) only
# to offer the "iri" string format, which no notebook schema uses: nbformat's validation is the same without it.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

from rich.console import Console
from rich.markup import escape

from autograder.course import Course
from autograder.errors import EXIT_USER_ERROR, UserError
from autograder.results.pages import points_text
from autograder.results.status import LABELS, QuestionStatus, SubmissionStatus

console = Console(highlight=False)
error_console = Console(stderr=True, highlight=False)

#: Exit statuses of `grade` (README, `autograder grade --help`). 0: every submission found has its row, the
#: student's own failures (error, timeout, crashed, invalid...) included, since those rows are grades.
#: 1: the grader itself failed on some submission (rows ``grader_error``): the batch is stored, those rows are
#: not grades yet, and the next run grades them again. 2: an error the user can fix (`EXIT_USER_ERROR`).
#: 3: only with ``--fail-on``: some row has one of the statuses named (1 wins when both apply).
EXIT_GRADER_ERRORS = 1
EXIT_FAILED_ROWS = 3
#: Statuses ``grade --fail-on`` may name: those of a submission graded, but not as a clean run.
FAILABLE = (SubmissionStatus.INVALID, SubmissionStatus.ERROR, SubmissionStatus.TIMEOUT, SubmissionStatus.CRASHED,
            SubmissionStatus.MISSING)
#: Columns a table may take when output goes to a file or a pipe: wide enough that no id or message wraps.
PIPE_WIDTH = 1000
#: Characters of a submission's message shown in `grade`'s table (the gradebook keeps the whole message).
MESSAGE_COLUMN_CHARS = 90
#: `grade`'s table: each submission status, coloured; the student's own failures in red, ours said to be ours.
SUBMISSION_STYLES = {
    SubmissionStatus.OK: "[green]ok[/]", SubmissionStatus.ERROR: "[red]error[/]", SubmissionStatus.TIMEOUT: "[red]timeout[/]",
    SubmissionStatus.CRASHED: "[red]crashed[/]", SubmissionStatus.INVALID: "[yellow]invalid[/]",
    SubmissionStatus.MISSING: "[yellow]missing[/]", SubmissionStatus.GRADER_ERROR: "[bold red]grader_error[/] (ours)",
}
#: `check`'s status of a hand-graded question (`autograder.student.check`; never stored, so not a `QuestionStatus`).
CHECK_HAND_GRADED = "hand_graded"
#: `check`'s table: each question's result as a student reads it.
CHECK_STYLES = {
    QuestionStatus.PASSED: "[green]passed[/]", QuestionStatus.FAILED: "[red]failed[/]", QuestionStatus.ERROR: "[red]error[/]",
    QuestionStatus.NOT_ATTEMPTED: f"[yellow]{LABELS[QuestionStatus.NOT_ATTEMPTED]}[/]", QuestionStatus.NOT_RUN: "[red]not run[/]",
    CHECK_HAND_GRADED: LABELS[QuestionStatus.MANUALLY_GRADED],
}
#: The same results in words, for output that is not a terminal.
CHECK_LABELS = {QuestionStatus.PASSED: "passed", QuestionStatus.FAILED: "failed", QuestionStatus.ERROR: "error",
                QuestionStatus.NOT_ATTEMPTED: LABELS[QuestionStatus.NOT_ATTEMPTED], QuestionStatus.NOT_RUN: "not run",
                CHECK_HAND_GRADED: LABELS[QuestionStatus.MANUALLY_GRADED]}


def _release(args) -> int:
    from autograder.prepare.publish import release_assignment

    course = Course.at(args.course)
    stale = []
    for assignment in course.assignments(args.assignments):
        report = release_assignment(assignment, check=args.check)
        stale.extend(report.stale)
        if not args.check:
            for path in report.written:
                console.print(f"wrote {path.relative_to(course.root)}")
            console.print(f"[bold]{assignment.name}[/]: release/ is up to date" if not report.written else f"[bold]{assignment.name}[/]: released")
    if args.check:
        if stale:
            for line in stale:
                error_console.print(f"[red]✗[/] {line}")
            error_console.print("release/ is not what source/ produces: run `autograder release` and commit the result.")
            return 1
        console.print("release/ is in sync with source/")
    return 0


def _limits(args):
    from autograder.sandbox.limits import limits_from_options
    from autograder.sandbox.pool import resolve_device

    # On a Dask cluster each worker decides `auto` (and checks `cuda`) against its own hardware when the
    # batch reaches it: the coordinator's says nothing of theirs (`autograder.grading.cluster.GradingPlugin`).
    on_cluster = getattr(args, "scheduler", None) and args.device != "cpu"
    return limits_from_options(args, device=args.device if on_cluster else resolve_device(args.device))


def _add_course_options(parser: argparse.ArgumentParser, gradebook: bool = False) -> None:
    parser.add_argument("--course", default=".", help="course directory (default: the current directory)")
    if gradebook:
        parser.add_argument("--gradebook", help="SQLAlchemy URL (default: sqlite:///<course>/gradebook.db)")


def _grade(args) -> int:
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Table

    from autograder.grading.run import grade_assignment
    from autograder.wire.text import safe_text

    assignment = Course.at(args.course).assignment(args.assignment)
    # --json: standard output is the one JSON object; what a person reads goes to stderr or nowhere
    out = error_console if args.json else console
    columns = [TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    progress = Progress(*columns, console=out, transient=False, disable=args.quiet or args.json)
    try:  # the bar starts with the batch: a folder or gradebook refused before it leaves no empty bar behind
        started, graded, bar_shown = time.monotonic(), [0], [False]

        def heading(start):
            progress.start()
            bar_shown[0] = True
            if not args.json:
                console.print(f"[bold]{escape(start.assignment)}[/]: {start.found} notebook(s) in {escape(args.submissions)}, "
                              f"{start.todo} to grade, on {escape(start.where)}")
                console.print(start.confinement, markup=False)
            for student in start.not_on_roster:
                error_console.print(f"[yellow]warning:[/] {escape(safe_text(student))} handed in but is not on the roster "
                                    f"{escape(args.roster)}; graded all the same")
            progress.add_task("grade", total=start.found, completed=start.skipped, rate="")

        def advance(stored):
            graded[0] += 1
            rate = graded[0] / max(time.monotonic() - started, 1e-9)
            progress.update(progress.task_ids[0], advance=1, rate=f"{rate:.2f}/s")

        summary = grade_assignment(assignment, args.submissions, _limits(args), workers=args.workers,
                                   gradebook_url=args.gradebook, force=args.force, scheduler=args.scheduler,
                                   on_start=heading, on_progress=advance, roster=_grade_roster(args))
    finally:
        if bar_shown[0]:
            progress.stop()  # (stopping a bar never started prints an empty line)
    if summary.graded and not args.quiet and not args.json:
        table = Table(title=f"{assignment.name}: {len(summary.graded)} graded")
        for column in ("student", "notebook", "score", "status", "message"):
            table.add_column(column, overflow="fold")
        for item in sorted(summary.graded, key=lambda s: (s.student_id, s.notebook)):
            score = sum(r.score or 0 for r in item.results)
            maximum = sum(r.max_score for r in item.results)
            message = item.message if len(item.message) <= MESSAGE_COLUMN_CHARS else item.message[:MESSAGE_COLUMN_CHARS - 3] + "..."
            table.add_row(escape(safe_text(item.student_id)), escape(safe_text(item.notebook)), f"{points_text(score)} / {points_text(maximum)}",
                          SUBMISSION_STYLES.get(item.status, escape(safe_text(item.status))), escape(safe_text(message)))
        console.print(table)
    url = args.gradebook or assignment.course.gradebook_url
    counts = summary.counts()
    failures = len(summary.grader_errors)
    failed_rows = {status: counts[status] for status in args.fail_on if counts.get(status)}
    code = EXIT_GRADER_ERRORS if failures else EXIT_FAILED_ROWS if failed_rows else 0
    if args.json:
        print(json.dumps(_grade_json(assignment.name, summary, counts, url, code, time.monotonic() - started), ensure_ascii=False))
        return code
    by_status = ", ".join(f"{status} {counts[status]}" for status in SubmissionStatus if counts.get(status))
    line = (f"{assignment.name}: graded {len(summary.graded)}, skipped {summary.skipped} unchanged "
            f"({by_status or 'no submission'}), {time.monotonic() - started:.1f} s in all; gradebook {_shown_url(url)}")
    if failures:
        error_console.print(f"{escape(line)}; [red]{failures} submission(s) the grader failed on[/] (status "
                            f"{SubmissionStatus.GRADER_ERROR}, the message says why): fix the cause and run the same "
                            "`autograder grade` again, it grades them again", soft_wrap=True)
    elif failed_rows:
        named = ", ".join(f"{n} {status}" for status, n in failed_rows.items())
        error_console.print(f"{escape(line)}; [red]{named}[/] (--fail-on {','.join(args.fail_on)}): exit {EXIT_FAILED_ROWS}",
                            soft_wrap=True)
    else:
        console.print(line, markup=False, soft_wrap=True)
    return code


def _grade_json(assignment: str, summary, counts: dict, url: str, code: int, seconds: float) -> dict:
    """`grade --json`: one object, for scripts (README: the exit statuses)."""
    from autograder.wire.text import safe_text

    rows = [{"student_id": safe_text(item.student_id), "notebook": safe_text(item.notebook), "status": str(item.status),
             "score": sum(r.score or 0 for r in item.results), "max_score": sum(r.max_score for r in item.results),
             "message": safe_text(item.message)}
            for item in sorted(summary.graded, key=lambda s: (s.student_id, s.notebook))]
    return {"assignment": assignment, "graded": len(summary.graded), "skipped_unchanged": summary.skipped,
            "counts": {str(k): v for k, v in sorted(counts.items())}, "seconds": round(seconds, 3), "gradebook": _shown_url(url),
            "exit_code": code, "rows": rows}


def _shown_url(url: str) -> str:
    """A gradebook URL as printed: its password masked."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL (it failed to open before this, with its own message): shown as given
        return url


# ---------------------------------------------------------------- grade --roster (students who did not hand in)


def _grade_roster(args):
    """The students of ``--roster`` (None without it); warns about submitters the roster does not have."""
    if not getattr(args, "roster", None):
        return None
    from autograder.course.roster import read_roster

    return read_roster(args.roster)


# ------------------------------------------------------------------------- end of grade --roster


def _export(args) -> int:
    from pathlib import Path

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from autograder.wire.text import safe_text

    from autograder.results.disclosure import hidden_code_redactor
    from autograder.results.export import read_roster, to_canvas, to_csv, write_gradescope
    from autograder.results.totals import student_totals
    from autograder.results.gradebook import Gradebook
    from autograder.course.late import deadline_for

    course = Course.at(args.course)
    assignments = [course.assignment(name) for name in args.assignments]
    if len(assignments) > 1 and args.format != "canvas":
        raise UserError(f"--format {args.format} exports one assignment at a time; only --format canvas takes several (one column each)")
    deadlines = {a.name: deadline_for(a) for a in assignments}
    with Gradebook(args.gradebook or course.gradebook_url, create=False) as gradebook:
        if args.format == "csv":
            text = to_csv(gradebook, assignments[0].name, deadlines[assignments[0].name])
        totals = {a.name: student_totals(gradebook, a.name, deadlines[a.name]) for a in assignments}
        _warn_extensions(gradebook, deadlines.values())  # issue 17: extensions naming nobody
    if args.format == "gradescope":
        if not args.output or args.output == "-":
            raise UserError("--format gradescope writes one results.json per student: give --output DIR")
        students = totals[assignments[0].name]
        with Progress(TextColumn("writing results.json"), BarColumn(), MofNCompleteColumn(), console=console) as progress:
            task = progress.add_task("gradescope", total=len(students))
            written = write_gradescope(students, Path(args.output), args.visibility, on_written=lambda _: progress.advance(task),
                                       redact=hidden_code_redactor(assignments[0]))
        console.print(f"wrote {len(written)} results.json file(s) under {args.output}/<student_id>/")
    elif args.format == "canvas":
        exported = to_canvas(totals, read_roster(Path(args.roster)) if args.roster else None)
        text = exported.text
        for student in exported.unmatched:
            error_console.print(f"[yellow]warning:[/] {escape(student)} is not in the roster {escape(args.roster)}; Canvas will not match that row")
    if args.format in ("csv", "canvas"):
        if args.output and args.output != "-":
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            Path(args.output).write_text(text, encoding="utf-8")
            console.print(f"wrote {args.output} ({text.count(chr(10)) - 1} rows)")
        else:
            sys.stdout.write(text)
            return 0
    for assignment in assignments:
        table = Table(title=f"{assignment.name}: {deadlines[assignment.name].policy.describe()}"
                      + (f", due {deadlines[assignment.name].due.isoformat()}" if deadlines[assignment.name].due else ""))
        for column in ("student", "score", "late penalty", "total"):
            table.add_column(column, overflow="fold")
        for total in totals[assignment.name]:
            late = f"{total.penalty.fraction * 100:g}%" if total.penalty.fraction else ""
            table.add_row(escape(safe_text(total.student_id)), f"{points_text(total.score)} / {points_text(total.max_score)}", late,
                          points_text(total.adjusted))
        if not args.quiet:
            console.print(table)
    return 0


def _warn_extensions(gradebook, deadlines) -> None:
    """Issue 17: an extension for an id neither the roster nor the gradebook knows is a warning, not an error."""
    from autograder.results.totals import extension_problems

    for deadline in deadlines:
        for warning in extension_problems(gradebook, deadline.assignment, deadline):
            error_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)


def _check(args) -> int:
    from rich.table import Table

    from autograder.wire.text import safe_text

    from autograder.sandbox.limits import limits_from_options
    from autograder.student.check import check_notebook

    # In a notebook cell (`!autograder check x.ipynb`), a pipe or a log, a spinner would print a frame per
    # refresh and a table wrap at 80 columns: plain lines instead, one per question.
    plain = not console.is_terminal

    def say(markup: str) -> None:
        if plain:
            from rich.text import Text

            print(Text.from_markup(markup).plain)
        else:
            console.print(markup)

    waiting = contextlib.nullcontext() if plain else console.status(f"running {args.notebook} with the visible tests...")
    with waiting:
        report = check_notebook(args.notebook, args.course, limits_from_options(args))
    if plain:
        print(f"{report.assignment}/{report.notebook}: visible tests ({report.seconds:g} s)")
        for line in report.questions:
            label = CHECK_LABELS.get(line.status, str(line.status))
            print(safe_text(f"{line.question} ({line.points:g} points): {label}" + (f": {line.message}" if line.message else "")))
    else:
        table = Table(title=f"{report.assignment}/{report.notebook}: visible tests ({report.seconds:g} s)")
        for column in ("question", "points", "result", "detail"):
            table.add_column(column, overflow="fold")
        for line in report.questions:
            table.add_row(escape(safe_text(line.question)), f"{line.points:g}", CHECK_STYLES.get(line.status, escape(safe_text(line.status))),
                          escape(safe_text(line.message)))
        console.print(table)
    for warning in report.warnings:
        say(f"[yellow]⚠[/] {escape(safe_text(warning))}")
    failing = [q for q in report.tests if q.status != QuestionStatus.PASSED]
    if failing:
        say(f"[red]{len(failing)} of {len(report.tests)} visible test(s) do not pass.[/] Hidden tests run only when graded.")
        return 1
    say(f"[green]all {len(report.tests)} visible test(s) pass.[/] Hidden tests run only when graded"
                  + (", and the warnings above may cost points." if report.warnings else "."))
    return 0


def _submit(args) -> int:
    from autograder.student.submit import submit_notebook

    receipt = submit_notebook(args.notebook, args.student, args.to, args.course)
    console.print(f"{args.notebook}: {receipt.describe()}", markup=False)
    return 0


def _verify(args) -> int:
    from rich.table import Table

    from autograder.wire.text import safe_text

    from autograder.sandbox.pool import default_workers
    from autograder.grading.verify import verify_assignment

    course = Course.at(args.course)
    failed = False
    for assignment in course.assignments(args.assignments):
        mutation = {None: "cached", True: "run", False: "off"}[args.mutation]
        report = verify_assignment(assignment, _limits(args), workers=args.workers or default_workers(), mutants=not args.no_mutants,
                                   mutation=mutation, mutation_cap=args.mutation_cap, mutation_threshold=args.mutation_threshold)
        table = Table(title=f"verify {assignment.name}", show_lines=False)
        table.add_column("", width=2)
        table.add_column("what is proved", overflow="fold")
        table.add_column("detail", overflow="fold")
        for finding in report.findings:
            mark = "[yellow]![/]" if finding.warning else "[green]✓[/]" if finding.ok else "[red]✗[/]"
            table.add_row(mark, escape(safe_text(finding.what)), escape(safe_text(finding.detail)))
        console.print(table)
        _print_mutation(report, args.mutation_threshold)
        failed = failed or not report.ok
    if failed:
        error_console.print("[red]verify failed[/]: fix the tests, solutions/ or the mutants named above before releasing.")
        return 1
    console.print("[green]verify passed[/]")
    return 0


def _print_mutation(report, threshold: float) -> None:
    from rich.table import Table

    from autograder.wire.text import safe_text

    if report.mutation_note:
        console.print(f"mutation testing: {report.mutation_note}", markup=False, soft_wrap=True)
    if report.mutation is None:
        return
    table = Table(title=f"generated mutants of {report.assignment} (killed / (mutants - equivalent), at least {threshold:.0%})")
    for column in ("question", "mutants", "killed", "equivalent", "score"):
        table.add_column(column, justify="left" if column == "question" else "right")
    for row in report.mutation:
        score = "-" if row.score is None else f"{row.score:.0%}"
        colour = "green" if row.score is None or row.score >= threshold else "red"
        table.add_row(escape(row.question), str(row.generated), str(row.killed), str(row.equivalent), f"[{colour}]{score}[/]")
    console.print(table)
    survivors = [mutant for row in report.mutation for mutant in row.survivors]
    if survivors:
        console.print(f"{len(survivors)} surviving mutant(s): add a test that tells them apart, or mark one equivalent in "
                      f"tests/mutants/{report.assignment}.toml ([[equivalent]] id = \"...\" reason = \"...\")", markup=False)
        for mutant in survivors:
            console.print(f"  {mutant.id} {mutant.question} [{mutant.operator}] {safe_text(mutant.diff)}", markup=False, soft_wrap=True)


def _feedback(args) -> int:
    from pathlib import Path

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from autograder.wire.text import safe_text

    from autograder.results.feedback import write_feedback
    from autograder.results.gradebook import Gradebook

    course = Course.at(args.course)
    assignment = course.assignment(args.assignment)
    output = Path(args.output)
    with Gradebook(args.gradebook or course.gradebook_url, create=False) as gradebook:
        students = len({s.student_id for s in gradebook.submissions(assignment.name, manual=False)})
        if not students:
            raise UserError(f"the gradebook has no graded submission of {assignment.name}; run `autograder grade {assignment.name} ...` first")
        columns = [TextColumn("feedback pages"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
        with Progress(*columns, console=console, disable=args.quiet) as progress:
            task = progress.add_task("feedback", total=students)
            pages = write_feedback(assignment, gradebook, output, on_written=lambda page: progress.advance(task))
        from autograder.course.late import deadline_for

        _warn_extensions(gradebook, [deadline_for(assignment)])  # issue 17: extensions naming nobody
    table = Table(title=f"{assignment.name}: {len(pages)} feedback page(s) in {output}")
    for column in ("student", "score", "late penalty", "page"):
        table.add_column(column, overflow="fold")
    for page in pages:
        late = abs(page.adjusted - page.score) > 1e-6
        score = f"{points_text(page.adjusted)} / {points_text(page.max_score)}" + (f" ({points_text(page.score)} before the late penalty)" if late else "")
        table.add_row(escape(safe_text(page.student_id)), score, escape(safe_text(page.penalty)), escape(safe_text(str(page.path))))
    if not args.quiet:
        console.print(table)
    return 0


def _report(args) -> int:
    from rich.table import Table

    from autograder.wire.text import safe_text

    from autograder.results.gradebook import Gradebook
    from autograder.results.report import write_report

    course = Course.at(args.course)
    assignment = course.assignment(args.assignment)
    sections = None
    if args.roster:
        from autograder.results.export import read_roster, sections_of

        sections = sections_of(read_roster(Path(args.roster)))
    with console.status("computing the statistics and drawing the plots"), Gradebook(args.gradebook or course.gradebook_url, create=False) as gradebook:
        report = write_report(gradebook, assignment, args.output, sections=sections, feedback=args.feedback)
    summary = report.summary()
    if args.json:
        questions = [{"notebook": q.notebook, "question": q.question, "max_score": q.max_score, "mean": q.mean, "sd": q.spread,
                      "full_marks": q.full_fraction, "categories": q.categories} for q in report.questions]
        print(json.dumps({"assignment": assignment.name, "output": str(args.output), "max_score": report.max_score,
                          "summary": summary, "questions": questions}, ensure_ascii=False))
        return 0
    table = Table(title=f"{assignment.name}: {summary['students']} student(s), mean {summary['mean']:.3g} / {report.max_score:g}")
    for column in ("question", "points", "mean", "sd", "full marks"):
        table.add_column(column, justify="left" if column == "question" else "right")
    for question in report.questions:
        mean, spread, full = question.mean, question.spread, question.full_fraction
        table.add_row(escape(safe_text(question.label)), f"{question.max_score:g}", "–" if mean is None else f"{mean:.3g}",
                      "–" if spread is None else f"{spread:.3g}", "–" if full is None else f"{100 * full:.0f}%")
    console.print(table)
    console.print(f"wrote {args.output}")
    return 0


def _leaderboard(args) -> int:
    from autograder.results.gradebook import Gradebook
    from autograder.results.leaderboard import parse_now, write_leaderboard
    from autograder.results.pages import metric_text

    course = Course.at(args.course)
    assignment = course.assignment(args.assignment)
    now = parse_now(args.now) if args.now else None
    with Gradebook(args.gradebook or course.gradebook_url, create=False) as gradebook:
        board = write_leaderboard(gradebook, assignment, Path(args.output), now)
    shown = "private scores revealed" if board.revealed else f"public scores only; private ones after {board.reveal_at.isoformat()}"
    leader = board.standings[0] if board.standings else None
    best = "" if leader is None else f", first: {leader.pseudonym} ({metric_text(leader.private if board.revealed else leader.best_public)})"
    console.print(f"{assignment.name}: {len(board.standings)} student(s) on the leaderboard ({shown}{best})", markup=False)
    console.print(f"wrote {args.output}", markup=False)
    return 0


def _new(args) -> int:
    from autograder.prepare.scaffold import new_assignment

    made = new_assignment(Path(args.course), args.assignment)
    for path in made.written:
        console.print(f"wrote {path}")
    console.print(f"next: `autograder release {made.name}` then `autograder verify {made.name}` (both pass as created); "
                  "edit the three files to make the set yours (docs/authoring.md)")
    return 0


def _similarity(args) -> int:
    from rich.table import Table

    from autograder.results.gradebook import Gradebook
    from autograder.results.similarity import similarity_report, write_similarity_page
    from autograder.wire.text import safe_text

    course = Course.at(args.course)
    assignment = course.assignment(args.assignment)
    with console.status("fingerprinting the answers"), Gradebook(args.gradebook or course.gradebook_url, create=False) as gradebook:
        report = similarity_report(gradebook, assignment, threshold=args.threshold)
    if not report.questions:
        raise UserError(f"the gradebook has no graded notebook of {assignment.name}; run `autograder grade {assignment.name} ...` first")
    page = write_similarity_page(report, Path(args.output))
    table = Table(title=f"{assignment.name}: {len(report.pairs)} pair(s) at or above {100 * args.threshold:.0f}% similar")
    for column in ("question", "students", "similarity"):
        table.add_column(column, overflow="fold")
    for pair in report.pairs[:50]:
        table.add_row(escape(safe_text(pair.question)), escape(safe_text(f"{pair.first.student_id} ↔ {pair.second.student_id}")),
                      f"{100 * pair.similarity:.0f}%")
    console.print(table)
    console.print(f"wrote {page}")
    return 0


def _manual(args) -> int:
    from autograder.results.gradebook import Gradebook
    from autograder.results.manual import ManualGrading, Server

    course = Course.at(args.course)
    assignment = course.assignment(args.assignment)
    url = args.gradebook or course.gradebook_url
    with Gradebook(url, create=False) as gradebook:
        config = course.nbgrader_config
        app = ManualGrading(gradebook, assignment.name, grader=args.grader, anonymous=args.anonymous,
                           source_dir=assignment.source_dir,
                           solution_delimiters=(config.value("ClearSolutions", "begin_solution_delimeter", "BEGIN SOLUTION"),
                                                config.value("ClearSolutions", "end_solution_delimeter", "END SOLUTION")))
        waiting = sum(q["waiting"] for q in app.questions())
        try:
            server = Server(app, args.host, args.port)
        except OSError as error:
            raise UserError(f"cannot listen on {args.host}:{args.port} ({error.strerror or error}); pick another --port") from None
        console.print(f"[bold]{assignment.name}[/]: {waiting} answer(s) wait for a hand grade; gradebook {url}")
        for warning in server.warnings:
            console.print(f"[bold yellow]warning:[/] {warning}")
        console.print(f"manual grading at [bold]{server.url}[/] (Ctrl-C to stop)")
        try:
            server.serve_forever()
        finally:
            server.httpd.server_close()
    return 0


# ------------------------------------------------------------------ gradescope (autograder/grading/gradescope.py)


def _gradescope(args) -> int:
    from autograder.grading.gradescope import build_package
    from autograder.sandbox.limits import limits_from_options

    course = Course.at(args.course)
    assignment = course.assignment(args.assignment)
    # --device is decided in Gradescope's container (auto: its GPU if it has one), never by this machine's
    package = build_package(assignment, Path(args.output), limits_from_options(args), args.visibility)
    console.print(f"wrote {package.path} ({len(package.files)} files): upload it as the assignment's autograder on Gradescope "
                  "(Configure Autograder > Zip file upload)", markup=False)
    if package.constraints is None:
        error_console.print("[yellow]warning:[/] no constraints.txt in the course or this project: setup.sh installs the newest versions")
    return 0


def _add_gradescope_parser(sub) -> None:
    from autograder.sandbox.limits import add_limit_options

    gradescope = sub.add_parser("gradescope", help="build the autograder zip Gradescope runs for each upload (setup.sh, run_autograder)",
                                description="Writes the package Gradescope's autograder runs: setup.sh installs this project and "
                                            "the course's libraries; run_autograder grades /autograder/submission/*.ipynb into "
                                            "/autograder/results/results.json, as export --format gradescope writes it.")
    gradescope.add_argument("assignment", metavar="ASSIGNMENT")
    _add_course_options(gradescope)
    gradescope.add_argument("--output", default="autograder.zip", help="the zip to write (default: autograder.zip)")
    gradescope.add_argument("--visibility", choices=["visible", "hidden", "after_due_date", "after_published"], default="visible",
                            help="when students see the tests (default: visible)")
    add_limit_options(gradescope)
    gradescope.set_defaults(run=_gradescope)


# ------------------------------------------------------------------------- end of gradescope


# ----------------------------------------------------------------------------- the parser: help, errors, defaults


class _Parser(argparse.ArgumentParser):
    """argparse, with a wrong option said in one line (as a `UserError` is), pointing at the command's help."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"error: {self.prog}: {message} (`{self.prog} --help` shows the options)\n")


def _positive_workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of parallel runs: give 1 or more (default: one per core)")
    return value


def _statuses(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in str(text).split(",") if name.strip())
    wrong = [name for name in names if name not in FAILABLE]
    if wrong:
        raise argparse.ArgumentTypeError(f"{', '.join(wrong)}: not a status --fail-on takes; give some of {','.join(FAILABLE)}")
    return names


#: Each command's examples, shown at the end of its --help (`_describe`).
EXAMPLES = {
    "new": ["autograder new feature_scaling"],
    "release": ["autograder release", "autograder release deep_mlps --check"],
    "verify": ["autograder verify deep_mlps", "autograder verify --no-mutants --workers 2"],
    "grade": ["autograder grade deep_mlps samples/deep_mlps",
              "autograder grade deep_mlps submitted/ --roster roster.csv --gradebook postgresql+psycopg://ta@db/course",
              "autograder grade deep_mlps submitted/ --json --fail-on invalid > result.json"],
    "export": ["autograder export deep_mlps --format csv --output out/deep_mlps_grades.csv",
               "autograder export deep_mlps svm --format canvas --roster canvas_export.csv --output canvas.csv"],
    "check": ["autograder check deep_mlps.ipynb"],
    "submit": ["autograder submit deep_mlps.ipynb --student ada_lovelace --to /srv/submitted"],
    "feedback": ["autograder feedback deep_mlps --output out/feedback"],
    "report": ["autograder report deep_mlps --output out/report.html --feedback feedback/",
               "autograder report deep_mlps --output out/report.html --json | jq .summary.mean"],
    "leaderboard": ["autograder leaderboard feedforward_classifier --output out/leaderboard.html",
                    "autograder leaderboard feedforward_classifier --output out/leaderboard.html --now 2026-12-02T09:00:00+01:00"],
    "similarity": ["autograder similarity deep_mlps --output out/similarity.html --threshold 0.8"],
    "manual": ["autograder manual deep_mlps --grader ada"],
    "gradescope": ["autograder gradescope deep_mlps --output autograder.zip --timeout 120"],
}
#: What ``grade --help`` says after the examples: what its exit status means.
GRADE_EXIT_STATUSES = (f"exit status: 0 every submission found has its row (a student's error, timeout or invalid file is a grade); "
                       f"{EXIT_GRADER_ERRORS} the grader itself failed on some (rows grader_error; run again); "
                       f"{EXIT_USER_ERROR} an error you can fix (one line says what); "
                       f"{EXIT_FAILED_ROWS} with --fail-on, some row has a status named there. Defaults of the options: [grade] "
                       "in the course's autograder.toml (a flag wins).")


def _describe(sub) -> None:
    """Every command: a description (its one-line help, where it has none of its own) and its examples."""
    for name, command in sub.choices.items():
        command.formatter_class = argparse.RawDescriptionHelpFormatter
        helps = {action.dest: action.help for action in sub._choices_actions}  # each add_parser(help=...)
        if not command.description:
            command.description = helps.get(name)
        examples = EXAMPLES.get(name)
        if examples and not command.epilog:
            command.epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
            if name == "grade":
                import textwrap

                command.epilog += "\n\n" + textwrap.fill(GRADE_EXIT_STATUSES, 100)


#: The commands that take defaults from ``[grade]`` in the course's autograder.toml (`autograder.course.settings`):
#: ``grade`` all of them, ``verify`` its workers and limits, the readers of the gradebook its ``gradebook``.
CONFIGURED_COMMANDS = ("grade", "verify", "export", "feedback", "report", "leaderboard", "similarity", "manual")


def _with_course_defaults(parser: argparse.ArgumentParser, args, argv: list[str] | None):
    """``args`` parsed again with the ``[grade]`` defaults of the course's autograder.toml under the flags."""
    if args.command not in CONFIGURED_COMMANDS:
        return args
    from autograder.course.settings import grade_defaults

    path, table = grade_defaults(Path(args.course))
    if not table:
        return args
    command = parser.commands[args.command]
    actions = {action.option_strings[0][2:].replace("-", "_"): action for action in command._actions
               if action.option_strings and action.option_strings[0].startswith("--")}
    defaults = {}
    for key, value in table.items():
        action = actions.get(key)
        if action is None:
            continue  # a [grade] key this command has no option for (export has no --workers)
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        try:
            converted = action.type(text) if action.type else text
        except (argparse.ArgumentTypeError, ValueError, TypeError) as error:
            raise UserError(f"{path}: [grade] {key} = {value!r}: {error}") from None
        if action.choices and converted not in action.choices:
            raise UserError(f"{path}: [grade] {key} = {value!r}; use one of {', '.join(map(str, action.choices))}")
        defaults[action.dest] = converted
    command.set_defaults(**defaults)
    return parser.parse_args(argv)


def _fit_to_output() -> None:
    """Output to a file or a pipe (a script, a log, `| less`): tables as wide as their rows, no id wrapped."""
    for each in (console, error_console):
        if not each.is_terminal:
            each.width = PIPE_WIDTH


def build_parser() -> argparse.ArgumentParser:
    from autograder import __version__
    from autograder.results.similarity import DEFAULT_THRESHOLD
    from autograder.sandbox.limits import add_limit_options

    parser = _Parser(prog="autograder", description=__doc__ + " `autograder COMMAND --help` shows a command's options and examples.")
    parser.add_argument("--version", action="version", version=f"autograder {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    new = sub.add_parser("new", help="instructors: create a complete minimal exercise set that releases and verifies as created",
                         description="Writes source/ASSIGNMENT/ASSIGNMENT.ipynb (a code question with visible and hidden checks, a "
                                     "hand-graded written answer), solutions/ASSIGNMENT.py and tests/mutants/ASSIGNMENT.toml. "
                                     "Example: autograder new feature_scaling")
    new.add_argument("assignment", metavar="ASSIGNMENT")
    _add_course_options(new)
    new.set_defaults(run=_new)

    release = sub.add_parser("release", help="write the student notebooks in release/ from source/")
    release.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every assignment in source/")
    release.add_argument("--course", default=".", help="course directory (holds source/, release/, solutions/)")
    release.add_argument("--check", action="store_true", help="exit 1 when release/ is not what source/ produces")
    release.set_defaults(run=_release)

    verify = sub.add_parser("verify", help="prove the tests right: solution full marks, release zero, mutants lose points")
    verify.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every assignment in source/")
    _add_course_options(verify)
    verify.add_argument("--workers", type=_positive_workers, default=None, help="parallel runs (default: the number of cores)")
    add_limit_options(verify)
    verify.add_argument("--no-mutants", action="store_true", help="skip the bank of wrong answers")
    verify.add_argument("--mutation", action=argparse.BooleanOptionalAction, default=None,
                        help="--mutation: run the generated mutants whose results are not cached (the full run, for CI); "
                             "--no-mutation: skip them; default: report cached results only")
    from autograder.grading import mutation

    verify.add_argument("--mutation-cap", type=int, default=mutation.DEFAULT_CAP, metavar="N",
                        help=f"generated mutants per question (default: {mutation.DEFAULT_CAP})")
    verify.add_argument("--mutation-threshold", type=float, default=mutation.DEFAULT_THRESHOLD, metavar="F",
                        help=f"least mutation score of every question, killed / non-equivalent (default: {mutation.DEFAULT_THRESHOLD:g})")
    verify.set_defaults(run=_verify)

    grade = sub.add_parser("grade", help="grade a directory of submissions into the gradebook")
    grade.add_argument("assignment", metavar="ASSIGNMENT")
    grade.add_argument("submissions", metavar="SUBMISSIONS", help="<id>/<nb>.ipynb, <id>/<assignment>/<nb>.ipynb, <id>.ipynb, or nbgrader's exchange <exchange>/<course_id> (docs/nbgrader.md)")
    _add_course_options(grade, gradebook=True)
    grade.add_argument("--workers", type=_positive_workers, default=None, help="parallel submissions (default: the number of cores)")
    add_limit_options(grade)
    grade.add_argument("--force", action="store_true", help="regrade submissions already graded and unchanged")
    grade.add_argument("--quiet", action="store_true", help="no progress bar or table")
    grade.add_argument("--json", action="store_true", help="print one JSON object (counts per status, one row per submission "
                       "graded, the exit status) on standard output, and nothing else there")
    grade.add_argument("--fail-on", type=_statuses, default=(), metavar="STATUS[,STATUS]",
                       help=f"exit {EXIT_FAILED_ROWS} when some row has one of these statuses ({','.join(FAILABLE)}); "
                            "default: none, a student's failure is a grade")
    grade.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="grade on this Dask distributed cluster (see docs/cluster.md); default: here, on --workers threads")
    # --roster: students who did not hand in (see autograder/course/roster.py)
    grade.add_argument("--roster", metavar="FILE",
                       help="CSV class list (a student_id column, or Canvas's gradebook export: SIS Login ID / ID): each student on it "
                            "who handed in nothing gets a `missing` row; without it only students who handed in get rows")
    grade.set_defaults(run=_grade)

    export = sub.add_parser("export", help="write grades out of the gradebook (late penalties applied)")
    export.add_argument("assignments", nargs="+", metavar="ASSIGNMENT", help="one; several only with --format canvas")
    _add_course_options(export, gradebook=True)
    export.add_argument("--format", choices=["csv", "gradescope", "canvas"], default="csv",
                        help="csv: one row per student and question; gradescope: <output>/<student>/results.json; canvas: gradebook-import CSV")
    export.add_argument("--output", help="file to write (default: standard output); a directory for --format gradescope")
    export.add_argument("--roster", help="canvas: Canvas's own gradebook export (CSV), to match student ids with Canvas's columns")
    export.add_argument("--visibility", choices=["visible", "hidden", "after_due_date", "after_published"], default="visible",
                        help="gradescope: when students see the tests (default: visible)")
    export.add_argument("--quiet", action="store_true", help="no table of totals")
    export.set_defaults(run=_export)

    check = sub.add_parser("check", help="students: run a notebook with the visible tests, as the grader would, and warn about what would cost points")
    check.add_argument("notebook", metavar="NOTEBOOK")
    check.add_argument("--course", default=None,
                       help="the course folder you were given, the one with release/ (default: the current directory, else the nearest folder above the notebook with release/)")
    add_limit_options(check, only=("cell_timeout",))
    check.set_defaults(run=_check)

    submit = sub.add_parser("submit", help="students: hand in a notebook: check it is one of the course's, stamp the time, place it for grading")
    submit.add_argument("notebook", metavar="NOTEBOOK")
    submit.add_argument("--student", required=True, help="your student id (the folder name the grader sees)")
    submit.add_argument("--to", required=True, metavar="DIR", help="the submissions folder: writes DIR/<student>/<assignment>/<notebook>.ipynb and timestamp.txt")
    submit.add_argument("--course", default=None, help="the course folder you were given, the one with release/ (default: as for check)")
    submit.set_defaults(run=_submit)

    feedback = sub.add_parser("feedback", help="one HTML feedback page per student (never hidden tests or solutions)")
    feedback.add_argument("assignment", metavar="ASSIGNMENT")
    _add_course_options(feedback, gradebook=True)
    feedback.add_argument("--output", required=True, metavar="DIR", help="writes DIR/<student_id>.html")
    feedback.add_argument("--quiet", action="store_true", help="no progress bar or table")
    feedback.set_defaults(run=_feedback)

    report = sub.add_parser("report", help="the class view: score distribution, per-question statistics, failure categories, plots")
    report.add_argument("assignment", metavar="ASSIGNMENT")
    _add_course_options(report, gradebook=True)
    report.add_argument("--output", required=True, metavar="FILE.html")
    report.add_argument("--roster", help="Canvas's gradebook export (CSV): its Section column groups the students")
    report.add_argument("--feedback", metavar="DIR", help="where the feedback pages are, relative to the report (links in the student table)")
    report.add_argument("--json", action="store_true", help="print the statistics as one JSON object (summary, one entry per "
                        "question) on standard output instead of the table")
    report.set_defaults(run=_report)

    leaderboard = sub.add_parser("leaderboard", help="the leaderboard page of a check_metric question: public scores, "
                                 "then private ones after the due date")
    leaderboard.add_argument("assignment", metavar="ASSIGNMENT")
    _add_course_options(leaderboard, gradebook=True)
    leaderboard.add_argument("--output", required=True, metavar="FILE.html")
    leaderboard.add_argument("--now", metavar="ISO", help="the time the page is written for, e.g. 2026-12-02T09:00:00+01:00 "
                             "(default: now); private scores appear from the latest due date on")
    leaderboard.set_defaults(run=_leaderboard)

    similarity = sub.add_parser("similarity", help="pairs of submissions whose answers are unusually alike, per question, side by side")
    similarity.add_argument("assignment", metavar="ASSIGNMENT")
    _add_course_options(similarity, gradebook=True)
    similarity.add_argument("--output", required=True, metavar="FILE.html")
    similarity.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                            help=f"list pairs whose smaller share of shared code is at least this (default: {DEFAULT_THRESHOLD})")
    similarity.set_defaults(run=_similarity)

    manual = sub.add_parser("manual", help="grade written answers by hand in a browser (a local web app)")
    manual.add_argument("assignment", metavar="ASSIGNMENT")
    _add_course_options(manual, gradebook=True)
    manual.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    manual.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    manual.add_argument("--grader", default="", help="the name each grade is recorded with, until a grader types theirs "
                        "on the page (default: the OS user)")
    manual.add_argument("--anonymous", action="store_true", help="show students as 'Student 17' instead of their ids")
    manual.set_defaults(run=_manual)

    _add_gradescope_parser(sub)
    _describe(sub)
    parser.commands = sub.choices
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a `UserError` from any of them is one line on stderr and exit 2 (`autograder.errors`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a bare `autograder`: what it can do
        parser.print_help()
        return 0
    _fit_to_output()
    try:
        args = _with_course_defaults(parser, args, argv)
        return args.run(args)
    except UserError as error:
        error_console.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        error_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
