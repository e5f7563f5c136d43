"""The Dagster UI in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

The data root (two customers, June 2026) is reconciled once by `tem run`, so the customers are registered, their
contracts loaded and every partition materialized; then `dagster dev` (webserver + daemon) serves it and the browser:
sees the asset graph, the customer x month partitions of an asset, and re-materializes ONE customer-month
(acme, 2026-06) of the reconcile_customer_month job by clicking through the job's "Materialize all…" dialog, then
waits for the run's Success and the passed asset checks in the run's event log (and checks them through GraphQL);
and opens the findings asset: its column schema, a table metadata entry and the plots of its numeric entries.
Screenshots land in the folder named by TEM_SCREENSHOTS, else in pytest's tmp dir.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from schemas.outputs import FINDING_TYPES
from tests.support.dagster_server import (
    RUN_QUERY,
    check_executions,
    dagster_dev,
    graphql,
    run_failures,
    small_data_root,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CUSTOMER, MONTH = "acme", "2026-06"
PARTITION = f"{CUSTOMER}|{MONTH}"
GRAPH_NODES = [
    "customer_contracts",
    "roster",
    "invoice_charges",
    "device_usage",
    "line_month_usage",
    "findings",
    "savings",
    "customer_report",
    "delivery",
]
CHECKS = [
    ("roster", "row_accounting"),
    ("invoice_charges", "row_accounting"),
    ("device_usage", "row_accounting"),
    ("findings", "findings_sanity"),
]
UI_TIMEOUT_MS = 30_000
RUN_TIMEOUT_MS = 240_000  # one small customer-month takes seconds in one process; generous for a loaded machine
_install_attempt: list[str] = []  # apt-get install is tried at most once per session


def chromium_or_skip() -> Path:
    if not CHROMIUM.exists() and not _install_attempt:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            _install_attempt.append("not root or no apt-get, did not try to install it")
        else:
            try:
                apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
                subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600, env=apt_env)
                done = subprocess.run(
                    ["apt-get", "install", "-y", "chromium"], capture_output=True, text=True, timeout=900, env=apt_env
                )
                _install_attempt.append(
                    f"apt-get install -y chromium exited {done.returncode}: "
                    f"{(done.stderr or done.stdout).strip()[-500:]}"
                )
            except (OSError, subprocess.TimeoutExpired) as problem:
                _install_attempt.append(f"apt-get install -y chromium failed: {problem}")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing ({'; '.join(_install_attempt)})")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser():
    executable = chromium_or_skip()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as problem:
        pytest.skip(f"playwright cannot be imported: {problem}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("ui")
    root = small_data_root(base / "root", months=(MONTH,))
    with dagster_dev(root, base / "dagster_home", run_tem_first=True) as running:
        yield running


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where screenshots go: $TEM_SCREENSHOTS (created), else the test's tmp dir."""
    folder = Path(os.environ["TEM_SCREENSHOTS"]) if os.environ.get("TEM_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def ui_page(browser, folder: Path, name: str):
    """A fresh page (own context) that dismisses Dagster's first-visit community dialog whenever it shows up, and
    leaves a screenshot of where it was in `folder` when the test fails."""
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"), lambda: page.get_by_role("button", name="Skip").click()
    )
    try:
        yield page
    except BaseException:
        page.screenshot(path=str(folder / f"{name}-failure.png"))
        raise
    finally:
        context.close()


