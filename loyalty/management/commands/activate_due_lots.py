from django.core.management.base import BaseCommand

from loyalty.management.commands._program_option import add_program_argument, selected_programs
from loyalty.services import lots_activate_due


class Command(BaseCommand):
    help = "Make pending lots whose activation time has come available (safe to rerun)."

    def add_arguments(self, parser):
        add_program_argument(parser)

    def handle(self, *args, program=None, **options):
        for selected in selected_programs(program):
            result = lots_activate_due(program=selected)
            self.stdout.write(
                f"{selected.code}: {result.lots} lots, {result.points} points on {result.accounts} accounts"
            )
