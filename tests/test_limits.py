"""`Limits` is the single source of every limit's default and help: the CLI's options and docs/security.md's
list of them are built from it, and this file fails when either drifts from it."""

import argparse
import re
from dataclasses import fields
from pathlib import Path

import pytest

from autograder.cli import build_parser
from autograder.sandbox.limits import (OPTIONS_PARAGRAPH_START, Limits, format_size, limit_fields, limits_from_options,
                                       option_default, options_paragraph, parse_size)

SECURITY = Path(__file__).resolve().parent.parent / "docs" / "security.md"


def documented_paragraph() -> str:
    text = SECURITY.read_text(encoding="utf-8")
    start = text.index(OPTIONS_PARAGRAPH_START)
    return " ".join(text[start:text.index("\n\n", start)].split())


def test_docs_security_lists_every_limit_option_with_the_default_limits_gives():
    assert documented_paragraph() == options_paragraph(), (
        "docs/security.md's list of options is not what Limits says; replace that paragraph with:\n" + options_paragraph())


@pytest.mark.parametrize("item", limit_fields(), ids=lambda item: item.metadata["option"])
def test_each_option_and_its_default_appear_in_docs_security(item):
    paragraph = documented_paragraph()
    assert f"`{item.metadata['option']}" in paragraph and f"default {option_default(item)}" in paragraph


@pytest.mark.parametrize("command", [["grade", "a", "dir"], ["verify"]])
def test_grade_and_verify_default_every_limit_to_what_limits_gives(command):
    args = build_parser().parse_args(command)
    cli_defaults = {item.name: item.metadata["cli_default"] for item in fields(Limits) if item.metadata["cli_default"] is not None}
    assert limits_from_options(args) == Limits(**cli_defaults)


def test_every_limit_option_says_its_default_in_its_help():
    grade = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)).choices["grade"]
    helps = {option: action.help for action in grade._actions for option in action.option_strings}
    for item in limit_fields():
        assert f"(default: {option_default(item)}" in helps[item.metadata["option"]]


def test_check_takes_only_the_cell_timeout():
    args = build_parser().parse_args(["check", "nb.ipynb"])
    assert limits_from_options(args) == Limits()


@pytest.mark.parametrize("text, size", [("4G", 4 * 2**30), ("512M", 512 * 2**20), ("100k", 100 * 2**10), ("2GiB", 2 * 2**30),
                                        ("1.5G", int(1.5 * 2**30)), ("123", 123), ("0", 0)])
def test_a_size_is_read_with_its_binary_unit(text, size):
    assert parse_size(text) == size


def test_a_size_that_is_not_one_says_how_to_write_it():
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape("'lots' is not a size: use e.g. 4G")):
        parse_size("lots")


@pytest.mark.parametrize("size", [4 * 2**30, 256 * 2**20, 100 * 2**10, 123, 0])
def test_a_size_shown_reads_back_as_itself(size):
    assert parse_size(format_size(size)) == size
