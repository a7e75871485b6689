"""Per-device detectors. Each method lives in its own module; `make_detector` builds one by name."""

from __future__ import annotations

from fleetscan.detectors.base import NORMAL, Detector, Score, StreakGuard
from fleetscan.detectors.tutorial import TutorialDetector, tutorial_zscore

__all__ = ["NORMAL", "Detector", "Score", "StreakGuard", "TutorialDetector", "tutorial_zscore"]
