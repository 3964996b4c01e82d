"""The live-editing load bench: many websocket clients against Daphne.

Run by python/bench/bench-web.sh ("make bench-web"), which starts the
cluster (with track_commit_timestamp on), the example site's database with
200 extra users and 20 documents, a trigger that records every grant, and
one Daphne process.  Not a test: it prints figures.

Each client is one user's editor page, as lockable.js behaves: it joins the
line of its document (``lock``), renews every ttl / 3 (``heartbeat``),
edits for a while when it gets the lock, then leaves (``unlock`` or a clean
close), or *vanishes*: it goes silent with its socket open, or its TCP
connection is cut without a close frame.  Waiters too leave or vanish now
and then.  After a pause the client opens a new socket and joins again.
With ``--viewers F`` a fraction F of the clients are viewers instead
(issue 22): they ``view`` their document, heartbeat with an ``idle`` flag
now and then, stay a few seconds, leave or vanish like the others, and come
back.  Every client has a tab id (``tab``), as lockable.js sends.  With
``--ports`` of several Daphne processes the clients are spread over them.

Measured:

- hand-offs delivered: ``editing`` messages that reach a client that was
  waiting;
- latency from the release's commit to the new holder's ``editing``: the
  grant's commit time comes from the database's clock
  (``pg_xact_commit_timestamp`` of the row an AFTER trigger on
  ``lockable.locks`` wrote in the granting transaction: for a hand-off on
  release that is the release's own transaction), the arrival time from the
  client's clock, on the same machine; for hand-offs on expiry the same
  figure is given from the lease's expiry;
- the server's CPU (Daphne's, and PostgreSQL's), from /proc;
- double editors: at each ``editing`` a client receives, another client of
  the same document that still believes it edits (it got ``editing``, has
  not left, and its lease, counted from its last heartbeat as lockable.js
  counts it, has not run out);
- presence push: from a client's ``lock`` or ``view`` to each other
  connected client of its document seeing it in a status's ``presence``
  (lockable 1.4 with presence leases only);
- database transactions per second: ``pg_stat_database.xact_commit`` of the
  bench's database over the run.
"""
import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

import psycopg
import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(os.path.dirname(HERE), "example"), os.path.dirname(HERE)]


def sessions_for(count: int) -> List[Tuple[int, str]]:
    """(user id, session key) of user0 .. user<count-1>, logged in as Django would."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_site.settings")
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    users = get_user_model().objects.filter(username__in=[f"user{i}" for i in range(count)]).order_by("id")
    found = []
    for user in users:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        found.append((user.pk, session.session_key))
    assert len(found) == count, f"{len(found)} bench users; run example_setup --extra-users {count}"
    return found


@dataclass
class Figures:
    handoffs: List[Tuple[str, int, float]] = field(default_factory=list)
    """(uid, token, arrival time) of each editing that reached a waiting client."""
    grants_seen: int = 0
    double_editors: List[str] = field(default_factory=list)
    joins: int = 0
    leaves: int = 0
    silent: int = 0
    cut: int = 0
    lost: int = 0
    closes: Dict[int, int] = field(default_factory=dict)
    errors: List[str] = field(default_factory=list)
    messages: int = 0
    views: int = 0
    presence_pushes: List[float] = field(default_factory=list)
    """ms from a client's join to another client of its document seeing it."""


