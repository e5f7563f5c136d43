"""The lines of a customer: identities (numbers, people, devices) and each line's service history, as one polars
frame with one row per line; and the roster of a billing month drawn from it.

A short cast of named roles (the zero-usage hotspot, the leaver, the road warrior...) sits on the first line ids;
the rest are bulk lines drawn at random. Everything is vectorised, so `lines=200_000` stays fast."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Sequence

import polars as pl

from .contracts import DEVICE_PLANS
from .months import MONTHS, TERMINATION_MONTHS, BillingMonth, month_of
from .profiles import DATA_DEVICES, USER_DEVICES, CustomerProfile, PhonePlan
from .randomness import Randomness, draw_index, drop_draws, line_key, pick, uniform

_ASCII_FOLD = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ı": "i", "é": "e", "'": ""}
# Multipliers coprime with 10 turn an allocation counter into unique, scattered serials.
_SUBSCRIBER_STRIDE = 7_919
_BLOCK_SPREAD = 3_761
_IMEI_STRIDE = 7_919


class NumberAllocator:
    """Valid mobile numbers of a region, unique per allocation index."""

    def __init__(self, plan: PhonePlan, rand: Randomness):
        self.plan = plan
        draw = rand.python("numbers")
        if plan.region == "US":
            blocks = []
            for area in plan.prefixes:
                exchanges = [e for e in range(201, 1000) if e != 555 and e % 100 != 11]
                blocks += [f"{area}{e}" for e in draw.sample(exchanges, 5)]
        else:
            blocks = list(plan.prefixes)
        draw.shuffle(blocks)
        self.blocks = tuple(blocks)
        self.offset = draw.randrange(10**plan.subscriber_digits)

    def e164(self, allocation: pl.Expr) -> pl.Expr:
        """Allocation a goes to block a % B; within a block the serial is a bijection of a // B."""
        block = allocation % len(self.blocks)
        serial = (
            (allocation // len(self.blocks)) * _SUBSCRIBER_STRIDE + block * _BLOCK_SPREAD + self.offset
        ) % 10**self.plan.subscriber_digits
        return (
            pl.lit(f"+{self.plan.country_code}")
            + pick(self.blocks, block)
            + serial.cast(pl.String).str.zfill(self.plan.subscriber_digits)
        )


def imei_with_check_digit(payload: pl.Expr) -> pl.Expr:
    """15-digit IMEI from its 14-digit payload (TAC and serial) and the Luhn check digit."""
    checksum = pl.lit(0, pl.Int64)
    for position in range(14):
        digit = (payload // 10 ** (13 - position)) % 10
        if position % 2 == 1:
            digit = pl.when(digit * 2 > 9).then(digit * 2 - 9).otherwise(digit * 2)
        checksum = checksum + digit
    check_digit = (10 - checksum % 10) % 10
    return (payload * 10 + check_digit).cast(pl.String).str.zfill(15)


def imei_payload(tac: pl.Expr, allocation: pl.Expr, offset: int) -> pl.Expr:
    return tac.cast(pl.Int64) * 1_000_000 + (allocation * _IMEI_STRIDE + offset) % 1_000_000


def _identities(
    profile: CustomerProfile, total: int, rand: Randomness, numbers: NumberAllocator, imei_offset: int
) -> pl.DataFrame:
    """Number, person and device candidates for every line id (people are dropped later
    for lines without a user)."""
    line = pl.col("line_id")
    ids = profile.employee_ids
    first = ids.first_number + rand.python("employee-ids").randrange(500) * ids.step

    def employee_id(index: pl.Expr) -> pl.Expr:
        return pl.lit(ids.prefix) + (first + index * ids.step).cast(pl.String).str.zfill(ids.width)

    department = draw_index("department", len(profile.departments))
    title_draw = draw_index("job-title", 60)
    job_title = pl.lit(None, pl.String)
    for position, dept in enumerate(profile.departments):
        job_title = (
            pl.when(department == position)
            .then(pick(dept.job_titles, title_draw % len(dept.job_titles)))
            .otherwise(job_title)
        )
    team_lead, head = (line // 8) * 8, (line // 64) * 64
    manager = (
        pl.when(line % 8 != 0).then(employee_id(team_lead)).when(line % 64 != 0).then(employee_id(head)).otherwise(None)
    )
    user_device = draw_index("user-device", len(USER_DEVICES))
    data_device = draw_index("data-device", len(DATA_DEVICES))
    ids_frame = pl.DataFrame({"line_id": pl.int_range(total, eager=True, dtype=pl.Int64)})
    streams = ("department", "job-title", "user-device", "data-device", "first-name", "last-name")
    return drop_draws(
        rand.draws(ids_frame, streams, line_key())
        .with_columns(
            msisdn=numbers.e164(line),
            employee_id=employee_id(line),
            first_name=pick(profile.first_names, draw_index("first-name", len(profile.first_names))),
            last_name=pick(profile.last_names, draw_index("last-name", len(profile.last_names))),
            department=pick([d.name for d in profile.departments], department),
            cost_center=pick([d.cost_center for d in profile.departments], department),
            job_title=job_title,
            manager_employee_id=manager,
            user_device_make=pick([d[0] for d in USER_DEVICES], user_device),
            user_device_model=pick([d[1] for d in USER_DEVICES], user_device),
            user_tac=pick([d[2] for d in USER_DEVICES], user_device),
            data_device_make=pick([d[0] for d in DATA_DEVICES], data_device),
            data_device_model=pick([d[1] for d in DATA_DEVICES], data_device),
            data_tac=pick([d[2] for d in DATA_DEVICES], data_device),
        )
        .with_columns(
            user_imei=imei_payload(pl.col("user_tac"), line, imei_offset),
            data_imei=imei_payload(pl.col("data_tac"), line, imei_offset),
        )
        .with_columns(
            user_imei=imei_with_check_digit(pl.col("user_imei")), data_imei=imei_with_check_digit(pl.col("data_imei"))
        )
    )


# --------------------------------------------------------------------------- line inventory

SERVICE_SCHEMA = {
    "line_id": pl.Int64,
    "role": pl.String,
    "account_index": pl.Int64,
    "plan_code": pl.String,
    "features": pl.List(pl.String),
    "usage_profile": pl.String,
    "trip_chance": pl.Float64,
    "has_user": pl.Boolean,
    "vip": pl.Boolean,
    "added_month": pl.Int64,
    "activation_date": pl.Date,
    "cancel_date": pl.Date,
    "suspend_month": pl.Int64,
    "suspend_date": pl.Date,
    "resume_date": pl.Date,
    "employment": pl.String,
    "termination_date": pl.Date,
}

# Bulk line mix: (usage profile, cumulative probability) for lines with and without a user.
USER_PROFILES = (("typical", 0.72), ("light", 0.82), ("heavy", 0.90), ("traveller", 0.98), ("zero", 1.0))
DEVICE_PROFILES = (("typical", 0.60), ("light", 0.85), ("heavy", 0.90), ("zero", 1.0))
# Chance that a bulk line orders a feature of each category: (with a user, device only).
FEATURE_TAKE_UP = {"roaming": (0.20, 0.0), "hotspot": (0.15, 0.30), "insurance": (0.30, 0.0), "other": (0.1, 0.0)}
DEVICE_LINE_SHARE = 0.08


def _role_services(profile: CustomerProfile, rand: Randomness) -> pl.DataFrame:
    draw = rand.python("role-activation")
    rows = []
    for line_id, role in enumerate(profile.roles):
        activated = role.joined or date(2023, 1, 9) + timedelta(days=draw.randrange(1200))
        suspended_on, resumed_on = role.suspended or (None, None)
        rows.append(
            {
                "line_id": line_id,
                "role": role.name,
                "account_index": role.account,
                "plan_code": role.plan,
                "features": list(role.features),
                "usage_profile": role.usage,
                "trip_chance": 1.0 if role.usage == "traveller" else 0.0,
                "has_user": role.user,
                "vip": role.vip,
                "added_month": month_of(role.joined) if role.joined else 0,
                "activation_date": activated,
                "cancel_date": role.cancelled,
                "suspend_month": month_of(suspended_on) if suspended_on else None,
                "suspend_date": suspended_on,
                "resume_date": resumed_on,
                "employment": ("on_leave" if role.on_leave else "active") if role.user else None,
                "termination_date": role.terminated,
            }
        )
    return pl.DataFrame(rows, schema=SERVICE_SCHEMA)


def _threshold_pick(u: pl.Expr, choices: Sequence[tuple[str, float]]) -> pl.Expr:
    expr = pl.lit(choices[-1][0])
    for name, cumulative in reversed(choices[:-1]):
        expr = pl.when(u < cumulative).then(pl.lit(name)).otherwise(expr)
    return expr


def _day_in_month(months: Sequence[BillingMonth], month: pl.Expr, u: pl.Expr) -> pl.Expr:
    """A date inside months[month] (month counts from 0 in `months`)."""
    starts = pick([m.start for m in months], month)
    lengths = pick([m.days for m in months], month)
    return starts + pl.duration(days=(u * lengths).floor().cast(pl.Int64))


def _bulk_services(
    profile: CustomerProfile, rand: Randomness, first_id: int, base_lines: int, joiners_per_month: int
) -> pl.DataFrame:
    """Random service history for the bulk lines (ids first_id .. end)."""
    total = base_lines + 3 * joiners_per_month
    line = pl.col("line_id")
    streams = [
        "account",
        "has-user",
        "plan",
        "usage-profile",
        "joined-day",
        "activation",
        "cancel",
        "cancel-day",
        "suspend",
        "suspend-day",
        "resume-day",
        "terminate",
        "terminate-day",
        "on-leave",
        "vip",
    ]
    streams += [f"feature/{f.code}" for c in profile.contracts for f in c.features]
    frame = rand.draws(
        pl.DataFrame({"line_id": pl.int_range(first_id, total, eager=True, dtype=pl.Int64)}), streams, line_key()
    )

    account = pl.lit(len(profile.accounts) - 1, pl.Int64)
    for position in reversed(range(len(profile.accounts) - 1)):
        cumulative = sum(a.bulk_share for a in profile.accounts[: position + 1])
        account = pl.when(uniform("account") < cumulative).then(position).otherwise(account)
    frame = frame.with_columns(
        account_index=account,
        has_user=uniform("has-user") >= DEVICE_LINE_SHARE,
        added_month=pl.when(line < base_lines).then(0).otherwise((line - base_lines) // joiners_per_month + 1),
    )

    account, has_user, added = pl.col("account_index"), pl.col("has_user"), pl.col("added_month")
    plan = pl.lit(None, pl.String)
    features: list[pl.Expr] = []
    for position, acct in enumerate(profile.accounts):
        contract = profile.contract(acct.carrier)
        user_plans = [p.code for p in contract.plans if p.code not in DEVICE_PLANS]
        device_plans = [p.code for p in contract.plans if p.code in DEVICE_PLANS] or [contract.plans[0].code]
        plan = (
            pl.when(account == position)
            .then(
                pl.when(has_user)
                .then(pick(user_plans, draw_index("plan", len(user_plans))))
                .otherwise(pick(device_plans, draw_index("plan", len(device_plans))))
            )
            .otherwise(plan)
        )
        for feature in contract.features:
            with_user, device_only = FEATURE_TAKE_UP[feature.category]
            chance = pl.when(has_user).then(with_user).otherwise(device_only)
            taken = (account == position) & (uniform(f"feature/{feature.code}") < chance)
            features.append(pl.when(taken).then(pl.lit(feature.code)).otherwise(None))
    usage = (
        pl.when(has_user)
        .then(_threshold_pick(uniform("usage-profile"), USER_PROFILES))
        .otherwise(_threshold_pick(uniform("usage-profile"), DEVICE_PROFILES))
    )
    joined_on = _day_in_month(MONTHS, added.clip(0, 3), uniform("joined-day"))
    frame = frame.with_columns(
        plan_code=plan,
        features=pl.concat_list(features).list.drop_nulls(),
        usage_profile=usage,
        activation_date=pl.when(added == 0)
        .then(pl.lit(date(2022, 1, 3)) + pl.duration(days=(uniform("activation") * 1600).floor().cast(pl.Int64)))
        .otherwise(joined_on),
        # About 1 % of lines are cancelled, suspended or lose their user in each month.
        cancel_month=(uniform("cancel") / 0.01).floor().cast(pl.Int64),
        suspend_month=(uniform("suspend") / 0.01).floor().cast(pl.Int64) + 1,
        terminate_month=(uniform("terminate") / 0.01).floor().cast(pl.Int64),  # 0 = May, before billing starts
    )

    activation, cancel_month = pl.col("activation_date"), pl.col("cancel_month")
    cancel_on = _day_in_month(MONTHS, cancel_month.clip(0, 3), uniform("cancel-day"))
    frame = frame.with_columns(
        cancel_date=pl.when((cancel_month <= 3) & (cancel_month >= added))
        .then(pl.when(cancel_on < activation).then(activation).otherwise(cancel_on))
        .otherwise(None)
    )

    suspend_month = pl.col("suspend_month")
    suspend_ok = (
        (suspend_month <= 3)
        & (suspend_month > added)
        & (pl.col("cancel_date").is_null() | (cancel_month > suspend_month))
    )
    suspend_start = pick([m.start for m in MONTHS], suspend_month.clip(1, 3))
    next_start = pick([m.end + timedelta(days=1) for m in MONTHS], suspend_month.clip(1, 3))
    terminate_month = pl.col("terminate_month")
    return (
        frame.with_columns(
            role=pl.lit(None, pl.String),
            trip_chance=pl.when(pl.col("usage_profile") == "traveller").then(0.6).otherwise(0.0),
            vip=has_user & (uniform("vip") < 0.05),
            suspend_month=pl.when(suspend_ok).then(suspend_month).otherwise(None),
            suspend_date=pl.when(suspend_ok)
            .then(suspend_start + pl.duration(days=(uniform("suspend-day") * 3).floor().cast(pl.Int64)))
            .otherwise(None),
            resume_date=pl.when(suspend_ok)
            .then(next_start + pl.duration(days=(uniform("resume-day") * 4).floor().cast(pl.Int64)))
            .otherwise(None),
            employment=pl.when(~has_user)
            .then(None)
            .when(uniform("on-leave") < 0.03)
            .then(pl.lit("on_leave"))
            .otherwise(pl.lit("active")),
            termination_date=pl.when(has_user & (added == 0) & (terminate_month <= 4))
            .then(_day_in_month(TERMINATION_MONTHS, terminate_month.clip(0, 4), uniform("terminate-day")))
            .otherwise(None),
        )
        .select(list(SERVICE_SCHEMA))
        .cast(SERVICE_SCHEMA)
    )


def line_inventory(
    profile: CustomerProfile, line_count: int, rand: Randomness, numbers: NumberAllocator, imei_offset: int
) -> pl.DataFrame:
    """One row per line over the whole sample: who uses it, what was ordered, its lifecycle."""
    joiners_per_month = max(1, line_count // 40)
    total = line_count + 3 * joiners_per_month
    services = pl.concat(
        [
            _role_services(profile, rand),
            _bulk_services(profile, rand, len(profile.roles), line_count, joiners_per_month),
        ]
    )
    accounts = pl.DataFrame(
        {
            "account_index": list(range(len(profile.accounts))),
            "carrier": [a.carrier for a in profile.accounts],
            "account_number": [a.account_number for a in profile.accounts],
        },
        schema={"account_index": pl.Int64, "carrier": pl.String, "account_number": pl.String},
    )
    user = pl.col("has_user")
    lines = (
        _identities(profile, total, rand, numbers, imei_offset)
        .join(services, on="line_id")
        .join(accounts, on="account_index")
        .sort("line_id")
    )
    lines = lines.with_columns(
        *[
            pl.when(user).then(pl.col(c)).otherwise(None).alias(c)
            for c in ("employee_id", "first_name", "last_name", "job_title", "manager_employee_id")
        ],
        device_make=pl.when(user).then("user_device_make").otherwise("data_device_make"),
        device_model=pl.when(user).then("user_device_model").otherwise("data_device_model"),
        imei=pl.when(user).then("user_imei").otherwise("data_imei"),
    )
    local_part = (
        (pl.col("first_name") + pl.lit(".") + pl.col("last_name"))
        .str.replace_many(list(_ASCII_FOLD), list(_ASCII_FOLD.values()))
        .str.to_lowercase()
    )
    namesake = pl.int_range(pl.len()).over("first_name", "last_name")
    emails = lines.filter(user).select(
        "line_id",
        email=local_part
        + pl.when(namesake > 0).then((namesake + 1).cast(pl.String)).otherwise(pl.lit(""))
        + pl.lit(f"@{profile.email_domain}"),
    )
    return (
        lines.join(emails, on="line_id", how="left")
        .sort("line_id")
        .drop(
            "user_device_make",
            "user_device_model",
            "user_tac",
            "user_imei",
            "data_device_make",
            "data_device_model",
            "data_tac",
            "data_imei",
        )
    )


def lines_of_month(lines: pl.DataFrame, month: BillingMonth) -> pl.DataFrame:
    """The roster as of `month`, with what billing and usage need to know about each line."""
    cancelled = pl.col("cancel_date").is_not_null() & (pl.col("cancel_date") <= month.end)
    suspended = pl.col("suspend_month") == month.index
    billed = pl.col("cancel_date").is_null() | (pl.col("cancel_date") >= month.start)
    terminated = pl.col("termination_date") <= month.end
    return (
        lines.filter(pl.col("added_month") <= month.index)
        .with_columns(
            line_status=pl.when(cancelled)
            .then(pl.lit("cancelled"))
            .when(suspended)
            .then(pl.lit("suspended"))
            .otherwise(pl.lit("active")),
            line_status_date=pl.when(cancelled)
            .then("cancel_date")
            .when(suspended)
            .then("suspend_date")
            .when(pl.col("suspend_month") < month.index)
            .then("resume_date")
            .otherwise("activation_date"),
            employment_status=pl.when(~pl.col("has_user"))
            .then(None)
            .when(terminated)
            .then(pl.lit("terminated"))
            .otherwise("employment"),
            shown_termination_date=pl.when(terminated).then("termination_date").otherwise(None),
            billed=billed,
            has_usage=billed & ~suspended.fill_null(False) & (pl.col("usage_profile") != "zero"),
            usage_from_day=pl.when(pl.col("activation_date") >= month.start)
            .then(pl.col("activation_date").dt.day())
            .otherwise(1)
            .cast(pl.Int64),
            usage_to_day=pl.when(cancelled).then(pl.col("cancel_date").dt.day()).otherwise(month.days).cast(pl.Int64),
        )
        .sort("line_id")
    )
