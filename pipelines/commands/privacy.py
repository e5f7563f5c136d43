"""`tem privacy ...`: the controller's instructions about a data subject, and the processing log.

    tem privacy export --customer ID (--employee E | --msisdn N) --out FILE.zip [--request REF]
    tem privacy erase  --customer ID (--employee E | --msisdn N) --request REF [--dry-run]
    tem privacy log    [--customer ID] [--verify]
    tem privacy record [--customer ID]...
    tem privacy purge  [--customer ID]... [--as-of YYYY-MM-DD] [--dry-run]
    tem customer offboard --customer ID --confirm ID [--return-to DIR]

(purge and offboard: reports/privacy/lifecycle.py; a malformed --as-of is a usage error, exit 2.)

Exit status: 0 done (a subject of whom nothing is held included), 1 refused or failed (one line saying why, nothing
half-changed), 2 a usage error. Every export and erasure, done or refused, adds a record to the processing log
(`<data root>/.privacy/processing-log.jsonl`); a dry run changes nothing, the log included.

The erasure rewrites the customer's inbox as one all-or-nothing step (reports/privacy/erasure.py), then rebuilds every
month held from it through the same Dagster definitions as `tem run` (runs tagged with the request reference, so
the UI shows them), and only then forgets its journal: killed at any point, the same command completes it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from reports.layout import DataRoot
from reports.privacy import processing_log
from schemas.names import InvalidName, validate_id

REQUEST_TAG = "tem/privacy_request"
OPERATION_TAG = "tem/privacy_operation"


class Refused(Exception):
    """The operation cannot be done as asked: one line, exit 1, nothing changed."""


def _customer(data_root: DataRoot, customer_id: str):
    """The customer's settings (region, currency), refusing an invalid or unknown id."""
    from schemas.contract import ContractError, load_customer_settings

    try:
        validate_id(customer_id)
    except InvalidName as problem:
        raise Refused(str(problem)) from None
    path = data_root.customer_file(customer_id)
    if not path.is_file():
        raise Refused(
            f"unknown customer {customer_id!r}: no customers/{customer_id}/customer.yaml under {data_root.path}"
        )
    try:
        return load_customer_settings(path, f"customers/{customer_id}/customer.yaml")
    except ContractError as problem:
        raise Refused(str(problem)) from None


def _logged_customer(customer_id: str | None) -> str | None:
    """The customer id as it may be logged: only a valid one (the log never holds arbitrary input)."""
    try:
        return validate_id(customer_id) if customer_id else None
    except InvalidName:
        return None


def _request(reference: str | None) -> str | None:
    if reference is None:
        return None
    try:
        processing_log.check_free_text(reference)
    except ValueError as problem:
        raise Refused(f"--request: {problem}") from None
    return reference


def command_export(args: argparse.Namespace, data_root: DataRoot) -> int:
    from reports.privacy.export import build_export, write_archive
    from reports.privacy.subject import holdings_by_month, make_selector

    months: list[str] = []
    try:
        request = _request(args.request)
        settings = _customer(data_root, args.customer)
        selector = make_selector(args.employee, args.msisdn, settings.region)
        holdings = holdings_by_month(data_root, args.customer, selector, settings.region)
        content, subject = build_export(
            data_root, args.customer, selector, settings.region, settings.currency, holdings, request
        )
        out = Path(args.out).expanduser().resolve()
        if out.is_relative_to(data_root.path):
            raise Refused("--out must be outside the data root (the archive holds the subject's identifiers)")
        write_archive(out, content)
    except Exception as problem:  # noqa: BLE001 - every refusal is logged, then reported in one line
        _log(data_root, "export", args.customer, months, args.request, {}, "refused", problem)
        raise
    months = subject["months"]
    outcome = "done" if subject["data_held"] else "nothing_to_do"
    _log(data_root, "export", args.customer, months, request, subject["rows"], outcome)
    if not subject["data_held"]:
        print("no data held for this subject")
    print(
        f"export of {len(months)} month(s) written to {out}: "
        + ", ".join(f"{n} {k}" for k, n in subject["rows"].items())
    )
    return 0