def test_asset_graph_and_customer_month_partitions(server, browser, screenshots):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    with ui_page(browser, screenshots, "graph") as page:
        page.goto(f"{server.url}/asset-groups")
        expect(page.get_by_text("Global asset lineage")).to_be_visible()
        for group in ("ingest", "audit", "savings", "publish"):  # collapsed group nodes at first
            expect(page.get_by_text(group, exact=True).first).to_be_visible()
        expand = page.get_by_role("menuitem", name=re.compile(r"Expand all groups"))
        for _ in range(3):  # the community dialog, when it pops up now, closes the menu with it: open it again
            page.get_by_role("button", name="settings", exact=True).click()  # the graph's gear, not the navigation's
            try:
                expand.click(timeout=5_000)
                break
            except PlaywrightTimeout:
                page.keyboard.press("Escape")
        else:
            raise AssertionError("the graph's settings menu never offered 'Expand all groups'")
        page.keyboard.press("Escape")  # close the settings menu
        expect(page.get_by_role("menuitem", name=re.compile(r"Collapse all groups"))).to_have_count(0)
        for node in GRAPH_NODES:
            expect(page.get_by_text(node, exact=True).first).to_be_visible()
        page.screenshot(path=str(screenshots / "asset-graph.png"))

        # an asset's partitions: one column per dimension, customers and months
        page.get_by_text("roster", exact=True).first.click()  # selects the node and opens its sidebar
        page.get_by_text("View in Asset Catalog").click()
        expect(page).to_have_url(re.compile(r"/assets/roster\b"))
        page.get_by_role("tab", name="Partitions").or_(
            page.get_by_role("link", name="Partitions", exact=True)
        ).first.click()
        expect(page.get_by_placeholder("Filter by customer…")).to_be_visible()
        month_filter = page.get_by_placeholder("Filter by month…")
        expect(month_filter).to_be_visible()
        for customer_id in ("acme", "globex"):
            expect(page.get_by_text(customer_id, exact=True).first).to_be_visible()
        expect(page.get_by_text("Materialized (2)")).to_be_visible()  # acme|2026-06 and globex|2026-06 by tem run
        month_filter.fill(MONTH)
        expect(page.get_by_text(MONTH, exact=True).first).to_be_visible()
        page.get_by_text(CUSTOMER, exact=True).first.click()
        page.get_by_text(MONTH, exact=True).first.click()
        expect(page.get_by_text(PARTITION).first).to_be_visible()  # the selected partition's details:
        # materialized by tem run: its audit run (audit_customer_month), or the whole job before tem run split it
        expect(page.get_by_text(re.compile(r"^(audit|reconcile)_customer_month$")).first).to_be_visible()
        page.screenshot(path=str(screenshots / "roster-partitions.png"))


def test_materialize_one_customer_month_from_the_ui(server, browser, screenshots):
    from playwright.sync_api import expect

    with ui_page(browser, screenshots, "launch") as page:
        page.goto(server.url)
        page.get_by_role("navigation").get_by_role("link", name=re.compile(r"\bJobs$")).click()
        page.get_by_role("link", name=re.compile(r"\breconcile_customer_month$")).click()
        expect(page).to_have_url(re.compile(r"/jobs/reconcile_customer_month"))
        page.get_by_role("button", name="Materialize all…").click()

        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("Partition selection")).to_be_visible()
        customer_picker = dialog.get_by_text("Select a partition or create one")
        expect(customer_picker).to_have_count(1)  # the dialog renders twice while it opens
        customer_picker.click()
        page.get_by_role("menuitem").filter(has_text=re.compile(rf"^{CUSTOMER}")).click()
        dialog.get_by_text(re.compile(r"^Launch runs to materialize")).click()  # closes the customer list
        month = dialog.get_by_placeholder(re.compile(r"^ex: \d{4}-\d{2}"))
        one_partition = dialog.get_by_text("1 partition", exact=True)
        # the dialog may re-render while it loads the partitions and drop what was typed (seen in clean clones: an
        # empty month box and "0 partitions", or the box emptied right after it was filled), so type again until
        # the selection shows
        for attempt in range(1, 6):
            month.fill(MONTH)
            try:
                expect(month).to_have_value(MONTH, timeout=6_000)
                month.press("Enter")
                expect(one_partition).to_be_visible(timeout=6_000)
                break
            except AssertionError:
                if attempt == 5:
                    raise
        page.screenshot(path=str(screenshots / "launch-dialog.png"))
        dialog.get_by_role("button", name="Launch 1 run").click()

        view = page.get_by_role("link", name="View", exact=True)  # the "Launched run …" toast
        run_id = view.get_attribute("href").rsplit("/", 1)[-1]
        view.click()
        expect(page).to_have_url(re.compile(rf"/runs/{run_id}"))
        expect(page.get_by_text(f"partition: {PARTITION}")).to_be_visible()
        header_status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
        expect(header_status).to_be_visible(timeout=RUN_TIMEOUT_MS)
        assert header_status.inner_text() == "Success", run_failures(server.url, run_id)

        # the asset checks, in the run's event log
        log_filter = page.get_by_placeholder("Filter…")
        for check, assets in (
            ("row_accounting", ["roster", "invoice_charges", "device_usage"]),
            ("findings_sanity", ["findings"]),
        ):
            log_filter.fill(check)
            for asset in assets:
                expect(page.get_by_text(f"Check {check} succeeded for materialization of {asset}.")).to_be_visible()
            expect(page.get_by_text(re.compile(rf"Check {check} failed"))).to_have_count(0)
            log_filter.press("Escape")  # closes the filter's suggestion list
            page.wait_for_timeout(300)
            page.screenshot(path=str(screenshots / f"run-check-{check}.png"))
        log_filter.fill("")
        log_filter.press("Escape")
        page.wait_for_timeout(300)
        page.screenshot(path=str(screenshots / "run-success.png"))

    # and through GraphQL, to be sure
    run = graphql(server.url, RUN_QUERY, {"runId": run_id})["runOrError"]
    assert run["status"] == "SUCCESS" and run["jobName"] == "reconcile_customer_month", run
    assert {t["key"]: t["value"] for t in run["tags"]}["dagster/partition"] == PARTITION
    for asset, check in CHECKS:
        executions = [e for e in check_executions(server.url, asset, check) if e["runId"] == run_id]
        assert len(executions) == 1, (asset, check, executions)
        assert executions[0]["partition"] == PARTITION and executions[0]["status"] == "SUCCEEDED", executions
        assert executions[0]["evaluation"]["success"] is True
    print(f"\nscreenshots in {screenshots}")


