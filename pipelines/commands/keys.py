"""`tem keys ...`: the customers' data keys (docs/keys.md).

    tem keys rotate  [--data-root DIR]
    tem keys migrate [--data-root DIR] [--customer ID]... [--workers N]

`rotate` re-wraps every customer's data key under TEM_NEW_MASTER_KEY, all or nothing (reports/privacy/keys.py);
it needs the current master key in TEM_MASTER_KEY. `migrate` moves customers whose warehouse was written before
per-customer data keys (pseudonyms derived from the master key itself) to a data key of their own: it creates the
key, removes the customer's warehouse and rebuilds every month it held from the inbox through the same Dagster
definitions as `tem run`; published files, which hold clear values, come out byte-identical.

Exit status: 0 done (nothing to do included), 1 refused or failed (one line saying why, nothing half-changed: the
same command finishes an interrupted one), 2 a usage error. Each one, done or refused, adds a `key_rotate` record to
the processing log. `check_run_keys` is the key check `tem run` makes before anything is written.
"""

from __future__ import annotations

import argparse
import os
import sys

from reports.layout import DataRoot
from reports.privacy import processing_log
from schemas.names import validate_id

KEY_OPERATION_TAG = "tem/key_operation"


class Refused(Exception):
    """The operation cannot be done as asked: one line, exit 1, nothing changed."""


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def check_run_keys(data_root: DataRoot, customers: list[str]) -> list[str]:
    """Every planned customer's key, checked before a run writes anything: the problems (one line each, naming the
    customer), or [] once the keys of new customers exist and every warehouse records its key."""
    from reports.privacy import keys

    try:
        return keys.prepare_customer_keys(data_root, customers, os.environ.get("TEM_MASTER_KEY"), _warn)
    except OSError as problem:
        return [f"the customers' keys under {data_root.secrets_dir()} cannot be read or written: {problem}"]


def _detail(problem: Exception | str) -> str:
    """One line for the processing log; a generic one when it looks like it holds an identifier."""
    text = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
    try:
        return processing_log.check_free_text(text)
    except ValueError:
        return type(problem).__name__ if isinstance(problem, Exception) else "refused"


def _log(
    data_root: DataRoot,
    outcome: str,
    counts: dict[str, int],
    detail: Exception | str | None = None,
    customer: str | None = None,
    months: list[str] | None = None,
) -> None:
    processing_log.append(
        data_root.path,
        "key_rotate",
        customer=customer,
        months=months or [],
        request=None,
        counts=counts,
        outcome=outcome,
        detail=None if detail is None else _detail(detail),
    )


def _master_key(name: str) -> bytes:
    from reports.inputs.pseudonymize import parse_master_key

    value = os.environ.get(name)
    if value is None:
        raise Refused(
            f"{name} is not set: {name} must hold "
            + (
                "the current master key (rotation needs it set; the development key .secrets/master.key is not rotated, "
                "see docs/keys.md)"
                if name == "TEM_MASTER_KEY"
                else "the new master key (64 hexadecimal characters)"
            )
            + "; nothing was rotated"
        )
    return parse_master_key(value, name)


def command_rotate(args: argparse.Namespace, data_root: DataRoot) -> int:
    from reports.privacy import keys

    try:
        current = _master_key("TEM_MASTER_KEY")
        new = _master_key("TEM_NEW_MASTER_KEY")
        rotation = keys.rotate(data_root, current, new)
    except Exception as problem:  # noqa: BLE001 - every refusal is logged, then reported in one line
        _log(data_root, "refused", {"customers": len(keys.keyring_customers(data_root))}, problem)
        raise
    _log(
        data_root,
        rotation.outcome,
        {"customers": rotation.customers},
        None if rotation.outcome == "done" and rotation.message.startswith("rotated") else rotation.message,
    )
    print(rotation.message)
    return 0


def command_migrate(args: argparse.Namespace, data_root: DataRoot) -> int:
    from pipelines.commands.cli import worker_count
    from reports.privacy import keys

    selected = [validate_id(c) for c in args.customer or []]
    workers = worker_count(args.workers)  # a usage error, before anything is done
    try:
        setting = os.environ.get("TEM_MASTER_KEY")
        master_key = keys.resolve_master_key(data_root, setting, create_dev_key=False)
        if keys.rotation_pending(data_root):
            raise Refused(
                "a key rotation is in progress or was interrupted: run `tem keys rotate` again to finish "
                "it first; nothing was migrated"
            )
        todo = sorted(set(keys.legacy_customers(data_root)) | set(keys.pending_migrations(data_root)))
        if selected:
            todo = [c for c in todo if c in selected]
        plan: dict[str, list[str]] = {}
        for customer_id in todo:
            pending = keys.migration_pending(data_root, customer_id)
            months = (
                keys.migration_months(data_root, customer_id)
                if pending
                else keys.warehouse_months(data_root, customer_id)
            )
            missing = [m for m in months if not data_root.drop_dir(customer_id, m).is_dir()]
            if missing:
                raise Refused(
                    f"customer {customer_id}: warehouse month(s) {', '.join(missing)} have no inbox drop to "
                    f"rebuild them from; restore inbox/{customer_id}/<month> or remove "
                    f"warehouse/{customer_id}/<month>, then run again; nothing was migrated"
                )
            if keys.key_path(data_root, customer_id).exists():  # created by an interrupted migration
                if master_key is None:
                    raise keys.KeyRefused(customer_id, "TEM_MASTER_KEY is not set; set it to open its data key")
                keys.unwrap(data_root, customer_id, master_key)
            plan[customer_id] = months
        others = [c for c in keys.keyring_customers(data_root) if c not in plan]
        if plan and others and master_key is not None:
            keys.unwrap(data_root, others[0], master_key)  # the new keys join a key set this master key opens
    except Exception as problem:  # noqa: BLE001
        _log(data_root, "refused", {"customers": len(selected)}, problem)
        raise
    if not plan:
        _log(data_root, "nothing_to_do", {"customers": 0}, "no warehouse written before per-customer data keys")
        print("nothing to migrate: every customer's warehouse records its own data key")
        return 0
    if setting is None:
        master_key = keys.resolve_master_key(data_root, setting)
        keys.warn_development_key(data_root, _warn)
    for customer_id, months in plan.items():
        _migrate(data_root, customer_id, months, master_key, workers)
    return 0


