"""The one OpenTelemetry bootstrap (docs/monitoring.md, "Bootstrap path").

In Azure: host.json sets `"telemetryMode": "OpenTelemetry"` (the Functions host exports its own
telemetry with OpenTelemetry), and **our code** calls `configure_azure_monitor()` once per worker
process, on the first invocation (`ensure_configured`). The worker's own bootstrap stays off —
`PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY` and `PYTHON_ENABLE_OPENTELEMETRY` are not set —
because a second `configure_azure_monitor()` would export every span and log twice, and because:

* only our call can put the PII-scrubbing processors *ahead of* the exporters
  (`span_processors=`, `log_record_processors=`), scope log collection to the `referral_relay`
  logger, keep every trace (`sampling_ratio=1.0`) and leave httpx to our own per-client
  instrumentation (which records Partner Center's `request-id`);
* `PYTHON_ENABLE_OPENTELEMETRY=true` crashes every async invocation on current Python workers
  (Azure/azure-functions-python-worker#1881); we do not need it, because `shared.invocation`
  continues the trace from the message's own `traceparent` / `Diagnostic-Id`.

Without the worker's `WorkerOpenTelemetryEnabled` capability the host would forward our log
records a second time, so the `referral_relay` logger stops propagating to the root logger (the
worker's gRPC handler) once the Azure Monitor handler is attached.

The worker forwards every record that reaches the root logger to the host, and the host sends it
to Application Insights — past our PII filter, which sits on our own handler only. httpx logs
each request at INFO with its full URL (an OData `$filter` names the idempotency key), httpcore
logs connection details at DEBUG, and azure-core's HTTP logging policy logs request URLs at
INFO. So in Azure (a connection string is set), `quiet_http_loggers()` puts those loggers at
WARNING before anything is sent: a failure still shows, a request line never does. Local runs
forward nothing and keep the libraries' defaults.

Locally (`referral-relay run`) and in tests, the dev-only `local_host.telemetry.install_local()`
installs plain SDK providers with the same PII processors and no network exporter (and calls
`use_local()` here); its `capture()` adds in-memory exporters. None of that is deployed.

Nothing here imports OpenTelemetry at module level: `function_app` imports stay cheap.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Final

LOGGER_ROOT: Final = "referral_relay"  # every logger of ours is a child of this one
TRACER_NAME: Final = "referral_relay"
CONNECTION_STRING: Final = "APPLICATIONINSIGHTS_CONNECTION_STRING"
# What the worker would have set for its own bootstrap: the Functions resource detector names
# the cloud role after the function app.
_RESOURCE_DETECTORS: Final = "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS"
# The distro's own httpx instrumentation patches every transport in the process; we instrument
# the Partner API client alone, with hooks (shared.telemetry.tracing.instrument_http_client).
_DISABLED_INSTRUMENTATIONS: Final = ("httpx", "httpx2")
# Third-party loggers whose INFO/DEBUG records carry request URLs (see the module docstring).
QUIET_LOGGERS: Final = ("httpx", "httpcore", "azure.core.pipeline.policies.http_logging_policy")

_lock = threading.Lock()
_mode: str | None = None  # None until decided; then "azure", "local" or "off"


def active() -> bool:
    """True once an OpenTelemetry SDK pipeline of ours is installed (Azure or local)."""
    return _mode in ("azure", "local")


def mode() -> str | None:
    return _mode


def ensure_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Called at the start of every invocation; decides once per process. Returns `active()`.

    With `APPLICATIONINSIGHTS_CONNECTION_STRING` set, configures Azure Monitor. Without it,
    telemetry stays off unless a local pipeline was installed (`use_local()`: local runs, tests).
    """
    global _mode
    if _mode is not None:
        return active()
    with _lock:
        if _mode is None:
            env = os.environ if environ is None else environ
            connection_string = env.get(CONNECTION_STRING)
            _mode = "off"
            if connection_string:
                quiet_http_loggers()  # first: the worker forwards root records either way
                try:
                    _configure_azure_monitor(connection_string)
                    _mode = "azure"
                except Exception as exc:  # telemetry must never stop the relay
                    logging.getLogger(LOGGER_ROOT).error(
                        "telemetry disabled: configuring Azure Monitor failed: %s",
                        type(exc).__name__,
                    )
    return active()


def quiet_http_loggers() -> None:
    """Put the loggers that write request URLs at WARNING (see the module docstring)."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _configure_azure_monitor(connection_string: str) -> None:
    from azure.monitor.opentelemetry import configure_azure_monitor

    from shared.telemetry.processors import PiiLogRecordProcessor, PiiSpanProcessor

    os.environ.setdefault(_RESOURCE_DETECTORS, "azure_functions")
    configure_azure_monitor(
        # The exporters read APPLICATIONINSIGHTS_AUTHENTICATION_STRING: Entra ID, no keys.
        connection_string=connection_string,
        logger_name=LOGGER_ROOT,
        span_processors=[PiiSpanProcessor()],
        log_record_processors=[PiiLogRecordProcessor()],
        sampling_ratio=1.0,  # an operator must be able to follow *every* referral
        instrumentation_options={name: {"enabled": False} for name in _DISABLED_INSTRUMENTATIONS},
    )
    from opentelemetry.instrumentation.logging.handler import LoggingHandler

    from shared.telemetry.logs import PiiFilter, TraceContextFilter

    relay = logging.getLogger(LOGGER_ROOT)
    relay.setLevel(logging.INFO)
    relay.propagate = False  # the host would forward each record again (see module docstring)
    for handler in relay.handlers:
        if isinstance(handler, LoggingHandler):  # the distro's bridge to Application Insights
            handler.addFilter(TraceContextFilter())
            handler.addFilter(PiiFilter())


# ---- local runs and tests (local_host.telemetry builds the pipeline) ---------------------------


def use_local() -> None:
    """Mark telemetry active with providers a dev tool installed (`local_host.telemetry`).

    The local pipeline itself is dev-only and not deployed; this module only keeps the mode.
    """
    global _mode
    with _lock:
        if _mode == "azure":
            raise RuntimeError("Azure Monitor is configured in this process")
        _mode = "local"


def restore_mode(previous: str | None) -> None:
    """Put back the mode seen before a temporary `use_local()` (`capture()` does, so
    a test that captured telemetry leaves the rest of the process as it found it). The global
    providers stay installed — OpenTelemetry cannot uninstall them — but nothing of ours uses
    them while telemetry is inactive."""
    global _mode
    with _lock:
        if _mode == "local":
            _mode = previous
