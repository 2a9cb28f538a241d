"""The demo program: a Gulf retailer's "Gulf Rewards" with members and six months of history.

Everything is written through the services, in the order it would have happened: members join, shop in store
(points at once) or online (points pending for the program's 14 days), redeem vouchers, return purchases, get
welcome and Eid bonuses that lapse after a while; the nightly expiry runs for every simulated night and tiers
are re-evaluated weekly. A fixed seed makes the demo reproducible (dates are relative to the day it is loaded).
The whole load is one transaction: it happens completely or not at all, and only once.
"""

import datetime
import heapq
import itertools
import random
import time
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal

import phonenumbers
from django.db import connection, transaction
from django.utils import timezone

from loyalty.errors import InsufficientPoints
from loyalty.models import LedgerEntry, PointAccount, PointLot, Program, Tier
from loyalty.policies import lot_expiry, points_for_amount
from loyalty.services import (
    Source,
    entry_reverse,
    lots_expire_due,
    member_enroll,
    points_credit,
    points_debit,
    program_save,
    tiers_evaluate,
    tiers_save,
)
from members.models import Member
from members.services import member_block, member_create

DEMO_PROGRAM_CODE = "demo"
DEFAULT_MEMBERS = 2_000
DEFAULT_SEED = 20_261_123
HISTORY_DAYS = 182
SOURCE = Source.system("demo")
# Any constant will do: it only keeps two simultaneous loads from both creating the demo.
_ADVISORY_LOCK_KEY = 7_305_114_062

# --------------------------------------------------------------------------------------------------------------
# People and places. Arabic names carry their Arabic spelling; some members are stored in Arabic script.

