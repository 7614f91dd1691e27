"""Text from a submission made safe for every place the grader writes it, once, where it leaves grading.

Whatever a student's code prints or raises, and whatever a submission's file or folder is called, becomes
messages, check texts, notes, the stored student view and ids. Each sink has its own poison:

* a lone surrogate (``"\\ud800"``, or a file name decoded with ``surrogateescape``) cannot be encoded as
  UTF-8: SQLite, PostgreSQL, ``write_text``, JSON files and the terminal all raise ``UnicodeEncodeError``;
* PostgreSQL's text (and JSON) cannot hold NUL;
* ANSI/OSC escape sequences and other control characters reach the grader's terminal through the tables
  `autograder grade` prints (change the window title, move the cursor, hide or rewrite lines);

`safe_text` turns any such text into text every sink takes as it is, and `safe_tree` does the same for
JSON-like data (keys too). Both are idempotent: ``safe_text(safe_text(s)) == safe_text(s)``.

What is kept: every printable character, ``\\n`` and ``\\t``; ``\\r\\n`` and a lone ``\\r`` become ``\\n``
(progress bars stay readable, nothing on a terminal is overwritten). What goes: escape sequences (CSI,
OSC, DCS, SOS, PM, APC and two-character escapes, 7- and 8-bit forms) are removed whole; every other C0 or
C1 control character, DEL and every lone surrogate become U+FFFD, so that nothing disappears silently.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"

#: Anything `safe_text` would change; text without any of these is returned as it is (the common case).
_SUSPECT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"  # CSI: colours, cursor moves, erase
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # OSC, DCS, SOS, PM, APC up to BEL or ST
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]"  # two-character escapes (ESC c, ESC 7, ESC ( B, ...)
)

#: Control characters left after the sequences are gone (a stray ESC included), except \t and \n.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_text(value: Any, limit: int | None = None) -> str:
    """``value`` as text that every sink of the grader accepts and no terminal interprets.

    ``bytes`` are decoded as UTF-8 (undecodable bytes become U+FFFD), other non-text values go through
    `str`. With ``limit``, the result has at most ``limit`` characters (the last one "…" when cut).
    """
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "replace")
    elif isinstance(value, str):
        text = value
    else:
        text = str(value)
    if _SUSPECT.search(text):
        if re.search(r"[\ud800-\udfff]", text):
            # a surrogate pair written as two code points becomes its character; a lone one U+FFFD
            text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = _ESCAPE_SEQUENCE.sub("", text)
        text = _CONTROL.sub(REPLACEMENT, text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…" if limit > 0 else ""
    return text


def safe_tree(value: Any, limit: int | None = None) -> Any:
    """JSON-like ``value`` (dicts, lists, tuples, text, numbers...) with every string, keys included, made
    safe by `safe_text` (each capped at ``limit`` characters when given); other values unchanged."""
    if isinstance(value, str):
        return safe_text(value, limit)
    if isinstance(value, (bytes, bytearray)):
        return safe_text(value, limit)
    if isinstance(value, dict):
        return {(safe_text(key) if isinstance(key, (str, bytes)) else key): safe_tree(item, limit) for key, item in value.items()}
    if isinstance(value, list):
        return [safe_tree(item, limit) for item in value]
    if isinstance(value, tuple):
        return tuple(safe_tree(item, limit) for item in value)
    return value


def is_safe(text: str) -> bool:
    """True when `safe_text` would leave ``text`` as it is (no cap considered)."""
    return not _SUSPECT.search(text)
