"""``wormsign rules``: list, show and check rule packs; export them as Sigma, import Sigma
rules, convert Sigma to SIEM queries (library: :mod:`wormsign.rules.sigma`,
:mod:`wormsign.rules.sigma_import`, :mod:`wormsign.rules.sigma_convert`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from wormsign.detect.prefilter import keywords
from wormsign.errors import RuleError, WormsignError
from wormsign.logs.text import safe
from wormsign.rules.loader import load_pack
from wormsign.rules.netloader import load_network_pack, split_rule_files
from wormsign.rules.sigma import export_pack, to_yaml
from wormsign.validation import read_bounded


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("rules", help="list, show and check detection rules",
                       description="Inspect the rule pack (built-in plus --rules files).")
    p.add_argument("--rules", action="append", default=[], metavar="PATH",
                   help="extra rule file or directory (repeatable)")
    p.add_argument("--no-builtin-rules", action="store_true", help="use only --rules")
    rs = p.add_subparsers(dest="rules_command", metavar="ACTION")
    actions = [rs.add_parser("list", help="one line per rule"),
               rs.add_parser("show", help="a rule in full, as YAML"),
               rs.add_parser("check", help="validate the rule files; report every problem"),
               rs.add_parser("export", help="every rule as a Sigma rule (multi-document YAML)"),
               rs.add_parser("import", help="Sigma webserver/proxy rules as a wormsign rule "
                             "file; refuses what cannot be expressed, saying why"),
               rs.add_parser("convert", help="Sigma rules (default: the rule pack, exported) "
                             "as queries of a SIEM, through the installed pySigma backends")]
    actions[1].add_argument("id")
    _register_sigma(*actions[3:])
    for a in actions:  # `wormsign rules check --rules my.yml` works as well
        a.add_argument("--rules", action="append", default=argparse.SUPPRESS, metavar="PATH",
                       help="extra rule file or directory (repeatable)")
    p.set_defaults(func=run)


def _register_sigma(export: argparse.ArgumentParser, imp: argparse.ArgumentParser,
                    conv: argparse.ArgumentParser) -> None:
    export.add_argument("--format", choices=["sigma"], default="sigma",
                        help="output format (default: sigma)")
    export.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    export.add_argument("--exact-only", action="store_true",
                        help="leave out rules that Sigma can only approximate")
    imp.add_argument("file", metavar="FILE.yml", help="a Sigma rule file (one or more rules)")
    imp.add_argument("-o", "--output", metavar="FILE", help="write the wormsign rule file "
                     "here (default: stdout)")
    conv.add_argument("files", nargs="*", metavar="FILE.yml",
                      help="Sigma rule files (default: the loaded rules, exported)")
    conv.add_argument("--target", required=True,
                      help="pySigma backend: splunk, elasticsearch (lucene), esql, eql, ...")
    conv.add_argument("--pipeline", metavar="NAME", help="field names: ecs, cim, none or an "
                      "installed pySigma pipeline (default: ecs for Elasticsearch targets, "
                      "cim for Splunk)")
    conv.add_argument("--json", action="store_true", help="one JSON list of results")


def _write(text: str, output: str | None) -> None:
    """Rule text (from users' files) to ``output`` or stdout; on a terminal, with control
    and bidi characters escaped (a file or pipe gets the text unchanged)."""
    if output:
        Path(output).write_text(text, encoding="utf-8")
    elif sys.stdout.isatty():
        sys.stdout.write("\n".join(safe(line) for line in text.split("\n")))
    else:
        sys.stdout.write(text)


def _export(args: argparse.Namespace) -> int:
    pack = load_pack(args.rules, builtin=not args.no_builtin_rules)
    exports = export_pack(pack)
    approx = [e for e in exports if not e.exact]
    if args.exact_only:
        exports = [e for e in exports if e.exact]
    _write(to_yaml(exports), args.output)
    print(f"exported {len(exports)} rules as Sigma; {len(approx)} approximated "
          f"({'left out' if args.exact_only else 'each says how in its description'}): "
          f"{', '.join(e.rule_id for e in approx) or 'none'}", file=sys.stderr)
    return 0


def _read(path: str) -> str:
    try:
        return read_bounded(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise WormsignError(f"{path}: cannot read: {exc}") from None


def _import(args: argparse.Namespace) -> int:
    from wormsign.cli.main import require_extra

    require_extra("sigma", "wormsign rules import")
    from wormsign.rules.sigma_import import import_text

    result = import_text(_read(args.file), args.file)
    for problem in result.refused + result.warnings:
        print(safe(f"wormsign: {problem}"), file=sys.stderr)
    if not result.rules:
        raise RuleError(list(result.refused)) if result.refused else WormsignError(
            f"{args.file}: no Sigma rules in it")
    doc = {"rules": [r.to_dict() for r in result.rules]}
    _write(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100), args.output)
    print(f"imported {len(result.rules)} rules, refused {len(result.refused)}",
          file=sys.stderr)
    return 2 if result.refused else 0


def _convert(args: argparse.Namespace) -> int:
    from wormsign.cli.main import require_extra

    require_extra("sigma", "wormsign rules convert")
    from wormsign.rules.sigma_convert import convert

    if args.files:
        texts = [_read(f) for f in args.files]
    else:
        texts = [to_yaml(export_pack(load_pack(args.rules,
                                                builtin=not args.no_builtin_rules)))]
    results = [c for text in texts for c in convert(text, args.target, args.pipeline)]
    if args.json:
        print(json.dumps([{"name": c.name, "title": c.title, "queries": list(c.queries),
                           "error": c.error, "warning": c.warning} for c in results],
                         ensure_ascii=False, indent=1))
    for c in results:
        if c.error is not None:
            print(safe(f"wormsign: rule {c.name}: cannot convert for {args.target}: "
                       f"{c.error}"), file=sys.stderr)
        elif c.warning is not None:
            print(safe(f"wormsign: rule {c.name}: {c.warning}"), file=sys.stderr)
        if not args.json and c.queries:
            print(safe(f"# {c.name}: {c.title}"))
            for q in c.queries:
                print("\n".join(safe(line) for line in q.split("\n")))
    return 2 if any(c.error is not None for c in results) else 0


def run(args: argparse.Namespace) -> int:
    action = args.rules_command or "list"
    sigma = {"export": _export, "import": _import, "convert": _convert}.get(action)
    if sigma is not None:
        return sigma(args)
    request_rules, network_rules = split_rule_files(args.rules)
    pack = load_pack(request_rules, builtin=not args.no_builtin_rules)
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
    net = load_network_pack(network_rules, builtin=not args.no_builtin_rules)
    print(f"ok: {len(pack.rules)} rules, {len(pack.families)} families "
          f"({regexes} regular expressions, all run on RE2 in linear time); "
          f"{len(net.rules)} network rules")
    return 0
