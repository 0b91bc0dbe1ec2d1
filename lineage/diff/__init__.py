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

from lineage.diff.core import DiffResult, diff_releases
from lineage.diff.releases import DiffFilter, ReleaseError, resolve_release
from lineage.diff.stats import Tolerance, ToleranceError

__all__ = ["DiffFilter", "DiffResult", "ReleaseError", "Tolerance", "ToleranceError",
           "diff_releases", "resolve_release"]
