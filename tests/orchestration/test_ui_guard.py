"""Issue 20 #16: `lq ui` bound 127.0.0.1 but accepted any Host header, and a cross-site GET to
``/graphql?query=mutation{deleteRun(...)}`` deleted a run record (CSRF); a foreign Host read the
instance's info (DNS rebinding). The webserver now runs behind ``lq_assets.webserver.Guard``.

The end-to-end test sends the issue's requests to a real `lq ui` and compares the run records
before and after: before the fix the run was gone and the foreign Host got 200."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from lq_assets.webserver import allowed_hosts, refusal
from tests.orchestration.conftest import lq_env
from tests.orchestration.live import BIN, free_port, start, stop, wait_for, webserver_up

PORT = 3000
HOSTS = allowed_hosts(PORT)


def _scope(path="/graphql", method="GET", query="", **headers) -> dict:
    hdrs = {"host": f"127.0.0.1:{PORT}", **{k.replace("_", "-"): v for k, v in headers.items()}}
    return {"type": "http", "method": method, "path": path, "query_string": query.encode(),
            "headers": [(k.encode(), v.encode()) for k, v in hdrs.items()]}


def _q(doc: str) -> str:
    return urllib.parse.urlencode({"query": doc})


def test_guard_rules():
    # let through: the UI's own requests
    assert refusal(_scope("/server_info"), HOSTS) is None
    same_origin = _scope(method="POST", origin=f"http://127.0.0.1:{PORT}", sec_fetch_site="same-origin")
    assert refusal(same_origin, HOSTS) is None
    assert refusal(_scope(query=_q("{ version }")), HOSTS) is None
    assert refusal(_scope(query=_q("query Q { version }")), HOSTS) is None
    assert refusal(_scope("/runs", sec_fetch_site="cross-site", sec_fetch_mode="navigate"), HOSTS) is None  # a link
    assert refusal(_scope(host=f"localhost:{PORT}"), HOSTS) is None
    # refused
    assert refusal(_scope("/server_info", host="evil.example"), HOSTS)[0] == 403
    assert refusal(_scope(host=f"127.0.0.1:{PORT + 1}"), HOSTS)[0] == 403
    assert refusal(_scope(method="POST", origin="http://evil.example"), HOSTS)[0] == 403
    assert refusal(_scope(method="POST", origin="null"), HOSTS)[0] == 403
    assert refusal(_scope(method="POST", sec_fetch_site="cross-site"), HOSTS)[0] == 403
    assert refusal(_scope(method="POST", sec_fetch_site="same-site"), HOSTS)[0] == 403  # another local port
    assert refusal(_scope(sec_fetch_site="cross-site", sec_fetch_mode="navigate"), HOSTS)[0] == 403  # /graphql
    mutation = _q('mutation { deleteRun(runId: "x") { __typename } }')
    status, reason = refusal(_scope(query=mutation), HOSTS)
    assert (status, reason) == (405, "GraphQL mutation over GET refused: send it with POST")
    assert refusal(_scope(query=_q('query A { version } mutation B { deleteRun(runId: "x") { __typename } }')),
                   HOSTS)[0] == 405
    assert refusal(_scope(query=_q("mutation {")), HOSTS)[0] == 405  # unparsable: not run either
    ws = {**_scope(origin="http://evil.example"), "type": "websocket"}
    assert refusal(ws, HOSTS)[0] == 403


def _request(url: str, data: bytes | None = None, **headers: str) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, headers={k.replace("_", "-"): v for k, v in headers.items()})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.mark.slow
def test_lq_ui_refuses_the_issues_requests(data_paths, dagster_home, tmp_path):
    import dagster as dg

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    run_id = str(uuid.uuid4())
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.add_run(dg.DagsterRun(job_name="lq_probe", run_id=run_id, status=dg.DagsterRunStatus.SUCCESS))
    log = tmp_path / "ui.log"
    proc = start([str(BIN / "lq"), "ui", "--port", str(port), "--no-daemon"], lq_env(data_paths, dagster_home), log)
    try:
        wait_for(lambda: webserver_up(port), 240, "the webserver", log)
        delete = _q(f'mutation {{ deleteRun(runId: "{run_id}") {{ __typename }} }}')
        # the CSRF of the issue: a page's <img src=...> (a browser adds Sec-Fetch-Site), and the same
        # GET without the Fetch metadata headers (older browsers, other clients)
        status, body = _request(f"{base}/graphql?{delete}", sec_fetch_site="cross-site", sec_fetch_mode="no-cors",
                                sec_fetch_dest="image")
        assert status == 403 and "cross-site" in body
        status, body = _request(f"{base}/graphql?{delete}")
        assert (status, body.strip()) == (405, "GraphQL mutation over GET refused: send it with POST")
        # a cross-site POST (a form or fetch from a foreign page carries its Origin)
        payload = json.dumps({"query": f'mutation {{ deleteRun(runId: "{run_id}") {{ __typename }} }}'}).encode()
        status, _ = _request(f"{base}/graphql", payload, content_type="application/json", origin="http://evil.example")
        assert status == 403
        # DNS rebinding: a foreign host name resolving to 127.0.0.1
        status, body = _request(f"{base}/server_info", host="evil.example")
        assert status == 403 and "DNS rebinding" in body and "dagster" not in body.lower()
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            assert instance.get_run_by_id(run_id) is not None  # still there
        # the UI's own requests still work: a query over GET, a same-origin POST, the page itself
        status, body = _request(f"{base}/graphql?{_q('{ version }')}")
        assert status == 200 and json.loads(body)["data"]["version"]
        status, body = _request(f"{base}/graphql", json.dumps({"query": "{ version }"}).encode(),
                                content_type="application/json", origin=base, sec_fetch_site="same-origin")
        assert status == 200 and json.loads(body)["data"]["version"]
        status, body = _request(f"{base}/runs", accept="text/html", sec_fetch_site="none", sec_fetch_mode="navigate")
        assert status == 200 and "<html" in body.lower()
        # a same-origin POST may still delete (the UI's own button)
        status, body = _request(f"{base}/graphql", payload, content_type="application/json", origin=base)
        assert status == 200, body
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            assert instance.get_run_by_id(run_id) is None
    finally:
        assert stop(proc, timeout=60) == 0, log.read_text()[-3000:]