def command_erase(args: argparse.Namespace, data_root: DataRoot) -> int:
    from reports.privacy import erasure
    from reports.privacy.subject import holdings_by_month, make_selector

    try:
        request = _request(args.request)
        settings = _customer(data_root, args.customer)
        selector = make_selector(args.employee, args.msisdn, settings.region)
    except Exception as problem:  # noqa: BLE001
        if not args.dry_run:
            _log(data_root, "erase", args.customer, [], args.request, {}, "refused", problem)
        raise

    with erasure.customer_lock(data_root, args.customer, shared=args.dry_run):
        journal = erasure.Journal(data_root, args.customer)
        resumed = journal.pending() and not args.dry_run
        if resumed:
            print(f"completing an interrupted erasure of {args.customer} (request {journal.request()})")
            _finish(data_root, journal)
        try:
            holdings = holdings_by_month(data_root, args.customer, selector, settings.region)
        except Exception as problem:  # noqa: BLE001
            if not args.dry_run:
                _log(data_root, "erase", args.customer, [], request, {}, "refused", problem)
            raise
        changed = [h for h in holdings if h.edits]
        counts = erasure.total_counts(changed)
        if args.dry_run:
            for month in changed:
                print(f"{args.customer} {month.month}: " + ", ".join(f"{k} {v}" for k, v in month.counts.items()))
            print(
                "dry run: would erase "
                + ", ".join(f"{k} {v}" for k, v in counts.items())
                + f" in {len(changed)} month(s); nothing was changed"
            )
            return 0
        if not changed and resumed:
            print(f"the interrupted erasure of {args.customer} is complete; nothing else to erase")
            return 0
        if not changed:
            _log(data_root, "erase", args.customer, [], request, counts, "nothing_to_do")
            print(f"nothing to erase: {args.customer}'s inbox holds nothing of this subject")
            return 0
        from pipelines.commands.keys import check_run_keys

        key_problems = check_run_keys(data_root, [args.customer])  # the rebuild needs the key: refuse before writing
        if key_problems:
            _log(data_root, "erase", args.customer, [], request, {}, "refused", "the customer's key cannot be used")
            raise Refused(key_problems[0])
        try:
            erasure.stage_and_commit(
                data_root, args.customer, journal, changed, request, months=data_root.months(args.customer)
            )
        except Exception as problem:  # noqa: BLE001 - staged files are gone, the inbox is as it was
            _log(data_root, "erase", args.customer, [m.month for m in changed], request, {}, "refused", problem)
            raise
        erasure.crash_point("committed")
        _finish(data_root, journal, counts)
    print(
        f"erased from {args.customer}: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f" in {len(changed)} month(s); every month held was rebuilt"
    )
    return 0


def _finish(data_root: DataRoot, journal, counts: dict[str, int] | None = None) -> None:
    """Apply a committed journal to the inbox, remove and rebuild everything derived, then log and forget it."""
    from reports.privacy import erasure

    journal.apply()
    months, request = journal.months(), journal.request()
    erasure.remove_derived(data_root, journal.customer_id, months, delivery_store(data_root))
    erasure.crash_point("removed")
    failed = rebuild(data_root, journal.customer_id, months, {REQUEST_TAG: request, OPERATION_TAG: "erase"})
    if failed:
        _log(
            data_root,
            "erase",
            journal.customer_id,
            months,
            request,
            journal.counts(),
            "failed",
            f"rebuild of {', '.join(failed)} failed; run the same command again",
        )
        raise Refused(
            f"the inbox is erased but the rebuild of {journal.customer_id} {', '.join(failed)} failed; "
            "fix that month's input and run the same command again"
        )
    erasure.crash_point("rebuilt")
    _log(data_root, "erase", journal.customer_id, months, request, counts or journal.counts(), "done")
    journal.forget()


