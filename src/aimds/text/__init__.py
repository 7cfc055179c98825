"""The normalize stage: views of a text (folded, decoded) that detectors read, with offsets back."""

from aimds.text.normalize import prepare
from aimds.text.views import Prepared, View

__all__ = ["Prepared", "View", "prepare"]
