"""Whether a host is this machine: the one place plain HTTP (the local sandbox) is allowed.

No imports beyond the standard library: settings validation, msal's HTTP adapter and the
Partner API client all ask it.
"""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str | None) -> bool:
    """Whether `host` is this machine: 127.0.0.0/8, ::1 or localhost."""
    if not host:
        return False
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