def delivery_store(data_root: DataRoot):
    from pipelines.resources import DeliveryResource

    return DeliveryResource.from_environment(deferred=False).store(data_root)


def rebuild(data_root: DataRoot, customer_id: str, months: list[str], tags: dict[str, str]) -> list[str]:
    """Run the customer's months again as `tem run` does, the runs tagged; the months that failed."""
    from pipelines.commands.cli import execute_plan

    outcomes = execute_plan(data_root, {customer_id: sorted(months)}, workers=None, tags=tags)
    return [o.month or o.customer_id for o in outcomes if not o.ok]


def command_record(args: argparse.Namespace, data_root: DataRoot) -> int:
    """The record of processing on stdout. It reads configuration only (no personal data is processed), so it adds
    no record to the processing log, whose actions are the operations on data."""
    from reports.privacy.record import record_markdown, registered_customers

    customers = args.customer or registered_customers(data_root.path)
    if not customers:
        raise Refused(f"no customer is registered under {data_root.path / 'customers'}")
    sys.stdout.write(record_markdown(data_root.path, customers))
    return 0


def command_log(args: argparse.Namespace, data_root: DataRoot) -> int:
    customer = args.customer
    if customer is not None:
        try:
            validate_id(customer)
        except InvalidName as problem:
            raise Refused(str(problem)) from None
    return processing_log.command_log(data_root.path, customer, args.verify)


def _log(
    data_root: DataRoot,
    action: str,
    customer_id: str | None,
    months: list[str],
    request: str | None,
    counts: dict[str, int],
    outcome: str,
    problem: Exception | str | None = None,
) -> None:
    detail = None
    if problem is not None:
        detail = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
        try:
            processing_log.check_free_text(detail)
        except ValueError:
            detail = type(problem).__name__ if isinstance(problem, Exception) else "refused"
    try:
        request = _request(request)
    except Refused:
        request = None
    processing_log.append(
        data_root.path,
        action,
        customer=_logged_customer(customer_id),
        months=months,
        request=request,
        counts=counts,
        outcome=outcome,
        detail=detail,
    )


