"""Product names as inventories and scanners spell them, mapped to the knowledge base's names.

``Microsoft IIS httpd`` (nmap), ``Microsoft-IIS`` (the Server header), ``IIS`` and ``iis`` all
become ``microsoft-iis``; ``Apache httpd`` becomes ``apache-httpd``. Unknown names are kept,
lower-cased with spaces as dashes, so a user knowledge base can name any product.
"""

from __future__ import annotations

import re

_ALIASES: dict[str, str] = {
    "iis": "microsoft-iis",
    "microsoft-iis": "microsoft-iis",
    "microsoft-iis-httpd": "microsoft-iis",
    "microsoft-internet-information-services": "microsoft-iis",
    "internet-information-services": "microsoft-iis",
    "apache": "apache-httpd",
    "apache-httpd": "apache-httpd",
    "httpd": "apache-httpd",
    "apache-http-server": "apache-httpd",
    "nginx": "nginx",
    "nginx-httpd": "nginx",
    "microsoft-sql-server": "microsoft-sql-server",
    "sql-server": "microsoft-sql-server",
    "mssql": "microsoft-sql-server",
    "ms-sql-server": "microsoft-sql-server",
    "msde": "microsoft-sql-server",
    "windows": "microsoft-windows",
    "microsoft-windows": "microsoft-windows",
    "openssl": "openssl",
    "mod-ssl": "mod-ssl",
    "log4j": "log4j-core",
    "log4j2": "log4j-core",
    "apache-log4j": "log4j-core",
    "log4j-core": "log4j-core",
    "org.apache.logging.log4j:log4j-core": "log4j-core",
    "phpbb": "phpbb",
    "awstats": "awstats",
    "pear-xml-rpc": "pear-xml-rpc",
    "xml-rpc": "pear-xml-rpc",
    "phpxmlrpc": "phpxmlrpc",
    "xml-rpc-for-php": "phpxmlrpc",
    "thinkphp": "thinkphp",
    "blackice": "iss-blackice-pc-protection",
    "blackice-pc-protection": "iss-blackice-pc-protection",
    "blackice-server-protection": "iss-blackice-server-protection",
}

_SEP = re.compile(r"[\s_/]+")


def normalise_product(name: str) -> str:
    """The knowledge-base product name for ``name``."""
    key = _SEP.sub("-", name.strip().lower()).strip("-")
    if key in _ALIASES:
        return _ALIASES[key]
    if key.endswith("-httpd") and key[: -len("-httpd")] in _ALIASES:
        return _ALIASES[key[: -len("-httpd")]]
    return key


def banner_components(banner: str) -> dict[str, str]:
    """Every ``product/version`` token of a Server banner, by knowledge-base product name:
    ``Apache/1.3.26 (Unix) mod_ssl/2.8.9 OpenSSL/0.9.6b`` gives apache-httpd 1.3.26, mod-ssl
    2.8.9 and openssl 0.9.6b (parenthesised comments are skipped)."""
    out: dict[str, str] = {}
    for token in _COMPONENT.findall(banner[:1000]):
        name, _, version = token.partition("/")
        if version and name:
            out.setdefault(normalise_product(name), version)
    return out


_COMPONENT = re.compile(r"(?<![(\w])[A-Za-z][\w.+-]{0,40}/[0-9][\w.+-]{0,40}")


def split_banner(banner: str) -> tuple[str, str]:
    """``("microsoft-iis", "5.0")`` from a Server header such as ``Microsoft-IIS/5.0``."""
    first = banner.strip().split(" ", 1)[0]
    name, _, version = first.partition("/")
    return normalise_product(name), version