_ARABIC_MALE = [
    ("Mohammed", "محمد"),
    ("Ahmed", "أحمد"),
    ("Abdullah", "عبدالله"),
    ("Khalid", "خالد"),
    ("Omar", "عمر"),
    ("Saeed", "سعيد"),
    ("Hamdan", "حمدان"),
    ("Rashid", "راشد"),
    ("Sultan", "سلطان"),
    ("Faisal", "فيصل"),
    ("Youssef", "يوسف"),
    ("Ali", "علي"),
    ("Hassan", "حسن"),
    ("Majid", "ماجد"),
    ("Saif", "سيف"),
    ("Tariq", "طارق"),
    ("Nasser", "ناصر"),
    ("Fahad", "فهد"),
    ("Turki", "تركي"),
    ("Ibrahim", "إبراهيم"),
]
_ARABIC_FEMALE = [
    ("Fatima", "فاطمة"),
    ("Aisha", "عائشة"),
    ("Mariam", "مريم"),
    ("Noura", "نورة"),
    ("Hessa", "حصة"),
    ("Shamma", "شما"),
    ("Latifa", "لطيفة"),
    ("Reem", "ريم"),
    ("Sara", "سارة"),
    ("Huda", "هدى"),
    ("Amal", "أمل"),
    ("Layla", "ليلى"),
    ("Maitha", "ميثاء"),
    ("Alya", "علياء"),
    ("Dana", "دانة"),
    ("Asma", "أسماء"),
    ("Lulwa", "لولوة"),
    ("Nouf", "نوف"),
]
_ARABIC_FAMILY = [
    ("Al Mansoori", "المنصوري"),
    ("Al Nuaimi", "النعيمي"),
    ("Al Mazrouei", "المزروعي"),
    ("Al Shamsi", "الشامسي"),
    ("Al Ketbi", "الكتبي"),
    ("Al Dhaheri", "الظاهري"),
    ("Al Falasi", "الفلاسي"),
    ("Al Suwaidi", "السويدي"),
    ("Al Hashimi", "الهاشمي"),
    ("Al Marri", "المري"),
    ("Al Otaibi", "العتيبي"),
    ("Al Qahtani", "القحطاني"),
    ("Al Ghamdi", "الغامدي"),
    ("Al Harbi", "الحربي"),
    ("Al Zahrani", "الزهراني"),
    ("Al Shehri", "الشهري"),
    ("Al Dosari", "الدوسري"),
    ("Al Mutairi", "المطيري"),
    ("Al Rashid", "الراشد"),
    ("Al Balushi", "البلوشي"),
]
_MALAY_MALE = [
    "Muhammad Hafiz",
    "Ahmad Faizal",
    "Mohd Azlan",
    "Amirul Hakim",
    "Syafiq",
    "Muhammad Faris",
    "Izzat",
    "Ikhwan",
    "Zulkifli",
    "Abdul Razak",
    "Haziq",
    "Khairul Anuar",
    "Firdaus",
    "Nazmi",
]
_MALAY_FEMALE = [
    "Nurul Aisyah",
    "Siti Aminah",
    "Nur Izzati",
    "Farah Nadia",
    "Aina Sofea",
    "Balqis",
    "Syazwani",
    "Nadia",
    "Zarina",
    "Nur Hani",
    "Liyana",
    "Siti Khadijah",
    "Nurul Huda",
    "Aishah",
]
_MALAY_FATHERS = [
    "Ismail",
    "Abdullah",
    "Ahmad",
    "Hassan",
    "Osman",
    "Yusof",
    "Rahman",
    "Ibrahim",
    "Hamid",
    "Salleh",
    "Kamaruddin",
    "Aziz",
    "Mohamad",
    "Zainal",
]
_CHINESE_FAMILY = ["Tan", "Lim", "Lee", "Ng", "Wong", "Goh", "Chua", "Chan", "Ong", "Teo", "Koh", "Yeo", "Low", "Chong"]
_CHINESE_MALE = ["Jun Jie", "Zhi Hao", "Wei Jie", "Kai Wen", "Jia Hao", "Yong Sheng", "Boon Keng", "Chee Meng"]
_CHINESE_FEMALE = ["Wei Ling", "Mei Ling", "Hui Min", "Xin Yi", "Jia Hui", "Shu Fen", "Li Ting", "Pei Shan"]
_INDIAN_MALE = ["Arjun", "Rahul", "Suresh", "Vikram", "Ravi", "Karthik", "Pradeep", "Anand", "Rajesh", "Sanjay"]
_INDIAN_FEMALE = ["Priya", "Anjali", "Kavitha", "Deepa", "Lakshmi", "Meera", "Divya", "Shalini", "Revathi", "Nisha"]
_INDIAN_FAMILY = ["Nair", "Menon", "Pillai", "Kumar", "Sharma", "Iyer", "Krishnan", "Subramaniam", "Reddy", "Das"]
_FILIPINO_MALE = ["Jose", "Mark Anthony", "John Paul", "Rommel", "Christian", "Jerome"]
_FILIPINO_FEMALE = ["Maria Cristina", "Joy", "Mary Grace", "Kristine", "Rowena", "Jennifer"]
_FILIPINO_FAMILY = ["Santos", "Reyes", "Cruz", "Garcia", "Mendoza", "Bautista", "Villanueva", "Dela Cruz"]
_WESTERN_MALE = ["James", "Oliver", "Daniel", "Thomas", "Ryan", "Michael", "Lucas", "Matthew"]
_WESTERN_FEMALE = ["Emma", "Sophie", "Hannah", "Charlotte", "Grace", "Olivia", "Chloe", "Lucy"]
_WESTERN_FAMILY = ["Smith", "Taylor", "Brown", "Wilson", "Clarke", "Walker", "Hughes", "O'Connor", "Evans", "Murphy"]

