"""Manual grading of written answers: a small local web app (standard library `http.server`).

`autograder manual ASSIGNMENT` serves, on 127.0.0.1 by default:

* ``/``: the hand-graded questions, with how many answers wait for a grade and how many are graded;
* ``/question?notebook=N&question=Q[&student=S][&show=ungraded|graded|flagged|all]``: ONE answer at a time
  (Markdown and LaTeX rendered, raw HTML escaped), its points, a score, a comment, who graded it and when;
  previous / next within the filter, and "next ungraded". Saving redirects to the next answer waiting for a
  grade in this question, then in the other questions (a pass over 200 answers never scrolls);
* ``/student?student=S``: every written answer of one student, each with its own form;
* ``/group?notebook=N&question=Q[&group=G]``: answer groups (Gradescope's idea): the question's answers whose
  normalised text is the same (`normalised_answer`), largest group first ("12 answers like this"), ONE group at
  a time; one grade (score, rubric items, comment) is applied to every member (`ManualGrading.save_group`).

Keyboard (documented on the page, ``?`` toggles the help): digits set the score, ``c`` focuses the comment,
Ctrl+Enter saves, ``j``/``k`` next/previous, ``n`` next ungraded, ``a`` the question's answer groups, Esc leaves
a field; on a group's page ``x`` also overwrites the members graded differently. The script is the
page's own, allowed by a per-server nonce in the Content-Security-Policy; nothing else runs.

Several graders at once, on one gradebook (SQLite or PostgreSQL): each form carries the version of the
grade it was loaded with; a save against a newer version is refused (409) with the other grader's grade
shown, never silently overwriting it (`Gradebook.save_manual_grade`). The grader's name is asked once per
browser session (a session cookie; ``--grader`` sets the default, the OS user otherwise) and recorded with
every save. ``--anonymous`` shows students as "Student 17" (their place in the sorted list of ids, stable
across sessions) instead of their ids.

Semantics (see `Gradebook.set_manual_grade` and `Gradebook.submissions`):

* a manual grade is stored in its own table, keyed by (assignment, student, notebook, question), with the
  sha256 of the answer text that was read. `grade` never touches it, so regrading (``--force``, or a run
  that resumes) keeps it, and it applies again as long as the answer is the same text;
* a student who resubmits a *different* answer is back in the "waiting" list (the old grade is shown as
  the previous one); a grade posted from a page loaded before the resubmission is refused (409);
* saving again replaces the grade; the exports, feedback pages and the report use the combined scores.

Every form carries a token made when the server starts, so another web page open in the same browser
cannot post grades to it. Every request must name this server in its ``Host`` header (the address it is
bound to, and on loopback ``localhost``, ``127.0.0.1`` or ``[::1]``, with its port; else 421), so a page of
another site whose name was rebound to 127.0.0.1 (DNS rebinding) can neither read a page nor post a grade.
Bound beyond loopback, the server also wants a secret: a random token printed once in its URL
(``?token=...``), which the first request trades for an ``HttpOnly; SameSite=Strict`` cookie; every
request, GET included, without that cookie is refused (403).
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import socket
import threading
import unicodedata
from collections import Counter
from pathlib import Path
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from autograder.results.gradebook import MANUALLY_GRADED, BadGrade, GradeConflict, Gradebook, StaleAnswer, applied_manual_score

WAITING = "needs_manual_grade"


FLAGGED = "flagged for review"
FILTERS = ("all", "ungraded", "graded", "flagged")


@dataclass
class Answer:
    student_id: str
    notebook: str
    question: str
    max_score: float
    status: str  # needs_manual_grade | manually_graded
    score: float | None
    comment: str
    source: str
    cell_type: str
    sha256: str
    previous: str = ""  # a grade given to an earlier version of the answer
    version: int = 0  # of the hand grade, as loaded (sent back with the form)
    grader: str = ""
    graded_at: str = ""
    label: str = ""  # what the page calls the student: the id, or "Student 17" when anonymous
    flagged: bool = False
    rubric: list = field(default_factory=list)  # ids of the rubric items applied
    note: str = ""  # the latest save's note (a rubric item changed)

    @property
    def ref(self) -> str:
        """How URLs name the student: the label ("Student 17") when anonymous, so the address bar hides the id too."""
        return self.label.replace(" ", "-") if self.label != self.student_id else self.student_id

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.notebook, self.question, self.student_id)


#: What a written answer loses before it is compared with the others of its group: sentence punctuation,
#: quotes and Markdown emphasis. Operators, brackets and digits stay (``a+b`` and ``a-b`` are different answers).
_DROPPED_IN_TEXT = str.maketrans("", "", ".,;:!?'\"`*_~\u2018\u2019\u201c\u201d")


def normalised_answer(source: str, cell_type: str = "markdown") -> str:
    """The form of an answer that its group shares. Code: one canonical layout (`ast`, as
    `autograder.results.similarity.canonical`: comments and layout dropped; code that does not parse is only
    stripped of its whitespace). Text: Unicode NFKC, case folded, sentence punctuation and Markdown emphasis
    dropped (`_DROPPED_IN_TEXT`), runs of whitespace as one space."""
    if cell_type == "code":
        from autograder.results.similarity import canonical

        return " ".join(canonical(source).split())
    return " ".join(unicodedata.normalize("NFKC", source).casefold().translate(_DROPPED_IN_TEXT).split())


@dataclass
class AnswerGroup:
    """Answers to one question whose normalised text is the same."""

    key: str  # the first 16 hex digits of the normalised text's sha256 (how URLs name the group)
    members: list[Answer]

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def waiting(self) -> int:
        return sum(1 for a in self.members if a.status == WAITING)

    @property
    def shown(self) -> Answer:
        """The member the page shows: the most common exact text, its first student."""
        common = Counter(a.source for a in self.members).most_common(1)[0][0]
        return next(a for a in self.members if a.source == common)

    @property
    def variants(self) -> int:
        """How many different exact texts the group holds."""
        return len({a.source for a in self.members})

    @property
    def grades(self) -> list[tuple[float, int]]:
        """(score, members) of the graded members, most common first."""
        return Counter(a.score for a in self.members if a.status != WAITING and a.score is not None).most_common()


@dataclass
class GroupSave:
    """What applying one grade to a group did, member by member (their labels)."""

    saved: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # already had exactly this grade
    kept: list[str] = field(default_factory=list)  # graded differently and not confirmed: left as they were
    refused: list[str] = field(default_factory=list)  # "label: why" (another grader saved meanwhile, the answer changed)

    def summary(self, score: str) -> str:
        parts = [f"{score} applied to {len(self.saved)} answer(s)"]
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} already had it")
        if self.kept:
            parts.append(f"{len(self.kept)} graded differently kept ({', '.join(self.kept)}; tick them to overwrite)")
        if self.refused:
            parts.append(f"{len(self.refused)} refused ({'; '.join(self.refused)})")
        return "; ".join(parts)


def default_grader() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment: the grader types one
        return ""


class ManualGrading:
    """What the pages show and save, read from and written to one gradebook."""

    def __init__(self, gradebook: Gradebook, assignment: str, grader: str = "", anonymous: bool = False,
                 source_dir: Path | None = None, solution_delimiters: tuple[str, str] = ("BEGIN SOLUTION", "END SOLUTION")):
        """``source_dir``: the assignment's source/ folder, for the model answers (instructor only);
        ``solution_delimiters``: the markers around a solution there (nbgrader's ``ClearSolutions`` settings)."""
        self.gradebook, self.assignment, self.source_dir = gradebook, assignment, source_dir
        self.solution_delimiters = solution_delimiters
        self.grader, self.anonymous = grader or default_grader(), anonymous
        self.token = secrets.token_urlsafe(24)
        self.nonce = secrets.token_urlsafe(16)

    def answers(self) -> list[Answer]:
        """Every answer graded by hand, sorted by (notebook, question, student id).

        Read with three narrow queries (the hand-graded results with their stored answers, the grades, the latest
        save of each grade), never the other results of the class: each page and save reads this, so its cost
        grows with the number of written answers only. A grade applies while the answer still has the hash it was
        graded on (as in `Gradebook.submissions`); otherwise the answer waits again and shows the earlier grade."""
        grades = self.gradebook.manual_grades(self.assignment)
        versions = self.gradebook.manual_grade_versions(self.assignment)
        stored = [row for row in self.gradebook.hand_graded_results(self.assignment) if row[4]]
        order = {sid: n for n, sid in enumerate(self.gradebook.student_ids(self.assignment), 1)} if self.anonymous else {}
        found = []
        for student, notebook, question, max_score, text in stored:
            key = (student, notebook, question)
            grade, saved = grades.get(key), versions.get(key)
            score = applied_manual_score(grade, text.get("sha256"), max_score)
            graded = score is not None
            previous = "" if graded or grade is None else f"{grade.score:g} / {grade.max_score:g} for an earlier answer: {grade.comment}"
            comment = grade.comment if graded else ""
            if graded and saved is not None and saved.score == grade.score:
                comment = saved.comment  # the grader's own words; the items' texts are shown as the rubric
            found.append(Answer(
                student, notebook, question, max_score, MANUALLY_GRADED if graded else WAITING,
                score, comment,
                text.get("source", ""), text.get("cell_type", "markdown"), text.get("sha256", ""), previous,
                version=saved.version if saved else 0,
                grader=(grade.grader if grade else "") or "",
                graded_at=grade.graded_at.strftime("%Y-%m-%d %H:%M UTC") if grade and grade.graded_at else "",
                label=f"Student {order[student]}" if self.anonymous else student,
                flagged=comment.lower().startswith(FLAGGED),
                rubric=list(saved.rubric or []) if graded and saved else [], note=saved.note if saved else ""))
        return sorted(found, key=lambda a: a.key)

    def questions(self, answers: list[Answer] | None = None) -> list[dict]:
        summary: dict[tuple[str, str], dict] = {}
        for answer in (answers if answers is not None else self.answers()):
            entry = summary.setdefault((answer.notebook, answer.question),
                                       {"notebook": answer.notebook, "question": answer.question, "max_score": answer.max_score,
                                        "waiting": 0, "graded": 0, "flagged": 0, "scores": []})
            entry["waiting" if answer.status == WAITING else "graded"] += 1
            entry["flagged"] += answer.flagged
            if answer.score is not None:
                entry["scores"].append(answer.score)
        for entry in summary.values():
            scores = entry.pop("scores")
            entry["mean"] = sum(scores) / len(scores) if scores else None
        return [summary[key] for key in sorted(summary)]

    @staticmethod
    def shown(answer: Answer, show: str) -> bool:
        return (show == "all" or (show == "ungraded" and answer.status == WAITING)
                or (show == "graded" and answer.status != WAITING) or (show == "flagged" and answer.flagged))

    def next_ungraded(self, after: tuple[str, str, str] | None = None, answers: list[Answer] | None = None) -> Answer | None:
        """The next answer waiting for a grade: after ``after`` in its question, then from the start of that
        question, then in the other questions (in order, wrapping round)."""
        waiting = [a for a in (answers if answers is not None else self.answers()) if a.status == WAITING]
        if not waiting:
            return None
        if after is None:
            return waiting[0]
        same = [a for a in waiting if a.key[:2] == after[:2]]
        later = [a for a in same if a.key > after] or same
        if later:
            return later[0]
        return next((a for a in waiting if a.key > after), waiting[0])

    def model_answer(self, notebook: str, question: str) -> str | None:
        """The solution of the hand-graded cell ``question`` in source/<notebook>: the lines between
        the solution delimiters (``### BEGIN SOLUTION`` and ``### END SOLUTION`` unless the course's
        nbgrader_config.py names others), or the whole cell (how a release clears a written
        answer). None without a source folder, notebook or cell."""
        if self.source_dir is None:
            return None
        path = Path(self.source_dir) / notebook
        if not path.is_file() or path.resolve().parent != Path(self.source_dir).resolve():
            return None
        import nbformat

        from autograder.course.cells import grade_id

        try:
            cells = nbformat.read(path, as_version=4).cells
        except Exception:  # noqa: BLE001 - an unreadable source notebook: no model answer, the grading goes on
            return None
        cell = next((c for c in cells if grade_id(c) == question), None)
        if cell is None:
            return None
        begin, end = self.solution_delimiters
        lines, inside, kept = cell.source.splitlines(), False, []
        for line in lines:
            if begin in line:
                inside = True
            elif end in line:
                inside = False
            elif inside:
                kept.append(line)
        return "\n".join(kept) if any(begin in line for line in lines) else cell.source

    def other_cells(self, student: str, notebook: str, question: str) -> list[dict]:
        """The student's other cells (from the stored student view), for the page to show collapsed."""
        view = self.gradebook.student_views(self.assignment, student).get((student, notebook), {})
        return [c for c in view.get("cells", []) if c.get("grade_id") != question]

    def _check_form_token(self, form: dict[str, str]) -> None:
        """A form posted to this server carries the token of the page this server made (no cross-site post)."""
        if not secrets.compare_digest(form.get("token", ""), self.token):
            raise PermissionError("this form was not made by this grading server; reload the page")

    def save_rubric_item(self, form: dict[str, str]):
        """Add or change a rubric item from the rubric form."""
        self._check_form_token(form)
        try:
            points = float(form.get("points", "").strip())
        except ValueError:
            raise BadGrade(f"the points {form.get('points', '')!r} of a rubric item are not a number (e.g. 1 or -0.5)") from None
        item = form.get("item") or None
        return self.gradebook.set_rubric_item(self.assignment, form.get("notebook", ""), form.get("question", ""), points,
                                              form.get("text", ""), int(item) if item else None,
                                              changed_by=form.get("grader", "").strip() or self.grader)

    def save(self, form: dict[str, str], rubric: list[str] | None = None):
        """Save a grade posted by a form; returns the save (`ManualGradeEventRow`)."""
        self._check_form_token(form)
        try:
            score = float(form.get("score", "").strip())
        except ValueError:
            raise BadGrade(f"the score {form.get('score', '')!r} is not a number; type the points given") from None
        try:
            version = int(form.get("version", "0") or 0)
        except ValueError:
            raise BadGrade(f"the form's version {form.get('version')!r} is not a number; reload the page") from None
        return self.gradebook.save_manual_grade(
            self.assignment, form.get("student", ""), form.get("notebook", ""), form.get("question", ""), score,
            form.get("comment", "").strip(), answer_sha256=form.get("sha256") or None,
            grader=(form.get("grader", "").strip() or self.grader), version=version,
            rubric=[int(i) for i in (rubric or []) if str(i).isdigit()])

    def groups(self, notebook: str, question: str, answers: list[Answer] | None = None) -> list[AnswerGroup]:
        """The answers to one question in groups of the same normalised text (`normalised_answer`): the
        largest first, then those with the most answers waiting, then by their first student."""
        found: dict[str, list[Answer]] = {}
        for answer in (answers if answers is not None else self.answers()):
            if (answer.notebook, answer.question) == (notebook, question):
                text = normalised_answer(answer.source, answer.cell_type)
                found.setdefault(hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16], []).append(answer)
        groups = [AnswerGroup(key, members) for key, members in found.items()]
        return sorted(groups, key=lambda g: (-g.size, -g.waiting, g.members[0].key))

    def save_group(self, form: dict[str, str], members: list[str], rubric: list[str] | None = None,
                   overwrite: list[str] | None = None) -> GroupSave:
        """Apply one grade to the members of a group, each saved as its own grade (`save` semantics: its own
        version, the grader's name, the hash of the answer the page showed, so a member whose answer changed
        since is refused and waits for a new grade).

        ``members``: ``"ref:sha256:version"`` of each member as the page showed it. A member already graded
        differently (another score, other rubric items or another comment) keeps its grade unless its ref is in
        ``overwrite`` (the grader ticked it); one already graded exactly so is left alone."""
        self._check_form_token(form)
        try:
            score = float(form.get("score", "").strip())
        except ValueError:
            raise BadGrade(f"the score {form.get('score', '')!r} is not a number; type the points given to the group") from None
        rubric_ids = sorted(int(i) for i in (rubric or []) if str(i).isdigit())
        comment, overwrite = form.get("comment", "").strip(), set(overwrite or [])
        current = {a.ref: a for a in self.answers() if (a.notebook, a.question) == (form.get("notebook"), form.get("question"))}
        outcome = GroupSave()
        for member in members:
            ref, _, rest = member.rpartition(":")
            ref, _, sha = ref.rpartition(":")
            answer = current.get(ref)
            if answer is None:
                outcome.refused.append(f"{ref or member}: no such answer any more")
                continue
            if not sha:  # the hash of the answer read is what keeps a changed answer waiting: never without it
                outcome.refused.append(f"{answer.label}: the form did not say which version of the answer was read; reload the page")
                continue
            if answer.status != WAITING:
                if (answer.score, sorted(answer.rubric), answer.comment) == (score, rubric_ids, comment):
                    outcome.unchanged.append(answer.label)
                    continue
                if ref not in overwrite:
                    outcome.kept.append(answer.label)
                    continue
            try:
                self.save(dict(form, student=answer.student_id, sha256=sha, version=rest), [str(i) for i in rubric_ids])
            except (GradeConflict, StaleAnswer) as error:
                outcome.refused.append(f"{answer.label}: {error}")
                continue
            outcome.saved.append(answer.label)
        return outcome

    # ------------------------------------------------------------------------------------- pages

    def render(self, name: str, **context) -> str:
        from autograder.results.feedback import STATUS_LABELS
        from autograder.results.pages import environment

        return environment().get_template(name).render(assignment=self.assignment, token=self.token, labels=STATUS_LABELS,
                                                      nonce=self.nonce, css="", quote=quote, urlencode=urlencode, **context)

    def index_page(self, message: str = "") -> str:
        answers = self.answers()
        return self.render("manual_index.html.j2", questions=self.questions(answers), message=message,
                           first=self.next_ungraded(answers=answers))

    def question_page(self, notebook: str, question: str, student: str = "", saved: str = "", show: str = "all",
                      grader: str = "") -> str | None:
        everything = self.answers()
        answers = [a for a in everything if a.notebook == notebook and a.question == question]
        if not answers:
            return None
        show = show if show in FILTERS else "all"
        listed = [a for a in answers if self.shown(a, show)]
        current = next((a for a in answers if student in (a.ref, a.student_id)), None)
        if current is None:
            current = next((a for a in listed if a.status == WAITING), listed[0] if listed else answers[0])
        if current not in listed:
            listed = sorted(listed + [current], key=lambda a: a.key)
        at = listed.index(current)
        following = self.next_ungraded(current.key, everything)
        return self.render("manual_question.html.j2", notebook=notebook, question=question, a=current, answers=answers,
                           rubric=self.gradebook.rubric(self.assignment, notebook, question),
                           model=self.model_answer(notebook, question),
                           others=self.other_cells(current.student_id, notebook, question),
                           max_score=current.max_score, saved=saved, show=show, filters=FILTERS, position=at + 1,
                           count=len(listed), previous=listed[at - 1] if at > 0 else None,
                           next=listed[at + 1] if at + 1 < len(listed) else None,
                           next_waiting=following if following is not None and following.key != current.key else None,
                           waiting=sum(1 for x in answers if x.status == WAITING),
                           grader=grader or self.grader)

    def group_page(self, notebook: str, question: str, key: str = "", grader: str = "", done: str = "") -> str | None:
        """One answer group of a question (``key``; else the largest with answers waiting, else the largest)."""
        groups = self.groups(notebook, question)
        if not groups:
            return None
        group = next((g for g in groups if g.key == key), None)
        if group is None:
            group = next((g for g in groups if g.waiting), groups[0])
        at = groups.index(group)
        later = [g for g in groups[at + 1:] + groups[:at] if g.waiting]
        shown = group.shown
        return self.render("manual_group.html.j2", notebook=notebook, question=question, group=group, groups=groups,
                           position=at + 1, a=shown, max_score=shown.max_score, done=done,
                           rubric=self.gradebook.rubric(self.assignment, notebook, question),
                           model=self.model_answer(notebook, question),
                           previous=groups[at - 1] if at > 0 else None, next=groups[at + 1] if at + 1 < len(groups) else None,
                           next_waiting=later[0] if later else None,
                           graded_apart=[m for m in group.members if m.status != WAITING],
                           waiting=sum(g.waiting for g in groups), answers=sum(g.size for g in groups),
                           grader=grader or self.grader)

    def student_page(self, student: str, grader: str = "") -> str | None:
        everything = self.answers()
        ref = next((a.student_id for a in everything if student in (a.ref, a.student_id)), None)
        answers = [a for a in everything if a.student_id == ref]
        if not answers:
            return None
        rubrics = {(a.notebook, a.question): self.gradebook.rubric(self.assignment, a.notebook, a.question) for a in answers}
        return self.render("manual_student.html.j2", student=student, label=answers[0].label, answers=answers, rubrics=rubrics,
                           grader=grader or self.grader)


