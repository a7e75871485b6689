"""`/metrics` for the long-running `fleetscan device`, through prometheus_client.

`fleetscan device --metrics-port 9108` serves, on loopback unless `--metrics-host` says
otherwise (the samples name your boards):

    fleetscan_device_samples_total{source_id,metric}      readings scored
    fleetscan_device_anomalies_total{source_id,metric}    of them anomalous
    fleetscan_device_score{source_id,metric}              the last <metric>.zscore posted
    fleetscan_device_last_sample_timestamp_seconds{...}   the newest reading's time
    fleetscan_device_poll_errors_total                    polls Plexus did not answer
    fleetscan_device_pending_points                       points waiting for the gateway

Alert on `time() - fleetscan_device_last_sample_timestamp_seconds` to notice a stream that
stopped, and on `rate(fleetscan_device_poll_errors_total[5m])` for a loop that cannot read.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any

from fleetscan.device import Sample
from fleetscan.errors import ConfigError

LABELS = ("source_id", "metric")


class DeviceMetrics:
    """The registry, its metrics and (once started) the HTTP server; a context manager."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = CollectorRegistry()
        r = self.registry
        self.samples = Counter("fleetscan_device_samples", "Readings scored.", LABELS, registry=r)
        self.anomalies = Counter(
            "fleetscan_device_anomalies", "Readings scored as anomalous.", LABELS, registry=r
        )
        self.score = Gauge(
            "fleetscan_device_score", "The last <metric>.zscore posted.", LABELS, registry=r
        )
        self.last = Gauge(
            "fleetscan_device_last_sample_timestamp_seconds",
            "The newest reading's time, epoch seconds.",
            LABELS,
            registry=r,
        )
        self.poll_errors = Counter(
            "fleetscan_device_poll_errors", "Polls Plexus did not answer.", registry=r
        )
        self.pending = Gauge(
            "fleetscan_device_pending_points", "Points waiting for the gateway.", registry=r
        )
        self._server: Any = None
        self._thread: Any = None

    def observe(self, samples: Iterable[Sample], *, pending: int) -> None:
        for s in samples:
            labels = (s.source_id, s.metric)
            if s.value is not None:
                self.samples.labels(*labels).inc()
                self.last.labels(*labels).set(s.ts_ms / 1000.0)
            anomalies = self.anomalies.labels(*labels)  # listed at 0 before the first one
            if s.anomaly:
                anomalies.inc()
            self.score.labels(*labels).set(s.emitted)
        self.pending.set(pending)

    def serve(self, port: int, host: str = "127.0.0.1") -> DeviceMetrics:
        from prometheus_client import start_http_server

        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}; pick another "
                "--metrics-port"
            ) from None
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> DeviceMetrics:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
