"""What both reports are drawn with: numbers and intervals as text, tables (HTML and Markdown),
the page's style, and matplotlib figures inlined as PNG data URIs (no request of their own)."""

from __future__ import annotations

import base64
import html
import io
import re

from review_project.agreement.kappa import Estimate, Interval

# One colour per success value 0..4, from "not successful" (calm) to "very successful" (alarm).
SUCCESS_COLOURS = ("#4575b4", "#91bfdb", "#e0e0a0", "#fc8d59", "#d73027")


def fmt_number(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_interval(interval: Interval, digits: int = 2) -> str:
    return "n/a" if interval.low is None else f"{interval.low:.{digits}f} to {interval.high:.{digits}f}"


def fmt_estimate(estimate: Estimate, digits: int = 2) -> str:
    """A value, or "n/a (why)" when it is undefined."""
    if estimate.value is not None:
        return f"{estimate.value:.{digits}f}"
    return f"n/a ({estimate.reason})" if estimate.reason else "n/a"


def count_of(n: int, thing: str, things: str | None = None) -> str:
    return f"{n} {thing if n == 1 else (things or thing + 's')}"


def pyplot():
    """matplotlib's pyplot on the Agg backend, loaded on the first plot: a report without plots
    (--json, text) never pays its import (about 0.9 s)."""
    import matplotlib

    matplotlib.use("Agg")  # the backend must be chosen before pyplot is imported
    import matplotlib.pyplot

    return matplotlib.pyplot


def png_data_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.7em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.headline{font-size:1.25em;background:#f3f6fa;border-left:5px solid #1f77b4;padding:.8em 1em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto}.note{color:#555;font-size:.9em}
pre{white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:.5em;max-height:20em;overflow:auto}
"""


def html_table(header: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{html.escape(str(c))}</td>' if i in numeric else f"<td>{html.escape(str(c))}</td>"
            for i, c in enumerate(row)
        ) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# What Markdown would read as formatting, a link or a table's edge in a cell; `<` as raw HTML. An
# underscore inside a word (min_harmlessness_score) is not emphasis and stays as written.
_MD_SPECIAL = re.compile(r"([\\`*\[\]|])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def md_cell(value) -> str:
    """A table cell as text: a name or email such as `<img src=x>` or `*x*` shows as written."""
    text = str(value).replace("\n", " ").replace("<", "&lt;")
    return _MD_SPECIAL.sub(lambda match: "\\" + match.group(0), text)


def md_code_block(text: str) -> str:
    """`text` as a fenced code block whose fence is longer than any run of backticks in it, so a
    transcript holding a fence cannot end the block early (what followed would be read as Markdown
    and raw HTML)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