#: The cookie a browser holds the secret of a server bound beyond loopback in.
COOKIE = "autograder_manual"
#: The session cookie that holds the grader's name (asked once per browser session).
GRADER_COOKIE = "autograder_grader"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _as_host_name(host: str) -> str:
    """How a browser writes ``host`` in a Host header: IPv6 addresses in brackets, lower case."""
    host = host.strip("[]").lower().rstrip(".")
    return f"[{host}]" if ":" in host else host


@dataclass
class Gate:
    """Who may use the pages: requests that name this server (``Host``), and beyond loopback only browsers
    holding the secret."""

    port: int
    names: set[str]  # host names (no port) a request may name
    any_local_address: bool = False  # bound to every interface: also the address the request came in on
    secret: str | None = None  # None on loopback
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def for_bind(cls, host: str, port: int, allowed_hosts: tuple[str, ...] = ()) -> "Gate":
        names = {_as_host_name(h) for h in allowed_hosts}
        if host in WILDCARD_HOSTS:
            names |= set(LOOPBACK_NAMES) | {_as_host_name(socket.gethostname()), _as_host_name(socket.getfqdn())}
            gate = cls(port, names, any_local_address=True, secret=secrets.token_urlsafe(24))
            gate.warnings.append(f"listening on every interface ({host or '0.0.0.0'}): anyone who can reach this machine "
                                 "can load the page; only the token in the URL keeps them out, and it crosses the network "
                                 "in plain HTTP. Share the URL only with graders; prefer --host 127.0.0.1 and an SSH tunnel")
            return gate
        if _is_loopback(host):
            return cls(port, names | set(LOOPBACK_NAMES) | {_as_host_name(host)})
        gate = cls(port, names | {_as_host_name(host)}, secret=secrets.token_urlsafe(24))
        gate.warnings.append(f"listening on {host}, beyond this machine: only the token in the URL keeps others out, "
                             "and it crosses the network in plain HTTP")
        return gate

    def host_allowed(self, header: str | None, local_address: str) -> bool:
        if not header:
            return False
        header = header.strip().lower()
        name, _, port = header.rpartition(":") if not header.endswith("]") else (header, "", "")
        if not name:
            name, port = header, ""
        if (int(port) if port.isdigit() else 80 if not port else -1) != self.port:
            return False
        name = _as_host_name(name)
        return name in self.names or (self.any_local_address and name == _as_host_name(local_address))

    def holds_secret(self, cookie_header: str | None) -> bool:
        if self.secret is None:
            return True
        try:
            cookie = SimpleCookie(cookie_header or "")
        except CookieError:
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and secrets.compare_digest(morsel.value, self.secret)

    def offers_secret(self, query: dict[str, str]) -> bool:
        return self.secret is not None and secrets.compare_digest(query.get("token", ""), self.secret)


