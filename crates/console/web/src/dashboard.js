// The supervisors' dashboard: the figures of a range and slice (GET /v1/stats), each number a
// link to exactly the cases it counts; the trend by month; breakdowns; the coordinated response
// network's units (GET /v1/stats/units); CSV export. It refreshes itself as commits arrive.

import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { api, query } from './api.js';
import { t, word } from './i18n.js';
import { draw } from './charts.js';
import { onChange } from './live.js';
import { casesLink, dispatchesLink, go } from './router.js';
import { ProblemView, choices, directoryName } from './common.js';

const html = htm.bind(h);

// The figures shown first, as cards; every figure is in the table below them.
const HEADLINE = ['opened', 'closed', 'closure_rate', 'on_time_rate', 'still_open', 'overdue', 'became_backlog', 'strike_off_rate', 'response_rate', 'satisfaction_rate'];
const SLICES = ['kind', 'community', 'grid', 'category', 'unit'];
const BREAKDOWNS = ['community', 'grid', 'category', 'unit', 'kind'];

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

// By default this year and the last, to today.
export function defaultRange() {
  const today = new Date();
  return { from: `${today.getFullYear() - 1}-01-01`, to: isoDay(today) };
}

function months(from, to) {
  const out = [];
  let [y, m] = from.split('-').map(Number);
  const [ty, tm] = to.split('-').map(Number);
  while (y < ty || (y === ty && m <= tm)) {
    const start = `${y}-${String(m).padStart(2, '0')}-01`;
    const last = new Date(y, m, 0).getDate();
    const end = `${y}-${String(m).padStart(2, '0')}-${String(last).padStart(2, '0')}`;
    out.push({ label: `${y}-${String(m).padStart(2, '0')}`, from: start < from ? from : start, to: end > to ? to : end });
    m += 1;
    if (m > 12) {
      m = 1;
      y += 1;
    }
  }
  return out.slice(-24);
}

export function formatValue(figure) {
  if (figure.value === null || figure.value === undefined) return '—';
  if (figure.name.endsWith('_rate')) return `${(figure.value * 100).toFixed(1)}%`;
  return Number.isInteger(figure.value) ? String(figure.value) : figure.value.toFixed(1);
}

function FigureNumber({ figure }) {
  const text = formatValue(figure);
  return figure.cases
    ? html`<a class="figure-value" href=${casesLink(figure.cases)} data-figure-link=${figure.name}>${text}</a>`
    : html`<span class="figure-value">${text}</span>`;
}

function Ratio({ figure }) {
  if (figure.numerator === undefined || figure.numerator === null) return null;
  const num = figure.cases ? html`<a href=${casesLink(figure.cases)}>${figure.numerator}</a>` : figure.numerator;
  const den = figure.denominator_cases ? html`<a href=${casesLink(figure.denominator_cases)}>${figure.denominator}</a>` : figure.denominator;
  return html`<span class="ratio">${num} ${t('dash.of')} ${den}</span>`;
}

function figuresOf(stats) {
  return stats?.groups?.[0]?.figures || [];
}