# (country, weight, [(city, region)], [(name group, weight)])
_COUNTRIES = [
    (
        "AE",
        40,
        [
            ("Dubai", "Dubai"),
            ("Abu Dhabi", "Abu Dhabi"),
            ("Al Ain", "Abu Dhabi"),
            ("Sharjah", "Sharjah"),
            ("Ajman", "Ajman"),
            ("Ras Al Khaimah", "Ras Al Khaimah"),
            ("Fujairah", "Fujairah"),
        ],
        [("arabic", 45), ("indian", 20), ("filipino", 12), ("western", 15), ("malay", 3), ("chinese", 5)],
    ),
    (
        "SA",
        20,
        [
            ("Riyadh", "Riyadh"),
            ("Jeddah", "Makkah"),
            ("Mecca", "Makkah"),
            ("Medina", "Madinah"),
            ("Dammam", "Eastern Province"),
            ("Khobar", "Eastern Province"),
        ],
        [("arabic", 75), ("indian", 13), ("filipino", 8), ("western", 4)],
    ),
    (
        "MY",
        25,
        [
            ("Kuala Lumpur", "Wilayah Persekutuan"),
            ("Petaling Jaya", "Selangor"),
            ("Shah Alam", "Selangor"),
            ("Johor Bahru", "Johor"),
            ("George Town", "Pulau Pinang"),
            ("Ipoh", "Perak"),
            ("Kota Kinabalu", "Sabah"),
            ("Kuching", "Sarawak"),
            ("Melaka", "Melaka"),
        ],
        [("malay", 60), ("chinese", 25), ("indian", 15)],
    ),
    (
        "SG",
        15,
        [
            ("Singapore", "Central"),
            ("Singapore", "East"),
            ("Singapore", "North"),
            ("Singapore", "North-East"),
            ("Singapore", "West"),
        ],
        [("chinese", 60), ("malay", 15), ("indian", 15), ("western", 10)],
    ),
]
# Mobile prefixes after the country code, and how many digits follow.
_MOBILE = {
    "AE": ("+971", ["50", "52", "54", "55", "56", "58"], 7),
    "SA": ("+966", ["50", "53", "54", "55", "56", "58", "59"], 7),
    "MY": ("+60", ["12", "13", "14", "16", "17", "19"], 7),
    "SG": ("+65", ["8", "9"], 7),
}
_EMAIL_DOMAINS = ["example.com", "example.net", "example.org"]
_CHANNELS = [("pos", 50), ("app", 25), ("web", 15), ("call_centre", 5), ("staff", 5)]
# Activity segments: share of members, purchases per 1,000 member-days, basket bands (AED) and their weights.
_BANDS = [(20, 80), (80, 250), (250, 600), (600, 2_000)]
_SEGMENTS = {
    "dormant": (15, 3, [50, 40, 10, 0]),
    "light": (40, 8, [35, 45, 17, 3]),
    "regular": (30, 20, [25, 45, 22, 8]),
    "heavy": (15, 45, [10, 35, 35, 20]),
}
# Monthly chance (per mille) that a member with enough points redeems a voucher.
_REDEEM_PER_MILLE = {"dormant": 50, "light": 250, "regular": 400, "heavy": 500}
_VOUCHERS = [(500, "AED 5 voucher"), (1_000, "AED 10 voucher"), (2_000, "AED 20 voucher"), (5_000, "AED 50 voucher")]
_STORES = {
    "AE": ["DXB-MOE", "DXB-DM", "AUH-YAS", "SHJ-CITY", "AAN-BAWADI"],
    "SA": ["RUH-PARK", "JED-RED", "DMM-DHAHRAN"],
    "MY": ["KUL-KLCC", "PJ-1U", "JB-CITY", "PEN-GURNEY"],
    "SG": ["SIN-ION", "SIN-VIVO", "SIN-JEM"],
}
_BLOCK_EVERY = 150
_BLOCK_REASONS = ["Card reported stolen", "Suspected card sharing", "Duplicate account under review"]
WELCOME_BONUS = 200
WELCOME_BONUS_DAYS = 90
EID_BONUS = 300


def _mobile_number(rng: random.Random, country: str) -> str:
    code, prefixes, digits = _MOBILE[country]
    while True:
        number = code + rng.choice(prefixes) + "".join(str(rng.randrange(10)) for _ in range(digits))
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number


def _email_local(*parts: str) -> str:
    words = " ".join(parts).lower().replace("'", "").replace("-", " ").split()
    return ".".join(words)


