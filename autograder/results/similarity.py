"""Pairs of submissions whose answers are unusually alike, per question (`autograder similarity`).

What is compared: each autograded question's answer cell as the student handed it in (from the graded
notebooks kept in the gradebook), never the test cells, and with the released starter code taken out.
How: each answer is first written out in one canonical layout (parsed and unparsed by `ast`: comments,
docstrings' place, quotes, parentheses and line breaks no longer differ; code that does not parse is kept
as it is), then compared by copydetect's winnowing (token k-grams, their hashes winnowed to fingerprints)
on code whose names and strings its tokenizer abstracts, so renaming variables, reformatting, adding
comments or changing quotes does not hide a copy. The page shows the canonical code, shared runs marked. The released stub's fingerprints are boilerplate:
code every student was given never counts as shared.

A pair's similarity is the *smaller* of the two shares of each answer found in the other (a short answer
fully contained in a long one is not a copy of it), and pairs of answers too short to say anything
(`MIN_TOKENS`) are left out. A pair is listed when its similarity reaches the threshold: it is a place
for a person to look, never a verdict, and nothing here changes a grade.
"""

from __future__ import annotations

import ast
import io
import itertools
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course.cells import Kind

#: Length of the k-grams fingerprinted, in characters of abstracted code (copydetect's "noise threshold"):
#: a shared run shorter than this never counts.
K_GRAM_CHARACTERS = 20
#: Any shared run at least this long is guaranteed to be found (copydetect's "guarantee threshold").
GUARANTEED_CHARACTERS = 26
#: Answers with fewer abstracted characters than this (after the starter code is removed) are too short
#: to tell a copy from the one obvious way to write them.
MIN_TOKENS = 60
#: A pair is listed from this similarity on (the smaller of the two shares).
DEFAULT_THRESHOLD = 0.7


@dataclass(frozen=True)
class Answer:
    student_id: str
    notebook: str
    question: str
    source: str


@dataclass
class Pair:
    notebook: str
    question: str
    first: Answer
    second: Answer
    similarity: float  # the smaller of the two shares
    shares: tuple[float, float]  # how much of each answer is found in the other
    matched: tuple[list[tuple[int, int]], list[tuple[int, int]]]  # character ranges of the shared code in each

    def segments(self, which: int) -> list[tuple[str, bool]]:
        """The answer's source cut into (text, shared?) runs, for the side-by-side page."""
        source = (self.first, self.second)[which].source
        runs, position = [], 0
        for start, end in sorted(self.matched[which]):
            start, end = max(start, position), min(end, len(source))
            if start > position:
                runs.append((source[position:start], False))
            if end > start:
                runs.append((source[start:end], True))
            position = max(position, end)
        if position < len(source):
            runs.append((source[position:], False))
        return runs


@dataclass
class QuestionSummary:
    notebook: str
    question: str
    answers: int  # answers long enough to compare
    pairs: int
    median: float | None  # the median similarity of all compared pairs: what "usual" looks like here
    listed: int


@dataclass
class SimilarityReport:
    assignment: str
    threshold: float
    pairs: list[Pair] = field(default_factory=list)
    questions: list[QuestionSummary] = field(default_factory=list)


def canonical(source: str) -> str:
    """The code in one layout (comments dropped, quotes and parentheses normalised); unchanged if it does not parse."""
    try:
        return ast.unparse(ast.parse(source))
    except (SyntaxError, ValueError, RecursionError):
        return source


def _fingerprint(source: str, boilerplate=()):
    from copydetect import CodeFingerprint

    win_size = GUARANTEED_CHARACTERS - K_GRAM_CHARACTERS + 1
    return CodeFingerprint("answer.py", K_GRAM_CHARACTERS, win_size, boilerplate=list(boilerplate), filter=True,
                           language="python", fp=io.StringIO(source))


def _fingerprintable(source: str) -> bool:
    """copydetect needs at least one k-gram; shorter code has nothing to compare."""
    try:
        return len(_fingerprint(source).filtered_code) >= K_GRAM_CHARACTERS
    except Exception:  # code the tokenizer cannot read at all
        return False


def compare_answers(answers: list[Answer], stub: str = "", *, threshold: float = DEFAULT_THRESHOLD,
                    min_tokens: int = MIN_TOKENS) -> tuple[list[Pair], QuestionSummary | None]:
    """Every pair of ``answers`` to one question (all of one notebook and question) at or above ``threshold``."""
    from copydetect import compare_files

    if not answers:
        return [], None
    stub = canonical(stub)
    boilerplate = _fingerprint(stub).hashes if stub and _fingerprintable(stub) else set()
    prints = []
    for answer in (Answer(a.student_id, a.notebook, a.question, canonical(a.source)) for a in answers):
        if not _fingerprintable(answer.source):
            continue
        printed = _fingerprint(answer.source, boilerplate)
        if printed.token_coverage >= min_tokens:
            prints.append((answer, printed))
    pairs, similarities = [], []
    for (first, a), (second, b) in itertools.combinations(prints, 2):
        _overlap, shares, slices = compare_files(a, b)
        similarity = float(min(shares))
        similarities.append(similarity)
        if similarity >= threshold:
            ranges = tuple([(int(s), int(e)) for s, e in zip(side[0], side[1])] if len(side) else [] for side in slices)
            pairs.append(Pair(first.notebook, first.question, first, second, similarity, (float(shares[0]), float(shares[1])), ranges))
    pairs.sort(key=lambda p: (-p.similarity, p.first.student_id, p.second.student_id))
    summary = QuestionSummary(answers[0].notebook, answers[0].question, len(prints), len(similarities),
                              statistics.median(similarities) if similarities else None, len(pairs))
    return pairs, summary


def answers_in_views(views: dict[tuple[str, str], dict]) -> dict[tuple[str, str], list[Answer]]:
    """(notebook, question) -> each student's code answer, from the stored student views."""
    found: dict[tuple[str, str], list[Answer]] = {}
    for (student_id, notebook), view in sorted(views.items()):
        for cell in view.get("cells", []):
            if cell.get("kind") == Kind.ANSWER.value and cell.get("cell_type") == "code" and cell.get("grade_id"):
                found.setdefault((notebook, cell["grade_id"]), []).append(Answer(student_id, notebook, cell["grade_id"], cell.get("source", "")))
    return found


def similarity_report(gradebook, assignment, *, threshold: float = DEFAULT_THRESHOLD, min_tokens: int = MIN_TOKENS) -> SimilarityReport:
    """The pairs of ``assignment`` (an `Assignment`) at or above ``threshold``, per question."""
    from autograder.prepare.manifest import assignment_manifest

    stubs = {}
    for name in assignment.notebook_names:
        for cell in assignment_manifest(assignment, name).cells:
            if cell.kind == Kind.ANSWER:
                stubs[(name, cell.grade_id)] = cell.source
    report = SimilarityReport(assignment.name, threshold)
    for (notebook, question), answers in sorted(answers_in_views(gradebook.student_views(assignment.name)).items()):
        pairs, summary = compare_answers(answers, stubs.get((notebook, question), ""), threshold=threshold, min_tokens=min_tokens)
        report.pairs.extend(pairs)
        if summary is not None:
            report.questions.append(summary)
    report.pairs.sort(key=lambda p: (-p.similarity, p.notebook, p.question))
    return report


def write_similarity_page(report: SimilarityReport, output: Path) -> Path:
    """One HTML page: the listed pairs, most alike first, each side by side with the shared code marked."""
    from autograder.results.pages import environment

    html = environment().get_template("similarity.html.j2").render(report=report, title=f"{report.assignment}: similar answers")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    return output
