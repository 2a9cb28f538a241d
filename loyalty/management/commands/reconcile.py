from django.core.management.base import BaseCommand, CommandError

from loyalty.management.commands._program_option import add_program_argument, selected_programs
from loyalty.selectors import reconcile


class Command(BaseCommand):
    help = "Prove cached balance = sum of entries = sum of lot remaining for every account; list any difference."

    def add_arguments(self, parser):
        add_program_argument(parser)

    def handle(self, *args, program=None, **options):
        program_id = selected_programs(program)[0].pk if program else None
        problems = reconcile(program_id=program_id)
        for problem in problems:
            self.stdout.write(problem.describe())
        if problems:
            raise CommandError(f"{len(problems)} account(s) out of balance.")
        self.stdout.write(self.style.SUCCESS("All accounts reconcile."))
