"""The pixel size (µm) a TIFF declares: OME ``PhysicalSizeX``, ImageJ's unit, or the resolution tags."""

from __future__ import annotations

import re
from typing import Any

import tifffile

_UM_PER_UNIT = {"µm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "\\u00B5m": 1.0, "nm": 1e-3, "mm": 1e3}
_PHYSICAL_X = re.compile(r'PhysicalSizeX="([0-9.eE+-]+)"')
_PHYSICAL_X_UNIT = re.compile(r'PhysicalSizeXUnit="([^"]+)"')


def tiff_pixel_size_um(tif: tifffile.TiffFile) -> float | None:
    """Pixel size along X in µm, or None when the file does not say (or says it in inches of a scanner).

    OME-XML ``PhysicalSizeX`` (unit ``PhysicalSizeXUnit``, µm by default) first; then the TIFF
    ``XResolution`` tag when ImageJ metadata names a micron unit or ``ResolutionUnit`` is centimetre.
    Resolution in dots per inch (72, 300: what every image editor writes) is not a pixel size.
    """
    if tif.ome_metadata:
        found = _PHYSICAL_X.search(tif.ome_metadata)
        if found:
            unit = _PHYSICAL_X_UNIT.search(tif.ome_metadata)
            factor = _UM_PER_UNIT.get(unit.group(1) if unit else "µm")
            size = float(found.group(1))
            return size * factor if factor and size > 0 else None
    page = tif.pages.first
    resolution = page.tags.get("XResolution")
    if resolution is None:
        return None
    numerator, denominator = resolution.value
    if not numerator or not denominator:
        return None
    per_unit = numerator / denominator  # pixels per unit
    imagej: dict[str, Any] = tif.imagej_metadata or {}
    named = str(imagej.get("unit", "")).lower()
    if named in _UM_PER_UNIT:
        return _UM_PER_UNIT[named] / per_unit
    if page.tags.get("ResolutionUnit") is not None and int(page.tags["ResolutionUnit"].value) == 3:  # centimetre
        return 1e4 / per_unit
    return None
