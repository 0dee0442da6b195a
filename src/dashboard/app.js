/*
 * Tally's dashboard: one script, no framework, calling only the public API of the server that
 * serves it (so the page cannot disagree with the API). The key lives in sessionStorage (this
 * tab only); site, range and filter live in the URL, so a link is shareable (without the key).
 * All dates are UTC, like the API's.
 */
/* global uPlot */
(function () {
  'use strict';

  const KEY = 'tally.key';
  const DAY = 86400000;
  const REFRESH_MS = 10000;
  /** The breakdown tables: a dimension of /v1/stats/breakdown each. */
  const TABLES = [
    ['path', 'Top pages'],
    ['source', 'Sources'],
    ['utm_campaign', 'UTM campaigns'],
    ['utm_source', 'UTM sources'],
    ['utm_medium', 'UTM mediums'],
    ['country', 'Countries'],
    ['browser', 'Browsers'],
    ['os', 'Operating systems'],
    ['device', 'Devices'],
  ];
  const AD_TABLES = [
    ['campaign_id', 'Campaigns'],
    ['creative_id', 'Creatives'],
    ['ad_unit_id', 'Ad units'],
    ['account_id', 'Accounts'],
  ];
  const SPECIAL_TYPES = ['page_view', 'impression', 'click'];

  const $ = (id) => document.getElementById(id);
  const state = { key: sessionStorage.getItem(KEY) || '', admin: false, sites: null };
  let seq = 0;
  let timer = 0;
  let charts = [];
  let lastAccepted = null;
  /** Breakdown answers (promises) of one site and range, by dimension. */
  const breakdowns = { scope: '', byDim: new Map() };

  /** An element with attributes/properties and children (text is always set as text). */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') {
        el.className = v;
      } else if (k.startsWith('on')) {
        el.addEventListener(k.slice(2), v);
      } else if (v !== undefined && v !== null) {
        el.setAttribute(k, v);
      }
    }
    for (const c of children.flat()) {
      if (c !== null && c !== undefined) {
        el.append(c instanceof Node ? c : String(c));
      }
    }
    return el;
  }

  const num = (n) => (n === undefined || n === null ? '—' : n.toLocaleString('en-US'));
  const pct = (x) => (100 * x).toFixed(2) + ' %';

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, params, text) {
    const qs = params ? '?' + new URLSearchParams(params) : '';
    const res = await fetch(path + qs, {
      headers: state.key ? { authorization: 'Bearer ' + state.key } : {},
    });
    if (!res.ok) {
      const body = await res.json().catch(() => undefined);
      const msg = body && body.error ? body.error.message : res.status + ' ' + res.statusText;
      throw new ApiError(res.status, msg);
    }
    return text ? res.text() : res.json();
  }

  // --- URL state -------------------------------------------------------------------------

  function params() {
    return new URLSearchParams(location.search);
  }
  function setParams(changes, push) {
    const p = params();
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined || v === '') {
        p.delete(k);
      } else {
        p.set(k, v);
      }
    }
    const url = location.pathname + (p.toString() ? '?' + p : '');
    history[push ? 'pushState' : 'replaceState'](null, '', url);
  }

  const iso = (ms) => new Date(ms).toISOString().slice(0, 10);
  const dayMs = (s) => (/^\d{4}-\d{2}-\d{2}$/.test(s || '') ? Date.parse(s + 'T00:00:00Z') : NaN);

  /** The range in the URL, its previous period (as long, just before) and the chart's interval. */
  function range() {
    const p = params();
    const today = dayMs(iso(Date.now()));
    let name = p.get('range') || '7d';
    let from = today;
    let to = today;
    if (name === '30d') {
      from = today - 29 * DAY;
    } else if (name === 'month') {
      const d = new Date(today);
      from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    } else if (name === 'custom') {
      from = dayMs(p.get('from'));
      to = dayMs(p.get('to'));
      if (!(from <= to)) {
        name = '7d';
      }
    }
    if (name === '7d' || !['today', '30d', 'month', 'custom'].includes(name)) {
      name = '7d';
      from = today - 6 * DAY;
      to = today;
    }
    const days = (to - from) / DAY + 1;
    return {
      name,
      from: iso(from),
      to: iso(to),
      days,
      prev: { from: iso(from - days * DAY), to: iso(from - DAY) },
      hourly: days === 1,
    };
  }

  // --- sign-in ---------------------------------------------------------------------------

  function showSignin(message) {
    stop();
    $('dash').hidden = true;
    $('ranges').hidden = true;
    $('site-box').hidden = true;
    $('sign-out').hidden = !state.key;
    $('signin').hidden = false;
    $('signin-error').textContent = message || '';
    $('public-site').value = params().get('site') || '';
  }

  /** Checks the key: an admin key may list the sites, a read key gets 403 there. */
  async function probeKey() {
    try {
      state.sites = (await api('/v1/sites')).sites.map((s) => s.site_id);
      state.admin = true;
    } catch (err) {
      if (err.status !== 403) {
        throw err;
      }
      state.admin = false;
      state.sites = null;
    }
  }

  async function start() {
    if (state.key) {
      try {
        await probeKey();
      } catch (err) {
        sessionStorage.removeItem(KEY);
        state.key = '';
        showSignin('Sign-in refused: ' + err.message);
        return;
      }
    } else if (!params().get('site')) {
      showSignin('');
      return;
    }
    showDashboard();
  }

  function showDashboard() {
    $('signin').hidden = true;
    $('sign-out').hidden = false;
    $('sign-out').textContent = state.key ? 'Sign out' : 'Sign in';
    $('site-box').hidden = false;
    let site = params().get('site') || '';
    const select = $('site-select');
    const useSelect = state.sites !== null && state.sites.length > 0;
    select.hidden = !useSelect;
    $('site-form').hidden = useSelect;
    if (useSelect) {
      if (!state.sites.includes(site) && !site) {
        site = state.sites[0];
      }
      const names = state.sites.includes(site) || !site ? state.sites : [site, ...state.sites];
      select.replaceChildren(...names.map((s) => h('option', { value: s }, s)));
      select.value = site;
    } else {
      $('site-input').value = site;
    }
    if (!site) {
      $('dash').hidden = true;
      $('ranges').hidden = true;
      $('site-input').focus();
      return;
    }
    setParams({ site });
    $('ranges').hidden = false;
    $('dash').hidden = false;
    void load();
  }

  // --- loading ---------------------------------------------------------------------------

  function stop() {
    clearInterval(timer);
    timer = 0;
  }

  async function load() {
    stop();
    const my = ++seq;
    const site = params().get('site');
    const filter = params().get('filter') || '';
    const r = range();
    for (const b of $('ranges').querySelectorAll('button[data-range]')) {
      b.setAttribute('aria-pressed', String(b.dataset.range === r.name));
    }
    $('custom').hidden = r.name !== 'custom';
    $('from').value = r.from;
    $('to').value = r.to;
    $('error').hidden = true;
    $('pipeline').hidden = !state.admin;
    renderChips(filter);
    charts.forEach((c) => c.destroy());
    charts = [];
    const base = { site_id: site, from: r.from, to: r.to };
    const f = filter ? { filter } : {};
    const current = () => my === seq;
    try {
      const [cur, prev, series, all] = await Promise.all([
        api('/v1/stats', { ...base, ...f, top: 1 }),
        api('/v1/stats', { site_id: site, from: r.prev.from, to: r.prev.to, ...f, top: 1 }),
        // A filter reads daily rollups: the chart is daily then, also for one day.
        api('/v1/stats/timeseries', {
          ...base,
          ...f,
          interval: r.hourly && !filter ? 'hour' : 'day',
        }),
        filter ? api('/v1/stats', { ...base, top: 1 }) : undefined,
      ]);
      if (!current()) {
        return;
      }
      renderKpis(cur, prev, r);
      renderSeries(series);
      void loadTables(base, filter, all || cur, current);
    } catch (err) {
      if (!current()) {
        return;
      }
      if (err.status === 401) {
        showSignin(
          state.key
            ? 'Sign-in refused: ' + err.message
            : 'The reports of ' + site + ' are not public: sign in with an API key.',
        );
        return;
      }
      showError(err.message);
      return;
    }
    void loadAds(r, current);
    void refresh(site, current);
    timer = setInterval(() => void refresh(site, current), REFRESH_MS);
  }

  function showError(message) {
    $('error').textContent = message;
    $('error').hidden = false;
  }

  function renderChips(filter) {
    const chips = $('chips');
    chips.replaceChildren();
    if (filter) {
      const i = filter.indexOf(':');
      chips.append(
        h(
          'button',
          {
            class: 'chip',
            id: 'filter-chip',
            title: 'Remove this filter',
            onclick: () => setFilter(''),
          },
          filter.slice(0, i) + ': ' + filter.slice(i + 1) + ' ×',
        ),
      );
    }
  }

  function setFilter(filter) {
    setParams({ filter }, true);
    void load();
  }

  function change(cur, prev) {
    if (cur === undefined || prev === undefined) {
      return h('span', { class: 'change' });
    }
    if (prev === 0) {
      return h('span', { class: 'change' }, cur === 0 ? '0 %' : 'new');
    }
    const d = ((cur - prev) / prev) * 100;
    const text = (d > 0 ? '+' : d < 0 ? '−' : '') + Math.abs(d).toFixed(0) + ' %';
    return h('span', { class: 'change ' + (d > 0 ? 'up' : d < 0 ? 'down' : '') }, text);
  }

  function kpi(id, label, cur, prev, range) {
    return h(
      'div',
      { class: 'card kpi', id },
      h('h2', {}, label),
      h('span', { class: 'value' }, typeof cur === 'string' ? cur : num(cur)),
      prev === null
        ? null
        : h(
            'span',
            {
              title:
                'previous period ' + range.prev.from + ' – ' + range.prev.to + ': ' + num(prev),
            },
            change(cur, prev),
          ),
    );
  }

  function renderKpis(cur, prev, r) {
    $('kpis').replaceChildren(
      kpi('kpi-visitors', 'Visitors', cur.unique_users, prev.unique_users, r),
      kpi('kpi-views', 'Views', cur.total_views, prev.total_views, r),
      kpi('kpi-events', 'Events', cur.total_events, prev.total_events, r),
      kpi('kpi-realtime', 'Visitors now (5 min)', '…', null, r),
    );
  }

  const seconds = (iso8601) => Date.parse(iso8601) / 1000;

  function chart(el, data, series, scales) {
    const width = Math.max(280, el.clientWidth || el.parentElement.clientWidth - 24);
    const opts = {
      width,
      height: 220,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      series: [{}, ...series],
      scales: scales || {},
      axes: [
        {},
        { size: 50 },
        ...(scales && scales.pct ? [{ scale: 'pct', side: 1, grid: { show: false } }] : []),
      ],
      legend: { live: true },
    };
    el.replaceChildren();
    if (typeof uPlot === 'undefined') {
      return;
    }
    charts.push(new uPlot(opts, data, el));
  }

  function renderSeries(s) {
    const b = s.buckets;
    const daily = s.interval === 'day';
    $('chart-title').textContent =
      (daily ? 'Visitors and views per day' : 'Views per hour') + ' (UTC)';
    const data = [b.map((x) => seconds(x.bucket)), b.map((x) => x.views)];
    const series = [{ label: 'Views', stroke: '#3b63d9', width: 2 }];
    if (daily && b.every((x) => x.unique_users !== undefined)) {
      data.push(b.map((x) => x.unique_users));
      series.push({ label: 'Visitors', stroke: '#12a58a', width: 2 });
    } else {
      data.push(b.map((x) => x.events));
      series.push({ label: 'Events', stroke: '#12a58a', width: 2 });
    }
    chart($('chart'), data, series);
  }

  /** One table: value (a filter button when `dim` is filterable), visitors, views, share bar. */
  function table(id, title, rows, opts) {
    const active = opts.active;
    const hasVisitors = rows.some((r) => r.visitors !== undefined);
    const head = [h('th', {}, opts.valueLabel || 'Value')];
    if (hasVisitors) {
      head.push(h('th', {}, 'Visitors'));
    }
    for (const c of opts.columns) {
      head.push(h('th', {}, c[1]));
    }
    head.push(h('th', {}, 'Share'));
    const body = rows.map((r) => {
      const label = r.value === '' ? '(none)' : r.value;
      const cell = opts.dim
        ? h(
            'button',
            { title: 'Filter by ' + label, onclick: () => setFilter(opts.dim + ':' + r.value) },
            label,
          )
        : h('span', { title: label }, label);
      const share = Math.min(1, r.share || 0);
      const bar = h('span', { class: 'share' });
      bar.style.width = (100 * share).toFixed(1) + '%';
      const tr = h(
        'tr',
        { class: active === r.value ? 'active' : null },
        h('td', { class: 'value' }, bar, cell),
        hasVisitors ? h('td', {}, num(r.visitors)) : null,
        opts.columns.map((c) => h('td', {}, c[2] ? c[2](r[c[0]]) : num(r[c[0]]))),
        h('td', {}, (100 * (r.share || 0)).toFixed(1) + ' %'),
      );
      return tr;
    });
    return h(
      'div',
      { class: 'card', id },
      h('h2', {}, title),
      rows.length === 0
        ? h('p', { class: 'empty' }, 'Nothing in this range.')
        : h('table', { class: 'rows' }, h('thead', {}, h('tr', {}, head)), h('tbody', {}, body)),
    );
  }

  async function loadTables(base, filter, unfiltered, current) {
    const [fdim, ...rest] = filter ? filter.split(':') : [];
    const fval = rest.join(':');
    // A breakdown takes a filter on any dimension but path: it then counts visitors only.
    const filtered = Boolean(filter) && fdim !== 'path';
    $('tables-note').hidden = !filter;
    $('tables-note').textContent = filtered
      ? 'Filtered, the tables count the visitors of ' +
        fdim +
        ': ' +
        fval +
        ' (views are rolled up per dimension, not per pair); Top pages and Custom events show all of the site’s traffic.'
      : 'A page filter applies to the figures and the chart above; the tables below show all of the site’s traffic (paths keep no per-visitor rows).';
    // Each table shows as its answer comes (a breakdown over a long range takes longest).
    const scope = base.site_id + '|' + base.from + '|' + base.to;
    if (breakdowns.scope !== scope) {
      breakdowns.scope = scope;
      breakdowns.byDim = new Map();
    }
    const types = Object.entries(unfiltered.events_by_type || {})
      .filter(([t]) => !SPECIAL_TYPES.includes(t))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const total = unfiltered.total_events || 0;
    const cards = TABLES.map(([, title]) =>
      h('div', { class: 'card loading' }, h('h2', {}, title), h('p', { class: 'empty' }, '…')),
    );
    cards.push(
      table(
        'table-events',
        'Custom events',
        types.map(([value, n]) => ({ value, events: n, share: total ? n / total : 0 })),
        { valueLabel: 'Event', columns: [['events', 'Events']] },
      ),
    );
    $('tables').replaceChildren(...cards);
    await Promise.all(
      TABLES.map(async ([dim, title], i) => {
        let card;
        try {
          // Answers are kept per range: removing a filter, or setting it again, reuses them.
          const f = filtered && dim !== 'path' ? { filter } : {};
          const key = dim + '|' + (f.filter || '');
          let answer = breakdowns.byDim.get(key);
          if (answer === undefined) {
            answer = api('/v1/stats/breakdown', { ...base, ...f, dimension: dim, limit: 10 });
            breakdowns.byDim.set(key, answer);
            answer.catch(() => breakdowns.byDim.delete(key));
          }
          const b = await answer;
          card = table('table-' + dim, title, b.rows, {
            dim,
            active: dim === fdim ? fval : undefined,
            columns: f.filter ? [] : [['views', 'Views']],
          });
        } catch (err) {
          card = h(
            'div',
            { class: 'card' },
            h('h2', {}, title),
            h('p', { class: 'error' }, err.message),
          );
        }
        if (current()) {
          cards[i].replaceWith(card);
        }
      }),
    );
  }

  // --- ads -------------------------------------------------------------------------------

  /** Sums /v1/ads/stats rows by `key` (bucket, group, or none: one sum): impressions, clicks, CTR. */
  function sumBy(rows, key) {
    const out = new Map();
    for (const r of rows) {
      const k = key ? r[key] : '';
      const s = out.get(k) || { value: k, impressions: 0, clicks: 0 };
      s.impressions += r.impressions;
      s.clicks += r.clicks;
      out.set(k, s);
    }
    for (const s of out.values()) {
      s.ctr = s.impressions > 0 ? s.clicks / s.impressions : 0;
    }
    return [...out.values()];
  }

  async function loadAds(r, current) {
    const el = $('ads');
    const q = (from, to, groupBy, interval) =>
      api('/v1/ads/stats', { from, to, interval, group_by: groupBy, limit: 10000 });
    let res;
    try {
      res = await Promise.all([
        q(r.from, r.to, 'campaign_id', r.hourly ? 'hour' : 'day'),
        q(r.prev.from, r.prev.to, 'campaign_id', 'day'),
        ...AD_TABLES.map(([g]) => q(r.from, r.to, g, 'day')),
      ]);
    } catch (err) {
      if (current()) {
        el.replaceChildren(h('p', { class: 'note' }, 'Ads: ' + err.message));
      }
      return;
    }
    if (!current()) {
      return;
    }
    const [overTime, prev, ...groups] = res;
    const none = { impressions: 0, clicks: 0, ctr: 0 };
    const total = sumBy(overTime.rows)[0] || none;
    const before = sumBy(prev.rows)[0] || none;
    if (total.impressions === 0 && total.clicks === 0) {
      el.replaceChildren(h('p', { class: 'note' }, 'No ad events in this range.'));
      return;
    }
    const buckets = sumBy(overTime.rows, 'bucket').sort((a, b) => (a.value < b.value ? -1 : 1));
    const chartEl = h('div', { class: 'chart' });
    const ctrText = (x) => pct(x);
    el.replaceChildren(
      h(
        'div',
        { class: 'kpis' },
        kpi('kpi-impressions', 'Impressions', total.impressions, before.impressions, r),
        kpi('kpi-clicks', 'Clicks', total.clicks, before.clicks, r),
        kpi('kpi-ctr', 'CTR', pct(total.ctr), null, r),
      ),
      h('div', { class: 'card' }, h('h2', {}, 'Impressions, clicks and CTR (UTC)'), chartEl),
      h(
        'div',
        { class: 'grid' },
        AD_TABLES.map(([g, title], i) => {
          const rows = sumBy(groups[i].rows, 'group').sort(
            (a, b) => b.impressions - a.impressions || b.clicks - a.clicks,
          );
          const all = rows.reduce((a, x) => a + x.impressions, 0);
          for (const x of rows) {
            x.share = all ? x.impressions / all : 0;
          }
          return table('ads-' + g, title, rows.slice(0, 10), {
            columns: [
              ['impressions', 'Impr.'],
              ['clicks', 'Clicks'],
              ['ctr', 'CTR', ctrText],
            ],
          });
        }),
      ),
    );
    chart(
      chartEl,
      [
        buckets.map((b) => seconds(b.value)),
        buckets.map((b) => b.impressions),
        buckets.map((b) => b.clicks),
        buckets.map((b) => 100 * b.ctr),
      ],
      [
        { label: 'Impressions', stroke: '#3b63d9', width: 2 },
        { label: 'Clicks', stroke: '#e07a10', width: 2 },
        {
          label: 'CTR %',
          stroke: '#8a56c2',
          width: 1,
          scale: 'pct',
          value: (_, v) => (v === null ? '—' : v.toFixed(2) + ' %'),
        },
      ],
      { pct: { auto: true } },
    );
  }

  // --- realtime and the pipeline (refreshed) ----------------------------------------------

  async function refresh(site, current) {
    try {
      const rt = await api('/v1/realtime', { site_id: site, top: 5 });
      if (current()) {
        const v = document.querySelector('#kpi-realtime .value');
        if (v) {
          v.textContent = num(rt.visitors);
        }
      }
    } catch {
      // The headline says what went wrong with the reports; realtime stays "…".
    }
    if (state.admin) {
      await loadPipeline(current);
    }
  }

  function metric(text, name) {
    const m = new RegExp('^' + name + ' (\\S+)$', 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  }

  async function loadPipeline(current) {
    const el = $('pipeline');
    const r = range();
    let res;
    try {
      res = await Promise.all([
        api('/health').catch((e) => (e.status === 503 ? { ok: false } : Promise.reject(e))),
        api('/metrics', undefined, true),
        api('/v1/drops', { from: r.from, to: r.to }),
        api('/v1/dead-letters', { limit: 10 }),
      ]);
    } catch (err) {
      el.replaceChildren(
        h('h2', { class: 'section' }, 'Pipeline'),
        h('p', { class: 'error' }, err.message),
      );
      el.hidden = false;
      return;
    }
    if (!current()) {
      return;
    }
    const [health, metrics, drops, dead] = res;
    const accepted = metric(metrics, 'tally_events_accepted_total');
    const now = Date.now();
    let rate = '…';
    if (lastAccepted && accepted !== undefined && now > lastAccepted.at) {
      rate = ((accepted - lastAccepted.n) / ((now - lastAccepted.at) / 1000)).toFixed(1) + ' /s';
    }
    if (accepted !== undefined) {
      // The rate needs two readings: the first comes again soon rather than at the next refresh.
      if (!lastAccepted) {
        setTimeout(() => void loadPipeline(current), 2000);
      }
      lastAccepted = { n: accepted, at: now };
    }
    const log = health.dependencies ? health.dependencies.log : undefined;
    const reasons = Object.entries(drops.drops)
      .sort((a, b) => b[1] - a[1])
      .map(([value, n]) => ({ value, events: n, share: drops.total ? n / drops.total : 0 }));
    el.replaceChildren(
      h('h2', { class: 'section' }, 'Pipeline'),
      h(
        'div',
        { class: 'kpis' },
        kpi('kpi-rate', 'Ingest rate', rate, null, r),
        kpi('kpi-backlog', 'Backlog (events)', log ? log.waiting : undefined, null, r),
        kpi('kpi-health', 'Health', health.ok ? 'healthy' : 'unhealthy', null, r),
        kpi('kpi-dead', 'Dead letters', dead.total, null, r),
      ),
      h(
        'div',
        { class: 'grid' },
        table('drops', 'Drops per reason', reasons, {
          valueLabel: 'Reason',
          columns: [['events', 'Events']],
        }),
        h(
          'div',
          { class: 'card', id: 'dead-letters' },
          h('h2', {}, 'Latest dead letters'),
          dead.items.length === 0
            ? h('p', { class: 'empty' }, 'None.')
            : h(
                'table',
                { class: 'rows' },
                h(
                  'thead',
                  {},
                  h(
                    'tr',
                    {},
                    h('th', {}, 'Reason'),
                    h('th', {}, 'Failed at'),
                    h('th', {}, 'Replayed'),
                  ),
                ),
                h(
                  'tbody',
                  {},
                  dead.items.map((d) =>
                    h(
                      'tr',
                      {},
                      h('td', { title: d.reason }, d.reason),
                      h('td', {}, d.failed_at.slice(0, 16).replace('T', ' ')),
                      h('td', {}, d.replayed_at ? 'yes' : 'no'),
                    ),
                  ),
                ),
              ),
        ),
      ),
    );
    el.hidden = false;
  }

  // --- events ----------------------------------------------------------------------------

  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.key = $('key').value.trim();
    sessionStorage.setItem(KEY, state.key);
    $('key').value = '';
    void start();
  });
  $('public-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.key = '';
    state.admin = false;
    state.sites = null;
    sessionStorage.removeItem(KEY);
    setParams({ site: $('public-site').value.trim() }, true);
    showDashboard();
  });
  $('sign-out').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    state.key = '';
    state.admin = false;
    state.sites = null;
    $('pipeline').hidden = true;
    showSignin('');
  });
  $('site-select').addEventListener('change', (e) => {
    setParams({ site: e.target.value, filter: '' }, true);
    void load();
  });
  $('site-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setParams({ site: $('site-input').value.trim(), filter: '' }, true);
    showDashboard();
  });
  $('ranges').addEventListener('click', (e) => {
    const name = e.target.dataset && e.target.dataset.range;
    if (!name) {
      return;
    }
    if (name === 'custom') {
      const r = range();
      setParams({ range: 'custom', from: r.from, to: r.to }, true);
    } else {
      setParams({ range: name, from: '', to: '' }, true);
    }
    void load();
  });
  $('custom').addEventListener('submit', (e) => {
    e.preventDefault();
    setParams({ range: 'custom', from: $('from').value, to: $('to').value }, true);
    void load();
  });
  addEventListener('popstate', () => void start());
  let resizing = 0;
  addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      for (const c of charts) {
        c.setSize({ width: Math.max(280, c.root.parentElement.clientWidth - 24), height: 220 });
      }
    }, 150);
  });

  void start();
})();
