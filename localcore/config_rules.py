"""The configuration's rules that are more than a type: which ``Host`` names to trust by default, how many
proxies ``TRUST_PROXY`` trusts, whether the owner bootstrap link is offered, and what production refuses
(weak secrets, a plain-http public URL). ``load_config`` applies them; each is a pure function of the raw
values, so it is tested on its own."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def env_bool(text: str) -> bool:
    """An environment flag: ``1``/``true``/``yes``/``on`` (any case) is true, anything else false."""
    return text.strip().lower() in ("1", "true", "yes", "on")


def url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - formatting a URL, not binding
        return "localhost"
    return f"[{host}]" if ":" in host else host


WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 - names of "every interface", compared, not bound


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` (and ``*.localhost``, RFC 6761) or a loopback address."""
    if not host:
        return False
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def default_trusted_hosts(host: str, auth_url: str) -> list[str]:
    """The ``Host`` names a request may carry unless ``TRUSTED_HOSTS`` says otherwise: loopback names, the
    bind host, the public URL's host and, when bound to every interface, this machine's own host names and
    addresses (so the LAN can reach it by them). Never ``*``: any-host would let a web page the user visits
    drive the API under its own DNS name (DNS rebinding); ``TRUSTED_HOSTS=*`` must be said explicitly."""
    names = ["localhost", "127.0.0.1", "[::1]", "::1"]
    if host in WILDCARD_HOSTS:
        names += machine_host_names()
    else:
        names.append(host.lower())
    auth_host = urlsplit(auth_url).hostname
    if auth_host:
        names.append(auth_host.lower())
    return list(dict.fromkeys(names))


def machine_host_names() -> list[str]:
    """This machine's host names and the addresses of its network interfaces (IPv6 in both Host forms)."""
    import psutil

    names: list[str] = []
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names += [name.lower(), name.split(".", 1)[0].lower()]
    try:
        interfaces = psutil.net_if_addrs()
    except OSError:
        interfaces = {}
    for addresses in interfaces.values():
        for address in addresses:
            if address.family == socket.AF_INET:
                names.append(address.address)
            elif address.family == socket.AF_INET6:
                bare = address.address.split("%", 1)[0].lower()  # no zone id: browsers never send it
                names += [bare, f"[{bare}]"]
    return names


def proxy_hops(text: str, problems: list[str]) -> int:
    """``TRUST_PROXY``: ``true`` = one proxy, ``false`` = none, or the number of proxy hops."""
    value = text.strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return 0
    if value in ("true", "yes", "on"):
        return 1
    if value.isdigit():
        return int(value)
    problems.append(f"TRUST_PROXY: must be true, false or a number of proxy hops (got {text!r})")
    return 0


def bootstrap_choice(overrides: Mapping[str, Any], env: Mapping[str, str], server: Mapping[str, Any],
               production: bool, problems: list[str]) -> bool:
    """Offer the one-time owner link on an empty database? ``--no-bootstrap`` beats ``LOCALCORE_BOOTSTRAP``
    beats ``[server] bootstrap``; off by default in production, and refused there when asked for."""
    if "bootstrap" in overrides:
        wanted = bool(overrides["bootstrap"])
    elif "LOCALCORE_BOOTSTRAP" in env:
        wanted = env_bool(env["LOCALCORE_BOOTSTRAP"])
    elif "bootstrap" in server:
        wanted = bool(server["bootstrap"])
    else:
        return not production
    if production and wanted:
        problems.append("LOCALCORE_BOOTSTRAP: the one-time owner link is not offered in production")
    return wanted and not production


MIN_AUTH_SECRET_LENGTH = 32
SETTINGS_KEY_BYTES = 32


def decoded_key_length(text: str) -> int | None:
    """The byte length of a key written as hex or (URL-safe) base64, or None when it is neither."""
    value = text.strip()
    if len(value) % 2 == 0 and re.fullmatch(r"[0-9a-fA-F]+", value):
        return len(value) // 2
    try:
        return len(base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4),
                                    validate=True))
    except (binascii.Error, ValueError):
        return None


def production_problems(raw: Mapping[str, Any]) -> list[str]:
    """What production refuses beyond missing values: weak secrets and a plain-http public URL. (The
    bootstrap link and credits settings are checked where they are read.)"""
    problems: list[str] = []
    secret = str(raw["auth"].get("secret") or "")
    if secret != "missing" and len(secret) < MIN_AUTH_SECRET_LENGTH:
        problems.append(f"BETTER_AUTH_SECRET: must be at least {MIN_AUTH_SECRET_LENGTH} characters in "
                        f"production (got {len(secret)}); generate one with `openssl rand -hex 32`")
    key = str(raw.get("workspace_settings_encryption_key") or "")
    if key != "missing" and decoded_key_length(key) != SETTINGS_KEY_BYTES:
        problems.append("WORKSPACE_SETTINGS_ENCRYPTION_KEY: must be 32 bytes written as 64 hex characters or "
                        "base64 in production; generate one with `openssl rand -hex 32`")
    # WORKSPACE_SETTINGS_PREVIOUS_KEYS is not checked: a weak old key is exactly what one rotates away from.
    url = urlsplit(str(raw["auth"].get("url") or ""))
    if url.scheme != "https" and not is_loopback_host(url.hostname):
        problems.append("BETTER_AUTH_URL: must be an https:// URL in production (plain http only for a "
                        "loopback host): session cookies and one-time links would travel in clear text")
    return problems


def database_url_choice(overrides: Mapping[str, Any], get: Any, server: Mapping[str, Any], data_dir: Path,
                  problems: list[str]) -> str:
    explicit = overrides.get("database_url") or get("DATABASE_URL") or server.get("database_url")
    stores = (get("CORE_STORES") or "").strip().lower()
    if explicit:
        return str(explicit)
    if stores == "memory":
        return "memory://"
    if stores == "postgres":
        problems.append("DATABASE_URL: required when CORE_STORES=postgres")
        return "memory://"
    if stores and stores not in ("sqlite", "local"):
        problems.append(f"CORE_STORES: must be memory, sqlite or postgres (got {stores!r})")
    return f"sqlite:///{(data_dir / 'localcore.db').resolve()}"


SECRET_KEYWORDS = ("secret", "token", "clientsecret", "password", "authorization", "cookie", "key",
                   "database_url", "transport_url")
REDACTED = "[REDACTED]"


def redact(value: Any, extra_keywords: tuple[str, ...] = ()) -> Any:
    """Replace the value of every key whose lowercase name contains a secret keyword, at any depth;
    mask passwords inside URLs."""
    keywords = SECRET_KEYWORDS + extra_keywords
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            lowered = str(key).lower()
            if any(k in lowered for k in keywords) and item not in (None, "", {}, []):
                out[key] = _mask_url(item) if lowered.endswith("_url") and isinstance(item, str) else REDACTED
            else:
                out[key] = redact(item, extra_keywords)
        return out
    if isinstance(value, list | tuple):
        return [redact(v, extra_keywords) for v in value]
    return value


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    if parts.scheme == "resend":
        return "resend://***"
    return url
