"""Numbers and durations in the watch judge's words: T+ notation, ratios that never print as
`inf`, factors and percentages. Pure."""

from __future__ import annotations

import math

def _as_float(x: object) -> float | None:
    if x is None:
        return None
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def _fmt_duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "?"
    if seconds < 0:
        return "-" + _fmt_duration(-seconds)
    if math.isinf(seconds):
        return "unbounded"
    whole = int(math.floor(seconds + 0.5))
    if whole < 60:
        return f"{whole}s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"


def format_elapsed(seconds: float) -> str:
    """T+ notation of the runbook: T+45s, T+7m, T+7m30s (minutes never roll into hours)."""
    s = _as_float(seconds)
    if s is None or math.isnan(s):
        return "T+?"
    if s < 0:
        return "T-" + _fmt_duration(-s)
    return "T+" + _fmt_duration(s)


def _fmt_num(x: float | None) -> str:
    if x is None:
        return "none"
    if math.isinf(x):
        return "infinite" if x > 0 else "minus infinite"
    return f"{x:.6g}"


def _fmt_factor(t: float) -> str:
    if math.isfinite(t) and t == int(t):
        return f"{t:.1f}x"
    short = f"{t:g}"
    return f"{short if float(short) == t else repr(t)}x"


def _fmt_ratio(r: float, below: float | None = None) -> str:
    """Two decimals ("1.02"), one when the second is zero ("31.0"); more when rounding would
    make a ratio that stayed under `below` print as reaching it (1.499 -> "1.499", not "1.5")."""
    if math.isinf(r):
        return "unbounded"
    if r >= 1e6:
        return f"{r:.3g}"
    for decimals in range(2, 13):
        text = f"{r:.{decimals}f}"
        if below is None or float(text) < below:
            break
    else:
        return repr(r)
    if decimals == 2 and text.endswith("0"):
        text = text[:-1]
    return text


def _fmt_percent(fraction: float) -> str:
    pct = fraction * 100
    return f"{pct:.2g}%" if pct < 1 else f"{pct:.3g}%"
