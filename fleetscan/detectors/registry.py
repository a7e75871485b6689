"""`make_detector(method, options)`: the one place a method name becomes a detector."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fleetscan.detectors.auto import AutoDetector
from fleetscan.detectors.base import Detector
from fleetscan.detectors.dropout import DropoutDetector
from fleetscan.detectors.options import DetectorOptions, parse_window
from fleetscan.detectors.plausibility import PlausibilityDetector
from fleetscan.detectors.robust import RobustDetector
from fleetscan.detectors.stuck import StuckDetector
from fleetscan.detectors.tutorial import TutorialDetector
from fleetscan.detectors.twoscale import TwoScaleDetector

TUTORIAL_WINDOW = 15


def tutorial_window(options: DetectorOptions) -> int:
    """The tutorial's window in samples; a duration needs `cadence_s` to become a count.

    >>> tutorial_window(DetectorOptions()), tutorial_window(DetectorOptions(window="1m", cadence_s=2))
    (15, 30)
    """
    if options.window is None:
        return TUTORIAL_WINDOW
    window = parse_window(options.window)
    if window.samples is not None:
        return window.samples
    assert window.span_ms is not None
    if options.cadence_s is None:
        raise ValueError(
            f"the tutorial method counts samples: give --window as a count (e.g. 15samples), "
            f"or give the cadence so {window.describe()} can be converted"
        )
    return max(1, round(window.span_ms / (options.cadence_s * 1000)))


def _tutorial(options: DetectorOptions) -> Detector:
    """The tutorial's z-score takes a sample count and a threshold, not the whole options."""
    return TutorialDetector(window=tutorial_window(options), threshold=options.threshold)


# Each method's name and how to build it from the options; the order is the one `--help` lists.
DETECTORS: Mapping[str, Callable[[DetectorOptions], Detector]] = {
    "auto": AutoDetector,
    "tutorial": _tutorial,
    "robust": RobustDetector,
    "twoscale": TwoScaleDetector,
    "stuck": StuckDetector,
    "dropout": DropoutDetector,
    "plausibility": PlausibilityDetector,
}
METHODS = tuple(DETECTORS)


def make_detector(method: str, options: DetectorOptions) -> Detector:
    """A fresh detector for one stream.

    >>> make_detector("auto", DetectorOptions()).name
    'auto'
    >>> make_detector("zscore", DetectorOptions())
    Traceback (most recent call last):
    ...
    ValueError: unknown method 'zscore': choose one of auto, tutorial, robust, twoscale, stuck, dropout, plausibility
    """
    build = DETECTORS.get(method)
    if build is None:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    return build(options)
