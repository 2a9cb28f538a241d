from django.core.management.base import BaseCommand

from loyalty.management.commands._program_option import add_program_argument, selected_programs
from loyalty.services import nightly_run


class Command(BaseCommand):
    help = "Run the nightly jobs (activate pending lots, expire lots, re-evaluate tiers, expiry warnings)."

    def add_arguments(self, parser):
        add_program_argument(parser)

    def handle(self, *args, program=None, **options):
        for selected in selected_programs(program):
            for step, result in nightly_run(program=selected).items():
                figures = ", ".join(f"{name}={value}" for name, value in vars(result).items())
                self.stdout.write(f"{selected.code} {step}: {figures}")