class Client:
    """One editor page."""

    def __init__(self, bench: "Bench", number: int, user_id: int, session_key: str, uid: str,
                 viewer: bool = False, url: str = "", origin: str = "") -> None:
        self.bench = bench
        self.number = number
        self.user_id = user_id
        self.cookie = f"sessionid={session_key}"
        self.uid = uid
        self.viewer = viewer
        self.url = url
        self.origin = origin
        self.tab = f"bench{number}"
        self.state = "connecting"
        self.last_sent = 0.0
        self.left = True
        self.seen: Set[int] = set()
        """The user ids this socket has seen in a presence since it joined."""

    def edits(self, now: float) -> bool:
        """Would lockable.js show "editing" now?"""
        return (not self.left and self.state == "editing"
                and now < self.last_sent + self.bench.ttl - self.bench.margin)

    async def run(self, until: float) -> None:
        rng = random.Random(self.number)
        await asyncio.sleep(rng.random() * 2)  # staggered arrival
        while time.monotonic() < until:
            try:
                await self.visit(rng, until)
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as exc:
                self.bench.figures.errors.append(f"{type(exc).__name__}: {exc}")
            self.left = True
            self.state = "connecting"
            await asyncio.sleep(0.2 + rng.random() * 1.5)

    async def visit(self, rng: random.Random, until: float) -> None:
        bench = self.bench
        async with websockets.connect(
                self.url, extra_headers={"Cookie": self.cookie, "Origin": self.origin},
                ping_interval=None, close_timeout=1, max_queue=None, open_timeout=10) as ws:
            self.left = False
            self.seen = set()
            reader = asyncio.ensure_future(self.read(ws))
            try:
                if self.viewer:
                    await self.view(ws, reader, rng, until)
                    return
                bench.joined(self)
                await self.send(ws, {"action": "lock", "uid": self.uid, "tab": self.tab})
                bench.figures.joins += 1
                editing_since: Optional[float] = None
                hold = 0.5 + rng.random() * 2.5
                while time.monotonic() < until and not reader.done():
                    await asyncio.sleep(bench.ttl / 3 * (0.9 + 0.2 * rng.random()))
                    if reader.done() or self.state == "lost":
                        return
                    if self.state == "editing" and editing_since is None:
                        editing_since = time.monotonic()
                    roll = rng.random()
                    if self.state == "editing" and time.monotonic() - editing_since >= hold:
                        await self.leave(ws, rng, until, holder=True)
                        return
                    if self.state == "waiting" and roll < 0.04:
                        await self.leave(ws, rng, until, holder=False)
                        return
                    await self.send(ws, {"action": "heartbeat"})
            finally:
                self.left = True
                reader.cancel()

    async def view(self, ws: Any, reader: "asyncio.Future[None]", rng: random.Random, until: float) -> None:
        """A viewer's visit: view, renew every ttl / 3 (idle now and then),
        stay 4 to 12 s, then leave or vanish as a waiter does."""
        bench = self.bench
        bench.joined(self)
        await self.send(ws, {"action": "view", "uid": self.uid, "tab": self.tab})
        bench.figures.views += 1
        stay = time.monotonic() + 4 + rng.random() * 8
        while time.monotonic() < min(until, stay) and not reader.done():
            await asyncio.sleep(bench.ttl / 3 * (0.9 + 0.2 * rng.random()))
            if reader.done():
                return
            await self.send(ws, {"action": "heartbeat", "idle": rng.random() < 0.1})
        if not reader.done() and time.monotonic() < until:
            await self.leave(ws, rng, until, holder=False)

    async def leave(self, ws: Any, rng: random.Random, until: float, holder: bool) -> None:
        """Leave cleanly (most), or vanish: silent, or cut."""
        roll = rng.random()
        figures = self.bench.figures
        if roll < (0.15 if holder else 0.3):
            # silent: the socket stays open, nothing more is sent; the page is gone
            figures.silent += 1
            self.left = True
            await asyncio.sleep(max(0.0, min(self.bench.ttl + 1, until - time.monotonic())))
        elif roll < (0.25 if holder else 0.4):
            figures.cut += 1
            self.left = True
            ws.transport.abort()  # no close frame
        else:
            figures.leaves += 1
            self.left = True
            if rng.random() < 0.5:
                await self.send(ws, {"action": "unlock"})

    async def send(self, ws: Any, message: Dict[str, Any]) -> None:
        if message["action"] in ("lock", "heartbeat"):
            self.last_sent = time.monotonic()
        await ws.send(json.dumps(message))

    async def read(self, ws: Any) -> None:
        bench = self.bench
        try:
            async for text in ws:
                arrived, arrived_monotonic = time.time(), time.monotonic()
                bench.figures.messages += 1
                message = json.loads(text)
                if message.get("type") == "error":
                    bench.figures.errors.append(f"error message: {message}")
                    continue
                if message.get("type") != "status":
                    continue
                if not self.left:
                    bench.presence_seen(self, message, arrived_monotonic)
                state = message["state"]
                if state == "editing" and self.state != "editing" and not self.left:
                    bench.editing_arrived(self, message, arrived, arrived_monotonic, was=self.state)
                if state == "lost" and self.state != "lost":
                    bench.figures.lost += 1
                self.state = state
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1006
            bench.figures.closes[code] = bench.figures.closes.get(code, 0) + 1


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.ports = [int(port) for port in args.ports.split(",")]
        self.ttl = args.ttl
        self.margin = min(1.0, args.ttl / 10)
        self.figures = Figures()
        self.clients: List[Client] = []
        self.joins: Dict[str, Dict[int, float]] = {}
        """Per uid, when each user id's client last joined (monotonic)."""

    def joined(self, client: Client) -> None:
        self.joins.setdefault(client.uid, {})[client.user_id] = time.monotonic()

    def presence_seen(self, client: Client, message: Dict[str, Any], now: float) -> None:
        """Count the joins this client sees for the first time in a presence
        (not its own, and only of joins after its own)."""
        joined = self.joins.get(client.uid, {})
        mine = joined.get(client.user_id, now)
        for entry in message.get("presence") or ():
            other = entry.get("user_id")
            if other == client.user_id or other in client.seen:
                continue
            client.seen.add(other)
            at = joined.get(other)
            if at is not None and at >= mine:
                self.figures.presence_pushes.append((now - at) * 1000)

    def editing_arrived(self, client: Client, message: Dict[str, Any], arrived: float, now: float,
                        was: str) -> None:
        self.figures.grants_seen += 1
        others = [other for other in self.clients
                  if other is not client and other.uid == client.uid and other.edits(now)]
        if others:
            self.figures.double_editors.append(
                f"{client.uid}: client {client.number} got editing (token {message['token']}) while "
                f"{[other.number for other in others]} still edited")
        if was == "waiting":
            self.figures.handoffs.append((message["uid"], message["token"], arrived))


