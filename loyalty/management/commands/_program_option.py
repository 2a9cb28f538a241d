"""The ``--program CODE`` option shared by the nightly-job commands."""

from django.core.management.base import CommandError

from loyalty.models import Program


def add_program_argument(parser, *, required: bool = False) -> None:
    parser.add_argument("--program", metavar="CODE", required=required, help="Program code (default: all active).")


def selected_programs(code: str | None) -> list[Program]:
    if code is None:
        return list(Program.objects.filter(active=True).order_by("pk"))
    try:
        return [Program.objects.get(code=code)]
    except Program.DoesNotExist as error:
        raise CommandError(f"--program: no program with code '{code}'.") from error