def _person(rng: random.Random, group: str, country: str) -> dict:
    """First and last name, gender, preferred language, and the Latin spelling for the email address."""
    female = rng.randrange(2) == 0
    gender = Member.Gender.FEMALE if female else Member.Gender.MALE
    if group == "arabic":
        first = rng.choice(_ARABIC_FEMALE if female else _ARABIC_MALE)
        family = rng.choice(_ARABIC_FAMILY)
        latin = (first[0], family[0])
        arabic_script = rng.randrange(100) < (60 if country == "SA" else 45)
        names = (first[1], family[1]) if arabic_script else latin
        language = "ar" if arabic_script or rng.randrange(2) == 0 else "en"
    elif group == "malay":
        first_name = rng.choice(_MALAY_FEMALE if female else _MALAY_MALE)
        last_name = ("binti " if female else "bin ") + rng.choice(_MALAY_FATHERS)
        names = latin = (first_name, last_name)
        language = "ms" if rng.randrange(100) < 80 else "en"
    else:
        pools = {
            "chinese": (_CHINESE_FEMALE, _CHINESE_MALE, _CHINESE_FAMILY),
            "indian": (_INDIAN_FEMALE, _INDIAN_MALE, _INDIAN_FAMILY),
            "filipino": (_FILIPINO_FEMALE, _FILIPINO_MALE, _FILIPINO_FAMILY),
            "western": (_WESTERN_FEMALE, _WESTERN_MALE, _WESTERN_FAMILY),
        }[group]
        names = latin = (rng.choice(pools[0] if female else pools[1]), rng.choice(pools[2]))
        language = "ms" if country == "MY" and rng.randrange(100) < 20 else "en"
    return {"names": names, "latin": latin, "gender": gender, "language": language}


def _weighted(rng: random.Random, pairs):
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights)[0]


@dataclass
class _Profile:
    index: int
    fields: dict
    joined_at: datetime.datetime
    segment: str
    country: str
    member: Member | None = None
    account: PointAccount | None = None
    # Online credits the simulated clock may still consider pending: entry id -> (activates_at, points).
    pending: dict = field(default_factory=dict)


def _profiles(rng: random.Random, count: int, now: datetime.datetime, window_start: datetime.datetime):
    profiles = []
    used_emails: set[str] = set()
    for index in range(count):
        country, _, cities, groups = rng.choices(_COUNTRIES, weights=[c[1] for c in _COUNTRIES])[0]
        person = _person(rng, _weighted(rng, groups), country)
        city, region = rng.choice(cities)
        fields = {
            "first_name": person["names"][0],
            "last_name": person["names"][1],
            "gender": person["gender"],
            "preferred_language": person["language"],
            "city": city,
            "region": region,
            "country": country,
            "birth_date": datetime.date(1955, 1, 1) + datetime.timedelta(days=rng.randrange(50 * 365)),
        }
        if rng.randrange(100) < 90:
            fields["phone"] = _mobile_number(rng, country)
        if rng.randrange(100) < 85:
            local = _email_local(*person["latin"])
            email = f"{local}@{rng.choice(_EMAIL_DOMAINS)}"
            while email in used_emails:
                email = f"{local}{rng.randrange(10, 1000)}@{rng.choice(_EMAIL_DOMAINS)}"
            used_emails.add(email)
            fields["email"] = email
        if rng.randrange(100) < 55:
            joined_at = window_start - datetime.timedelta(minutes=rng.randrange(60, 1_000 * 24 * 60))
        else:
            minutes = (now - window_start) // datetime.timedelta(minutes=1)
            joined_at = window_start + datetime.timedelta(minutes=rng.randrange(minutes))
        segment = _weighted(rng, [(name, spec[0]) for name, spec in _SEGMENTS.items()])
        fields["enrollment_channel"] = _weighted(rng, _CHANNELS)
        profiles.append(_Profile(index, fields, joined_at, segment, country))
    profiles.sort(key=lambda profile: profile.joined_at)
    for number, profile in enumerate(profiles, start=1):
        profile.fields["external_id"] = f"GR{1_000_000 + number}"
    return profiles


# --------------------------------------------------------------------------------------------------------------
# Program and tiers


