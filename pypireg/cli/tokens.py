"""``pypireg token``: create, list, revoke and rotate tokens. A secret is printed once, alone
on the last line; nothing else ever shows one."""

from __future__ import annotations

import argparse
import json

from ..auth import TOKEN_KINDS, Grant, InvalidGrant, TokenRecord, expiry, list_tokens
from ..models import CLI
from .common import open_catalog_of, open_registry, print_table


def add_commands(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
                 data: argparse.ArgumentParser) -> None:
    token = commands.add_parser("token", help="manage tokens").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    create = token.add_parser("create", parents=[data],
                              help="create a token; prints its secret (shown only once)")
    create.add_argument("name", metavar="NAME", help="token name (a deploy token's username)")
    create.add_argument("--grant", action="append", required=True, type=_grant,
                        metavar="PATH:ACCESS",
                        help="read, write or delete on a group or project, or '*:admin'"
                             " for the whole registry; repeatable")
    create.add_argument("--kind", choices=TOKEN_KINDS, default="personal",
                        help="personal (default), deploy or job")
    _expiry_options(create)
    create.set_defaults(run=_create)

    listing = token.add_parser("list", parents=[data],
                               help="every token with its grants and state; never a secret")
    listing.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    listing.set_defaults(run=_list)

    revoke = token.add_parser("revoke", parents=[data], help="revoke a token at once")
    revoke.add_argument("id", type=int, metavar="ID", help="the token's id (token list)")
    revoke.set_defaults(run=_revoke)

    rotate = token.add_parser(
        "rotate", parents=[data],
        help="a new secret in place of a token, which is revoked at once; prints the secret")
    rotate.add_argument("id", type=int, metavar="ID", help="the token's id (token list)")
    _expiry_options(rotate, default="the old token's")
    rotate.set_defaults(run=_rotate)


def _expiry_options(command: argparse.ArgumentParser, default: str = "never") -> None:
    when = command.add_mutually_exclusive_group()
    when.add_argument("--expires-in", metavar="DURATION",
                      help=f"expire after this long: 12h, 30d, 8w (default: {default})")
    when.add_argument("--expires-at", metavar="DATE",
                      help="expire at the start of this day, UTC (2027-01-31), or at an ISO"
                           " 8601 time")


def _grant(text: str) -> Grant:
    try:
        return Grant.parse(text)
    except InvalidGrant as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _create(args: argparse.Namespace) -> int:
    when = expiry(expires_in=args.expires_in, expires_at=args.expires_at)
    record, secret = open_registry(args).issue_token(args.name, args.grant, args.kind,
                                                       expires_at=when, actor=CLI)
    grants = ", ".join(f"{g.access} on {g.path}" for g in record.grants)
    until = f", until {record.expires_at}" if record.expires_at else ""
    print(f"created {record.kind} token {record.id} {record.name!r}: {grants}{until}")
    print("the secret below is shown only once:")
    print(secret)
    return 0


def _list(args: argparse.Namespace) -> int:
    records = list_tokens(open_catalog_of(args))
    if args.json:
        print(json.dumps([record.to_json() for record in records], indent=2))
        return 0
    print_table([
        ["ID", "KIND", "NAME", "STATE", "GRANTS", "CREATED", "LAST USED", "EXPIRES"],
        *[[str(r.id), r.kind, r.name, _state(r), " ".join(f"{g.path}:{g.access}"
                                                           for g in r.grants),
           r.created_at, r.last_used_at or "never", r.expires_at or "never"]
          for r in records]])
    return 0


def _revoke(args: argparse.Namespace) -> int:
    record = open_registry(args).revoke_token(args.id, actor=CLI)
    print(f"token {record.id} {record.name!r} is revoked")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    when = expiry(expires_in=args.expires_in, expires_at=args.expires_at)
    record, secret = open_registry(args).rotate_token(args.id, expires_at=when,
                                                        actor=CLI)
    print(f"token {args.id} is revoked; its successor is token {record.id} {record.name!r}")
    print("the secret below is shown only once:")
    print(secret)
    return 0


def _state(record: TokenRecord) -> str:
    return "revoked" if record.revoked else "expired" if record.expired else "active"
