"""Issue 15, items 6 and 10 (mutations): a mutation completes and is audited or does not
happen; retries with an idempotency key write one flag, even after kill -9 or when two
servers get the same key at once; refused requests are audited without flooding the log;
the audit log and the token file are the owner's only."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from lineage import flags as flagging
from lineage.api.auth import AUDIT_FILE, TOKENS_FILE, AuditLog, TokenStore
from lineage.api.context import CountingStore, Principal, RequestContext
from lineage.api.execute import run
from lineage.api.flags import MIN_SECONDS_TO_WRITE
from lineage.api.process import free_port, served
from lineage.api.schema import build_schema
from lineage.api.settings import ApiSettings
from lineage.ingest import write_units
from lineage.store.repo import init_repo, open_store

from .test_api_http import VISIT, client_for, make_token

SCHEMA = build_schema().graphql_schema

FLAG = """mutation($sel: String!, $key: String, $reason: String = "satellite trail") {
  flag(input: {selector: $sel, verdict: BAD, reason: $reason,
               evidence: "https://jira.example.org/browse/DM-1", idempotencyKey: $key}) {
    dryRun replayed flag { key by }
    blastRadius { flagged datasets quanta byDatasetType { datasetType count }
                  mostAffected { dataset { key datasetType dataId run } steps fraction } }
  }
}"""
UNFLAG = """mutation($id: String!, $key: String, $reason: String = "superseded") {
  unflag(id: $id, reason: $reason, idempotencyKey: $key) { key active retractedBy retractionReason }
}"""


# --- the resolvers, on every engine -----------------------------------------------------

def _context(store, state_dir, principal=None, deadline=None, pool=None):
    ctx = RequestContext(CountingStore(store), ApiSettings(state_dir=state_dir), pool,
                         principal or Principal("alice", "flagger", "a1b2c3d4", "127.0.0.1"),
                         None, AuditLog(state_dir))
    ctx.deadline = deadline  # what api-pipeline's execute sets (a time.monotonic() value)
    return ctx


def _ask(ctx, query, variables):
    async def go():
        return await run(SCHEMA, ctx, query, variables)
    with ThreadPoolExecutor(4) as pool:
        ctx.pool = pool
        return asyncio.run(go())


def _flags(store, key=None):
    if key is None:
        return [k for (k,) in store.read("MATCH (f:Flag) RETURN f.key")]
    return [k for (k,) in store.read("MATCH (f:Flag) WHERE f.idempotency_key = $k RETURN f.key",
                                     {"k": key})]


def test_mutation_past_its_deadline_writes_nothing_and_is_audited(demo_store, tmp_path):
    """The replay of item 6: a flag whose request is past its deadline is refused before
    it writes anything, and the refusal is audited (no attempt line: nothing was tried)."""
    for left, said in ((-1.0, "deadline passed"), (MIN_SECONDS_TO_WRITE / 2, "s away")):
        ctx = _context(demo_store, tmp_path, deadline=time.monotonic() + left)
        body = _ask(ctx, FLAG, {"sel": VISIT, "key": f"late-{left}"})
        assert body["data"] is None
        msg = body["errors"][0]["message"]
        assert said in msg and "nothing was written" in msg, msg
        assert _flags(demo_store) == []
    log = AuditLog(tmp_path).read()
    assert [(e["outcome"], e["reason"]) for e in log] == [("refused", "deadline")] * 2
    assert log[0]["who"] == "alice" and log[0]["arguments"]["selector"] == VISIT
    assert log[0]["request"] != log[1]["request"]


def test_deadline_reached_during_the_walk_writes_nothing(demo_store):
    """The last check is just before the write: raising there writes nothing at all."""
    def too_late():
        raise flagging.FlagError("deadline")
    with pytest.raises(flagging.FlagError, match="deadline"):
        flagging.flag(demo_store, VISIT, "bad", "r", "https://x.org/1", "alice",
                      idempotency_key="k1", before_write=too_late)
    assert _flags(demo_store) == []
    assert demo_store.read("MATCH ()-[c:CONTAMINATED_BY]->() RETURN count(c)")[0][0] == 0


def test_audit_attempt_is_on_disk_before_the_write_and_outcome_after(demo_store, tmp_path,
                                                                    monkeypatch):
    """What the audit file holds at the moment the write starts: the attempt, already."""
    seen = {}
    real_flag = flagging.flag

    def flag_noting_the_log(*args, **kw):
        check = kw["before_write"]

        def before_write():
            seen["log"] = AuditLog(tmp_path).read()   # read back from the file
            check()
        return real_flag(*args, **{**kw, "before_write": before_write})

    monkeypatch.setattr(flagging, "flag", flag_noting_the_log)
    body = _ask(_context(demo_store, tmp_path), FLAG, {"sel": VISIT, "key": "order-1"})
    key = body["data"]["flag"]["flag"]["key"]
    assert [e["outcome"] for e in seen["log"]] == ["attempt"]
    attempt = seen["log"][0]
    assert attempt["arguments"]["idempotency_key"] == "order-1" and attempt["who"] == "alice"
    log = AuditLog(tmp_path).read()
    assert [e["outcome"] for e in log] == ["attempt", "ok"]
    assert log[1]["flag"] == key and log[1]["request"] == attempt["request"]


def test_retry_with_the_same_key_returns_the_first_flag(demo_store, tmp_path):
    ctx = _context(demo_store, tmp_path)
    first = _ask(ctx, FLAG, {"sel": VISIT, "key": "retry-1"})["data"]["flag"]
    assert first["replayed"] is False and first["blastRadius"]["datasets"] > 0
    again = _ask(_context(demo_store, tmp_path), FLAG, {"sel": VISIT, "key": "retry-1"})
    second = again["data"]["flag"]
    assert second["replayed"] is True
    assert {**second, "replayed": False} == first      # the first answer, blast radius too
    assert _flags(demo_store) == [first["flag"]["key"]]
    # the same key with other arguments is refused, and names the field
    other = _ask(_context(demo_store, tmp_path), FLAG,
                 {"sel": VISIT, "key": "retry-1", "reason": "something else"})
    msg = other["errors"][0]["message"]
    assert msg.startswith("input.idempotencyKey: ") and "other arguments" in msg, msg
    assert first["flag"]["key"] in msg
    # keys belong to who sends them: bob's "retry-1" is another request
    bob = Principal("bob", "flagger", "b0b0b0b0", "127.0.0.1")
    theirs = _ask(_context(demo_store, tmp_path, bob), FLAG, {"sel": VISIT, "key": "retry-1"})
    assert theirs["data"]["flag"]["replayed"] is False
    assert len(_flags(demo_store)) == 2
    # no key: each request is a new flag (as before)
    _ask(_context(demo_store, tmp_path), FLAG, {"sel": VISIT})
    assert len(_flags(demo_store)) == 3
    # a bad key is refused before anything is written
    bad = _ask(_context(demo_store, tmp_path), FLAG, {"sel": VISIT, "key": "x" * 201})
    assert bad["errors"][0]["message"].startswith("input.idempotencyKey: ")
    assert len(_flags(demo_store)) == 3
    outcomes = [(e["outcome"], e.get("replayed")) for e in AuditLog(tmp_path).read()]
    assert outcomes == [("attempt", None), ("ok", False), ("attempt", None), ("ok", True),
                        ("attempt", None), ("failed", None), ("attempt", None), ("ok", False),
                        ("attempt", None), ("ok", False), ("attempt", None), ("failed", None)]


def test_unflag_retry_with_the_same_key(demo_store, tmp_path):
    ctx = _context(demo_store, tmp_path)
    key = _ask(ctx, FLAG, {"sel": VISIT})["data"]["flag"]["flag"]["key"]
    first = _ask(_context(demo_store, tmp_path), UNFLAG, {"id": key, "key": "u-1"})
    assert first["data"]["unflag"]["active"] is False
    again = _ask(_context(demo_store, tmp_path), UNFLAG, {"id": key, "key": "u-1"})
    assert again["data"] == first["data"]  # not "already retracted": the first answer
    other = _ask(_context(demo_store, tmp_path), UNFLAG,
                 {"id": key, "key": "u-1", "reason": "changed my mind"})
    assert other["errors"][0]["message"].startswith("idempotencyKey: ")
    # without the key, a second retraction is still an error
    plain = _ask(_context(demo_store, tmp_path), UNFLAG, {"id": key})
    assert "already retracted" in plain["errors"][0]["message"]


# --- over HTTP: a repository directory, tokens, refusals ------------------------------------

EXPECTED_MARKS: dict = {}   # repository -> marks one flag of VISIT writes


@pytest.fixture(scope="module")
def http_repo(tmp_path_factory, small_units):
    from lineage.store.falkordb_server import FalkorServer
    root = tmp_path_factory.mktemp("mut") / "repo"
    init_repo(root)
    with open_store(root, keep=True) as store:
        write_units(store, small_units, show_progress=False)
        radius = flagging.flag(store, VISIT, "bad", "r", "https://x.org/1", "x",
                               dry_run=True)["blast_radius"]
    EXPECTED_MARKS[root] = radius["datasets"] + radius["quanta"]
    yield root
    FalkorServer(root).stop()


def _count(repo, key):
    with open_store(repo) as store:
        return _flags(store, key)


def _final(repo, key, wait=60.0):
    """The audit lines of the requests with this idempotency key, once every attempt has
    its outcome (the worker thread of an abandoned request finishes on its own)."""
    give_up = time.monotonic() + wait
    while True:
        lines = [e for e in AuditLog(repo).read()
                 if (e.get("arguments") or {}).get("idempotency_key") == key]
        attempts = {e["request"] for e in lines if e["outcome"] == "attempt"}
        done = {e["request"] for e in lines if e["outcome"] != "attempt"}
        if attempts <= done or time.monotonic() > give_up:
            return lines
        time.sleep(0.05)


@pytest.mark.parametrize("timeout", [0.001, 0.03, 0.06, 0.1, 0.3])
def test_timed_out_flag_is_written_and_audited_or_not_at_all(http_repo, timeout):
    """The replay of item 6 over HTTP: a flag request that outlives the server's timeout.
    Whatever the client heard, the flag exists and the audit says ok with it, or neither;
    a retry with the same key then makes exactly one flag."""
    token = make_token(http_repo, "flagger", "timed")[1]
    key = f"timeout-{timeout}-{uuid.uuid4()}"
    headers = {"Authorization": f"Bearer {token}"}
    with client_for(http_repo, timeout=timeout) as c:
        r = c.post("/graphql", json={"query": FLAG, "variables": {"sel": VISIT, "key": key}},
                   headers=headers)
        assert r.status_code == 200, r.text
        time.sleep(0.5)            # a worker that was started has written its attempt by now
        lines = _final(http_repo, key)
    written = _count(http_repo, key)
    ok = [e for e in lines if e["outcome"] == "ok"]
    print(f"\ntimeout {timeout}: heard {r.json().get('errors', [{}])[0].get('extensions')}, "
          f"outcomes {[e['outcome'] for e in lines]}, flag written: {bool(written)}")
    if written:
        assert len(written) == 1 and [e["flag"] for e in ok] == written, (lines, written)
    else:
        assert ok == [], lines
    with client_for(http_repo) as c:
        body = c.post("/graphql", json={"query": FLAG, "variables": {"sel": VISIT, "key": key}},
                      headers=headers).json()
    assert body["data"]["flag"]["replayed"] is bool(written), body
    assert _count(http_repo, key) == [body["data"]["flag"]["flag"]["key"]]


def test_refused_requests_are_audited_with_their_reason(http_repo):
    """Item 10: no token, a malformed header, an unknown token, a revoked token, too small
    a role: each is a `refused` line with its reason; no secret is ever written."""
    store = TokenStore(http_repo)
    revoked, revoked_text = store.create("gone", "flagger")
    store.revoke(revoked.id)
    reader_text = make_token(http_repo, "reader", "just-reading")[1]
    wrong = "lin_deadbeef_" + "x" * 43
    q = {"query": FLAG, "variables": {"sel": VISIT}}
    n = len(AuditLog(http_repo).read())
    with client_for(http_repo, host="192.0.2.7", read_access="open") as c:
        assert c.post("/graphql", json=q).json()["errors"][0]["extensions"]["code"] == \
            "FORBIDDEN"
        for header in ("Basic dXNlcjpwdw==", f"Bearer {wrong}", f"Bearer {revoked_text}"):
            r = c.post("/graphql", json=q, headers={"Authorization": header})
            assert r.status_code == 401, r.text
        r = c.post("/graphql", json=q, headers={"Authorization": f"Bearer {reader_text}"})
        assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    log = AuditLog(http_repo).read()[n:]
    assert [(e["outcome"], e["reason"], e["client"]) for e in log] == [
        ("refused", "no token", "192.0.2.7"), ("refused", "malformed Authorization header",
                                               "192.0.2.7"),
        ("refused", "invalid token", "192.0.2.7"), ("refused", "revoked token", "192.0.2.7"),
        ("refused", "role", "192.0.2.7")]
    assert log[2]["token"] == "deadbeef" and log[3]["token"] == revoked.id
    assert all(e["mutation"] for e in log[1:4]) and log[4]["who"] == "just-reading"
    text = (http_repo / AUDIT_FILE).read_text()
    for sent in (wrong, revoked_text, reader_text, "dXNlcjpwdw=="):
        # a token is lin_<id>_<secret>, and the secret itself may hold "_"
        secret = sent.split("_", 2)[2] if sent.startswith("lin_") else sent
        assert secret not in text


def test_anonymous_refusals_cannot_flood_the_audit_log(http_repo):
    """200 refusals of callers without a valid token from one address (bad tokens, and
    anonymous flags with 50 KB reasons) give 10 lines, and one summary line counts the
    rest; long text from such callers is clipped."""
    n = len(AuditLog(http_repo).read())
    big = "y" * 50_000
    with client_for(http_repo, host="198.51.100.9", read_access="open") as c:
        for i in range(100):
            r = c.post("/graphql", json={"query": FLAG, "variables": {"sel": VISIT, "reason": big}})
            assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            r = c.post("/graphql", json={"query": FLAG, "variables": {"sel": VISIT}},
                       headers={"Authorization": f"Bearer lin_0000000{i % 10}_{big[:40]}"})
            assert r.status_code == 401
        assert len(AuditLog(http_repo).read()) - n == 10
    # the server is gone (its audit log dropped): the rest is one summary line
    import gc
    gc.collect()
    log = AuditLog(http_repo).read()[n:]
    assert len(log) == 11, log[-1]
    assert log[-1]["outcome"] == "suppressed" and log[-1]["count"] == 190
    assert log[-1]["message"].startswith("190 more refused from 198.51.100.9")
    reasons = [e["arguments"]["reason"] for e in log if e.get("reason") == "no token"]
    assert reasons and all(len(r) < 300 and r.endswith("(50000 characters)") for r in reasons)
    # a refusal of a valid token is never left out
    reader = make_token(http_repo, "reader", "many")[1]
    with client_for(http_repo, host="198.51.100.9") as c:
        for _ in range(15):
            c.post("/graphql", json={"query": FLAG, "variables": {"sel": VISIT}},
                   headers={"Authorization": f"Bearer {reader}"})
    assert sum(e.get("who") == "many" for e in AuditLog(http_repo).read()) == 15


def test_audit_log_and_tokens_are_the_owners_only(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    os.chmod(root, 0o777)
    (root / AUDIT_FILE).write_text("")
    os.chmod(root / AUDIT_FILE, 0o644)
    (root / TOKENS_FILE).write_text('{"tokens": []}\n')
    os.chmod(root / TOKENS_FILE, 0o664)
    store = TokenStore(root)
    assert len(store.tightened) == 3 and "writable by everyone" in store.tightened[0]
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(root) == 0o775
    assert mode(root / AUDIT_FILE) == mode(root / TOKENS_FILE) == 0o600
    store.create("x", "reader")
    assert mode(root / TOKENS_FILE) == mode(root / (TOKENS_FILE + ".lock")) == 0o600
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    old = os.umask(0o022)
    try:
        AuditLog(fresh).append({"outcome": "ok"})
    finally:
        os.umask(old)
    assert mode(fresh / AUDIT_FILE) == 0o600


# --- several servers, kill -9 ---------------------------------------------------------------

def test_two_servers_same_key_at_once_write_one_flag(http_repo):
    """Six requests with one key, three to each of two servers on one repository, at once."""
    token = make_token(http_repo, "flagger", "twice")[1]
    key = f"concurrent-{uuid.uuid4()}"
    answers = []
    with served(http_repo) as a, served(http_repo) as b:
        barrier = threading.Barrier(6)

        def send(base):
            barrier.wait()
            r = httpx.post(f"{base}/graphql", timeout=120,
                           json={"query": FLAG, "variables": {"sel": VISIT, "key": key}},
                           headers={"Authorization": f"Bearer {token}"})
            answers.append(r.json())

        threads = [threading.Thread(target=send, args=(base,)) for base in (a, b) * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    flags = [x["data"]["flag"] for x in answers]
    assert len(flags) == 6, answers
    assert len({f["flag"]["key"] for f in flags}) == 1
    assert sorted(f["replayed"] for f in flags) == [False] + [True] * 5
    assert _count(http_repo, key) == [flags[0]["flag"]["key"]]


def _serve(repo):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lineage.cli", "serve", "--repo", str(repo),
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, "lineage serve exited"
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("lineage serve did not come up")


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.2, "done"])
def test_kill_9_between_audit_and_write_then_retry_makes_one_flag(http_repo, delay):
    """kill -9 of the API server and of the engine at some moment after the attempt line:
    the repository holds the whole flag (with all its marks) or nothing, the log is
    readable, and a retry with the same key leaves exactly one flag."""
    from lineage.store.falkordb_server import FalkorServer, _pid_alive
    token = make_token(http_repo, "flagger", "killed")[1]
    key = f"kill-{delay}-{uuid.uuid4()}"
    request = {"query": FLAG, "variables": {"sel": VISIT, "key": key}}
    headers = {"Authorization": f"Bearer {token}"}
    proc, base = _serve(http_repo)
    engine = FalkorServer(http_repo).pid()

    def send():
        try:
            httpx.post(f"{base}/graphql", json=request, headers=headers, timeout=120)
        except httpx.HTTPError:
            pass  # the server died under it

    sender = threading.Thread(target=send)
    sender.start()
    want = "ok" if delay == "done" else "attempt"
    for _ in range(3000):
        if any(e["outcome"] == want and e["arguments"].get("idempotency_key") == key
               for e in AuditLog(http_repo).read() if e.get("arguments")):
            break
        time.sleep(0.01)
    else:
        raise AssertionError(f"no {want} line")
    if delay != "done":
        time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    os.kill(engine, signal.SIGKILL)
    proc.wait()
    sender.join()
    while _pid_alive(engine):
        time.sleep(0.01)
    log = AuditLog(http_repo).read()                      # readable, whatever was cut
    with open_store(http_repo, keep=True) as store:
        written = _flags(store, key)
        assert len(written) <= 1
        if written:                                       # the whole unit, marks and all
            assert store.read("MATCH (x)-[:CONTAMINATED_BY]->(f:Flag {key: $f}) "
                              "RETURN count(x)", {"f": written[0]})[0][0] == \
                EXPECTED_MARKS[http_repo]
        else:                                             # nothing of it
            assert store.read("MATCH ()-[c:CONTAMINATED_BY]->(f:Flag) WHERE f.idempotency_key "
                              "= $k RETURN count(c)", {"k": key})[0][0] == 0
    print(f"\nkill -9 at {delay}: flag {'written' if written else 'not written'}")
    if delay == "done":
        assert written
    mine = [e for e in log if (e.get("arguments") or {}).get("idempotency_key") == key]
    assert mine[0]["outcome"] == "attempt"
    # the retry, on a new server
    with served(http_repo) as again:
        body = httpx.post(f"{again}/graphql", json=request, headers=headers, timeout=120).json()
    flag = body["data"]["flag"]
    assert flag["replayed"] is bool(written)
    assert _count(http_repo, key) == [flag["flag"]["key"]]
    assert flag["blastRadius"]["datasets"] + flag["blastRadius"]["quanta"] == \
        EXPECTED_MARKS[http_repo]


def test_a_line_cut_short_by_a_crash_stays_apart(tmp_path):
    """A writer killed mid-line leaves a torn last line; the next line starts on its own."""
    log = AuditLog(tmp_path)
    log.append({"outcome": "attempt", "request": "r1"})
    with open(tmp_path / AUDIT_FILE, "a") as out:
        out.write('{"outcome": "ok", "requ')
    log.append({"outcome": "attempt", "request": "r2"})
    assert [(e["outcome"], e.get("request")) for e in log.read()] == [
        ("attempt", "r1"), ("torn", None), ("attempt", "r2")]
