// A job's page: rounds, departments and epsilon, following the job live
// (server-sent events from /api/jobs/stream).

import {
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';
import { $, cell, dataBlock } from '../lib/page.js';

Chart.register(CategoryScale, LinearScale, LineController, LineElement, PointElement, Legend, Tooltip);

const fmt = (value, digits = 4) => (value === null || value === undefined ? '-' : Number(value).toFixed(digits));
const largest = (totals) => {
  const values = Object.values(totals);
  return values.length ? Math.max(...values) : null;
};

const chart = new Chart($('job-chart'), {
  type: 'line',
  data: {
    labels: [],
    datasets: [
      { label: 'accuracy', data: [], borderColor: '#1f5fa8', yAxisID: 'accuracy' },
      { label: 'largest lifetime epsilon', data: [], borderColor: '#b3261e', yAxisID: 'epsilon' },
    ],
  },
  options: {
    animation: false,
    maintainAspectRatio: false,
    scales: {
      accuracy: { position: 'left', min: 0, max: 1, title: { display: true, text: 'accuracy' } },
      epsilon: { position: 'right', beginAtZero: true, title: { display: true, text: 'epsilon' }, grid: { drawOnChartArea: false } },
    },
    plugins: { legend: { position: 'bottom' } },
  },
});

function show(job) {
  $('job-rounds').textContent = `${job.rounds_done}${job.rounds_planned ? ` of ${job.rounds_planned}` : ''}`;
  $('job-last').textContent = new Date(job.last_ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const status = document.createElement('span');
  status.className = `badge ${job.finished ? 'good' : 'warn'}`;
  status.textContent = job.finished ? 'finished' : 'running';
  $('job-status').replaceChildren(status);
  const rows = $('job-round-rows');
  rows.replaceChildren();
  for (const r of job.rounds) {
    const row = rows.insertRow();
    cell(row, String(r.round), 'num');
    cell(row, r.trained.join(', '), 'small');
    cell(row, r.refused.join(', ') || '-', 'small');
    cell(row, Object.entries(r.other).map(([k, v]) => `${k}: ${v.join(', ')}`).join(' '), 'small');
    cell(row, fmt(r.accuracy), 'num');
    cell(row, fmt(largest(r.epsilon_total)), 'num');
  }
  const departments = $('job-departments').tBodies[0];
  departments.replaceChildren();
  for (const d of job.departments) {
    const row = departments.insertRow();
    cell(row, d.department);
    cell(row, fmt(d.epsilon), 'num');
    cell(row, fmt(d.epsilon_total), 'num');
    cell(row, d.status || '-');
  }
  chart.data.labels = job.rounds.map((r) => String(r.round));
  chart.data.datasets[0].data = job.rounds.map((r) => r.accuracy);
  chart.data.datasets[1].data = job.rounds.map((r) => largest(r.epsilon_total));
  chart.update();
  document.body.dataset.rounds = String(job.rounds_done);
}

const job = dataBlock('job-data');
show(job);
if (!job.finished) {
  const stream = new EventSource(`/api/jobs/stream?id=${encodeURIComponent(job.id)}`);
  const line = $('live-line');
  line.classList.add('live');
  line.textContent = 'Live: following the job as its rounds are recorded.';
  stream.addEventListener('progress', (event) => {
    const current = JSON.parse(event.data);
    show(current);
    if (current.finished) {
      stream.close();
      line.classList.remove('live');
      line.textContent = 'The job has finished.';
    }
  });
}
