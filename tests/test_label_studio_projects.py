"""Creating or updating a project (setup's and adjudicate's): one function, and one rule for "differs"."""

from __future__ import annotations

import enum
from types import SimpleNamespace

from review_project.label_studio import create_or_update_project, field_differs


class SkipQueue(enum.Enum):
    REQUEUE_FOR_ME = "REQUEUE_FOR_ME"
    IGNORE_SKIPPED = "IGNORE_SKIPPED"


def test_text_is_compared_without_surrounding_whitespace_and_none_as_empty():
    assert not field_differs("<View/>\n", "<View/>")
    assert not field_differs(None, "")
    assert field_differs(None, "<View/>")
    assert field_differs("<View/>", "<View></View>")


def test_an_sdk_enum_is_compared_by_its_value():
    assert not field_differs(SkipQueue.REQUEUE_FOR_ME, "REQUEUE_FOR_ME")
    assert field_differs(SkipQueue.IGNORE_SKIPPED, "REQUEUE_FOR_ME")


def test_numbers_and_flags_are_compared_as_they_are():
    assert not field_differs(4, 4) and not field_differs(True, True)
    assert field_differs(3, 4) and field_differs(None, 4) and field_differs(False, True)


class FakeProjects:
    """The three calls create_or_update_project makes, recorded."""

    def __init__(self, existing):
        self.existing, self.created, self.updated = existing, [], []

    def list(self, title, page_size, include=None):
        """As Label Studio lists: titles matched as substrings; with `include`, only those fields."""
        found = [project for project in self.existing if title in project.title]
        if include is None:
            return found
        return [SimpleNamespace(**{name: getattr(p, name, None) for name in include.split(",")}) for p in found]

    def create(self, title, **fields):
        self.created.append((title, fields))
        return SimpleNamespace(id=9, title=title, **fields)

    def update(self, id, **fields):
        self.updated.append((id, fields))


def fake_client(*existing):
    return SimpleNamespace(projects=FakeProjects(list(existing)), review_url="http://ls.test")


def test_a_missing_project_is_created_with_every_field():
    client = fake_client(SimpleNamespace(id=1, title="Red-team review - adjudication"))
    project, created, updated = create_or_update_project(client, "Red-team review", {"maximum_annotations": 4})
    assert (project.id, created, updated) == (9, True, [])
    assert client.projects.created == [("Red-team review", {"maximum_annotations": 4})]


def test_an_existing_project_gets_only_the_fields_that_differ():
    existing = SimpleNamespace(id=3, title="Review", label_config="<View/>\n", maximum_annotations=3, skip_queue=SkipQueue.REQUEUE_FOR_ME)
    client = fake_client(existing)
    wanted = {"label_config": "<View/>", "maximum_annotations": 4, "skip_queue": "REQUEUE_FOR_ME", "show_skip_button": True}
    project, created, updated = create_or_update_project(client, "Review", wanted)
    assert (project.id, created, updated) == (3, False, ["maximum_annotations", "show_skip_button"])
    assert client.projects.updated == [(3, {"maximum_annotations": 4, "show_skip_button": True})]


def test_a_project_as_wanted_is_left_alone():
    existing = SimpleNamespace(id=3, title="Review", maximum_annotations=4)
    client = fake_client(existing)
    project, created, updated = create_or_update_project(client, "Review", {"maximum_annotations": 4})
    assert (project.id, created, updated) == (3, False, [])
    assert client.projects.updated == [] and client.projects.created == []


def test_the_listing_names_the_fields_it_compares_so_label_studio_counts_nothing():
    # Listed with every field, Label Studio counts each project's tasks and annotations (0.7 s at
    # the whole dataset's size); listed with only these, a field not named would read as None and
    # look changed, so every re-run would update it.
    existing = SimpleNamespace(id=3, title="Review", maximum_annotations=4, label_config="<View/>", task_number=38961)
    client = fake_client(existing)
    wanted = {"maximum_annotations": 4, "label_config": "<View/>"}
    assert create_or_update_project(client, "Review", wanted)[1:] == (False, [])
    assert client.projects.updated == []
