"""Apache ``httpd.conf`` and ``nginx.conf`` audits (line-oriented, comments ignored)."""

from __future__ import annotations

import re

from wormsign.fleet.audit_base import WATCHED, ConfigAudit

_QUIET_TOKENS = ("prod", "productonly", "major")


def audit_apache(text: str, path: str) -> ConfigAudit:
    """Audit an Apache httpd.conf: ServerTokens/ServerSignature, Options Indexes,
    ScriptAlias of /scripts-like directories, handlers for the IIS-only extensions."""
    audit = ConfigAudit(path, "apache")
    tokens_seen = False
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        name = parts[0].lower()
        args = parts[1:]
        if name == "servertokens":
            tokens_seen = True
            if args and args[0].lower() not in _QUIET_TOKENS:
                audit.add("verbose-banner", n, f"ServerTokens {args[0]} discloses version and "
                          "modules (use Prod)")
        elif name == "serversignature" and args and args[0].lower() in ("on", "email"):
            audit.add("verbose-banner", n, f"ServerSignature {args[0]} prints the version on "
                      "error pages", "note")
        elif name == "options" and any(a.lower() in ("indexes", "+indexes") for a in args):
            audit.add("directory-browsing", n, "Options Indexes lists directories")
        elif name == "dav" and args:
            audit.webdav(args[0].lower() != "off", n, f"Dav {args[0]}")
        elif name == "sslprotocol" and _sslv2(args):
            audit.add("sslv2-enabled", n, f"SSLProtocol {' '.join(args)} accepts SSLv2 (remove "
                      "it: -SSLv2; Slapper overflowed OpenSSL's SSLv2 handshake)")
        elif name == "scriptalias" and args:
            audit.exec_vdir(args[0].rstrip("/") or "/", n)
        elif name in ("addhandler", "addtype", "sethandler") and len(args) > 1:
            for ext in args[1:]:
                e = ext.lower() if ext.startswith(".") else "." + ext.lower()
                if e in WATCHED:
                    audit.map_ext(e, n)
    if not tokens_seen:
        audit.add("verbose-banner", 1, "ServerTokens is not set: Apache's default (Full) "
                  "discloses version and modules", "note")
    return audit


def _sslv2(args: list[str]) -> bool:
    """Whether an ``SSLProtocol`` argument list leaves SSLv2 on (``all`` included it in the
    Apache 1.3/2.0 era unless ``-SSLv2`` follows)."""
    low = [a.lower() for a in args]
    if "-sslv2" in low:
        return False
    return any(a in ("sslv2", "+sslv2", "all", "+all") for a in low)


_TOKEN = re.compile(r"\"[^\"]*\"|'[^']*'|[{};]|[^\s{};]+")


def _statements(text: str) -> list[tuple[int, list[str], str]]:
    """(line, words, terminator) for each nginx statement; terminator is ``;``, ``{`` or ``}``."""
    out: list[tuple[int, list[str], str]] = []
    words: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0]
        for m in _TOKEN.finditer(line):
            tok = m.group()
            if tok in ("{", "}", ";"):
                out.append((start or n, words, tok))
                words, start = [], 0
            else:
                if not words:
                    start = n
                words.append(tok.strip("\"'"))
    return out


def audit_nginx(text: str, path: str) -> ConfigAudit:
    """Audit nginx.conf: server_tokens, autoindex, locations that pass /scripts, /msadc or the
    IIS-only extensions to an application server."""
    audit = ConfigAudit(path, "nginx")
    tokens_off = False
    stack: list[tuple[int, list[str]]] = []
    for line, words, term in _statements(text):
        if term == "{":
            stack.append((line, words))
            continue
        if term == "}":
            if stack:
                stack.pop()
            continue
        if not words:
            continue
        name = words[0].lower()
        if name == "server_tokens":
            if len(words) > 1 and words[1].lower() == "off":
                tokens_off = True
            else:
                audit.add("verbose-banner", line, "server_tokens on discloses the version")
        elif name == "autoindex" and len(words) > 1 and words[1].lower() == "on":
            audit.add("directory-browsing", line, "autoindex on lists directories")
        elif name.endswith("_pass") or name == "cgi":
            for bline, bwords in stack:
                if not bwords or bwords[0].lower() != "location":
                    continue
                pattern = " ".join(bwords[1:]).lower()
                for ext in WATCHED:
                    if ext.replace(".", "") in pattern and ("\\." + ext[1:] in pattern
                                                             or ext in pattern):
                        audit.map_ext(ext, bline)
                if re.search(r"/(scripts|msadc)\b", pattern):
                    vdir = re.search(r"/(scripts|msadc)\b", pattern)
                    assert vdir is not None
                    audit.exec_vdir(vdir.group(0), bline)
    if not tokens_off and not any(f.rule == "verbose-banner" for f in audit.findings):
        audit.add("verbose-banner", 1, "server_tokens is not off: nginx's default discloses "
                  "the version", "note")
    return audit
