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


def split_banner(banner: str) -> tuple[str, str]:
    """``("microsoft-iis", "5.0")`` from a Server header such as ``Microsoft-IIS/5.0``."""
    first = banner.strip().split(" ", 1)[0]
    name, _, version = first.partition("/")
    return normalise_product(name), version
