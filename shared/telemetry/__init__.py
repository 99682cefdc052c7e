"""Telemetry: outcome observers, structured logs, metrics and traces (Application Insights)."""