def _handler(app: ManualGrading, gate: Gate):
    class Handler(BaseHTTPRequestHandler):
        server_version = "autograder-manual"

        def _admitted(self) -> bool:
            """Whether this request may go on; if not, it has been answered (421, 403 or a redirect)."""
            if not gate.host_allowed(self.headers.get("Host"), self.connection.getsockname()[0]):
                self._send(HTTPStatus.MISDIRECTED_REQUEST, "This server does not answer to that host name.\n",
                           "text/plain; charset=utf-8")
                return False
            if gate.holds_secret(self.headers.get("Cookie")):
                return True
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if self.command == "GET" and gate.offers_secret(query):
                rest = urlencode({k: v for k, v in query.items() if k != "token"})
                self._send(HTTPStatus.SEE_OTHER, "", headers={
                    "Location": url.path + (f"?{rest}" if rest else ""),
                    "Set-Cookie": f"{COOKIE}={gate.secret}; HttpOnly; SameSite=Strict; Path=/"})
                return False
            self._send(HTTPStatus.FORBIDDEN, "Open the URL `autograder manual` printed (it carries the token).\n",
                       "text/plain; charset=utf-8")
            return False

        def log_message(self, format, *args):  # noqa: A002 - the pages are quiet; the CLI prints the URL
            pass

        def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8", headers: dict | None = None):
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
                             f"script-src 'nonce-{app.nonce}'")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: HTTPStatus, message: str):
            self._send(status, app.render("manual_error.html.j2", status=int(status), reason=status.phrase, message=message))

        def _grader(self) -> str:
            try:
                morsel = SimpleCookie(self.headers.get("Cookie") or "").get(GRADER_COOKIE)
            except CookieError:
                return ""
            from urllib.parse import unquote

            return unquote(morsel.value) if morsel is not None else ""

        def do_GET(self):  # noqa: N802 - http.server's naming
            if not self._admitted():
                return
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/":
                return self._send(HTTPStatus.OK, app.index_page(query.get("message", "")))
            if url.path == "/question":
                page = app.question_page(query.get("notebook", ""), query.get("question", ""), query.get("student", ""),
                                         query.get("saved", ""), query.get("show", "all"), self._grader())
                if page is None:
                    return self._error(HTTPStatus.NOT_FOUND, f"no answer to {query.get('question', '')!r} in "
                                                             f"{query.get('notebook', '')!r} is graded by hand")
                return self._send(HTTPStatus.OK, page)
            if url.path == "/group":
                page = app.group_page(query.get("notebook", ""), query.get("question", ""), query.get("group", ""),
                                      self._grader(), query.get("done", ""))
                if page is None:
                    return self._error(HTTPStatus.NOT_FOUND, f"no answer to {query.get('question', '')!r} in "
                                                             f"{query.get('notebook', '')!r} is graded by hand")
                return self._send(HTTPStatus.OK, page)
            if url.path == "/student":
                page = app.student_page(query.get("student", ""), self._grader())
                if page is None:
                    return self._error(HTTPStatus.NOT_FOUND, f"{query.get('student', '')!r} has no answer graded by hand; "
                                                             "pick a student from a question's page")
                return self._send(HTTPStatus.OK, page)
            if url.path == "/favicon.ico":
                return self._send(HTTPStatus.NO_CONTENT, "")
            return self._error(HTTPStatus.NOT_FOUND, f"no page {url.path}")

        def do_POST(self):  # noqa: N802
            if not self._admitted():
                return
            path = urlsplit(self.path).path
            if path not in ("/grade", "/rubric", "/group"):
                return self._error(HTTPStatus.NOT_FOUND, f"no form posts to {self.path}")
            length = min(int(self.headers.get("Content-Length") or 0), 1_000_000)
            lists = parse_qs(self.rfile.read(length).decode("utf-8", "replace"), keep_blank_values=True)
            form = {k: v[0] for k, v in lists.items()}
            if path == "/group":
                return self._save_group(form, lists)
            if path == "/rubric":
                try:
                    app.save_rubric_item(form)
                except PermissionError as error:
                    return self._error(HTTPStatus.FORBIDDEN, str(error))
                except KeyError as error:
                    return self._error(HTTPStatus.NOT_FOUND, str(error.args[0]) if error.args else "no such rubric item")
                except ValueError as error:
                    return self._error(HTTPStatus.BAD_REQUEST, str(error))
                back = "/question?" + urlencode({k: form.get(k, "") for k in ("notebook", "question", "student")})  # student: a ref
                return self._send(HTTPStatus.SEE_OTHER, "", headers={"Location": back + "#rubric"})
            try:
                app.save(form, lists.get("rubric", []))
            except PermissionError as error:
                return self._error(HTTPStatus.FORBIDDEN, str(error))
            except GradeConflict as error:
                theirs = error.current
                return self._send(HTTPStatus.CONFLICT, app.render(
                    "manual_conflict.html.j2", message=str(error), theirs=theirs, mine=form,
                    back="/question?" + urlencode({"notebook": form.get("notebook", ""), "question": form.get("question", ""),
                                                   "student": next((a.ref for a in app.answers() if a.student_id == form.get("student")), "")})))
            except StaleAnswer as error:
                return self._error(HTTPStatus.CONFLICT, str(error))
            except KeyError as error:
                return self._error(HTTPStatus.NOT_FOUND, str(error.args[0]) if error.args else "no such answer")
            except ValueError as error:
                return self._error(HTTPStatus.BAD_REQUEST, str(error))
            key = (form.get("notebook", ""), form.get("question", ""), form.get("student", ""))
            everything = app.answers()
            saved = next((a.ref for a in everything if a.key == key), key[2])
            if form.get("back") == "student":
                target = "/student?" + urlencode({"student": saved, "saved": key[1]}) + "#answer-" + quote(f"{key[0]}-{key[1]}")
            else:
                following = app.next_ungraded(key, everything)
                if following is None:
                    target = "/?" + urlencode({"message": "Every answer is graded."})
                else:
                    target = "/question?" + urlencode({"notebook": following.notebook, "question": following.question,
                                                       "student": following.ref, "saved": saved,
                                                       "show": form.get("show", "all")})
            grader = (form.get("grader", "").strip() or app.grader)[:200]
            self._send(HTTPStatus.SEE_OTHER, "", headers={
                "Location": target, "Set-Cookie": f"{GRADER_COOKIE}={quote(grader)}; SameSite=Strict; Path=/"})

        def _save_group(self, form: dict[str, str], lists: dict[str, list[str]]):
            try:
                outcome = app.save_group(form, lists.get("member", []), lists.get("rubric", []), lists.get("overwrite", []))
            except PermissionError as error:
                return self._error(HTTPStatus.FORBIDDEN, str(error))
            except KeyError as error:
                return self._error(HTTPStatus.NOT_FOUND, str(error.args[0]) if error.args else "no such answer")
            except ValueError as error:
                return self._error(HTTPStatus.BAD_REQUEST, str(error))
            notebook, question = form.get("notebook", ""), form.get("question", "")
            done = outcome.summary(f"{form.get('score', '').strip()} point(s)")
            groups = app.groups(notebook, question)
            here = next((i for i, g in enumerate(groups) if g.key == form.get("group")), -1)
            # the grader goes on to the next group with answers waiting; a group where a save was refused
            # stays on screen, so the refusal is read
            stay = here >= 0 and outcome.refused
            following = None if stay else next((g for g in groups[here + 1:] + groups[:here + 1] if g.waiting), None)
            query = {"notebook": notebook, "question": question, "done": done,
                     "group": following.key if following is not None else form.get("group", "")}
            grader = (form.get("grader", "").strip() or app.grader)[:200]
            self._send(HTTPStatus.SEE_OTHER, "", headers={
                "Location": "/group?" + urlencode(query), "Set-Cookie": f"{GRADER_COOKIE}={quote(grader)}; SameSite=Strict; Path=/"})

    return Handler


class Server:
    """The grading server; `start` runs it in a thread (tests), `serve_forever` in the caller's."""

    def __init__(self, app: ManualGrading, host: str = "127.0.0.1", port: int = 8000, allowed_hosts: tuple[str, ...] = ()):
        """``allowed_hosts``: more names the pages may be reached by (a DNS name of this machine)."""
        self.app, self.host = app, host
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self.httpd = server_class((host, port), BaseHTTPRequestHandler)
        self.gate = Gate.for_bind(host, self.httpd.server_address[1], allowed_hosts)  # the port is known once bound
        self.httpd.RequestHandlerClass = _handler(app, self.gate)
        self.thread: threading.Thread | None = None

    @property
    def warnings(self) -> list[str]:
        return list(self.gate.warnings)

    @property
    def url(self) -> str:
        """Where to open the pages; beyond loopback with the token (print it once, to the grader)."""
        host = _as_host_name(socket.gethostname()) if self.host in WILDCARD_HOSTS else _as_host_name(self.host)
        token = f"?token={self.gate.secret}" if self.gate.secret else ""
        return f"http://{host}:{self.gate.port}/{token}"

    def start(self) -> "Server":
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6
