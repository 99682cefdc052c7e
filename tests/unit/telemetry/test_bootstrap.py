"""Exactly one OpenTelemetry bootstrap: ours (docs/monitoring.md, "Bootstrap path").

The host exports its own telemetry with OpenTelemetry (host.json); the Python worker's bootstrap
stays off (no PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY / PYTHON_ENABLE_OPENTELEMETRY);
`shared.telemetry.setup` calls configure_azure_monitor() once, lazily, with the PII processors
ahead of the exporters. The Azure path is exercised in a subprocess: global providers can be
set once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from shared import names
from tests.infra.bicep_model import body, main_scope

REPO = Path(__file__).resolve().parents[3]
WORKER_BOOTSTRAP_SETTINGS = {
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
    "PYTHON_ENABLE_OPENTELEMETRY",
}
EXPORTER_SETTINGS = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",  # Entra ID: the resource refuses keys
}


def test_the_host_exports_with_opentelemetry() -> None:
    host = json.loads((REPO / "host.json").read_text())
    assert host["telemetryMode"] == "OpenTelemetry"


def test_the_deployment_leaves_the_worker_bootstrap_off_and_authenticates_with_entra() -> None:
    scope = main_scope().module("functionApp")
    (site,) = scope.resources_of_type("Microsoft.Web/sites").values()
    settings = {s["name"] for s in body(site)["properties"]["siteConfig"]["appSettings"]}
    assert not settings & WORKER_BOOTSTRAP_SETTINGS, "a second bootstrap doubles every span"
    assert settings >= EXPORTER_SETTINGS
    assert not WORKER_BOOTSTRAP_SETTINGS & set(names.HOST_SETTINGS)


def test_the_distro_and_the_httpx_instrumentation_are_pinned_runtime_dependencies() -> None:
    pins = {
        line.split("==")[0].strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    }
    assert {"azure-monitor-opentelemetry", "opentelemetry-instrumentation-httpx"} <= pins


# A process configured as in Azure: a connection string whose endpoint nothing listens on.
AS_IN_AZURE = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING": (
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        "IngestionEndpoint=http://127.0.0.1:9/;LiveEndpoint=http://127.0.0.1:9/"
    ),
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
}


def run_python(code: str, **env: str) -> str:
    """Run `code` in a fresh interpreter (global providers can be set once per process)."""
    ours = ("APPLICATIONINSIGHTS", "OTEL_")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    environ.update(env)
    result = subprocess.run(  # noqa: S603 - our own interpreter on our own code
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_importing_the_app_loads_no_telemetry_sdk() -> None:
    out = run_python(
        """
        import sys
        import function_app
        print(sorted({m.split(".")[0] + "." + m.split(".")[1] for m in sys.modules
                      if m.startswith(("opentelemetry.", "azure.monitor"))}))
        """
    )
    assert out.strip() == "[]"


def test_the_azure_bootstrap_scrubs_before_exporting_and_owns_the_relay_logs() -> None:
    out = run_python(
        """
        import json, logging, os
        from shared.telemetry import setup
        assert setup.ensure_configured() is True and setup.mode() == "azure"
        assert setup.ensure_configured() is True  # once per process
        from opentelemetry import trace
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.logging.handler import LoggingHandler
        provider = trace.get_tracer_provider()
        processors = [type(p).__name__ for p in provider._active_span_processor._span_processors]
        relay = logging.getLogger("referral_relay")
        handlers = [h for h in relay.handlers if isinstance(h, LoggingHandler)]
        print(json.dumps({
            "processors": processors,
            "sampler": type(provider.sampler).__name__,
            "ratio": getattr(provider.sampler, "_ratio", None),
            "propagate": relay.propagate,
            "handlers": len(handlers),
            "filters": sorted(type(f).__name__ for f in handlers[0].filters),
            "httpx_global": HTTPXClientInstrumentor().is_instrumented_by_opentelemetry,
        }))
        os._exit(0)  # skip exporter shutdown: nothing listens on the fake endpoint
        """,
        **AS_IN_AZURE,
    )
    facts = json.loads(out.strip().splitlines()[-1])
    processors = facts["processors"]
    assert processors.index("PiiSpanProcessor") < processors.index("BatchSpanProcessor")
    assert facts["sampler"] == "ApplicationInsightsSampler"
    assert facts["ratio"] == 1.0
    assert facts["propagate"] is False
    assert facts["handlers"] == 1
    assert facts["filters"] == ["PiiFilter", "TraceContextFilter"]
    assert facts["httpx_global"] is False  # only the Partner API client is instrumented


def test_without_a_connection_string_telemetry_stays_off() -> None:
    out = run_python(
        """
        from shared.telemetry import setup
        print(setup.ensure_configured(), setup.mode())
        """
    )
    assert out.split() == ["False", "off"]