def _program_create() -> Program:
    program = program_save(
        program=Program(
            code=DEMO_PROGRAM_CODE,
            name="Gulf Rewards",
            points_name="Gulf Points",
            currency="AED",
            earn_rate=Decimal("1"),
            point_value=Decimal("0.01"),
            rounding=Program.Rounding.DOWN,
            pending_days=14,
            expiry_policy=Program.ExpiryPolicy.ROLLING,
            expiry_period=12,
            expiry_period_unit=Program.PeriodUnit.MONTHS,
            expiry_round_to_period_end=True,
            negative_balance_policy=Program.NegativeBalancePolicy.FORBID,
            timezone="Asia/Dubai",
            nightly_hour=2,
            expiry_warning_days=30,
        )
    )
    common = {"program": program, "metric": Tier.Metric.SPEND, "window": Tier.Window.ROLLING_MONTHS}
    tiers = [
        Tier(code="silver", name="Silver", rank=0, threshold=Decimal("0"), **common, window_months=12),
        Tier(
            code="gold",
            name="Gold",
            rank=1,
            threshold=Decimal("2500"),
            earn_multiplier=Decimal("1.25"),
            downgrade_grace_days=90,
            window_months=12,
            **common,
        ),
        Tier(
            code="platinum",
            name="Platinum",
            rank=2,
            threshold=Decimal("5000"),
            earn_multiplier=Decimal("1.50"),
            downgrade_grace_days=90,
            window_months=12,
            **common,
        ),
    ]
    tiers_save(program=program, tiers=tiers)
    return program


# --------------------------------------------------------------------------------------------------------------
# The simulation


@dataclass
class DemoResult:
    members: int
    entries: int
    pending_lots: int
    lots_expiring_soon: int
    accounts_by_tier: dict[str, int]
    seconds: float


