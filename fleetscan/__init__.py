"""fleetscan: explainable anomaly detection for IoT sensor fleets on Plexus."""

from __future__ import annotations

__version__ = "0.1.0"
