"""Reference implementation for the ``pandas_wrangling`` exercise set.

Every name a student's answer cell defines in
``source/pandas_wrangling/pandas_wrangling.ipynb`` is defined here under the
same name.  The grader imports this module on the trusted side only and runs
the notebook's test cells with these definitions in place of the student's.

Written for pandas 3 (copy-on-write, the ``str`` dtype for text columns,
``fillna(method=...)`` gone in favour of ``ffill``/``bfill``).
"""

import numpy as np
import pandas as pd


# --- Question 1: Series as dictionaries, building a DataFrame --------------

def make_states_frame(population, area):
    """Table of the regions present in BOTH dicts, sorted by name.

    Columns: ``population`` and ``area`` (the integers as given, int64) and
    ``density`` = population / area (float64).
    """
    pop = pd.Series(population, dtype="int64")
    size = pd.Series(area, dtype="int64")
    # join="inner" keeps only the labels both Series share, and no NaN is ever
    # introduced, so the integer columns stay integers.
    frame = pd.concat([pop, size], axis="columns", join="inner", keys=["population", "area"])
    frame = frame.sort_index()
    frame["density"] = frame["population"] / frame["area"]
    return frame


# --- Question 2: loc versus iloc --------------------------------------------

def select_by_label(df, first, last, columns):
    """Rows from label ``first`` through label ``last`` (both included), the given columns."""
    return df.loc[first:last, columns]


def select_by_position(df, start, stop, n_cols):
    """Rows at positions ``start`` .. ``stop - 1`` and the first ``n_cols`` columns."""
    return df.iloc[start:stop, :n_cols]


# --- Question 3: index alignment with a fill value ---------------------------

def add_with_fill(s1, s2, fill_value=0.0):
    """``s1 + s2`` over the union of labels; a value missing on one side counts as ``fill_value``.

    Where both sides are missing (absent or NaN) the result stays NaN.
    """
    return s1.add(s2, fill_value=fill_value)


# --- Question 4: DataFrame minus one of its columns --------------------------

def subtract_column(df, col):
    """Subtract column ``col`` from every column, row by row (aligning on the row index)."""
    return df.sub(df[col], axis="index")


# --- Question 5: detecting missing values -----------------------------------

def missing_summary(df):
    """Per column of ``df``: how many values are missing and which fraction of the rows that is.

    Index: the columns of ``df``.  Columns: ``n_missing`` (int64) and
    ``frac_missing`` (float64; NaN when ``df`` has no rows).
    """
    missing = df.isnull()
    return pd.DataFrame({
        "n_missing": missing.sum().astype("int64"),
        "frac_missing": missing.mean().astype("float64"),
    })


# --- Question 6: dropping missing values -------------------------------------

def drop_sparse(df, min_present):
    """Drop the columns with no value at all, then the rows with fewer than ``min_present`` values."""
    kept_columns = df.dropna(axis="columns", how="all")
    return kept_columns.dropna(axis="index", thresh=min_present)


# --- Question 7: filling missing values --------------------------------------

def impute(df, how):
    """Fill the NaN of a numeric frame, column by column.

    ``how="mean"``: each column's NaN become the mean of that column's observed
    values; ``how="ffill"``: the last observed value above; ``how="bfill"``: the
    next observed value below.  What cannot be filled stays NaN.
    """
    if how == "mean":
        return df.fillna(df.mean())
    if how == "ffill":
        return df.ffill()
    if how == "bfill":
        return df.bfill()
    raise ValueError(f"unknown fill strategy {how!r}; use 'mean', 'ffill' or 'bfill'")


# --- Question 8: concatenation -----------------------------------------------

def stack_tables(frames, common_only=False):
    """Stack frames on top of each other with a fresh index 0..n-1.

    ``common_only=False`` keeps every column (missing cells become NaN);
    ``common_only=True`` keeps only the columns that every frame has.
    """
    return pd.concat(frames, join="inner" if common_only else "outer", ignore_index=True)


# --- Question 9: merging on differently named keys ---------------------------

def attach_salaries(employees, salaries):
    """Left join of ``employees`` (employee, group) with ``salaries`` (name, salary).

    Every employee is kept (salary NaN when unknown; one row per matching
    salary row), the redundant ``name`` column is dropped.
    """
    merged = pd.merge(employees, salaries, how="left", left_on="employee", right_on="name")
    return merged.drop(columns="name")


# --- Question 10: outer merge with suffixes ----------------------------------

def compare_scores(a, b):
    """Outer merge of two (name, score) tables on ``name``.

    Columns: name, score_a, score_b, diff = score_b - score_a (NaN where either
    side is missing); rows sorted by name (as the outer merge leaves them).
    """
    merged = pd.merge(a, b, on="name", how="outer", suffixes=("_a", "_b"))
    merged["diff"] = merged["score_b"] - merged["score_a"]
    return merged


# --- Question 11: numbers worked out by hand ---------------------------------
# s_p + s_q: labels a, b, c, d, e; only "c" has a number on both sides
# (s_p["b"] is NaN, "a" and "d" are absent from s_q, "e" from s_p).
answer_nan_count = 4
# orders x customers on "customer": ana 3 x 1, ben 1 x 2, the others 0.
answer_inner_rows = 5
# ... plus one row each for cai and dev (no customer row) and eve (no order).
answer_outer_rows = 8
