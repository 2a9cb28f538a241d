"""Program policies turned into numbers and dates: earn arithmetic and lot expiry."""

import calendar
import datetime
import zoneinfo
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from loyalty.models import Program

_ROUNDING = {
    Program.Rounding.DOWN: ROUND_FLOOR,
    Program.Rounding.HALF_UP: ROUND_HALF_UP,
    Program.Rounding.UP: ROUND_CEILING,
}


def program_zone(program: Program) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(program.timezone)


def points_for_amount(program: Program, amount: Decimal, multiplier: Decimal = Decimal(1)) -> int:
    """Points for spending ``amount`` at the program's earn rate and ``multiplier``, rounded per policy."""
    exact = Decimal(amount) * program.earn_rate * Decimal(multiplier)
    return int(exact.quantize(Decimal(1), rounding=_ROUNDING[program.rounding]))


def add_months(moment: datetime.datetime, months: int) -> datetime.datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _start_of_next_month(moment: datetime.datetime) -> datetime.datetime:
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return add_months(first, 1)


def lot_expiry(program: Program, earned_at: datetime.datetime) -> datetime.datetime | None:
    """When points earned at ``earned_at`` expire under the program's policy (None: they do not, by date)."""
    local = earned_at.astimezone(program_zone(program))
    if program.expiry_policy == Program.ExpiryPolicy.ROLLING:
        if program.expiry_period_unit == Program.PeriodUnit.DAYS:
            expires = local + datetime.timedelta(days=program.expiry_period)
        else:
            expires = add_months(local, program.expiry_period)
        if program.expiry_round_to_period_end:
            expires = _start_of_next_month(expires)
        return expires
    if program.expiry_policy == Program.ExpiryPolicy.FIXED_DATE:
        # Points earned in one year lapse at the end of the fixed day in the following year.
        year = local.year + 1
        month = program.expiry_fixed_month
        day = min(program.expiry_fixed_day, calendar.monthrange(year, month)[1])
        end_of_day = datetime.datetime(year, month, day, tzinfo=local.tzinfo) + datetime.timedelta(days=1)
        return end_of_day
    return None


def inactivity_period_sql(program_alias: str = "p") -> str:
    """SQL interval of a program's inactivity period (used by the set-based expiry)."""
    return (
        f"CASE {program_alias}.expiry_period_unit WHEN 'days' "
        f"THEN make_interval(days => {program_alias}.expiry_period) "
        f"ELSE make_interval(months => {program_alias}.expiry_period) END"
    )