def add_parsers(commands, resolve_data_root) -> None:
    privacy = commands.add_parser(
        "privacy",
        help="data-subject requests and the processing log (docs/privacy.md)",
        description="Answer the controller's instructions about a person: export what is held, erase them; show "
        "and verify the processing log.",
    ).add_subparsers(dest="privacy", required=True)

    def subject_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data-root", help="data root folder (default: $TEM_DATA_ROOT or the bundled data/)")
        parser.add_argument("--customer", required=True, metavar="ID", help="the customer (controller), e.g. globex")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--employee", metavar="E", help="the subject's employee id, e.g. E11116")
        who.add_argument(
            "--msisdn", metavar="N", help="a phone number of the subject's, any format, e.g. '(512) 909-1505'"
        )

    export = privacy.add_parser(
        "export",
        help="write everything held about a person to a ZIP archive",
        epilog="example: tem privacy export --customer globex --employee E11116 "
        "--out /tmp/E11116.zip --request DSR-2026-0042",
    )
    subject_options(export)
    export.add_argument(
        "--out", required=True, metavar="FILE.zip", help="where to write the archive (outside the data root)"
    )
    export.add_argument("--request", metavar="REF", help="the controller's request reference, e.g. DSR-2026-0042")
    export.set_defaults(privacy_handler=command_export)

    erase = privacy.add_parser(
        "erase",
        help="erase a person from every month held, everywhere",
        epilog="example: tem privacy erase --customer globex --msisdn +15129091505 --request DSR-2026-0043 --dry-run",
    )
    subject_options(erase)
    erase.add_argument("--request", required=True, metavar="REF", help="the controller's request reference")
    erase.add_argument("--dry-run", action="store_true", help="print what would be erased per month and change nothing")
    erase.set_defaults(privacy_handler=command_erase)

    log = privacy.add_parser(
        "log", help="show or verify the processing log", epilog="example: tem privacy log --customer globex --verify"
    )
    log.add_argument("--data-root", help="data root folder (default: $TEM_DATA_ROOT or the bundled data/)")
    log.add_argument("--customer", metavar="ID", help="only this customer's records")
    log.add_argument("--verify", action="store_true", help="check the hash chain; exit 1 naming the first bad record")
    log.set_defaults(privacy_handler=command_log)

    def run(args: argparse.Namespace) -> int:
        data_root = resolve_data_root(args.data_root)
        try:
            return args.privacy_handler(args, data_root)
        except Exception as problem:  # noqa: BLE001 - one line, exit 1; the cause is logged, never a traceback
            message = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
            print(f"tem privacy {args.privacy}: {message}", file=sys.stderr)
            return 1

    record = privacy.add_parser(
        "record",
        help="print the record of processing (GDPR Art. 30(2)) as Markdown",
        description="Built from the configuration (customer.yaml, contracts, delivery and key "
        "settings, provider.yaml): one section per customer (controller).",
        epilog="example: tem privacy record --customer globex > globex-record.md",
    )
    record.add_argument("--data-root", help="data root folder (default: $TEM_DATA_ROOT or the bundled data/)")
    record.add_argument(
        "--customer", action="append", metavar="ID", help="only this customer (repeatable; default: all)"
    )
    record.set_defaults(privacy_handler=command_record)

    for parser in (export, erase, log, record):
        parser.set_defaults(handler=run)

    purge = privacy.add_parser(
        "purge",
        help="delete every customer-month older than the customer's retention_months",
        description="Retention: a billing month more than retention_months (customer.yaml, "
        "default 24) months before the as-of date's month is deleted everywhere: inbox, "
        "warehouse, published folder, delivery target, scratch and its Dagster runs.",
        epilog="example: tem privacy purge --customer globex --as-of 2026-10-15 --dry-run",
    )
    purge.add_argument("--data-root", help="data root folder (default: $TEM_DATA_ROOT or the bundled data/)")
    purge.add_argument(
        "--customer", action="append", metavar="ID", help="only this customer (repeatable; default: all)"
    )
    purge.add_argument("--as-of", metavar="YYYY-MM-DD", help="the date retention is counted from (default: today)")
    purge.add_argument(
        "--dry-run", action="store_true", help="print what would be deleted per customer-month, change nothing"
    )
    purge.set_defaults(handler=lambda args: _run_lifecycle(args, resolve_data_root, command_purge, "tem privacy purge"))


# --------------------------------------------------------------------------------------------- retention, offboarding
def _run_lifecycle(args: argparse.Namespace, resolve_data_root, command, name: str) -> int:
    """Exit 0 done, 1 refused or failed (one line), 2 a malformed option (one line)."""
    from reports.privacy.lifecycle import LifecycleUsage

    data_root = resolve_data_root(args.data_root)
    try:
        return command(args, data_root)
    except LifecycleUsage as problem:
        print(f"{name}: {problem}", file=sys.stderr)
        return 2
    except Exception as problem:  # noqa: BLE001 - one line, exit 1; never a traceback
        message = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
        print(f"{name}: {message}", file=sys.stderr)
        return 1


def _lifecycle_store(data_root: DataRoot, action: str, customers: list[str] | None, logged: bool):
    """The delivery target; a misconfigured one refuses the operation (logged) before anything is touched."""
    from reports.privacy import lifecycle

    try:
        return delivery_store(data_root)
    except Exception as problem:
        if logged:
            customers = customers or []
            lifecycle.record(
                data_root, action, customers[0] if len(set(customers)) == 1 else None, [], {}, "refused", problem
            )
        raise


