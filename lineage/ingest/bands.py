"""The band (``ugrizy``...) of a physical filter, by the naming rules of each camera family.

The Butler gets bands from each instrument's filter definitions; without the
instrument packages these naming rules cover the cameras in the samples.  A
filter no rule recognises (a bias's ``solid plate``, a narrow band, a lab
wavelength such as ``950nm``) has no band: the exposure ingests without one.
"""

from __future__ import annotations

import re

_RULES = [
    re.compile(r"^(?P<band>[ugrizy])(_\d+)?$"),                 # Rubin u_24 ... y_10, SDSS, MegaPrime r
    re.compile(r"^SDSS(?P<band>[ugriz])(_\d+mm)?$"),           # LATISS SDSSr, SDSSr_65mm
    re.compile(r"^HSC-(?P<band>[GRIZY])2?$", re.IGNORECASE),    # HSC-I, HSC-R2
    re.compile(r"^(?P<band>[ugrizY]|VR) DECam\b"),               # DECam "z DECam SDSS c0004 ..."
    re.compile(r"^(?P<band>[ugriz])\.MP\d+$"),                  # MegaPrime i.MP9702
    re.compile(r"^W-S-(?P<band>[GRIZ])\+?$", re.IGNORECASE),    # Suprime-Cam W-S-R+
]


def band_of(physical_filter: str | None) -> str | None:
    """The band of ``physical_filter``, or None when no rule applies.

    A LATISS ``filter~grating`` name is judged by its filter; ``empty`` is
    the unfiltered ``white`` band.
    """
    if not physical_filter:
        return None
    name = physical_filter.split("~")[0].strip()
    if name.startswith("empty"):
        return "white"
    for rule in _RULES:
        m = rule.match(name)
        if m:
            band = m.group("band")
            return band if band == "VR" else band.lower()
    return None