def cpu_seconds(pids: List[int]) -> Dict[int, float]:
    """user + system CPU seconds of each process, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            found[pid] = (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            pass
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a postmaster and its backends: its own, those of the
    backends it has reaped (cutime, cstime), and those of the live ones."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid:
            total += sum(int(value) for value in fields[11:15]) / ticks
        elif int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def cpu_used(before: Dict[int, float], after: Dict[int, float]) -> float:
    """CPU seconds used between two readings of the same processes."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def commits(dsn: str) -> int:
    """Transactions committed in the bench's database so far."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT xact_commit FROM pg_catalog.pg_stat_database"
                            " WHERE datname = pg_catalog.current_database()").fetchone()[0]


def percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def main(args: argparse.Namespace) -> int:
    bench = Bench(args)
    logins = await asyncio.to_thread(sessions_for, args.clients)
    daphne_pids = [int(pid) for pid in args.daphne_pids.split(",")]
    for number, (user_id, key) in enumerate(logins):
        uid = f"documents.document:{args.first_document + number % args.documents}"
        port = bench.ports[number % len(bench.ports)]
        # the fraction asked for, spread evenly over each document's clients
        round_of = number // args.documents
        viewer = int((round_of + 1) * args.viewers) > int(round_of * args.viewers)
        bench.clients.append(Client(bench, number, user_id, key, uid, viewer=viewer,
                                    url=f"ws://127.0.0.1:{port}/ws/lock/", origin=f"http://127.0.0.1:{port}"))
    xacts_before = commits(args.superuser_dsn)
    started_wall = time.time()
    daphne_before = cpu_seconds(daphne_pids)
    postgres_before = tree_cpu_seconds(args.postmaster_pid)
    client_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    until = start + args.seconds
    await asyncio.gather(*(client.run(until) for client in bench.clients))
    wall = time.monotonic() - start
    daphne_cpu = cpu_used(daphne_before, cpu_seconds(daphne_pids))
    xacts = commits(args.superuser_dsn) - xacts_before
    postgres_cpu = tree_cpu_seconds(args.postmaster_pid) - postgres_before
    client_after = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (client_after.ru_utime - client_before.ru_utime) + (client_after.ru_stime - client_before.ru_stime)
    # Let silent clients' last messages and the servers settle before reading grants.
    await asyncio.sleep(0.5)

    with psycopg.connect(args.superuser_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT g.uid, g.token, extract(epoch FROM pg_catalog.pg_xact_commit_timestamp(g.xmin)),"
            "       g.previous_owner, extract(epoch FROM g.previous_expires), extract(epoch FROM g.at)"
            "  FROM bench.grants AS g WHERE g.at >= pg_catalog.to_timestamp(%s)", [started_wall]).fetchall()
    def seconds(value: Any) -> Optional[float]:
        return None if value is None else float(value)

    grants = {(uid, token): (seconds(commit), previous_owner, seconds(previous_expires), seconds(at))
              for uid, token, commit, previous_owner, previous_expires, at in rows}
    on_release, on_expiry, unmatched = [], [], 0
    for uid, token, arrived in bench.figures.handoffs:
        grant = grants.get((uid, token))
        if grant is None or grant[0] is None:
            unmatched += 1
            continue
        commit, previous_owner, previous_expires, at = grant
        if previous_owner is not None and previous_expires is not None and previous_expires <= at:
            on_expiry.append(((arrived - commit) * 1000, (arrived - previous_expires) * 1000))
        else:
            on_release.append((arrived - commit) * 1000)

    figures = bench.figures
    target_p99 = args.target_p99
    release_p50 = statistics.median(on_release) if on_release else float("nan")
    release_p99 = percentile(on_release, 0.99) if on_release else float("nan")
    expiry_from_expiry = [after_expiry for _, after_expiry in on_expiry]
    expiry_from_commit = [after_commit for after_commit, _ in on_expiry]
    met_latency = bool(on_release) and release_p99 <= target_p99
    met_double = not figures.double_editors
    closes = ", ".join(f"{code}: {count}" for code, count in sorted(figures.closes.items())) or "none"

    def ms(values: List[float], fraction: float) -> str:
        return f"{percentile(values, fraction):.1f} ms" if values else "n/a"

    print(f"""
