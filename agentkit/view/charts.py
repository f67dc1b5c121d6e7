"""Inline SVG charts made on the server: the pages need no charting library and no network.

Only presentation attributes are used (no `style`), so a strict Content-Security-Policy still draws them.
"""

from __future__ import annotations

import math
from html import escape

from markupsafe import Markup

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_WIDTH, _HEIGHT = 520, 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 30, 44


def nice_ticks(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2 or 5 times a power of ten; whole numbers
    when `integer`, as for steps and rounds)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(step, 1.0)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _label(value: float) -> str:
    return f"{value:.4g}"


def _text(x: float, y: float, content: str, size: int = 11, anchor: str = "middle", extra: str = "") -> str:
    """An SVG text element; `content` is escaped."""
    attributes = f'x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"{extra}'
    return f"<text {attributes}>{escape(content)}</text>"


def _line(x1: float, x2: float, y1: float, y2: float, stroke: str, width: float = 1.0) -> str:
    ends = f'x1="{x1:.1f}" x2="{x2:.1f}" y1="{y1:.1f}" y2="{y2:.1f}"'
    return f'<line {ends} stroke="{stroke}" stroke-width="{width}"/>'


class _Frame:
    """Maps data coordinates into the plot area and draws the axes, ticks and titles."""

    def __init__(self, x_ticks: list[float], y_ticks: list[float]):
        self.x0, self.x1 = x_ticks[0], x_ticks[-1]
        self.y0, self.y1 = y_ticks[0], y_ticks[-1]
        self.x_ticks, self.y_ticks = x_ticks, y_ticks

    def x(self, value: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return _LEFT + (value - self.x0) / span * (_WIDTH - _LEFT - _RIGHT)

    def y(self, value: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return _HEIGHT - _BOTTOM - (value - self.y0) / span * (_HEIGHT - _TOP - _BOTTOM)

    def axes(self, title: str, x_label: str, y_label: str, x_tick_labels: bool = True) -> list[str]:
        middle, bottom = _HEIGHT / 2, _HEIGHT - _BOTTOM
        parts = [
            _text(_WIDTH / 2, 18, title, size=14, extra=' font-weight="bold"'),
            _text(_WIDTH / 2, _HEIGHT - 6, x_label, size=12),
            _text(14, middle, y_label, size=12, extra=f' transform="rotate(-90 14 {middle})"'),
        ]
        for tick in self.y_ticks:
            y = self.y(tick)
            parts.append(_line(_LEFT, _WIDTH - _RIGHT, y, y, "#e4e4e4"))
            parts.append(_text(_LEFT - 6, y + 4, _label(tick), anchor="end"))
        if x_tick_labels:
            parts += [_text(self.x(tick), bottom + 16, _label(tick)) for tick in self.x_ticks]
        parts.append(_line(_LEFT, _WIDTH - _RIGHT, bottom, bottom, "#888"))
        parts.append(_line(_LEFT, _LEFT, _TOP, bottom, "#888"))
        return parts


def _svg(parts: list[str], title: str) -> Markup:
    body = "\n".join(parts)
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="{_WIDTH}" height="{_HEIGHT}" role="img" aria-label="{escape(title)}">\n{body}\n</svg>'
    )


def _legend(names: list[str]) -> list[str]:
    parts = []
    for index, name in enumerate(names):
        y = _TOP + 4 + 16 * index
        color = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{_WIDTH - _RIGHT - 150}" y="{y}" width="10" height="10" fill="{color}"/>')
        parts.append(_text(_WIDTH - _RIGHT - 135, y + 9, name[:24], anchor="start"))
    return parts


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_range: tuple[float, float] | None = None,
    legend: bool | None = None,
) -> Markup:
    """One polyline (with point markers) per named series of (x, y) points; the legend is drawn when
    asked, or by default when there is more than one series."""
    points = [p for values in series.values() for p in values if math.isfinite(p[0]) and math.isfinite(p[1])]
    if not points:
        return Markup("")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    low, high = y_range or (min(ys), max(ys))
    whole = all(float(x).is_integer() for x in xs)
    frame = _Frame(nice_ticks(min(xs), max(xs), integer=whole), nice_ticks(low, high))
    parts = frame.axes(title, x_label, y_label)
    for index, values in enumerate(series.values()):
        color = PALETTE[index % len(PALETTE)]
        finite = [(x, y) for x, y in values if math.isfinite(x) and math.isfinite(y)]
        coords = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in finite)
        parts.append(
            f'<polyline class="series" fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>'
        )
        for x, y in finite:
            parts.append(
                f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="2.5" fill="{color}">'
                f"<title>{_label(x)}: {_label(y)}</title></circle>"
            )
    if legend or (legend is None and len(series) > 1):
        parts += _legend(list(series))
    return _svg(parts, title)


def bar_chart(
    bars: list[tuple[str, float, float | None, float | None]], *, title: str, y_label: str, y_max: float = 1.0
) -> Markup:
    """Bars `(label, value, low, high)`, with an error bar when the interval is known."""
    if not bars:
        return Markup("")
    frame = _Frame([0.0, float(len(bars))], nice_ticks(0.0, max([y_max, *(b[1] for b in bars)])))
    parts = frame.axes(title, "", y_label, x_tick_labels=False)
    slot = frame.x(1.0) - frame.x(0.0)
    for index, (label, value, low, high) in enumerate(bars):
        left = frame.x(index) + slot * 0.2
        top, bottom = frame.y(value), frame.y(0.0)
        color = PALETTE[index % len(PALETTE)]
        parts.append(
            f'<rect class="bar" x="{left:.1f}" y="{top:.1f}" width="{slot * 0.6:.1f}" '
            f'height="{bottom - top:.1f}" fill="{color}">'
            f"<title>{escape(label)}: {_label(value)}</title></rect>"
        )
        center = left + slot * 0.3
        if isinstance(low, int | float) and isinstance(high, int | float):
            parts.append(_line(center, center, frame.y(low), frame.y(high), "#333", 1.5))
        parts.append(_text(center, _HEIGHT - _BOTTOM + 16, label[:16]))
        label_y = min(top, frame.y(high)) if isinstance(high, int | float) else top
        parts.append(_text(center, label_y - 4, f"{value:.0%}" if y_max == 1.0 else _label(value)))
    return _svg(parts, title)
