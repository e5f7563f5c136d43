"""A real `dagster dev` (webserver + daemon + code server) on a free localhost port, for end-to-end tests.

    with dagster_dev(data_root, tmp_path / "dagster_home", run_tem_first=True) as server:
        graphql(server.url, "{ version }")

The server runs from the repository root with TEM_DATA_ROOT, DAGSTER_HOME and TEM_MASTER_KEY set, in its own
process group, so the webserver, the daemon and the code server it spawns all stop together at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from schemas.names import ID_PATTERN, MONTH_PATTERN
from tests.support.builders import (
    INVOICE_HEADER,
    ROSTER_HEADER,
    USAGE_HEADER,
    charge_row,
    drop,
    roster_row,
    usage_row,
    write_csv,
    write_customer,
)
from tests.support.s3_server import free_port

REPOSITORY = Path(__file__).resolve().parents[2]
MASTER_KEY = "3c" * 32
STARTUP_SECONDS = 120
SHUTDOWN_SECONDS = 20


class GraphQLError(RuntimeError):
    """The endpoint answered with `errors` (or not with JSON)."""


def graphql(url: str, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    """POST a query to `<url>/graphql` (url is the server's base URL) and return its `data`."""
    endpoint = url.rstrip("/") + ("" if url.rstrip("/").endswith("/graphql") else "/graphql")
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        endpoint, data=body, method="POST", headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as error:  # GraphQL validation errors come back as HTTP 400 with a JSON body
        text = error.read().decode(errors="replace")
        raise GraphQLError(f"HTTP {error.code} from {endpoint}: {text[:2000]}") from None
    if payload.get("errors"):
        raise GraphQLError(json.dumps(payload["errors"])[:2000])
    return payload["data"]


def tem_environment(data_root: Path, dagster_home: Path, master_key: str = MASTER_KEY, **extra: str) -> dict:
    """The process environment for `tem` and `dagster dev`: this data root and instance, nothing inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEM_", "AWS_", "DAGSTER_")) or k == "TEM_TODAY"}
    env.update(TEM_DATA_ROOT=str(data_root), DAGSTER_HOME=str(dagster_home), TEM_MASTER_KEY=master_key, **extra)
    return env


def prepare_dagster_home(dagster_home: Path) -> Path:
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPOSITORY / "dagster.yaml", dagster_home / "dagster.yaml")
    return dagster_home


def tem_run(data_root: Path, dagster_home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`tem run --data-root DIR` in its own process, recording its runs in dagster_home."""
    prepare_dagster_home(dagster_home)
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.commands.cli", "run", "--data-root", str(data_root), *args],
        cwd=REPOSITORY,
        env=tem_environment(data_root, dagster_home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"tem run failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result


CUSTOMER_NUMBERS = {"acme": "+14155550100", "globex": "+14155550177"}


def small_data_root(root: Path, months: tuple[str, ...] = ("2026-06",)) -> Path:
    """Two customers (acme, globex), one line each, a complete inbox drop (roster, invoice, usage) per month."""
    for customer_id, number in CUSTOMER_NUMBERS.items():
        write_customer(root, customer_id)
        for month in months:
            year, mon = (int(part) for part in month.split("-"))
            following = f"{year + mon // 12}-{mon % 12 + 1:02d}"
            last_day = (date(year + mon // 12, mon % 12 + 1, 1) - timedelta(days=1)).day
            folder = drop(root, customer_id, month)
            write_csv(folder / "roster.csv", ROSTER_HEADER, [roster_row(number)])
            charge = charge_row(
                number,
                amount="36.00",
                total="36.00",
                invoice_date=f"{following}-03",
                period_start=f"{month}-01",
                period_end=f"{month}-{last_day:02d}",
            )
            write_csv(folder / "invoices" / "inv-1.csv", INVOICE_HEADER, [charge])
            write_csv(folder / "usage" / "u.csv", USAGE_HEADER, [usage_row(f"{month}-01", number)])
    return root


def inbox_partition_keys(root: Path) -> list[str]:
    """`customer|YYYY-MM` for every inbox/<customer>/<YYYY-MM>/ folder (the customer x month partition keys)."""
    return sorted(
        f"{month.parent.name}|{month.name}"
        for month in Path(root, "inbox").glob("*/*")
        if month.is_dir() and ID_PATTERN.fullmatch(month.parent.name) and MONTH_PATTERN.fullmatch(month.name)
    )


@dataclass
class DagsterServer:
    url: str
    data_root: Path
    dagster_home: Path
    log_path: Path
    process: subprocess.Popen

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _answers(url: str) -> bool:
    try:
        return bool(graphql(url, "{ version }", timeout=3).get("version"))
    except (OSError, GraphQLError, ValueError):
        return False


def _workspace_loaded(url: str) -> bool:
    """The code location has loaded (and not with an error): the UI and the daemon can see the jobs."""
    query = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
        name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    try:
        workspace = graphql(url, query, timeout=5)["workspaceOrError"]
    except (OSError, GraphQLError, ValueError):
        return False
    entries = workspace.get("locationEntries") or []
    for entry in entries:
        error = entry.get("locationOrLoadError") or {}
        if error.get("__typename") == "PythonError":
            raise RuntimeError(f"code location {entry['name']} failed to load: {error.get('message')}")
    return bool(entries) and all(e["loadStatus"] == "LOADED" and e.get("locationOrLoadError") for e in entries)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the whole process group (webserver, daemon, code server, run workers), then SIGKILL what is left."""
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        group = None
    if group is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
    try:
        process.wait(timeout=SHUTDOWN_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    if group is not None:  # the leader may be gone while children (code server, run workers) still linger
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


@contextlib.contextmanager
def dagster_dev(
    data_root: Path,
    dagster_home: Path,
    *,
    run_tem_first: bool = False,
    workspace: Path | None = None,
    startup_seconds: float = STARTUP_SECONDS,
):
    """Start `dagster dev -w workspace.yaml` (the repository's, unless another workspace file is given) on data_root
    with its instance in dagster_home (its dagster.yaml copied from the repository); optionally `tem run` the data
    root first. Yields a DagsterServer once the code location has loaded; a load error fails at once."""
    data_root, dagster_home = Path(data_root).resolve(), Path(dagster_home).resolve()
    prepare_dagster_home(dagster_home)
    if run_tem_first:
        tem_run(data_root, dagster_home)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = dagster_home / "dagster-dev.log"
    dagster = Path(sys.executable).with_name("dagster")
    command = [
        str(dagster),
        "dev",
        "-w",
        str(workspace or REPOSITORY / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPOSITORY,
            env=tem_environment(data_root, dagster_home),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DagsterServer(url, data_root, dagster_home, log_path, process)
    try:
        deadline = time.monotonic() + startup_seconds
        while not (_answers(url) and _workspace_loaded(url)):
            if process.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {process.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"dagster dev did not answer on {url} within {startup_seconds}s:\n{server.log_tail()}"
                )
            time.sleep(0.5)
        yield server
    finally:
        _stop(process)


# --- GraphQL helpers the end-to-end tests share --------------------------------------------------------------

REPOSITORY_LOCATION_QUERY = """{ repositoriesOrError { __typename ... on RepositoryConnection {
    nodes { name location { name } } } } }"""


def repository_selector(url: str) -> dict:
    """{repositoryName, repositoryLocationName} of the one repository the workspace loads."""
    nodes = graphql(url, REPOSITORY_LOCATION_QUERY)["repositoriesOrError"]["nodes"]
    assert len(nodes) == 1, nodes
    return {"repositoryName": nodes[0]["name"], "repositoryLocationName": nodes[0]["location"]["name"]}


RUN_QUERY = """query Run($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run {
    id status jobName tags { key value }
    assetCheckSelection { name assetKey { path } }
    stats { __typename ... on RunStatsSnapshot { stepsSucceeded stepsFailed } } } } }"""

CHECK_EXECUTIONS_QUERY = """query Checks($assetKey: AssetKeyInput!, $name: String!) {
    assetCheckExecutions(assetKey: $assetKey, checkName: $name, limit: 50) {
        runId status partition evaluation { success } } }"""


def check_executions(url: str, asset: str, check: str) -> list[dict]:
    return graphql(url, CHECK_EXECUTIONS_QUERY, {"assetKey": {"path": [asset]}, "name": check})["assetCheckExecutions"]


def wait_for(predicate, timeout: float, interval: float = 1.0, what: str = "condition"):
    """Poll predicate() until it returns something truthy (returned), or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


RUN_FAILURES_QUERY = """query Failures($runId: ID!) { logsForRun(runId: $runId, limit: 5000) {
    __typename ... on EventConnection { events { __typename
        ... on ExecutionStepFailureEvent { stepKey error { message } }
        ... on RunFailureEvent { message }
        ... on EngineEvent { message error { message } } } } } }"""


def run_failures(url: str, run_id: str) -> list[str]:
    """The step failures and run failure messages of a run, for assertion messages."""
    events = graphql(url, RUN_FAILURES_QUERY, {"runId": run_id})["logsForRun"].get("events") or []
    found = []
    for event in events:
        if event["__typename"] == "ExecutionStepFailureEvent":
            found.append(f"step {event['stepKey']}: {(event.get('error') or {}).get('message', '').strip()[:1500]}")
        elif event["__typename"] == "RunFailureEvent":
            found.append(f"run: {event.get('message')}")
        elif event["__typename"] == "EngineEvent" and event.get("error"):
            found.append(f"engine: {event.get('message')}: {event['error']['message'].strip()[:1500]}")
    return found
