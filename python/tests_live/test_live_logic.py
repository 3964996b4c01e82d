"""The decisions of a live-editing session, as plain functions: no socket,
no database."""
from datetime import UTC, datetime, timedelta

import pytest

from django_lockable import LockStatus
from django_lockable.live import (
    CHECK_MARGIN,
    CHECK_MIN_DELAY,
    CONFIRM,
    EDITING,
    GIVE_BACK,
    HAND_ON,
    KEEP,
    LOSE,
    LOST,
    WAITING,
    BadMessage,
    Look,
    Request,
    connection_lost,
    decide,
    message_of,
    next_check,
    parse_request,
    state_of,
    status_message,
)
from django_lockable.notifications import LockEvent, Node, citus_nodes, database_parameters, parse_event

T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


# ---- client messages ----

@pytest.mark.parametrize("content, request_", [
    ({"action": "lock", "uid": "doc:1"}, Request("lock", "doc:1")),
    ({"action": "heartbeat"}, Request("heartbeat")),
    ({"action": "unlock"}, Request("unlock")),
    ({"action": "heartbeat", "uid": "ignored"}, Request("heartbeat")),
    ({"action": "lock", "uid": "é" * 256}, Request("lock", "é" * 256)),  # 512 bytes
])
def test_good_requests(content, request_):
    assert parse_request(content) == request_


