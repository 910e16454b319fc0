// A time-series chart drawn by uPlot on a canvas, with a legend of our own and a text summary for screen readers.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

/** The same colours as .swatch-N in styles.css (legend swatches): 3:1 or better against white. */
export const PALETTE = ['#1f5fa8', '#b35900', '#1e7a3c', '#b3261e', '#6b4fa0', '#5c5c5c'];

export type ChartSeries = { label: string; values: number[] };

type Props = {
  /** Accessible name of the chart (it is an image to assistive technology; the tables hold the numbers). */
  title: string;
  /** Seconds since the epoch, oldest first. */
  times: number[];
  series: ChartSeries[];
  /** The window shown, in seconds, ending now. */
  windowSeconds: number;
};

export function TimeChart({ title, times, series, windowSeconds }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const labels = series.map((entry) => entry.label).join('\u0000');

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const chart = new uPlot(
      {
        width: Math.max(240, element.clientWidth),
        height: 220,
        legend: { show: false },
        cursor: { show: false },
        scales: {
          x: { time: true, range: () => [Date.now() / 1000 - windowSeconds, Date.now() / 1000] },
          y: { range: (_self, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] },
        },
        axes: [{ stroke: '#333' }, { stroke: '#333' }],
        series: [{}, ...series.map((entry, index) => ({ label: entry.label, stroke: PALETTE[index % PALETTE.length], width: 2, points: { show: true, size: 4 } }))],
      },
      [[], ...series.map(() => [])],
      element,
    );
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(240, element.clientWidth), height: 220 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // The chart is made again only when its series change; new points go through setData.
  }, [labels, windowSeconds]);

  useEffect(() => {
    plot.current?.setData([times, ...series.map((entry) => entry.values)]);
  }, [times, series]);

  const latest = series.map((entry) => `${entry.label} ${entry.values.at(-1) ?? 0}`).join(', ');
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={`${title}. Latest: ${latest || 'no data yet'}.`} />
      <ul class="legend" aria-hidden="true">
        {series.map((entry, index) => (
          <li key={entry.label}>
            <span class={`swatch swatch-${index % PALETTE.length}`} />
            {entry.label}
          </li>
        ))}
      </ul>
    </figure>
  );
}
