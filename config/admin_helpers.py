"""Building blocks shared by every app's admin.

- ``add_domain_error``: the one place a ``DomainError`` becomes a form error (on the field it names, or on the
  form as a whole), so an admin view never swallows a service error.
- ``service_form_view``: a small admin page whose form calls one service; success is a message and a redirect,
  a domain error is shown on the form and nothing is written (the service's transaction rolls back).
- ``EstimatedCountPaginator``: changelists of big tables take the planner's estimate instead of ``COUNT(*)``
  when it promises many rows.
- ``IdentifierSearchMixin``: prefix search on identifiers that the indexes can serve.
- ``ReadOnlyAdminMixin``: history (the ledger and what hangs off it) is shown, never added, changed or deleted.
"""

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Model, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.functional import cached_property
from django.utils.translation import gettext

from config.errors import DomainError

ACTION_FORM_TEMPLATE = "admin/members/action_form.html"


class ConfirmForm(forms.Form):
    """An action that needs no input, only a confirming POST."""


def add_domain_error(form: forms.BaseForm, error: DomainError) -> None:
    """Show a domain error on the form field it names, or above the form when it names none of its fields."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


def object_for_action(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str, *, allowed: bool) -> Model:
    """The object an action page is about: 403 without the permission, 404 when it does not exist."""
    if not allowed:
        raise PermissionDenied
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404(gettext("The requested object does not exist."))
    return obj


def service_form_view(
    request: HttpRequest,
    *,
    model_admin: admin.ModelAdmin,
    obj: Model,
    form_class: type[forms.Form],
    perform: Callable[[dict[str, Any]], Any],
    title: str,
    success_message: Callable[[Any], str],
    redirect_url: str,
    log_message: str | None = None,
    extra_context: dict[str, Any] | None = None,
) -> HttpResponse:
    """Render ``form_class`` for ``obj``; on a valid POST call ``perform(cleaned_data)`` (a service call).

    ``log_message`` records the action in the object's admin history, so blocks and adjustments show there.
    """
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            try:
                result = perform(form.cleaned_data)
            except DomainError as error:
                add_domain_error(form, error)
            else:
                if log_message:
                    model_admin.log_change(request, obj, log_message)
                model_admin.message_user(request, success_message(result), messages.SUCCESS)
                return HttpResponseRedirect(redirect_url)
    else:
        form = form_class()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": str(obj),
        "form": form,
        "object": obj,
        "opts": model_admin.opts,
        "cancel_url": redirect_url,
        **(extra_context or {}),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, ACTION_FORM_TEMPLATE, context)


class EstimatedCountPaginator(Paginator):
    """A paginator that asks the planner before counting rows of a big table.

    ``COUNT(*)`` reads every matching row (tens of millions for the ledger, millions for a filter such as
    "source = partner"); the planner's estimate is free and close enough for "about how many pages". The whole
    table is estimated from ``pg_class.reltuples``, a filtered list from the plan's row estimate. Lists the
    planner expects to be small (searches, narrow filters) and small tables get an exact count, so the figures
    people act on are exact.
    """

    exact_below = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is None:
            return super().count
        estimate = self._table_estimate(queryset) if not query.where else self._plan_estimate(queryset)
        return estimate if estimate >= self.exact_below else super().count

    @staticmethod
    def _table_estimate(queryset) -> int:
        # A partitioned table (the ledger may become one) has no rows of its own: add up its partitions'.
        sql = """
            SELECT COALESCE(SUM(c.reltuples) FILTER (WHERE c.reltuples > 0), -1)::bigint
            FROM pg_class c
            WHERE c.oid = to_regclass(%s)
               OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass(%s))
        """
        table = queryset.model._meta.db_table
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(sql, [table, table])
            return cursor.fetchone()[0]

    @staticmethod
    def _plan_estimate(queryset) -> int:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
        with connections[queryset.db].cursor() as cursor:
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return int(plan[0]["Plan"]["Plan Rows"])


class ReadOnlyAdminMixin:
    """History is shown, never written from the admin: no add, change or delete, and no bulk actions."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class BigTableAdminMixin:
    """Changelist settings that keep a table of millions of rows fast."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Facet counts run one COUNT per filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50


def _unchanged(term: str) -> str:
    return term


class IdentifierSearchMixin:
    """Search by identifiers with lookups that use their indexes.

    Django's ``^field`` becomes ``UPPER(field::text) LIKE UPPER('term%')``, which no plain index serves; here
    each entry of ``search_fields`` is a lookup used as written (``external_id__startswith`` becomes
    ``external_id LIKE 'term%'``, served by a ``varchar_pattern_ops`` index). ``search_term_normalisers`` may
    reshape the term per lookup (e.g. lower-case for stored-lower-case email) or return ``None`` to skip it.
    The whole term is one identifier: it is not split into words.
    """

    search_term_normalisers: dict[str, Callable[[str], str | None]] = {}

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q()
        for lookup in self.get_search_fields(request):
            value = self.search_term_normalisers.get(lookup, _unchanged)(term)
            if value:
                condition |= Q(**{lookup: value})
        return (queryset.filter(condition) if condition else queryset.none()), False
