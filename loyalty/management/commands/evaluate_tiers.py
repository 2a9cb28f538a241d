from django.core.management.base import BaseCommand

from loyalty.management.commands._program_option import add_program_argument, selected_programs
from loyalty.services import tiers_evaluate


class Command(BaseCommand):
    help = "Re-evaluate every member's tier (safe to rerun)."

    def add_arguments(self, parser):
        add_program_argument(parser)

    def handle(self, *args, program=None, **options):
        for selected in selected_programs(program):
            result = tiers_evaluate(program=selected)
            self.stdout.write(
                f"{selected.code}: {result.upgraded} upgraded, {result.downgraded} downgraded, "
                f"{result.grace_started} in grace"
            )
