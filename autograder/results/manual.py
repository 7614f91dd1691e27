"""Manual grading of written answers: a small local web app (standard library `http.server`).

`autograder manual ASSIGNMENT` serves, on 127.0.0.1 by default:

* ``/``: the hand-graded questions, with how many answers wait for a grade and how many are graded;
* ``/question?notebook=N&question=Q``: every student's answer to one question (Markdown rendered, raw HTML
  escaped), its points, a score and a comment; "save" writes the grade to the gradebook.

Semantics (see `Gradebook.set_manual_grade` and `Gradebook.submissions`):

* a manual grade is stored in its own table, keyed by (assignment, student, notebook, question), with the
  sha256 of the answer text that was read. `grade` never touches it, so regrading (``--force``, or a run
  that resumes) keeps it, and it applies again as long as the answer is the same text;
* a student who resubmits a *different* answer is back in the "waiting" list (the old grade is shown as
  the previous one); a grade posted from a page loaded before the resubmission is refused (409);
* saving again replaces the grade; the exports, feedback pages and the report use the combined scores.

Every form carries a token made when the server starts, so another web page open in the same browser
cannot post grades to it.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from autograder.results.gradebook import MANUALLY_GRADED, Gradebook, StaleAnswer

WAITING = "needs_manual_grade"


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


class ManualGrading:
    """What the pages show and save, read from and written to one gradebook."""

    def __init__(self, gradebook: Gradebook, assignment: str):
        self.gradebook, self.assignment = gradebook, assignment
        self.token = secrets.token_urlsafe(24)

    def answers(self) -> list[Answer]:
        answers = self.gradebook.student_views(self.assignment, with_cells=False)
        grades = self.gradebook.manual_grades(self.assignment)
        found = []
        for submission in self.gradebook.submissions(self.assignment):
            stored = answers.get((submission.student_id, submission.notebook), {}).get("answers", {})
            for result in submission.results:
                if result.status not in (WAITING, MANUALLY_GRADED) or result.question not in stored:
                    continue
                text = stored[result.question]
                grade = grades.get((submission.student_id, submission.notebook, result.question))
                graded = result.status == MANUALLY_GRADED
                previous = "" if graded or grade is None else f"{grade.score:g} / {grade.max_score:g} for an earlier answer: {grade.comment}"
                found.append(Answer(submission.student_id, submission.notebook, result.question, result.max_score, result.status,
                                    result.score if graded else None, grade.comment if graded and grade else "",
                                    text.get("source", ""), text.get("cell_type", "markdown"), text.get("sha256", ""), previous))
        return found

    def questions(self) -> list[dict]:
        summary: dict[tuple[str, str], dict] = {}
        for answer in self.answers():
            entry = summary.setdefault((answer.notebook, answer.question),
                                       {"notebook": answer.notebook, "question": answer.question, "max_score": answer.max_score,
                                        "waiting": 0, "graded": 0})
            entry["waiting" if answer.status == WAITING else "graded"] += 1
        return [summary[key] for key in sorted(summary)]

    def save(self, form: dict[str, str]) -> Answer:
        if not secrets.compare_digest(form.get("token", ""), self.token):
            raise PermissionError("this form was not made by this grading server; reload the page")
        try:
            score = float(form.get("score", "").strip())
        except ValueError:
            raise ValueError(f"the score {form.get('score', '')!r} is not a number") from None
        self.gradebook.set_manual_grade(self.assignment, form.get("student", ""), form.get("notebook", ""),
                                        form.get("question", ""), score, form.get("comment", "").strip(),
                                        answer_sha256=form.get("sha256") or None, grader=form.get("grader", ""))
        return next(a for a in self.answers() if (a.student_id, a.notebook, a.question) ==
                    (form.get("student"), form.get("notebook"), form.get("question")))

    # ------------------------------------------------------------------------------------- pages

    def render(self, name: str, **context) -> str:
        from autograder.results.feedback import STATUS_LABELS
        from autograder.results.pages import environment

        return environment().get_template(name).render(assignment=self.assignment, token=self.token, labels=STATUS_LABELS,
                                                      css="", **context)

    def index_page(self) -> str:
        return self.render("manual_index.html.j2", questions=self.questions(), quote=quote)

    def question_page(self, notebook: str, question: str, saved: str = "") -> str | None:
        answers = [a for a in self.answers() if a.notebook == notebook and a.question == question]
        if not answers:
            return None
        answers.sort(key=lambda a: (a.status != WAITING, a.student_id))
        return self.render("manual_question.html.j2", notebook=notebook, question=question, answers=answers,
                           max_score=answers[0].max_score, saved=saved,
                           waiting=sum(1 for a in answers if a.status == WAITING))


def _handler(app: ManualGrading):
    class Handler(BaseHTTPRequestHandler):
        server_version = "autograder-manual"

        def log_message(self, format, *args):  # noqa: A002 - the pages are quiet; the CLI prints the URL
            pass

        def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8", headers: dict | None = None):
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: HTTPStatus, message: str):
            self._send(status, app.render("manual_error.html.j2", status=int(status), reason=status.phrase, message=message))

        def do_GET(self):  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/":
                return self._send(HTTPStatus.OK, app.index_page())
            if url.path == "/question":
                page = app.question_page(query.get("notebook", ""), query.get("question", ""), query.get("saved", ""))
                if page is None:
                    return self._error(HTTPStatus.NOT_FOUND, f"no answer to {query.get('question', '')!r} in "
                                                             f"{query.get('notebook', '')!r} is graded by hand")
                return self._send(HTTPStatus.OK, page)
            if url.path == "/favicon.ico":
                return self._send(HTTPStatus.NO_CONTENT, "")
            return self._error(HTTPStatus.NOT_FOUND, f"no page {url.path}")

        def do_POST(self):  # noqa: N802
            if urlsplit(self.path).path != "/grade":
                return self._error(HTTPStatus.NOT_FOUND, f"no form posts to {self.path}")
            length = min(int(self.headers.get("Content-Length") or 0), 1_000_000)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode("utf-8", "replace"), keep_blank_values=True).items()}
            try:
                app.save(form)
            except PermissionError as error:
                return self._error(HTTPStatus.FORBIDDEN, str(error))
            except StaleAnswer as error:
                return self._error(HTTPStatus.CONFLICT, str(error))
            except KeyError as error:
                return self._error(HTTPStatus.NOT_FOUND, str(error.args[0]) if error.args else "no such answer")
            except ValueError as error:
                return self._error(HTTPStatus.BAD_REQUEST, str(error))
            target = "/question?" + urlencode({"notebook": form.get("notebook", ""), "question": form.get("question", ""),
                                               "saved": form.get("student", "")})
            self._send(HTTPStatus.SEE_OTHER, "", headers={"Location": target + "#answer-" + quote(form.get("student", ""))})

    return Handler


class Server:
    """The grading server; `start` runs it in a thread (tests), `serve_forever` in the caller's."""

    def __init__(self, app: ManualGrading, host: str = "127.0.0.1", port: int = 8000):
        self.app = app
        self.httpd = ThreadingHTTPServer((host, port), _handler(app))
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "Server":
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
