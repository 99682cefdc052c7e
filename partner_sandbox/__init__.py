"""Offline Partner Center: the Referrals API, an msal-compatible token endpoint, fault injection.

Development and test tool, never deployed. See docs/sandbox.md.

    from partner_sandbox import SandboxConfig, create_app
    from partner_sandbox.transport import SandboxTransport   # in-process, for httpx
    from partner_sandbox.server import run, serving          # under uvicorn

The app's names are loaded on first use, so that importing `partner_sandbox.config` (the CLI's
options) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from partner_sandbox.config import FaultSpec, Latency, Organization, SandboxConfig, User

if TYPE_CHECKING:
    from partner_sandbox.app import Sandbox, SandboxApp, create_app

__all__ = [
    "FaultSpec",
    "Latency",
    "Organization",
    "Sandbox",
    "SandboxApp",
    "SandboxConfig",
    "User",
    "create_app",
]

_LAZY = {"Sandbox", "SandboxApp", "create_app"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("partner_sandbox.app"), name)
    raise AttributeError(f"module 'partner_sandbox' has no attribute {name!r}")
