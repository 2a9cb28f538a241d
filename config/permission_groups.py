"""The staff groups Marketing, Support, Finance and Administrator, and the custom permissions they use.

Rights are rules over (app, model, action) rather than lists of permission rows, so models added later get
sensible rights without an edit here: the sync runs in a data migration and again after every ``migrate``
(``analytics.apps``). It only ever adds: a right an operator grants or revokes by hand outside these rules is
left alone, and removing a right from a group is a deliberate migration of its own.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

ALL = "*"
VIEW = ("view",)
EDIT = ("view", "add", "change")
# Custom permissions on models whose apps must not define them themselves (app, model, codename, name).
CUSTOM_PERMISSIONS = (
    ("loyalty", "pointaccount", "adjust_points", "Can adjust points"),
    ("members", "member", "block_member", "Can block and unblock members"),
)
LEDGER_MODELS = ("pointaccount", "ledgerentry", "pointlot", "tierchange")
# Group name -> rules (app label, model names or ALL, actions or ALL). An action is a default action
# ("view", "add", "change", "delete") or the full codename of a custom permission.
GROUPS = {
    "Administrator": [(ALL, ALL, ALL)],
    # Finance sees everything and is the second person who approves large manual adjustments.
    "Finance": [
        *[(app, ALL, VIEW) for app in ("members", "loyalty", "rewards", "campaigns", "analytics")],
        ("loyalty", ("adjustmentrequest",), ("approve",)),
    ],
    "Support": [
        ("members", ("member",), ("view", "change", "block_member")),
        ("loyalty", ("pointaccount",), ("view", "adjust_points")),
        ("loyalty", (*LEDGER_MODELS, "program", "tier", "adjustmentrequest"), VIEW),
    ],
    "Marketing": [
        ("loyalty", ("program", "tier"), EDIT),
        ("loyalty", LEDGER_MODELS, VIEW),
        ("members", ("member",), VIEW),
        ("rewards", ALL, EDIT),
        ("campaigns", ALL, EDIT),
        ("analytics", ALL, VIEW),
    ],
}


def _action(codename: str, model: str) -> str:
    suffix = f"_{model}"
    return codename[: -len(suffix)] if codename.endswith(suffix) else codename


def _matches(rule: tuple, app_label: str, model: str, codename: str) -> bool:
    apps_, models, actions = rule
    return (
        apps_ in (ALL, app_label)
        and (models == ALL or model in models)
        and (actions == ALL or _action(codename, model) in actions or codename in actions)
    )


def sync_permission_groups(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the permissions, the custom permissions and the groups, and give each group its rights."""
    # During migrate, Django creates permissions only after the last migration; create them now.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using, apps=apps)
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    for app_label, model, codename, name in CUSTOM_PERMISSIONS:
        content_type, _ = ContentType.objects.db_manager(using).get_or_create(app_label=app_label, model=model)
        Permission.objects.db_manager(using).get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
    permissions = list(
        Permission.objects.db_manager(using).values_list(
            "pk", "content_type__app_label", "content_type__model", "codename"
        )
    )
    for group_name, rules in GROUPS.items():
        group, _ = Group.objects.db_manager(using).get_or_create(name=group_name)
        granted = [
            pk
            for pk, app_label, model, codename in permissions
            if any(_matches(rule, app_label, model, codename) for rule in rules)
        ]
        group.permissions.add(*granted)


def sync_after_migrate(sender, app_config, using: str = DEFAULT_DB_ALIAS, apps=global_apps, **kwargs) -> None:
    """``post_migrate`` receiver: run the sync once per ``migrate``, after the last app that has models."""
    last = [config for config in global_apps.get_app_configs() if config.models_module][-1]
    if app_config.label == last.label:
        sync_permission_groups(apps=apps, using=using)
