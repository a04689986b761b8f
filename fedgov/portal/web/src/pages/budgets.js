// The budgets page: each department's budget over time (Chart.js).

import {
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';
import { dataBlock } from '../lib/page.js';

Chart.register(CategoryScale, LinearScale, LineController, LineElement, PointElement, Filler, Legend, Tooltip);

const series = dataBlock('budget-data');

function label(seconds) {
  return new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

for (const [index, s] of series.entries()) {
  const canvas = document.querySelector(`canvas[data-series="${index}"]`);
  const labels = ['start', ...s.points.map((p) => label(p.timestamp))];
  const spent = [0, ...s.points.map((p) => p.epsilon_after)];
  new Chart(canvas, {
    type: 'line',
    data: {
      labels,
      datasets: [
        { label: 'limit', data: labels.map(() => s.limit), borderColor: '#b3261e', borderDash: [6, 4], pointRadius: 0 },
        { label: 'spent', data: spent, borderColor: '#1f5fa8', backgroundColor: 'rgba(31,95,168,0.12)', fill: true, stepped: true, pointRadius: 2 },
        { label: 'remaining', data: spent.map((v) => Math.max(0, s.limit - v)), borderColor: '#1d7a46', stepped: true, pointRadius: 0 },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: { ticks: { maxTicksLimit: 6, autoSkip: true } },
        y: { beginAtZero: true, title: { display: true, text: 'epsilon' } },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });
}
document.body.dataset.charts = String(series.length);