class _Simulation:
    def __init__(self, *, program: Program, rng: random.Random, now: datetime.datetime, members: int):
        self.program = program
        self.rng = rng
        self.now = now
        self.zone = zoneinfo.ZoneInfo(program.timezone)
        today = now.astimezone(self.zone).date()
        first_day = today - datetime.timedelta(days=HISTORY_DAYS)
        self.days = [first_day + datetime.timedelta(days=offset) for offset in range(HISTORY_DAYS + 1)]
        self.window_start = self._at(first_day, 0)
        self.profiles = _profiles(rng, members, now, self.window_start)
        self.queue: list = []
        self.sequence = itertools.count()
        self.references = itertools.count(100_001)
        self.multipliers: dict[int, Decimal] = {}
        # When lots created so far expire (a heap): the nightly expiry runs only on nights it has work.
        self.expiries: list[datetime.datetime] = []

    def _at(self, day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
        return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=self.zone)

    def _push(self, moment: datetime.datetime, action: str, profile: _Profile, **data) -> None:
        if moment < self.now:
            heapq.heappush(self.queue, (moment, next(self.sequence), action, profile, data))

    def _daytime(self, day: datetime.date) -> datetime.datetime:
        return self._at(day, 9) + datetime.timedelta(minutes=self.rng.randrange(14 * 60))

    def plan(self) -> None:
        """Queue every member's joining, purchases, monthly redemption checks and the Eid bonus."""
        eid_day = self.days[-75]
        for profile in self.profiles:
            self._push(max(profile.joined_at, self.window_start), "join", profile)
            _, per_thousand, weights = _SEGMENTS[profile.segment]
            for offset, day in enumerate(self.days):
                start = self._at(day, 0)
                if start + datetime.timedelta(days=1) <= profile.joined_at:
                    continue
                if self.rng.randrange(1_000) < per_thousand:
                    moment = max(self._daytime(day), profile.joined_at + datetime.timedelta(minutes=5))
                    band = self.rng.choices(_BANDS, weights=weights)[0]
                    amount = Decimal(self.rng.randint(band[0] * 100, band[1] * 100)) / 100
                    online = self.rng.randrange(100) < 30
                    self._push(moment, "purchase", profile, amount=amount, online=online)
                if offset % 30 == 15:
                    # About monthly; counted from the first day so the draws do not depend on the calendar.
                    self._push(self._daytime(day), "redeem_check", profile)
            if profile.segment != "dormant" and profile.joined_at < self._at(eid_day, 0) and self.rng.randrange(2):
                self._push(self._at(eid_day, 10), "eid_bonus", profile)

    def run(self) -> None:
        nights = [self._at(day, self.program.nightly_hour) for day in self.days[1:]]
        night_index = 0
        while self.queue:
            moment, _, action, profile, data = heapq.heappop(self.queue)
            while night_index < len(nights) and nights[night_index] <= moment:
                self._nightly(nights[night_index], weekly=night_index % 7 == 6)
                night_index += 1
            if action == "join" or profile.account is not None:
                getattr(self, f"_do_{action}")(moment, profile, **data)
        while night_index < len(nights) and nights[night_index] <= self.now:
            self._nightly(nights[night_index], weekly=False)
            night_index += 1
        lots_expire_due(now=self.now, program=self.program)
        tiers_evaluate(program=self.program, now=self.now)
        # A few members blocked by support, so the console shows what that looks like.
        for profile in self.profiles[::_BLOCK_EVERY]:
            member_block(member=profile.member, reason=self.rng.choice(_BLOCK_REASONS))

    def _nightly(self, night: datetime.datetime, *, weekly: bool) -> None:
        if self.expiries and self.expiries[0] <= night:
            while self.expiries and self.expiries[0] <= night:
                heapq.heappop(self.expiries)
            lots_expire_due(now=night, program=self.program)
        if weekly:
            tiers_evaluate(program=self.program, now=night)
            self.multipliers = dict(
                PointAccount.objects.filter(program=self.program).values_list("pk", "tier__earn_multiplier")
            )

    def _spendable(self, profile: _Profile, moment: datetime.datetime) -> int:
        """Available points as the simulated clock sees them: less what is still pending at ``moment``."""
        available = PointAccount.objects.values_list("available", flat=True).get(pk=profile.account.pk)
        profile.pending = {key: value for key, value in profile.pending.items() if value[0] > moment}
        return available - sum(points for activates_at, points in profile.pending.values() if activates_at <= self.now)

    def _do_join(self, moment: datetime.datetime, profile: _Profile) -> None:
        fields = dict(profile.fields)
        profile.member = member_create(joined_at=profile.joined_at, **fields)
        profile.account = member_enroll(member=profile.member, program=self.program, enrolled_at=profile.joined_at)
        if profile.joined_at >= self.window_start:
            expires = self._at(
                (profile.joined_at + datetime.timedelta(days=WELCOME_BONUS_DAYS)).astimezone(self.zone).date(), 0
            ) + datetime.timedelta(days=1)
            heapq.heappush(self.expiries, expires)
            points_credit(
                account=profile.account,
                points=WELCOME_BONUS,
                source=SOURCE,
                reason="Welcome bonus",
                effective_at=moment,
                activates_at=moment,
                expires_at=expires,
                metadata={"campaign": "welcome"},
            )

    def _do_purchase(self, moment: datetime.datetime, profile: _Profile, *, amount: Decimal, online: bool) -> None:
        multiplier = self.multipliers.get(profile.account.pk) or Decimal("1")
        points = points_for_amount(self.program, amount, multiplier)
        if points <= 0:
            return
        number = next(self.references)
        if online:
            reference, metadata = f"WEB-{number}", {"channel": "online"}
        else:
            store = self.rng.choice(_STORES[profile.country])
            reference, metadata = f"POS-{store}-{number}", {"channel": "store", "store": store}
        if multiplier != 1:
            metadata["tier_multiplier"] = str(multiplier)
        entry = points_credit(
            account=profile.account,
            points=points,
            source=SOURCE,
            external_reference=reference,
            effective_at=moment,
            # In store the points are there at once; online they wait out the return window (pending days).
            activates_at=None if online else moment,
            spend_amount=amount,
            metadata=metadata,
        )
        expires = lot_expiry(self.program, moment)
        if expires is not None:
            heapq.heappush(self.expiries, expires)
        if online:
            profile.pending[entry.pk] = (moment + datetime.timedelta(days=self.program.pending_days), points)
        if self.rng.randrange(100) < 3:
            returned_at = moment + datetime.timedelta(days=self.rng.randint(1, 10), hours=self.rng.randint(0, 5))
            partial = points > 10 and self.rng.randrange(100) < 30
            share = self.rng.randint(1, points - 1) if partial else points
            self._push(returned_at, "return", profile, entry=entry, points=share)

    def _do_return(self, moment: datetime.datetime, profile: _Profile, *, entry: LedgerEntry, points: int) -> None:
        try:
            entry_reverse(
                entry=entry,
                source=SOURCE,
                points=None if points == entry.points else points,
                reason="Goods returned" if points == entry.points else "Part of the purchase returned",
                external_reference=f"RET-{entry.external_reference}",
            )
        except InsufficientPoints:
            # The member has already spent those points; the shop keeps the goods' points as they are.
            return
        if entry.pk in profile.pending:
            activates_at, pending = profile.pending[entry.pk]
            profile.pending[entry.pk] = (activates_at, max(pending - points, 0))

    def _do_redeem_check(self, moment: datetime.datetime, profile: _Profile) -> None:
        if self.rng.randrange(1_000) >= _REDEEM_PER_MILLE[profile.segment]:
            return
        spendable = self._spendable(profile, moment)
        choices = [voucher for voucher in _VOUCHERS if voucher[0] <= spendable]
        if not choices:
            return
        points, reward = self.rng.choice(choices)
        entry = points_debit(
            account=profile.account,
            points=points,
            source=SOURCE,
            external_reference=f"RDM-{next(self.references)}",
            effective_at=moment,
            metadata={"reward": reward},
        )
        if self.rng.randrange(100) < 4:
            self._push(moment + datetime.timedelta(days=self.rng.randint(1, 5)), "refund", profile, entry=entry)

    def _do_refund(self, moment: datetime.datetime, profile: _Profile, *, entry: LedgerEntry) -> None:
        entry_reverse(entry=entry, source=SOURCE, reason="Voucher cancelled", external_reference=f"CXL-{entry.pk}")

    def _do_eid_bonus(self, moment: datetime.datetime, profile: _Profile) -> None:
        # A seasonal bonus whose points lapse a few weeks from now, so the demo has points about to expire.
        expires = self._at(self.days[-1] + datetime.timedelta(days=20), 0)
        heapq.heappush(self.expiries, expires)
        points_credit(
            account=profile.account,
            points=EID_BONUS,
            source=SOURCE,
            reason="Eid bonus",
            effective_at=moment,
            activates_at=moment,
            expires_at=expires,
            metadata={"campaign": "eid"},
        )