async function download(path, filename) {
  const response = await api(path, { raw: true, headers: { Accept: 'text/csv' } });
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function Dashboard({ params, directory }) {
  const range = { ...defaultRange(), ...params };
  const slice = Object.fromEntries(SLICES.map((k) => [k, params[k] || '']));
  const by = params.by || 'community';
  const [stats, setStats] = useState(null);
  const [groups, setGroups] = useState(null);
  const [trend, setTrend] = useState(null);
  const [units, setUnits] = useState(null);
  const [error, setError] = useState(null);
  const [sort, setSort] = useState({ key: 'check_ins_late', desc: true });
  const [tick, setTick] = useState(0);
  // The trend (a request a month) follows commits less often than the figures.
  const [trendTick, setTrendTick] = useState(0);
  const trendRef = useRef(null);
  const byRef = useRef(null);
  const opened = useRef(performance.now());
  const base = { from: range.from, to: range.to, ...slice };
  const key = query({ ...base, by });

  useEffect(() => onChange(() => setTick((n) => n + 1), 1500), []);
  useEffect(() => onChange(() => setTrendTick((n) => n + 1), 30000), []);
  useEffect(() => {
    let live = true;
    setError(null);
    api(`/v1/stats?${query(base)}`)
      .then((s) => {
        if (!live) return;
        setStats(s);
        requestAnimationFrame(() => {
          // Reported by the browser tests: from opening the dashboard, and from opening the page.
          if (!document.body.dataset.dashboardFirstPaint) {
            document.body.dataset.dashboardFirstPaint = String(Math.round(performance.now() - opened.current));
            document.body.dataset.pageFirstPaint = String(Math.round(performance.now()));
          }
        });
      })
      .catch((e) => live && setError(e));
    api(`/v1/stats?${query({ ...base, by })}`).then((s) => live && setGroups(s)).catch((e) => live && setError(e));
    // The network's table is for those who may see every unit; others see none.
    api(`/v1/stats/units?${query({ from: range.from, to: range.to })}`).then((u) => live && setUnits(u)).catch(() => live && setUnits(null));
    return () => {
      live = false;
    };
  }, [key, tick]);
  useEffect(() => {
    let live = true;
    Promise.all(months(range.from, range.to).map((m) => api(`/v1/stats?${query({ ...slice, from: m.from, to: m.to })}`).then((s) => ({ ...m, figures: figuresOf(s) }))))
      .then((rows) => live && setTrend(rows))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [key, trendTick]);

  useEffect(() => {
    if (!trend || !trendRef.current) return;
    const value = (row, name) => row.figures.find((f) => f.name === name);
    draw(trendRef.current, {
      tooltip: { trigger: 'axis' },
      legend: { data: [word('figure', 'opened'), word('figure', 'closed'), word('figure', 'closure_rate')] },
      grid: { left: 40, right: 40, bottom: 30, top: 40 },
      xAxis: { type: 'category', data: trend.map((r) => r.label) },
      yAxis: [{ type: 'value' }, { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } }],
      series: [
        { name: word('figure', 'opened'), type: 'bar', data: trend.map((r) => value(r, 'opened')?.value ?? 0) },
        { name: word('figure', 'closed'), type: 'bar', data: trend.map((r) => value(r, 'closed')?.value ?? 0) },
        { name: word('figure', 'closure_rate'), type: 'line', yAxisIndex: 1, data: trend.map((r) => { const v = value(r, 'closure_rate')?.value; return v === null || v === undefined ? null : Math.round(v * 1000) / 10; }) },
      ],
    }, (p) => {
      const row = trend[p.dataIndex];
      const f = row && value(row, ['opened', 'closed', 'closure_rate'][p.seriesIndex]);
      if (f?.cases) go(casesLink(f.cases));
    });
  }, [trend]);

  useEffect(() => {
    if (!groups || !byRef.current) return;
    const rows = groups.groups || [];
    const label = (g) => directoryName(directory, by, g.group[by]);
    const get = (g, name) => g.figures.find((f) => f.name === name);
    draw(byRef.current, {
      tooltip: { trigger: 'axis' },
      legend: { data: [word('figure', 'opened'), word('figure', 'closed')] },
      grid: { left: 40, right: 20, bottom: 60, top: 40 },
      xAxis: { type: 'category', data: rows.map(label), axisLabel: { rotate: 30 } },
      yAxis: { type: 'value' },
      series: [
        { name: word('figure', 'opened'), type: 'bar', data: rows.map((g) => get(g, 'opened')?.value ?? 0) },
        { name: word('figure', 'closed'), type: 'bar', data: rows.map((g) => get(g, 'closed')?.value ?? 0) },
      ],
    }, (p) => {
      const f = rows[p.dataIndex] && get(rows[p.dataIndex], p.seriesIndex === 0 ? 'opened' : 'closed');
      if (f?.cases) go(casesLink(f.cases));
    });
  }, [groups]);

  const setParam = (name, value) => go(`#/dashboard?${query({ ...range, ...slice, by, [name]: value })}`);
  const figures = figuresOf(stats);
  const headline = HEADLINE.map((n) => figures.find((f) => f.name === n)).filter(Boolean);
  const unitRows = [...(units?.units || [])].sort((a, b) => {
    const x = a[sort.key] ?? -1;
    const y = b[sort.key] ?? -1;
    const order = typeof x === 'string' ? String(x).localeCompare(String(y)) : x - y;
    return sort.desc ? -order : order;
  });
  const unitColumns = UNIT_COLUMNS.filter((c) => units?.units?.[0] && c in units.units[0]);

  return html`<section aria-labelledby="dash-title">
    <h1 id="dash-title">${t('dash.title')}</h1>
    <form class="toolbar" onSubmit=${(e) => e.preventDefault()}>
      <div class="field"><label for="dash-from">${t('common.from')}</label>
        <input id="dash-from" type="date" value=${range.from} onChange=${(e) => setParam('from', e.target.value)} /></div>
      <div class="field"><label for="dash-to">${t('common.to')}</label>
        <input id="dash-to" type="date" value=${range.to} onChange=${(e) => setParam('to', e.target.value)} /></div>
      ${SLICES.map((s) => html`<div class="field"><label for=${`dash-${s}`}>${word('field', s)}</label>
        <select id=${`dash-${s}`} value=${slice[s]} onChange=${(e) => setParam(s, e.target.value)}>
          <option value="">${t('common.all')}</option>
          ${choices(directory, s).map((c) => html`<option value=${c.id}>${c.name}</option>`)}
        </select></div>`)}
      <button type="button" onClick=${() => download(`/v1/stats?${query({ ...base, by, format: 'csv' })}`, `docket-${range.from}-${range.to}.csv`)}>${t('dash.csv')}</button>
    </form>
    <${ProblemView} problem=${error} />
    ${!stats && !error && html`<p role="status">${t('common.loading')}</p>`}
    ${stats && html`<div class="cards" aria-label=${t('dash.figures')}>
      ${headline.map((f) => html`<div class="card" data-figure=${f.name}>
        <div class="card-name">${word('figure', f.name)}</div>
        <${FigureNumber} figure=${f} />
        <${Ratio} figure=${f} />
      </div>`)}
    </div>`}
    <div class="charts">
      <figure class="chart-box"><figcaption>${t('dash.trend')}</figcaption><div class="chart" ref=${trendRef} role="img" aria-label=${t('dash.trend')}></div></figure>
      <figure class="chart-box"><figcaption>
        <label for="dash-by">${t('dash.by')}</label>
        <select id="dash-by" value=${by} onChange=${(e) => setParam('by', e.target.value)}>
          ${BREAKDOWNS.map((b) => html`<option value=${b}>${word('field', b)}</option>`)}
        </select></figcaption>
        <div class="chart" ref=${byRef} role="img" aria-label=${`${t('dash.by')}: ${word('field', by)}`}></div></figure>
    </div>
    ${groups && html`<div class="table-wrap"><table class="figures-table">
      <caption>${t('dash.by')}: ${word('field', by)}</caption>
      <thead><tr><th scope="col">${word('field', by)}</th>${['opened', 'closed', 'closure_rate', 'overdue', 'still_open'].map((n) => html`<th scope="col">${word('figure', n)}</th>`)}</tr></thead>
      <tbody>${(groups.groups || []).map((g) => html`<tr>
        <th scope="row">${directoryName(directory, by, g.group[by])}</th>
        ${['opened', 'closed', 'closure_rate', 'overdue', 'still_open'].map((n) => { const f = g.figures.find((x) => x.name === n); return html`<td>${f ? html`<${FigureNumber} figure=${f} />` : '—'}</td>`; })}
      </tr>`)}</tbody></table></div>`}
    ${units && unitRows.length > 0 && html`<div class="table-wrap"><table class="units-table">
      <caption>${t('dash.units')}</caption>
      <thead><tr><th scope="col">${word('field', 'unit')}</th>
        ${unitColumns.map((c) => html`<th scope="col" aria-sort=${sort.key === c ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
          <button type="button" class="link" onClick=${() => setSort({ key: c, desc: sort.key === c ? !sort.desc : true })}>${word('figure', c)}</button></th>`)}
      </tr></thead>
      <tbody>${unitRows.map((u) => html`<tr><th scope="row">${u.name || directoryName(directory, 'unit', u.unit)}</th>
        ${unitColumns.map((c) => html`<td>${unitCell(u, c)}</td>`)}</tr>`)}</tbody></table></div>`}
    ${stats && html`<div class="table-wrap"><table class="figures-table all-figures">
      <caption>${t('dash.figures')}</caption>
      <tbody>${figures.map((f) => html`<tr data-figure-row=${f.name}><th scope="row">${word('figure', f.name)}</th>
        <td><${FigureNumber} figure=${f} /></td><td><${Ratio} figure=${f} /></td></tr>`)}</tbody></table></div>`}
  </section>`;
}

// The per-unit table's columns, and for each count the dispatches it counts (`/v1/stats/dispatches`
// narrowed as the count is).
const UNIT_COLUMNS = ['dispatched', 'checked_in_on_time', 'late', 'returned', 'parts', 'dissatisfied', 'response_rate', 'median_minutes_to_check_in', 'p90_minutes_to_check_in'];
const UNIT_LINKS = { dispatched: '', checked_in_on_time: 'on_time=true', late: 'late=true', returned: 'returned=true' };

function unitCell(row, column) {
  const value = row[column];
  const text = formatValue({ name: column, value });
  if (row.dispatches && column in UNIT_LINKS && value) {
    const narrowed = UNIT_LINKS[column] ? `&${UNIT_LINKS[column]}` : '';
    return html`<a href=${dispatchesLink(row.dispatches + narrowed)}>${text}</a>`;
  }
  return text;
}


