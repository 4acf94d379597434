"""The consent part of the store (workers/store/consents.py) on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import hashlib
import multiprocessing

import pytest

from workers.store import Consent, open_store

TEXT = "You will read transcripts of attacks on a chatbot. Contact: lead@example.org"


def test_a_text_is_kept_once_under_its_sha256_prefix(store):
    version = store.consents.keep_text(TEXT, now=10.0)
    assert version == hashlib.sha256(TEXT.encode()).hexdigest()[:16]
    assert store.consents.keep_text(TEXT, now=20.0) == version
    assert store.consents.text(version) == TEXT
    with store.backend.transaction(write=False) as cur:
        rows = store.backend.run(cur, "SELECT version, first_used_at FROM consent_texts").fetchall()
    assert [tuple(row) for row in rows] == [(version, 10.0)]
    assert store.consents.keep_text(TEXT + " ") != version
    assert store.consents.text("0" * 16) is None


def test_inviting_again_is_safe_and_an_email_is_lower_cased(store):
    version = store.consents.keep_text(TEXT)
    assert store.consents.invite("Ana@Example.org", "U1", version, now=1.0) is True
    assert store.consents.invite("ana@example.org", "U1", version, now=2.0) is False
    assert store.consents.standing("ANA@example.org") == Consent(
        email="ana@example.org", slack_user_id="U1", state="invited", version=version, invited_at=1.0,
        consented_at=None, declined_at=None, withdrawn_at=None, recorded_by="slack",
    )
    # A new text is a new invitation.
    assert store.consents.invite("ana@example.org", "U1", store.consents.keep_text(TEXT + "!"), now=3.0) is True
    assert store.consents.standing("ana@example.org").invited_at == 3.0


def test_the_latest_event_is_the_state_and_old_consents_stay(store):
    old, new = store.consents.keep_text(TEXT), store.consents.keep_text(TEXT + " v2")
    store.consents.invite("ana@example.org", "U1", old, now=1.0)
    store.consents.record("ana@example.org", "consented", old, "slack", slack_user_id="U1", now=2.0)
    assert store.consents.consented("ana@example.org", old)
    assert not store.consents.consented("ana@example.org", new)
    store.consents.record("ana@example.org", "withdrawn", old, "slack", slack_user_id="U1", now=5.0)
    standing = store.consents.standing("ana@example.org")
    assert (standing.state, standing.consented_at, standing.withdrawn_at) == ("withdrawn", 2.0, 5.0)
    assert not store.consents.consented("ana@example.org", old)
    # Consent by hand (the lead), after a withdrawal: the Slack user found before is kept.
    store.consents.record("ana@example.org", "consented", new, "lead:lead@example.org", now=7.0)
    standing = store.consents.standing("ana@example.org")
    assert standing == Consent(
        email="ana@example.org", slack_user_id="U1", state="consented", version=new, invited_at=1.0,
        consented_at=7.0, declined_at=None, withdrawn_at=5.0, recorded_by="lead:lead@example.org",
    )
    with store.backend.transaction(write=False) as cur:
        events = store.backend.run(cur, "SELECT event, text_version FROM consent_events ORDER BY id").fetchall()
    assert [tuple(e) for e in events] == [("invited", old), ("consented", old), ("withdrawn", old), ("consented", new)]


def test_everyone_and_a_declined_person(store):
    version = store.consents.keep_text(TEXT)
    store.consents.invite("bo@example.org", "U2", version, now=1.0)
    store.consents.record("bo@example.org", "declined", version, "slack", slack_user_id="U2", now=2.0)
    store.consents.record("ana@example.org", "consented", version, "lead:lead@example.org", now=3.0)
    assert [(c.email, c.state, c.declined_at) for c in store.consents.everyone()] == [
        ("ana@example.org", "consented", None), ("bo@example.org", "declined", 2.0),
    ]
    assert store.consents.by_slack_user("U2").email == "bo@example.org"
    assert store.consents.by_slack_user("U9") is None
    assert store.consents.standing("nobody@example.org") is None


def test_record_refuses_what_is_not_an_answer(store):
    version = store.consents.keep_text(TEXT)
    with pytest.raises(ValueError, match="one of consented, declined, withdrawn"):
        store.consents.record("ana@example.org", "invited", version, "slack")
    with pytest.raises(ValueError, match="recorded_by"):
        store.consents.record("ana@example.org", "consented", version, "someone")
    with store.backend.transaction() as cur, pytest.raises(Exception, match="(?i)check"):
        store.backend.run(
            cur,
            "INSERT INTO consent_events (email, event, recorded_by, at) VALUES ('a@b.c', 'maybe', 'slack', 0)",
        )
    assert store.consents.everyone() == []


def _invite_in_process(url, version, barrier, results):
    opened = open_store(url)
    try:
        barrier.wait()
        results.put(opened.consents.invite("ana@example.org", "U1", version))
    finally:
        opened.close()


def test_processes_inviting_at_once_record_one_invitation(database_url):
    opened = open_store(database_url)
    try:
        version = opened.consents.keep_text(TEXT)
        context = multiprocessing.get_context("spawn")
        barrier, results = context.Barrier(3), context.Queue()
        processes = [context.Process(target=_invite_in_process, args=(database_url, version, barrier, results))
                     for _ in range(3)]
        for process in processes:
            process.start()
        outcomes = sorted(results.get(timeout=60) for _ in processes)
        for process in processes:
            process.join(60)
        assert outcomes == [False, False, True]
        with opened.backend.transaction(write=False) as cur:
            assert opened.backend.run(cur, "SELECT count(*) FROM consent_events").fetchone()[0] == 1
    finally:
        opened.close()
