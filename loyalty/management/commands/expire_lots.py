from django.core.management.base import BaseCommand

from loyalty.management.commands._program_option import add_program_argument, selected_programs
from loyalty.services import lots_expire_due


class Command(BaseCommand):
    help = "Expire the remaining points of lapsed lots, one expire entry per account (safe to rerun)."

    def add_arguments(self, parser):
        add_program_argument(parser)

    def handle(self, *args, program=None, **options):
        for selected in selected_programs(program):
            result = lots_expire_due(program=selected)
            self.stdout.write(
                f"{selected.code}: {result.points} points from {result.lots} lots on {result.accounts} accounts"
            )
