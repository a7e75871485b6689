"""Per-device detectors. Each method lives in its own module; `make_detector` builds one by name.

| method         | module            | what it scores                                              |
|----------------|-------------------|-------------------------------------------------------------|
| `auto`         | `auto.py`         | all checks below, one explanation per alert (the default)   |
| `tutorial`     | `tutorial.py`     | the tutorial's rolling z-score, exactly                     |
| `robust`       | `robust.py`       | median/MAD of the window before each reading                |
| `twoscale`     | `twoscale.py`     | recent level against a long, slowly learnt baseline         |
| `stuck`        | `stuck.py`        | a value frozen longer than the sensor normally holds still  |
| `dropout`      | `dropout.py`      | silence for several of the stream's own cadences            |
| `plausibility` | `plausibility.py` | readings outside the sensor model's physical range          |
"""

from __future__ import annotations

from fleetscan.detectors.auto import AutoDetector
from fleetscan.detectors.base import NORMAL, Detector, Score, StreakGuard
from fleetscan.detectors.dropout import DropoutDetector
from fleetscan.detectors.options import DetectorOptions, Window, parse_window
from fleetscan.detectors.plausibility import PlausibilityDetector
from fleetscan.detectors.registry import METHODS, make_detector
from fleetscan.detectors.robust import RobustDetector
from fleetscan.detectors.stuck import StuckDetector
from fleetscan.detectors.tutorial import TutorialDetector, tutorial_zscore
from fleetscan.detectors.twoscale import TwoScaleDetector

__all__ = [
    "METHODS",
    "NORMAL",
    "AutoDetector",
    "Detector",
    "DetectorOptions",
    "DropoutDetector",
    "PlausibilityDetector",
    "RobustDetector",
    "Score",
    "StreakGuard",
    "StuckDetector",
    "TutorialDetector",
    "TwoScaleDetector",
    "Window",
    "make_detector",
    "parse_window",
    "tutorial_zscore",
]
