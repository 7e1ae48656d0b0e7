"""``pypireg hook``: webhooks of projects and groups (docs/webhooks.md): add one (its secret
is printed once), list them, remove one, send a test event, read the deliveries."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ..models import CLI
from .common import open_registry, print_table

if TYPE_CHECKING:
    from ..app import Registry
    from ..models import Group, Project


def add_commands(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
                 data: argparse.ArgumentParser) -> None:
    hook = commands.add_parser(
        "hook", help="webhooks: signed HTTP POSTs to a URL when packages change")
    actions = hook.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[data],
                             help="add a webhook; prints its id, then its secret (shown once)")
    add.add_argument("owner", metavar="PROJECT_OR_GROUP", help="a project's or group's path or id")
    add.add_argument("url", metavar="URL")
    add.add_argument("--event", action="append", dest="events", metavar="NAME",
                     help="an event to send (repeatable; default: every one)")
    _allow_local(add)
    add.set_defaults(run=_add)
    listing = actions.add_parser("list", parents=[data], help="the webhooks of a project or group")
    listing.add_argument("owner", metavar="PROJECT_OR_GROUP")
    listing.add_argument("--json", action="store_true", help="JSON, as the API answers")
    listing.set_defaults(run=_list)
    for action, text, run in (("remove", "remove a webhook", _remove),
                              ("test", "send a hook.test event now, and say how it went", _test),
                              ("deliveries", "what was sent to a webhook, newest first",
                               _deliveries)):
        each = actions.add_parser(action, parents=[data], help=text)
        each.add_argument("owner", metavar="PROJECT_OR_GROUP")
        each.add_argument("hook_id", metavar="ID", type=int)
        if action == "test":
            _allow_local(each)
        if action == "deliveries":
            each.add_argument("--limit", type=int, default=20, metavar="N")
            each.add_argument("--json", action="store_true", help="JSON, as the API answers")
        each.set_defaults(run=run)


def _allow_local(parser: argparse.ArgumentParser) -> None:
    """``--hooks-allow-local``, as ``serve`` takes it (default: its variable)."""
    from ..settings import add_flags

    add_flags(parser, ["hooks_allow_local"])


def _owner(args: argparse.Namespace) -> tuple[Registry, Project | Group]:
    import os

    from ..catalog import CatalogError
    from ..settings import Settings

    registry = open_registry(args)
    if "hooks_allow_local" in vars(args):
        allowed = Settings.read({"hooks_allow_local": args.hooks_allow_local},
                                os.environ).hooks_allow_local
        registry.hooks_allow_local = registry.deliverer.allow_local = allowed
    catalog = registry.catalog
    found: Project | Group | None = catalog.project(args.owner) or catalog.group(args.owner)
    if found is None:
        raise CatalogError(f"no project or group {args.owner!r}")
    return registry, found


def _add(args: argparse.Namespace) -> int:
    registry, owner = _owner(args)
    hook = registry.add_hook(owner, args.url, events=args.events, actor=CLI)
    print(f"added webhook {hook.id} of {owner.path} to {hook.url} for {', '.join(hook.events)};"
          " its secret, shown this once, follows")
    print(hook.id)
    print(hook.secret)
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..hooks import hook_json

    registry, owner = _owner(args)
    hooks = registry.hooks(owner)
    if args.json:
        print(json.dumps([hook_json(h) for h in hooks], indent=2))
    elif not hooks:
        print(f"no webhooks in {owner.path}")
    else:
        print_table([["ID", "URL", "EVENTS", "ENABLED", "CREATED"], *(
            [str(h.id), h.url, ",".join(h.events), "yes" if h.enabled else
             f"no: {h.disabled_reason}" if h.disabled_reason else "no", h.created_at]
            for h in hooks)])
    return 0


def _remove(args: argparse.Namespace) -> int:
    registry, owner = _owner(args)
    hook = registry.remove_hook(owner, args.hook_id, actor=CLI)
    print(f"removed webhook {hook.id} of {owner.path} ({hook.url})")
    return 0


def _test(args: argparse.Namespace) -> int:
    registry, owner = _owner(args)
    delivery = registry.test_hook(owner, args.hook_id)
    if delivery.status == "delivered":
        print(f"delivered: {delivery.webhook_id} answered {delivery.last_status}")
        return 0
    print(f"not delivered: {delivery.last_error}")
    return 1


def _deliveries(args: argparse.Namespace) -> int:
    from ..hooks import delivery_json

    registry, owner = _owner(args)
    found, total = registry.hook_deliveries(owner, args.hook_id, limit=max(1, args.limit))
    if args.json:
        attempts = registry.hook_attempts(found)
        print(json.dumps([delivery_json(d, attempts[d.id]) for d in found], indent=2))
        return 0
    if not found:
        print(f"no deliveries to webhook {args.hook_id}")
        return 0
    print_table([["ID", "EVENT", "STATUS", "ATTEMPTS", "LAST", "CREATED", "DELIVERED"], *(
        [str(d.id), d.event, d.status, str(d.attempts),
         str(d.last_status) if d.last_status is not None else (d.last_error or "-")[:60],
         d.created_at, d.delivered_at or "-"] for d in found)])
    if total > len(found):
        print(f"... and {total - len(found)} older (--limit, or the API pages through all)")
    return 0
