"""How numbers are written for people: one formatter per kind, used by every view and report."""

from __future__ import annotations

from typing import Any


def human(n: float | None) -> str:
    """1234567 -> '1.23M' (parameters, multiply-adds); None -> '-'."""
    if n is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def count(n: Any) -> str:
    """:func:`human` of anything number-like read back from JSON (None -> '-')."""
    return human(None if n is None else float(n))


def duration(seconds: float | None) -> str:
    """3725 -> '1h02m', 65 -> '1m05s', 4.2 -> '4.2s'; None -> '-'."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def percent(value: float | None, sign: bool = False) -> str:
    """An accuracy in percent with two decimals: 93.5714 -> '93.57' ('93.57%' with ``sign``);
    None -> '-'."""
    if value is None:
        return "-"
    return f"{value:.2f}%" if sign else f"{value:.2f}"
