// Charts: revenue over time with uPlot (canvas), and horizontal bars in plain
// HTML for values by category (readable by screen readers, no library).
import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

/** Revenue (sats) per time bucket. */
export function TimeChart(props: { label: string; xs: number[]; ys: number[]; unit: string }): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (el === null) return undefined;
    const width = (): number => Math.max(260, el.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 220,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [{}, { values: (_u, ticks) => ticks.map((t) => `${t}`), size: 60 }],
        series: [
          {},
          { label: props.label, stroke: '#b45309', fill: 'rgba(245, 158, 11, 0.18)', width: 2, points: { show: true, size: 6 } },
        ],
      },
      [props.xs, props.ys],
      el,
    );
    const observer = new ResizeObserver(() => plot.setSize({ width: width(), height: 220 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [props.xs.join(','), props.ys.join(',')]);
  const total = props.ys.reduce((a, b) => a + b, 0);
  return (
    <figure class="chart">
      <div ref={box} class="chart-box" role="img" aria-label={`${props.label}: ${total} ${props.unit} over ${props.xs.length} periods`} />
    </figure>
  );
}

/** Bars by category; `value` decides the length, `text` what is written. */
export function Bars(props: { rows: Array<{ label: string; value: number; text: string }>; empty: string }): JSX.Element {
  if (props.rows.length === 0) return <p class="state empty">{props.empty}</p>;
  const max = Math.max(1, ...props.rows.map((r) => r.value));
  return (
    <ul class="bars">
      {props.rows.map((r) => (
        <li key={r.label}>
          <span class="bar-label">{r.label}</span>
          <span class="bar-track">
            <span class="bar-fill" style={{ width: `${(100 * r.value) / max}%` }} />
          </span>
          <span class="bar-value">{r.text}</span>
        </li>
      ))}
    </ul>
  );
}
