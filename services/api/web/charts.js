// Inline SVG charts (sparkline, line, bars with an interval), built with DOM calls:
// no library, no innerHTML. Each chart is role="img" with a text label; the pages
// also show the same numbers as text or in a table.
"use strict";
window.EscuchaCharts = (function () {
  const NS = "http://www.w3.org/2000/svg";
  const INK = "#1d2733", GRID = "#c9d1da", BLUE = "#1f5fa8", BAND = "#b9cfe8", AXIS = "#4a5562";
  function s(tag, attrs, text) {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = String(text);
    return n;
  }
  function root(w, h, label, cls) {
    const svg = s("svg", { viewBox: "0 0 " + w + " " + h, role: "img", class: cls || "chart-svg",
      preserveAspectRatio: "xMinYMin meet", focusable: "false" });
    svg.appendChild(s("title", null, label || ""));
    svg.setAttribute("aria-label", label || "");
    return svg;
  }
  const r1 = (v) => Math.round(v * 10) / 10;

  // A small trend line of counts, oldest first; the last point is marked.
  function sparkline(values, opt) {
    const w = 160, h = 40, pad = 4;
    const svg = root(w, h, opt && opt.label, "spark-svg");
    const max = Math.max(1, ...values), n = values.length;
    const x = (i) => pad + (n <= 1 ? 0 : (i * (w - 2 * pad)) / (n - 1));
    const y = (v) => h - pad - (v / max) * (h - 2 * pad);
    const pts = values.map((v, i) => r1(x(i)) + "," + r1(y(v))).join(" ");
    svg.appendChild(s("line", { x1: pad, x2: w - pad, y1: h - pad, y2: h - pad, stroke: GRID, "stroke-width": 1 }));
    svg.appendChild(s("polyline", { points: pts, fill: "none", stroke: BLUE, "stroke-width": 2, "stroke-linejoin": "round" }));
    svg.appendChild(s("circle", { cx: r1(x(n - 1)), cy: r1(y(values[n - 1])), r: 3, fill: BLUE }));
    return svg;
  }

  // points: [{x: "label", y: number}] on a fixed [min, max] scale.
  function line(points, opt) {
    const w = 480, h = 220, l = 52, r = 16, t = 14, b = 34;
    const svg = root(w, h, opt.label);
    const n = points.length;
    const x = (i) => l + (n <= 1 ? (w - l - r) / 2 : (i * (w - l - r)) / (n - 1));
    const y = (v) => t + (1 - (v - opt.min) / (opt.max - opt.min)) * (h - t - b);
    for (let k = 0; k <= 4; k++) {
      const v = opt.min + (k * (opt.max - opt.min)) / 4;
      svg.appendChild(s("line", { x1: l, x2: w - r, y1: r1(y(v)), y2: r1(y(v)), stroke: GRID, "stroke-width": 1 }));
      svg.appendChild(s("text", { x: l - 6, y: r1(y(v)) + 4, "text-anchor": "end", "font-size": 12, fill: AXIS }, opt.fmt(v)));
    }
    svg.appendChild(s("polyline", { points: points.map((p, i) => r1(x(i)) + "," + r1(y(p.y))).join(" "), fill: "none",
      stroke: BLUE, "stroke-width": 2.5, "stroke-linejoin": "round" }));
    const every = Math.max(1, Math.ceil(n / 6));
    points.forEach((p, i) => {
      const c = s("circle", { cx: r1(x(i)), cy: r1(y(p.y)), r: 3.5, fill: BLUE });
      c.appendChild(s("title", null, p.x + ": " + opt.fmt(p.y)));
      svg.appendChild(c);
      if (i % every === 0 || i === n - 1)
        svg.appendChild(s("text", { x: r1(x(i)), y: h - 12, "text-anchor": "middle", "font-size": 12, fill: AXIS }, p.x));
    });
    return svg;
  }

  // rows: [{label, value, low?, high?}] as horizontal bars with an interval whisker.
  function barsWithInterval(rows, opt) {
    const rowH = 30, l = 150, r = 70, t = 8, w = 520;
    const h = t + rows.length * rowH + 22;
    const svg = root(w, h, opt.label);
    const x = (v) => l + ((Math.max(opt.min, Math.min(opt.max, v)) - opt.min) / (opt.max - opt.min)) * (w - l - r);
    const zero = x(Math.max(opt.min, Math.min(opt.max, 0)));
    svg.appendChild(s("line", { x1: r1(zero), x2: r1(zero), y1: t - 4, y2: h - 20, stroke: AXIS, "stroke-width": 1 }));
    for (const v of [opt.min, opt.max]) {
      svg.appendChild(s("text", { x: r1(x(v)), y: h - 6, "text-anchor": v === opt.min ? "start" : "end", "font-size": 12, fill: AXIS }, opt.fmt(v)));
    }
    rows.forEach((row, i) => {
      const cy = t + i * rowH + rowH / 2;
      const lab = String(row.label);
      svg.appendChild(s("text", { x: l - 8, y: cy + 4, "text-anchor": "end", "font-size": 12, fill: INK }, lab.length > 22 ? lab.slice(0, 21) + "…" : lab));
      const x0 = Math.min(zero, x(row.value)), x1 = Math.max(zero, x(row.value));
      svg.appendChild(s("rect", { x: r1(x0), y: cy - 9, width: r1(Math.max(1, x1 - x0)), height: 18, fill: BLUE, rx: 2 }));
      if (row.low !== undefined && row.low !== null && row.high !== undefined && row.high !== null) {
        svg.appendChild(s("line", { x1: r1(x(row.low)), x2: r1(x(row.high)), y1: cy, y2: cy, stroke: INK, "stroke-width": 2 }));
        for (const v of [row.low, row.high])
          svg.appendChild(s("line", { x1: r1(x(v)), x2: r1(x(v)), y1: cy - 6, y2: cy + 6, stroke: INK, "stroke-width": 2 }));
        svg.appendChild(s("rect", { x: r1(x(row.low)), y: cy + 10, width: r1(Math.max(1, x(row.high) - x(row.low))), height: 2, fill: BAND }));
      }
      svg.appendChild(s("text", { x: w - r + 6, y: cy + 4, "font-size": 12, fill: INK }, opt.fmt(row.value)));
    });
    return svg;
  }
  return { sparkline: sparkline, line: line, barsWithInterval: barsWithInterval };
})();
