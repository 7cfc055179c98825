"""Prometheus metrics of one app. Works across uvicorn workers via PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.requests = Counter("aimds_http_requests", "HTTP requests by route and status", ["route", "status"], registry=r)
        self.check_latency = Histogram(
            "aimds_check_latency_seconds", "time to check one text (guard only)", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.request_latency = Histogram(
            "aimds_http_request_seconds", "whole request time by route", ["route"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.findings = Counter("aimds_findings", "findings by threat kind", ["kind"], registry=r)
        self.actions = Counter("aimds_verdicts", "verdicts by action", ["action"], registry=r)
        self.blocks = Counter("aimds_blocks", "texts blocked", registry=r)
        self.detector_latency = Histogram(
            "aimds_detector_latency_seconds", "per-detector time, when the guard reports it (one verdict in 8)", ["detector"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.rate_limited = Counter("aimds_rate_limited", "requests refused by a rate limit", ["scope"], registry=r)
        self.store_errors = Counter("aimds_store_errors", "store operations that failed", ["op"], registry=r)
        self.audit_failures = Counter("aimds_audit_failures", "decisions served without an audit record", registry=r)
        self.stream_chunks = Counter("aimds_stream_chunks", "answer chunks scanned by the streaming route", registry=r)
        self.agent_decisions = Counter("aimds_agent_decisions", "agent events by decided action", ["action"],
                                       registry=r)
        self.admin_actions = Counter("aimds_admin_actions", "administrative actions by kind", ["action"], registry=r)
        self.store_up = Gauge("aimds_store_up", "1 when the store answered the last readiness probe",
                              multiprocess_mode="min", registry=r)

    def labelled(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, remembered: label lookups are a measurable part of a fast request.
        Label values come from fixed sets (routes, statuses, kinds, detectors), so this stays small."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def render(self) -> bytes:
        """This process' metrics, or every worker's when running multi-process."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
