"""The reviewer's interface: the label config and the instructions shown before labelling."""

from __future__ import annotations

from importlib.resources import files

DEFAULT_CONTACT = "your review lead, or your organisation's employee assistance programme"


def label_config() -> str:
    """The Label Studio XML of label_configs/red_team_review.xml."""
    return files("label_configs").joinpath("red_team_review.xml").read_text(encoding="utf-8")


def reviewer_instructions(contact: str | None = None) -> str:
    """The HTML instructions, with the person reviewers should turn to."""
    template = files("label_configs").joinpath("reviewer_instructions.html").read_text(encoding="utf-8")
    return template.replace("{contact}", _escape(contact or DEFAULT_CONTACT))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
