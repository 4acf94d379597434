"""CSV cells a spreadsheet will not run: text that starts like a formula gets a leading quote.

Spreadsheets treat a cell that starts with `=`, `+`, `-` or `@` (and, in some, a tab or carriage
return) as a formula, so a reviewer's email such as `=cmd|'/C calc'!A0@example.com` (Label Studio's
sign-up accepts it) would run in the lead's spreadsheet. As OWASP's "CSV Injection" advises, such a
cell is written with a single quote in front, which the spreadsheet shows as text. Only text cells
change: numbers, negative ones included, stay numbers. `read_csv_cells` takes the quote off again,
so a CSV the project wrote reads back to what was written.
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralised(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of the table whose text cells that start like a formula begin with a quote."""
    out = table.copy()
    for column in _text_columns(out):
        out[column] = out[column].map(_neutral)
    return out


def restored(table: pd.DataFrame) -> pd.DataFrame:
    """The table as it was before `neutralised`: the quote in front of a formula-like cell taken off."""
    out = table.copy()
    for column in _text_columns(out):
        out[column] = out[column].map(_restored)
    return out


def _text_columns(table: pd.DataFrame) -> list:
    return [c for c in table.columns if pd.api.types.is_object_dtype(table[c]) or pd.api.types.is_string_dtype(table[c])]


def _neutral(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return QUOTE + value
    return value


def _restored(value):
    if isinstance(value, str) and value.startswith(QUOTE) and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value