| figure | value | target |
|---|---|---|
| clients, documents, duration | {args.clients} on {args.documents} documents ({sum(client.viewer for client in bench.clients)} of them viewers), {args.seconds:g} s of traffic ({wall:.0f} s with the arrivals and the last departures), {len(daphne_pids)} Daphne process{'es' if len(daphne_pids) > 1 else ''}, ttl {args.ttl:g} s | |
| joins / views / clean leaves / silent vanishings / cut connections | {figures.joins} / {figures.views} / {figures.leaves} / {figures.silent} / {figures.cut} | |
| database transactions | {xacts}: {xacts / wall:.0f} a second | |
| join → others see it in `presence`, p50 / p99 | {ms(figures.presence_pushes, 0.5)} / {ms(figures.presence_pushes, 0.99)} ({len(figures.presence_pushes)} sightings) | |
| grants (database) | {len(rows)} | |
| hand-offs delivered | {len(on_release) + len(on_expiry)} ({len(on_release)} on release, {len(on_expiry)} on expiry; {unmatched} not matched to a grant) | |
| release commit → new holder's `editing`, p50 / p99 | {release_p50:.1f} ms / {release_p99:.1f} ms (max {max(on_release) if on_release else float('nan'):.1f} ms) | p99 ≤ {target_p99:.0f} ms: **{'MET' if met_latency else 'NOT MET'}** |
| hand-off commit → `editing` on expiry, p50 / p99 | {ms(expiry_from_commit, 0.5)} / {ms(expiry_from_commit, 0.99)} | |
| lease expiry → `editing`, p50 / p99 / max | {ms(expiry_from_expiry, 0.5)} / {ms(expiry_from_expiry, 0.99)} / {ms(expiry_from_expiry, 1.0)} | within 1 s |
| double editors | {len(figures.double_editors)} | 0: **{'MET' if met_double else 'NOT MET'}** |
| Daphne CPU (all processes) | {daphne_cpu:.1f} s in {wall:.0f} s: {100 * daphne_cpu / wall:.0f}% of one core | |
| PostgreSQL CPU (postmaster and every backend) | {postgres_cpu:.1f} s: {100 * postgres_cpu / wall:.0f}% of one core | |
| the bench's own clients' CPU (same machine) | {client_cpu:.1f} s: {100 * client_cpu / wall:.0f}% of one core | |
| messages to clients, lost, closes by code | {figures.messages}, {figures.lost}, {closes} | |
| client errors | {len(figures.errors)} | |
""")
    for line in figures.double_editors[:10]:
        print("double editor:", line)
    for line in sorted(set(figures.errors))[:10]:
        print("client error:", line)
    return 0 if met_latency and met_double else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", required=True, help="the Daphne processes' ports, comma-separated")
    parser.add_argument("--viewers", type=float, default=0.0, help="the fraction of clients that only view")
    parser.add_argument("--target-p99", type=float, default=100.0, help="ms, release commit to editing")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--first-document", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--ttl", type=float, required=True, help="the server's LOCKABLE_TTL, in seconds")
    parser.add_argument("--daphne-pids", required=True, help="comma-separated")
    parser.add_argument("--postmaster-pid", type=int, required=True)
    parser.add_argument("--superuser-dsn", required=True)
    sys.exit(asyncio.run(main(parser.parse_args())))
