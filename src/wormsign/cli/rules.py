"""``wormsign rules``: list, show and check rule packs."""

from __future__ import annotations

import argparse
import sys

import yaml

from wormsign.detect.prefilter import keywords
from wormsign.errors import WormsignError
from wormsign.logs.text import safe
from wormsign.rules.loader import load_pack


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("rules", help="list, show and check detection rules",
                       description="Inspect the rule pack (built-in plus --rules files).")
    p.add_argument("--rules", action="append", default=[], metavar="PATH",
                   help="extra rule file or directory (repeatable)")
    p.add_argument("--no-builtin-rules", action="store_true", help="use only --rules")
    rs = p.add_subparsers(dest="rules_command", metavar="ACTION")
    actions = [rs.add_parser("list", help="one line per rule"),
               rs.add_parser("show", help="a rule in full, as YAML"),
               rs.add_parser("check", help="validate the rule files; report every problem")]
    actions[1].add_argument("id")
    for a in actions:  # `wormsign rules check --rules my.yml` works as well
        a.add_argument("--rules", action="append", default=argparse.SUPPRESS, metavar="PATH",
                       help="extra rule file or directory (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    pack = load_pack(args.rules, builtin=not args.no_builtin_rules)
    action = args.rules_command or "list"
    if action == "list":
        print(f"{'ID':<24} {'FAMILY':<15} {'SEVERITY':<9} {'PRIO':>4}  TITLE")
        for r in sorted(pack.rules, key=lambda r: (-r.priority, r.id)):
            slow = "" if keywords(r) is not None else "  [no keyword: checks every line]"
            print(f"{r.id:<24} {safe(r.family):<15} {r.severity:<9} {r.priority:>4}  "
                  f"{safe(r.title)}{slow}")
        return 0
    if action == "show":
        rule = pack.get(args.id)
        if rule is None:
            raise WormsignError(f"no rule {args.id!r} (see `wormsign rules list`)")
        d = rule.to_dict()
        d["source"] = f"{rule.source}:{rule.line}" if rule.line else rule.source
        text = yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=100)
        # rule text comes from users: no bidi override or control character reaches the
        # terminal raw (line by line, so that the YAML keeps its shape)
        sys.stdout.write("\n".join(safe(line) for line in text.split("\n")))
        return 0
    regexes = sum(1 for r in pack.rules for conj in r.match for c in conj if c.op == "re")
    print(f"ok: {len(pack.rules)} rules, {len(pack.families)} families "
          f"({regexes} regular expressions, all run on RE2 in linear time)")
    return 0
