"""Benchmarks of `autograder grade`: against nbgrader's `autograde`, harness overhead, coordinator memory.

Each is a command (see the README's "Benchmarks" section) that builds what it measures in a temporary
directory, runs it, and prints what it measured and how. None of them is part of the test suite.
"""