@pytest.mark.parametrize("content, message", [
    (["lock"], "a message is a JSON object"),
    ("lock", "a message is a JSON object"),
    (None, "a message is a JSON object"),
    ({}, "unknown action None"),
    ({"action": "dance"}, "unknown action 'dance'"),
    ({"action": ["lock"]}, "unknown action ['lock']"),
    ({"action": "lock"}, "lock needs a \"uid\""),
    ({"action": "lock", "uid": ""}, "lock needs a \"uid\""),
    ({"action": "lock", "uid": 42}, "lock needs a \"uid\""),
    ({"action": "lock", "uid": "x" * 513}, "lock needs a \"uid\""),
    ({"action": "lock", "uid": "é" * 257}, "lock needs a \"uid\""),  # 514 bytes
    ({"action": "lock", "uid": "a\x00b"}, "NUL"),
    ({"action": "lock", "uid": "\ud800"}, "lone surrogates"),
])
def test_bad_requests_say_what_is_wrong(content, message):
    with pytest.raises(BadMessage, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_request(content)


# ---- status messages ----

def test_status_message_has_every_field_of_the_contract():
    message = status_message("doc:1", WAITING, owner="user:7", expires_at=T0, waiters=2, position=1)
    assert message == {"type": "status", "uid": "doc:1", "state": "waiting", "owner": "user:7", "user_id": 7,
                       "position": 1, "waiters": 2, "expires_at": "2026-11-22T10:00:00.000Z", "token": None,
                       "reason": None, "by": None, "presence": [], "presence_count": 0, "idle_after": 120.0}


def test_a_granted_acquire_is_editing_with_the_token():
    status = LockStatus(True, "doc:1", "user:7", 41, T0, T0 + timedelta(minutes=1), 3, None)
    assert state_of(status, holding=False) == EDITING
    message = message_of("doc:1", EDITING, status)
    assert (message["token"], message["owner"], message["waiters"], message["position"]) == (41, "user:7", 3, None)


def test_a_refused_join_is_waiting_with_the_position_and_the_holder():
    status = LockStatus(False, "doc:1", "user:7", None, T0, T0 + timedelta(minutes=1), 2, 2)
    assert state_of(status, holding=False) == WAITING
    message = message_of("doc:1", WAITING, status)
    assert (message["position"], message["user_id"], message["token"]) == (2, 7, None)


def test_a_refused_renewal_of_a_holder_is_lost_not_a_place():
    status = LockStatus(False, "doc:1", "user:8", None, T0, T0 + timedelta(minutes=1), 1, None)
    assert state_of(status, holding=True) == LOST
    # even if the refusal came with a place (another tab of the same user queued)
    assert state_of(LockStatus(False, "doc:1", "user:8", None, T0, T0, 1, 1), holding=True) == LOST


# ---- what a look at the database means ----

def look(owner=None, token=None, position=None, expires_at=T0):
    return Look(owner=owner, token=token, expires_at=expires_at if owner else None, waiters=1, position=position)


PLENTY = timedelta(seconds=10)
NONE_LEFT = timedelta(0)


@pytest.mark.parametrize("state, token, seen, remaining, action", [
    # a holder: still ours with our token, or gone
    (EDITING, 5, look("me", 5), PLENTY, KEEP),
    (EDITING, 5, look("me", 9), PLENTY, CONFIRM),       # re-granted: a new token to confirm
    (EDITING, 5, look("bob", 6), PLENTY, LOSE),         # handed on
    (EDITING, 5, look(None), PLENTY, LOSE),             # the lease ran out
    (EDITING, 5, look("bob", 6, position=1), PLENTY, LOSE),
    # a waiter: handed the lock (confirm), still in line, or out of it
    (WAITING, None, look("me", 7), PLENTY, CONFIRM),
    (WAITING, None, look("me", 7), NONE_LEFT, GIVE_BACK),  # its client went silent
    (WAITING, None, look("alice", 3, position=2), PLENTY, KEEP),
    (WAITING, None, look(None, position=1), PLENTY, HAND_ON),  # the holder's lease ran out
    (WAITING, None, look(None, position=1), NONE_LEFT, KEEP),  # ... but we are silent ourselves
    (WAITING, None, look("alice", 3), PLENTY, LOSE),     # our place lapsed
    (WAITING, None, look(None), PLENTY, LOSE),
])
def test_decide(state, token, seen, remaining, action):
    assert decide(state, token, "me", seen, remaining) == action


def test_a_forged_hint_cannot_make_a_waiter_edit():
    # Whatever the payload said, only the database's holder can be confirmed.
    assert decide(WAITING, None, "bob", look("alice", 3, position=1), PLENTY) == KEEP


# ---- when to look again ----

def test_a_waiter_looks_again_at_the_holders_expiry():
    delay = next_check(WAITING, deadline=100.0, expires_at=T0 + timedelta(seconds=3), now=90.0, wall_now=T0)
    assert delay == pytest.approx(3 + CHECK_MARGIN)


def test_a_waiter_looks_again_when_its_own_place_lapses_first():
    delay = next_check(WAITING, deadline=92.0, expires_at=T0 + timedelta(seconds=30), now=90.0, wall_now=T0)
    assert delay == pytest.approx(2 + CHECK_MARGIN)


def test_a_holder_looks_again_at_the_end_of_its_lease():
    delay = next_check(EDITING, deadline=96.0, expires_at=T0 + timedelta(seconds=6), now=90.0, wall_now=T0)
    assert delay == pytest.approx(6 + CHECK_MARGIN)


def test_a_pending_hand_off_and_a_clock_behind_cannot_make_it_spin():
    assert next_check(WAITING, deadline=100.0, expires_at=None, now=90.0, wall_now=T0) == CHECK_MIN_DELAY
    past = T0 - timedelta(seconds=5)
    assert next_check(WAITING, deadline=100.0, expires_at=past, now=90.0, wall_now=T0) == CHECK_MIN_DELAY


def test_nothing_to_look_at_when_lost():
    assert next_check(LOST, deadline=100.0, expires_at=T0, now=90.0, wall_now=T0) is None
    assert next_check(None, deadline=100.0, expires_at=T0, now=90.0, wall_now=T0) is None


# ---- errors of the connection ----

class FakeDriverError(Exception):
    def __init__(self, pgcode):
        super().__init__(f"error {pgcode}")
        self.pgcode = pgcode


@pytest.mark.parametrize("pgcode, lost", [
    (None, True), ("08006", True), ("57P01", True), ("57P03", True),
    ("22023", False), ("40001", False), ("55P03", False), ("57014", False),
])
def test_connection_lost_tells_the_connection_from_the_statement(pgcode, lost):
    from django.db import OperationalError

    error = OperationalError("wrapped")
    error.__cause__ = FakeDriverError(pgcode)
    assert connection_lost(error) is lost


# ---- notifications ----

def test_parse_event_reads_every_field():
    event = parse_event('{"event": "acquired", "uid": "doc:\\"42", "owner": "user:7", "token": 3, "waiters": 1}')
    assert event == LockEvent("acquired", 'doc:"42', "user:7", token=3, waiters=1)
    assert parse_event('{"event": "queued", "uid": "d", "owner": "u", "position": 2, "waiters": 2}').position == 2


@pytest.mark.parametrize("payload", [
    "", "not json", "[]", '"acquired"', '{"uid": "doc:1"}', '{"event": "stolen", "uid": "doc:1"}',
    '{"event": "acquired", "uid": 42}', '{"event": "acquired"}',
])
def test_parse_event_ignores_what_is_not_an_event(payload):
    assert parse_event(payload) is None


def test_parse_event_drops_fields_of_the_wrong_type():
    event = parse_event('{"event": "acquired", "uid": "d", "owner": 7, "token": "3", "waiters": true}')
    assert (event.owner, event.token, event.waiters) == (None, None, None)


def test_citus_nodes_are_every_active_primary_but_the_local_group():
    base = {"dbname": "app", "user": "web", "sslmode": "prefer"}
    rows = [(0, "coordinator", 5432, 0), (1, "worker-1", 5432, 0), (2, "worker-2", 6432, 0)]
    nodes = citus_nodes(rows, base)
    assert [(n.conninfo["host"], n.conninfo["port"], n.conninfo["dbname"], n.origin) for n in nodes] == [
        ("worker-1", 5432, "app", "citus"), ("worker-2", 6432, "app", "citus")]
    assert all(n.conninfo["user"] == "web" and n.conninfo["sslmode"] == "prefer" for n in nodes)
    # listening on a worker, the coordinator is another node
    assert [n.conninfo["host"] for n in citus_nodes([(0, "c", 1, 2), (2, "w", 1, 2)], base)] == ["c"]


def test_a_node_gets_the_listener_defaults_unless_it_says_otherwise():
    node = Node.of({"host": "/tmp", "port": "5432", "dbname": "app", "password": "", "keepalives_idle": 5},
                   "setting")
    info = node.conninfo
    assert info["application_name"] == "django-lockable listener"
    assert info["keepalives_idle"] == 5
    assert "password" not in info  # empty parameters are libpq's defaults
    assert node.name == "/tmp:5432/app"


def test_database_parameters_are_libpq_parameters(settings_override_database):
    params = database_parameters("default")
    assert params["dbname"] == settings_override_database["NAME"]
    assert "database" not in params and "isolation_level" not in params


@pytest.fixture
def settings_override_database():
    from django.conf import settings

    return settings.DATABASES["default"]


# ---- the close codes: one table, in three places ----

def test_the_close_codes_are_one_table_in_the_readme_lockable_js_and_live():
    import re
    from pathlib import Path

    from django_lockable.live import CLOSE_CODES

    python_dir = Path(__file__).resolve().parent.parent
    readme = (python_dir / "README.md").read_text()
    section = readme[readme.index("#### Close codes"):]
    section = section[:section.index("\n#")]
    in_readme = {int(code): (name, how) for code, name, how in
                 re.findall(r"^\| `(\d{4})` \| ([^|]+?) \| [^|]+ \| ([^|]+?) \|$", section, re.MULTILINE)}
    script = (python_dir / "django_lockable" / "static" / "django_lockable" / "lockable.js").read_text()
    in_js = {int(code): (name, reconnect == "true") for code, name, reconnect in
             re.findall(r'(\d{4}): Object\.freeze\(\{ name: "([^"]+)", reconnect: (true|false) \}\)', script)}
    assert {code: name for code, (name, _) in in_readme.items()} == CLOSE_CODES
    assert {code: name for code, (name, _) in in_js.items()} == CLOSE_CODES
    for code, (_name, how) in in_readme.items():
        assert ("reconnects" in how) == in_js[code][1], (code, how)
    assert all(4000 <= code <= 4999 for code in CLOSE_CODES)
