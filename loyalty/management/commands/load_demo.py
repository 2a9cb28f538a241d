"""Load the demo program "Gulf Rewards" once; a second run changes nothing and says so."""

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from loyalty.demo import DEFAULT_MEMBERS, DEFAULT_SEED, demo_load


class Command(BaseCommand):
    help = "Load the demo program with members and six months of history (once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=DEFAULT_MEMBERS, help="How many members to create.")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Random seed (same seed, same demo).")

    def handle(self, *args, members: int, seed: int, **options) -> None:
        if members < 1:
            raise CommandError(_("--members must be at least 1."))
        result = demo_load(members=members, seed=seed)
        if result is None:
            self.stdout.write(_("The demo program is already loaded; nothing was changed."))
            return
        tiers = ", ".join(f"{name} {count}" for name, count in result.accounts_by_tier.items())
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Loaded the demo program: %(members)d members, %(entries)d ledger entries, "
                    "%(pending)d pending lots, %(expiring)d lots expiring within 30 days; tiers: %(tiers)s "
                    "(%(seconds).1f s)."
                )
                % {
                    "members": result.members,
                    "entries": result.entries,
                    "pending": result.pending_lots,
                    "expiring": result.lots_expiring_soon,
                    "tiers": tiers,
                    "seconds": result.seconds,
                }
            )
        )