FINDINGS_METADATA_QUERY = """query Findings($partition: String!) { assetOrError(assetKey: {path: ["findings"]}) {
    ... on Asset { assetMaterializations(partitions: [$partition], limit: 1) { metadataEntries { __typename label
        ... on IntMetadataEntry { intValue } ... on FloatMetadataEntry { floatValue } ... on TextMetadataEntry { text }
        ... on TableMetadataEntry { table { records schema { columns { name type } } } }
        ... on TableSchemaMetadataEntry { schema { columns { name type } } } } } } } }"""


def test_findings_asset_shows_columns_tables_and_plots(server, browser, screenshots):
    """The findings asset as an analyst opens it: the column schema of the table model before reading any row, the
    breakdown by finding type as a table, and plots of its numeric entries (amounts included)."""
    from playwright.sync_api import expect

    with ui_page(browser, screenshots, "findings") as page:
        page.goto(f"{server.url}/assets/findings")
        expect(page.get_by_text("Columns", exact=True).first).to_be_visible()
        for column, kind in (
            ("disputed_amount", "DECIMAL(18,4)"),
            ("finding_type", "VARCHAR"),
            ("rule_order", "BIGINT"),
        ):
            row = page.get_by_role("row").filter(has=page.get_by_text(column, exact=True))
            expect(row.get_by_text(kind, exact=True).first).to_be_visible()
        page.get_by_text("Columns", exact=True).first.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshots / "findings-columns.png"))

        metadata = page.get_by_text("Metadata", exact=True).first
        metadata.scroll_into_view_if_needed()
        by_type = page.get_by_role("row").filter(has=page.get_by_text("by_finding_type", exact=True)).first
        expect(by_type.get_by_text("Show schema")).to_be_visible()  # a table entry renders as a table
        for finding_type in FINDING_TYPES:
            expect(by_type.get_by_text(finding_type, exact=True)).to_be_visible()
        by_type.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshots / "findings-metadata-table.png"))

        page.get_by_role("button", name="Plots").click()
        for entry in ("disputed_total", "dagster/row_count", "findings"):  # only numeric entries are plotted
            expect(page.get_by_text(entry, exact=True).first).to_be_visible()
        expect(page.get_by_text("currency", exact=True)).to_have_count(0)  # text: no plot
        expect(page.locator("canvas").first).to_be_visible()
        metadata.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshots / "findings-plots.png"))

    # and the types behind them, through GraphQL
    asset = graphql(server.url, FINDINGS_METADATA_QUERY, {"partition": PARTITION})["assetOrError"]
    entries = {e["label"]: e for e in asset["assetMaterializations"][0]["metadataEntries"]}
    assert entries["dagster/row_count"]["__typename"] == "IntMetadataEntry"
    assert entries["dagster/row_count"]["intValue"] == entries["findings"]["intValue"] == 1
    assert entries["disputed_total"] == {
        "__typename": "FloatMetadataEntry",
        "label": "disputed_total",
        "floatValue": 2.0,
    }
    assert entries["currency"]["text"] == "USD"
    schema = entries["dagster/column_schema"]
    assert schema["__typename"] == "TableSchemaMetadataEntry"
    assert ("disputed_amount", "DECIMAL(18,4)") in [(c["name"], c["type"]) for c in schema["schema"]["columns"]]
    table = entries["by_finding_type"]
    assert table["__typename"] == "TableMetadataEntry" and len(table["table"]["records"]) == len(FINDING_TYPES)
    assert [(c["name"], c["type"]) for c in table["table"]["schema"]["columns"]] == [
        ("finding_type", "string"),
        ("findings", "int"),
        ("disputed", "float"),
    ]