def demo_load(*, members: int = DEFAULT_MEMBERS, seed: int = DEFAULT_SEED) -> DemoResult | None:
    """Load the demo program once; return None (and write nothing) when it is already there."""
    started = time.monotonic()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])
        if Program.objects.filter(code=DEMO_PROGRAM_CODE).exists():
            return None
        program = _program_create()
        rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not a secret
        simulation = _Simulation(program=program, rng=rng, now=timezone.now(), members=members)
        simulation.plan()
        simulation.run()
        soon = simulation.now + datetime.timedelta(days=30)
        lots = PointLot.objects.filter(account__program=program, remaining__gt=0)
        tiers = dict.fromkeys(Tier.objects.filter(program=program).order_by("rank").values_list("name", flat=True), 0)
        for name in PointAccount.objects.filter(program=program).values_list("tier__name", flat=True):
            tiers[name] += 1
        return DemoResult(
            members=PointAccount.objects.filter(program=program).count(),
            entries=LedgerEntry.objects.filter(account__program=program).count(),
            pending_lots=lots.filter(activated_at__isnull=True).count(),
            lots_expiring_soon=lots.filter(expires_at__gt=simulation.now, expires_at__lte=soon).count(),
            accounts_by_tier=tiers,
            seconds=time.monotonic() - started,
        )


__all__ = ["DEMO_PROGRAM_CODE", "DemoResult", "demo_load"]
