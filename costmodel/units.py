"""How counts are written for people: the short human form every table and message uses."""

from __future__ import annotations


def human(value: float) -> str:
    """Short human form: 151023976 → '151.0M', 2278604 → '2.28M', 39997112 → '40.0M', 980 → '980'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.2f}{unit}" if abs(scaled) < 10 else f"{scaled:.1f}{unit}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def human_bytes(value: float) -> str:
    """Bytes in binary units: 512 → '512 B', 1536 → '1.5 KiB', 53821248 → '51.3 MiB', 3.2e9 → '2.98 GiB'."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.2f} {unit}" if abs(scaled) < 10 else f"{scaled:.1f} {unit}"
    return f"{value:.0f} B"