def _migrate(data_root: DataRoot, customer_id: str, months: list[str], master_key: bytes, workers: int) -> None:
    """One customer: its key, the journal (the commit), the warehouse removed, the key recorded, every month rebuilt,
    the journal removed. Killed anywhere after the journal, the same command resumes at the removal."""
    from pipelines.commands.cli import execute_plan
    from reports.privacy import erasure, keys

    with erasure.customer_lock(data_root, customer_id):
        data_key = keys.create_customer_key(data_root, customer_id, master_key)
        if not keys.migration_pending(data_root, customer_id):
            keys.begin_migration(data_root, customer_id, months)
        erasure.crash_point("migrate-committed")
        keys.clear_warehouse(data_root, customer_id)
        keys.record_warehouse_key(data_root, customer_id, data_key)
        erasure.crash_point("migrate-cleared")
        outcomes = execute_plan(data_root, {customer_id: months}, workers, tags={KEY_OPERATION_TAG: "migrate"})
        failed = [o.month or o.customer_id for o in outcomes if not o.ok]
        if failed:
            for outcome in outcomes:
                for problem in dict.fromkeys(outcome.problems):
                    print(f"FAILED {outcome.label}: {problem}", file=sys.stderr)
            _log(
                data_root,
                "failed",
                {"customer_months": len(months), "failed": len(failed)},
                f"rebuild of {', '.join(failed)} failed; run the same command again",
                customer_id,
                months,
            )
            raise Refused(
                f"customer {customer_id}: its new data key is in place but the rebuild of {', '.join(failed)} "
                "failed; fix that month's input and run `tem keys migrate` again"
            )
        erasure.crash_point("migrate-rebuilt")
        _log(data_root, "done", {"customer_months": len(months)}, "migrated to its own data key", customer_id, months)
        keys.end_migration(data_root, customer_id)
    print(
        f"customer {customer_id}: migrated to its own data key; rebuilt {len(months)} month(s) "
        f"({', '.join(months)}) from the inbox"
    )


def add_parsers(commands, resolve_data_root) -> None:
    parser = commands.add_parser(
        "keys",
        help="the customers' data keys: rotate the master key, migrate an older data root (docs/keys.md)",
        description="Each customer's data key is stored only wrapped under the master key (TEM_MASTER_KEY).",
    )
    keys_commands = parser.add_subparsers(dest="keys", required=True)

    rotate = keys_commands.add_parser(
        "rotate",
        help="re-wrap every customer's data key under TEM_NEW_MASTER_KEY, all or nothing",
        epilog="example: TEM_MASTER_KEY=<current> TEM_NEW_MASTER_KEY=<new> tem keys rotate --data-root /srv/tem",
    )
    rotate.add_argument("--data-root", help="data root folder (default: $TEM_DATA_ROOT or the bundled data/)")
    rotate.set_defaults(keys_handler=command_rotate)

    migrate = keys_commands.add_parser(
        "migrate",
        help="give customers whose warehouse predates per-customer data keys a key of their own and "
        "rebuild their warehouse from the inbox",
        epilog="example: tem keys migrate --data-root /srv/tem",
    )
    migrate.add_argument("--data-root", help="data root folder (default: $TEM_DATA_ROOT or the bundled data/)")
    migrate.add_argument("--customer", action="append", metavar="ID", help="only this customer (repeatable)")
    migrate.add_argument("--workers", type=int, metavar="N", help="runs at once for the rebuild (as tem run)")
    migrate.set_defaults(keys_handler=command_migrate)

    def run(args: argparse.Namespace) -> int:
        from pipelines.commands.cli import UsageError
        from schemas.names import InvalidName

        data_root = resolve_data_root(args.data_root)
        try:
            return args.keys_handler(args, data_root)
        except (InvalidName, UsageError):
            raise  # a usage error: exit 2
        except Exception as problem:  # noqa: BLE001 - one line, exit 1; never a traceback
            message = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
            print(f"tem keys {args.keys}: {message}", file=sys.stderr)
            return 1

    for sub in (rotate, migrate):
        sub.set_defaults(handler=run)
