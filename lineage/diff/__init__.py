"""Release-to-release diffs (docs/diff.md): what was added, removed and changed
between two releases, why (inputs, software, config, flags, upstream), and how
metrics and dataset properties moved.

* :mod:`.releases`: releases by name, filters;
* :mod:`.making`: how datasets were made, read from the store;
* :mod:`.core`: the streaming comparison;
* :mod:`.stats`: distributions and the tolerance for "scientifically equivalent";
* :mod:`.product`: one product explained, its two lineages side by side;
* :mod:`.report`: JSON, Markdown and self-contained HTML.
"""

from .core import DiffResult, diff_releases
from .releases import DiffFilter, ReleaseError, resolve_release
from .stats import Tolerance, ToleranceError

__all__ = ["DiffFilter", "DiffResult", "ReleaseError", "Tolerance", "ToleranceError",
           "diff_releases", "resolve_release"]
