"""Dev-only: the OpenTelemetry SDK pipeline for local runs and tests (`install_local()`), and
`capture()`: every span, log record and metric in memory, for assertions.

Same processor order as in Azure — PII scrubbing first, export after — but the exporters are
attached and detached at run time, because global providers can be set only once per process.
Not deployed (`.funcignore`): in Azure, `shared.telemetry.setup` configures Azure Monitor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import (
    LoggerProvider,
    LogRecordProcessor,
    ReadableLogRecord,
    ReadWriteLogRecord,
)
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.telemetry import setup
from shared.telemetry.logs import PiiFilter, TraceContextFilter
from shared.telemetry.processors import PiiLogRecordProcessor, PiiSpanProcessor


@dataclass
class LocalPipeline:
    """SDK providers without a network exporter; exporters can be attached and detached."""

    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    meter_provider: MeterProvider
    metric_reader: InMemoryMetricReader
    span_exporters: list[InMemorySpanExporter] = field(default_factory=list)
    log_exporters: list[InMemoryLogRecordExporter] = field(default_factory=list)


class _SpanFanOut(SpanProcessor):
    """Synchronous export to the exporters attached right now."""

    def __init__(self, pipeline: LocalPipeline) -> None:
        self._pipeline = pipeline

    def on_end(self, span: ReadableSpan) -> None:
        for exporter in list(self._pipeline.span_exporters):
            exporter.export((span,))


class _LogFanOut(LogRecordProcessor):
    def __init__(self, pipeline: LocalPipeline) -> None:
        self._pipeline = pipeline

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if not self._pipeline.log_exporters:
            return
        readable = ReadableLogRecord(
            log_record=log_record.log_record,
            resource=log_record.resource or Resource.get_empty(),
            instrumentation_scope=log_record.instrumentation_scope,
            limits=log_record.limits,
        )
        for exporter in list(self._pipeline.log_exporters):
            exporter.export((readable,))

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_lock = threading.Lock()
_pipeline: LocalPipeline | None = None


def install_local() -> LocalPipeline:
    """Install SDK tracer, logger and meter providers for this process (idempotent) and mark
    telemetry active (`setup.use_local()`).

    Spans are real (trace ids appear in local logs and propagate between the functions); nothing
    leaves the process unless `capture()` attaches an exporter.
    """
    global _pipeline
    with _lock:
        setup.use_local()  # refuses when Azure Monitor is configured in this process
        if _pipeline is None:
            _pipeline = build_pipeline()
        return _pipeline


def build_pipeline() -> LocalPipeline:
    """Create and install the global providers (called once, by `install_local`)."""
    resource = Resource.create({"service.name": "referral-relay"})
    reader = InMemoryMetricReader()
    pipeline = LocalPipeline(
        tracer_provider=TracerProvider(resource=resource),
        logger_provider=LoggerProvider(resource=resource),
        meter_provider=MeterProvider(metric_readers=[reader], resource=resource),
        metric_reader=reader,
    )
    # Scrub first, then export: the order configure_azure_monitor gets in Azure.
    pipeline.tracer_provider.add_span_processor(PiiSpanProcessor())
    pipeline.tracer_provider.add_span_processor(_SpanFanOut(pipeline))
    pipeline.logger_provider.add_log_record_processor(PiiLogRecordProcessor())
    pipeline.logger_provider.add_log_record_processor(_LogFanOut(pipeline))
    trace.set_tracer_provider(pipeline.tracer_provider)
    set_logger_provider(pipeline.logger_provider)
    metrics.set_meter_provider(pipeline.meter_provider)
    return pipeline


def otel_log_handler(logger_provider: Any = None) -> LoggingHandler:
    """The OpenTelemetry logging bridge with our filters: `trace_id`/`span_id` fields, PII."""
    handler = LoggingHandler(logger_provider=logger_provider)
    handler.addFilter(TraceContextFilter())
    handler.addFilter(PiiFilter())
    return handler


@dataclass
class Capture:
    """What the pipeline exported while a `capture()` block ran."""

    span_exporter: InMemorySpanExporter
    log_exporter: InMemoryLogRecordExporter
    metric_reader: InMemoryMetricReader
    baseline: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)

    def spans(self) -> Sequence[ReadableSpan]:
        return self.span_exporter.get_finished_spans()

    def logs(self) -> Sequence[ReadableLogRecord]:
        return self.log_exporter.get_finished_logs()

    def metrics(self) -> MetricsData | None:
        """Cumulative since the pipeline was installed (readers cannot be attached later)."""
        return self.metric_reader.get_metrics_data()

    def metric_points(self) -> list[tuple[str, dict[str, Any], float]]:
        """(name, attributes, value) of every data point: a counter's sum, a histogram's count."""
        data = self.metrics()
        points: list[tuple[str, dict[str, Any], float]] = []
        if data is None:
            return points
        for resource_metrics in data.resource_metrics:
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = getattr(point, "count", 0)
                        attributes = dict(point.attributes or {})
                        points.append((metric.name, attributes, float(value or 0)))
        return points

    def metric(self, name: str, **attributes: Any) -> float:
        """How much `name` grew during the capture, over the points matching `attributes`
        (a counter's sum; a histogram's count)."""

        def total(points: list[tuple[str, dict[str, Any], float]]) -> float:
            return sum(
                value
                for metric, attrs, value in points
                if metric == name and all(attrs.get(k) == v for k, v in attributes.items())
            )

        return total(self.metric_points()) - total(self.baseline)


@contextmanager
def capture() -> Iterator[Capture]:
    """Record every span, `referral_relay` log record and metric in memory while the block runs.

    Telemetry is active inside the block only (unless it was active before): code and clients
    set up inside it are traced, the rest of the process is left as it was.
    """
    previous = setup.mode()
    pipeline = install_local()
    spans = InMemorySpanExporter()
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    handler = otel_log_handler(pipeline.logger_provider)
    relay = logging.getLogger(setup.LOGGER_ROOT)
    level = relay.level
    pipeline.span_exporters.append(spans)
    pipeline.log_exporters.append(logs)
    relay.addHandler(handler)
    if relay.getEffectiveLevel() > logging.INFO:
        relay.setLevel(logging.INFO)
    captured = Capture(spans, logs, pipeline.metric_reader)
    captured.baseline = captured.metric_points()
    try:
        yield captured
    finally:
        relay.removeHandler(handler)
        relay.setLevel(level)
        pipeline.span_exporters.remove(spans)
        pipeline.log_exporters.remove(logs)
        setup.restore_mode(previous)