def command_purge(args: argparse.Namespace, data_root: DataRoot) -> int:
    """`tem privacy purge`: reports/privacy/lifecycle.py; the Dagster job `purge_expired_data` runs the same."""
    from reports.privacy import lifecycle

    try:
        as_of = lifecycle.parse_as_of(args.as_of)
    except lifecycle.LifecycleUsage as problem:
        if not args.dry_run:
            customers = args.customer or []
            lifecycle.record(
                data_root, "purge", customers[0] if len(set(customers)) == 1 else None, [], {}, "refused", problem
            )
        raise
    store = _lifecycle_store(data_root, "purge", args.customer, logged=not args.dry_run)
    history = lifecycle.LazyHistory(lambda: open_history(data_root))
    try:
        result = lifecycle.purge(data_root, args.customer, as_of, history, store, dry_run=args.dry_run)
    finally:
        history.close()
    if not args.dry_run:
        if result.purged:
            print(
                f"purged {result.customer_months} customer-month(s) of {len(result.purged)} customer(s) expired as "
                f"of {as_of.isoformat()}"
            )
        else:
            print(f"nothing to purge: no customer-month is expired as of {as_of.isoformat()}")
    return 0


def command_offboard(args: argparse.Namespace, data_root: DataRoot) -> int:
    """`tem customer offboard`: the return archive, then everything of the customer deleted, and a certificate."""
    from reports.privacy import lifecycle

    store = _lifecycle_store(data_root, "offboard", [args.customer], logged=True)
    history = lifecycle.LazyHistory(lambda: open_history(data_root))
    try:
        done = lifecycle.offboard(data_root, args.customer, args.confirm, args.return_to, history, store)
    finally:
        history.close()
    if done.already:
        return 0
    deleted = done.content["deleted"]
    print(
        f"offboarded {args.customer}: {deleted['data_root']['files']} files ({deleted['data_root']['bytes']} bytes), "
        f"{deleted['delivery']['objects']} delivered objects, {deleted['dagster']['runs']} Dagster runs and the "
        f"customer partition deleted; key destroyed: {'yes' if deleted['key_destroyed'] else 'no'}"
    )
    print(f"deletion certificate: {done.certificate}")
    return 0


def add_customer_parser(commands, resolve_data_root) -> None:
    """`tem customer offboard --customer ID --confirm ID [--return-to DIR] [--data-root DIR]`."""
    customer = commands.add_parser(
        "customer",
        help="a customer's lifecycle (docs/privacy.md, Offboarding)",
        description="Offboard a customer: return its files, delete everything of it, keep a deletion certificate.",
    ).add_subparsers(dest="customer_command", required=True)
    offboard = customer.add_parser(
        "offboard",
        help="return a customer's files, then delete everything of it, with a deletion certificate",
        epilog="example: tem customer offboard --customer globex --confirm globex --return-to /secure/return",
    )
    offboard.add_argument("--data-root", help="data root folder (default: $TEM_DATA_ROOT or the bundled data/)")
    offboard.add_argument("--customer", required=True, metavar="ID", help="the customer to offboard")
    offboard.add_argument("--confirm", required=True, metavar="ID", help="the customer id again, to confirm")
    offboard.add_argument(
        "--return-to",
        metavar="DIR",
        help="first write DIR/<ID>-return.zip (outside the data root) "
        "with every file the customer delivered and every file published for it",
    )
    offboard.set_defaults(
        handler=lambda args: _run_lifecycle(args, resolve_data_root, command_offboard, "tem customer offboard")
    )


def open_history(data_root: DataRoot):
    """For the command line: the instance at DAGSTER_HOME (default <data root>/.dagster) as a DagsterHistory, or
    NoHistory when there is no instance there yet (nothing was ever run: nothing to find or delete, nothing created)."""
    from reports.privacy import lifecycle

    home = Path(os.environ.get("DAGSTER_HOME") or data_root.path / ".dagster")
    if not ((home / "dagster.yaml").exists() or (home / "history").exists()):
        return lifecycle.NoHistory()
    from pipelines.commands.cli import prepare_environment
    from pipelines.commands.runner import open_instance
    from pipelines.lifecycle import DagsterHistory

    prepare_environment(data_root)
    return DagsterHistory(open_instance(), owns_instance=True)
