// Mason dashboard: a small single-page app over Mason's read-only JSON routes, kept live
// by the Server-Sent Events of /api/v2/events/stream. No dependencies, no build step.
// Text from the server (names, owners, user data) is only ever set as text, never as HTML.
'use strict';

(() => {
  const PAGE_SIZE = 100;
  const FEED_SIZE = 200;
  const RECENT_SIZE = 12;
  const HISTORY_SIZE = 200;
  const STATUS_EVERY_MS = 5000;
  // Least time between two reads of the overview or of a resource page (each is one
  // request; under a stream of events a page asks at most this often).
  const REFRESH_GAP_MS = 500;
  const KNOWN_STATES = ['free', 'busy', 'leased', 'dirty', 'cleaning', 'toBeDeleted', 'tombstone'];

  // ---- small helpers ------------------------------------------------------------------
  const $ = (selector) => document.querySelector(selector);

  /** An element with properties (`text`, `class`, `href`, `label`, other attributes) and children. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === 'text') node.textContent = String(value);
      else if (key === 'class') node.className = value;
      else if (key === 'label') node.dataset.label = value;
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function cell(label, content, cls) {
    return el('td', { label, class: cls }, content);
  }

  async function getJSON(path) {
    const response = await fetch(path, { headers: { Accept: 'application/json' } });
    if (!response.ok) {
      const body = (await response.text()).trim();
      throw new Error(`${path} answered ${response.status}${body ? `: ${body}` : ''}`);
    }
    return { body: await response.json(), headers: response.headers };
  }

  function showProblem(error) {
    const box = $('#problem');
    if (error) {
      box.textContent = String(error.message || error);
      box.hidden = false;
    } else {
      box.hidden = true;
    }
  }

  // ---- time ---------------------------------------------------------------------------
  let clockSkewMs = 0; // the server's clock minus ours, from the last answer with `now`

  function serverNow() {
    return Date.now() + clockSkewMs;
  }

  function learnClock(now) {
    const t = Date.parse(now);
    if (!Number.isNaN(t)) clockSkewMs = t - Date.now();
  }

  function span(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m${s % 60 ? ` ${s % 60}s` : ''}`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h}h${m % 60 ? ` ${m % 60}m` : ''}`;
    return `${Math.floor(h / 24)}d ${h % 24}h`;
  }

  /** A <time> that says how long ago `iso` was, refreshed every second. */
  function ago(iso) {
    if (!iso) return el('span', { class: 'muted', text: 'never' });
    return el('time', { datetime: iso, title: iso, 'data-ago': '' }, `${span(serverNow() - Date.parse(iso))} ago`);
  }

  /** A <time> that says how long until `iso`. */
  function until(iso) {
    if (!iso) return el('span', { class: 'muted', text: 'on wake-up' });
    return el('time', { datetime: iso, title: iso, 'data-until': '' }, inText(iso));
  }

  function inText(iso) {
    const ms = Date.parse(iso) - serverNow();
    return ms <= 0 ? 'due' : `in ${span(ms)}`;
  }

  function tickClocks() {
    for (const t of document.querySelectorAll('time[data-ago]')) {
      t.textContent = `${span(serverNow() - Date.parse(t.dateTime))} ago`;
    }
    for (const t of document.querySelectorAll('time[data-until]')) t.textContent = inText(t.dateTime);
  }

  // ---- states and bars ----------------------------------------------------------------
  const stateClass = (s) => `state-${KNOWN_STATES.includes(s) ? s : 'other'}`;

  function stateBar(states, total) {
    const entries = Object.entries(states).sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b));
    const description = entries.map(([s, n]) => `${s} ${n}`).join(', ') || 'empty';
    const bar = el('div', { class: 'bar', role: 'img', 'aria-label': `${total} resources: ${description}` });
    const legend = el('div', { class: 'legend' });
    for (const [s, n] of entries) {
      const part = el('span', { class: stateClass(s), title: `${s}: ${n}` });
      part.style.flexGrow = String(n);
      bar.append(part);
      legend.append(el('span', { class: stateClass(s), 'data-state': s, 'data-count': n }, `${s} ${n}`));
    }
    return el('div', {}, bar, legend);
  }

  function order(s) {
    const i = KNOWN_STATES.indexOf(s);
    return i < 0 ? KNOWN_STATES.length : i;
  }

  // ---- events (the JSON of /api/v2/events) --------------------------------------------
  const change = (before, after) => (before === after ? (after || '—') : `${before || '—'} → ${after || '—'}`);

  function describeEvent(ev) {
    return {
      when: ev.at,
      kind: ev.kind,
      name: ev.name,
      type: ev.type,
      state: change(ev.old_state, ev.new_state),
      owner: change(ev.old_owner, ev.new_owner),
      actor: ev.actor || '',
    };
  }

  function resourceLink(name) {
    return el('a', { href: `#/resource/${encodeURIComponent(name)}`, text: name });
  }

  // ---- live stream --------------------------------------------------------------------
  const live = { source: null, lastId: null, listeners: [] };
  const EVENT_KINDS = [
    'acquire', 'acquirebystate', 'multi-acquire', 'release', 'update', 'reset', 'expire',
    'create', 'delete', 'to-be-deleted', 'tombstone',
  ];

  function connect() {
    const status = $('#live');
    const source = new EventSource('/api/v2/events/stream');
    live.source = source;
    let opened = false;
    source.addEventListener('open', () => {
      status.textContent = 'live';
      status.className = 'live on';
      // After a reconnect the browser resumes with Last-Event-ID, but only from the last
      // event it saw: read the page again so nothing from before that is missing.
      if (opened) refresh(parseHash());
      opened = true;
    });
    source.addEventListener('error', () => {
      status.textContent = source.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting';
      status.className = 'live off';
    });
    const onEvent = (message) => {
      let ev;
      try {
        ev = JSON.parse(message.data);
      } catch {
        return;
      }
      live.lastId = message.lastEventId;
      for (const listener of live.listeners) listener(ev);
    };
    for (const kind of EVENT_KINDS) source.addEventListener(kind, onEvent);
    source.addEventListener('message', onEvent);
  }

  /**
   * Run `work` now, or once more after the run in progress when asked again meanwhile;
   * runs start at least `gapMs` apart, so a burst of events costs one request per gap
   * per page (the last event of a burst is always followed by a fresh run).
   */
  function coalesced(work, gapMs = 0) {
    let running = false;
    let again = false;
    let lastStart = 0;
    return async function run() {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          const wait = lastStart + gapMs - Date.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          lastStart = Date.now();
          await work();
        } while (again);
      } finally {
        running = false;
      }
    };
  }

  // ---- overview -----------------------------------------------------------------------
  const overview = { types: [] };

  const loadOverview = coalesced(async () => {
    try {
      const { body } = await getJSON('/api/v2/overview');
      learnClock(body.now);
      overview.types = body.types;
      renderTypes(body.types);
      fillTypeFilter(body.types);
      showProblem(null);
    } catch (error) {
      showProblem(error);
    }
  }, REFRESH_GAP_MS);

  function renderTypes(types) {
    const body = $('#types tbody');
    body.replaceChildren(...types.map((t) => {
      const dyn = t.dynamic ? `${t.dynamic.min} / ${t.dynamic.current} / ${t.dynamic.max}` : '—';
      const oldest = t.oldest_lease
        ? el('span', {}, resourceLink(t.oldest_lease.name), ` by ${t.oldest_lease.owner}, `, ago(t.oldest_lease.since))
        : el('span', { class: 'muted', text: 'none' });
      return el('tr', { 'data-type': t.type },
        cell('Type', el('a', { href: `#/resources?type=${encodeURIComponent(t.type)}`, text: t.type })),
        cell('States', stateBar(t.states, t.total)),
        cell('Free / total', el('span', { 'data-free': t.free, 'data-total': t.total }, `${t.free} / ${t.total}`), 'num'),
        cell('Waiting', t.waiting, 'num'),
        cell('Dynamic', dyn),
        cell('Oldest lease', oldest),
        cell('Builder', builderText(t.builder), t.builder && (t.builder.blocked || t.builder.last_error) ? 'error' : undefined));
    }));
    $('#types-empty').hidden = types.length > 0;
  }

  function builderText(b) {
    if (!b) return el('span', { class: 'muted', text: '—' });
    const parts = [`${b.in_flight} building`, `${b.built} built`, `${b.failed} failed`];
    if (b.unmet_needs) parts.push(`${b.unmet_needs} unmet needs`);
    const text = parts.join(', ');
    const problem = b.blocked || b.last_error;
    return problem ? el('span', { title: problem }, `${text}; ${problem}`) : text;
  }

  const loadStatus = coalesced(async () => {
    try {
      const { body } = await getJSON('/api/v2/status');
      learnClock(body.now);
      $('#loops tbody').replaceChildren(...body.loops.map((l) => el('tr', {},
        cell('Loop', l.name),
        cell('Running', l.running ? 'yes' : 'no'),
        cell('Last run', ago(l.last_run)),
        cell('Next run', l.running ? until(l.next_run) : '—'),
        cell('Runs / errors', `${l.ticks} / ${l.errors}`, 'num'),
        cell('Last error', l.last_error || '—', l.consecutive_errors ? 'error' : undefined))));
    } catch (error) {
      showProblem(error);
    }
  });

  function feedItem(ev) {
    const d = describeEvent(ev);
    return el('li', {}, el('time', { datetime: d.when, title: d.when, 'data-ago': '' }, `${span(serverNow() - Date.parse(d.when))} ago`),
      `${d.kind} `, resourceLink(d.name), ` ${d.state}, owner ${d.owner}${d.actor ? ` (by ${d.actor})` : ''}`);
  }

  // ---- resources ----------------------------------------------------------------------
  const table = { filters: {}, cursors: [], cursor: '', next: null };

  function fillTypeFilter(types) {
    const select = $('#filters select[name=type]');
    const current = select.value || table.filters.type || '';
    const names = types.map((t) => t.type);
    const have = [...select.options].slice(1).map((o) => o.value);
    if (names.join('\n') !== have.join('\n')) {
      select.replaceChildren(el('option', { value: '', text: 'any' }), ...names.map((n) => el('option', { value: n, text: n })));
    }
    select.value = names.includes(current) ? current : '';
    const states = new Set(KNOWN_STATES);
    for (const t of types) for (const s of Object.keys(t.states)) states.add(s);
    $('#known-states').replaceChildren(...[...states].map((s) => el('option', { value: s })));
  }

  function resourcesQuery(cursor) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(table.filters)) if (v) params.set(k, v);
    params.set('limit', String(PAGE_SIZE));
    if (cursor) params.set('cursor', cursor);
    return `/api/v2/resources?${params}`;
  }

  const loadResources = coalesced(async () => {
    try {
      const { body, headers } = await getJSON(resourcesQuery(table.cursor));
      table.next = headers.get('Mason-Next-Cursor');
      $('#resources tbody').replaceChildren(...body.map(resourceRow));
      const first = table.cursors.length * PAGE_SIZE + 1;
      $('#page-info').textContent = body.length
        ? `resources ${first}–${first + body.length - 1}${table.next ? '' : ' (last page)'}`
        : 'no matching resources';
      $('#next-page').disabled = !table.next;
      $('#first-page').disabled = table.cursors.length === 0;
      $('#prev-page').disabled = table.cursors.length === 0;
      showProblem(null);
    } catch (error) {
      showProblem(error);
    }
  }, REFRESH_GAP_MS);

  function resourceRow(r) {
    return el('tr', { 'data-name': r.name },
      cell('Name', resourceLink(r.name)),
      cell('Type', r.type),
      cell('State', el('span', { class: `legend-inline ${stateClass(r.state)}` }, r.state)),
      cell('Owner', r.owner || el('span', { class: 'muted', text: 'none' })),
      cell('Last update', ago(r.lastupdate)));
  }

  function readFilters(form) {
    const data = new FormData(form);
    const filters = {};
    for (const [k, v] of data.entries()) if (String(v).trim()) filters[k] = String(v).trim();
    return filters;
  }

  function applyResourceFilters(filters) {
    table.filters = filters;
    table.cursors = [];
    table.cursor = '';
    const form = $('#filters');
    for (const name of ['type', 'state', 'owner', 'q']) form.elements[name].value = filters[name] || '';
    loadResources();
  }

  // ---- one resource -------------------------------------------------------------------
  const detail = { name: null, shownName: null, lastId: 0 };

  async function loadResource(name) {
    detail.name = name;
    $('#resource-title').textContent = name;
    try {
      const { body: r } = await getJSON(`/api/v2/resources/${encodeURIComponent(name)}`);
      const facts = [['Type', r.type], ['State', r.state], ['Owner', r.owner || 'none'],
        ['Last update', ago(r.lastupdate)]];
      if (r['expiration-date']) facts.push(['Expires', r['expiration-date']]);
      if (r.generation !== undefined) facts.push(['Generation', r.generation]);
      $('#resource-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
      const data = Object.entries(r.userdata || {});
      $('#resource-userdata').replaceChildren(...(data.length
        ? data.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })])
        : [el('dt', { text: 'none' }), el('dd')]));
      showProblem(null);
    } catch (error) {
      showProblem(error);
    }
    try {
      const { body } = await getJSON(`/api/v2/events?name=${encodeURIComponent(name)}&before=&limit=${HISTORY_SIZE}`);
      // Rows newer than what this page showed before are new: highlight them.
      const shownBefore = detail.shownName === name ? detail.lastId : Infinity;
      $('#history tbody').replaceChildren(...body.events.slice().reverse().map((e) => historyRow(e, e.id > shownBefore)));
      detail.shownName = name;
      detail.lastId = body.events.length ? body.events[body.events.length - 1].id : 0;
      $('#history-empty').hidden = body.events.length > 0;
    } catch (error) {
      showProblem(error);
    }
  }

  function historyRow(ev, fresh) {
    const d = describeEvent(ev);
    return el('tr', { class: fresh ? 'fresh' : undefined, 'data-event': ev.id },
      cell('When', el('time', { datetime: d.when, title: d.when }, new Date(d.when).toLocaleString())),
      cell('What', d.kind),
      cell('State', d.state),
      cell('Owner', d.owner),
      cell('By', d.actor || '—'),
      cell('Event', ev.id, 'num'));
  }

  // ---- events page --------------------------------------------------------------------
  const feed = { filters: {} };

  function matches(ev, filters) {
    const owners = [ev.old_owner, ev.new_owner];
    return (!filters.type || ev.type === filters.type)
      && (!filters.name || ev.name === filters.name)
      && (!filters.owner || owners.includes(filters.owner))
      && (!filters.kind || ev.kind === filters.kind);
  }

  function eventRow(ev, fresh) {
    const d = describeEvent(ev);
    return el('tr', { class: fresh ? 'fresh' : undefined, 'data-event': ev.id },
      cell('When', el('time', { datetime: d.when, title: d.when, 'data-ago': '' }, `${span(serverNow() - Date.parse(d.when))} ago`)),
      cell('What', d.kind),
      cell('Resource', el('span', {}, resourceLink(d.name), ` (${d.type})`)),
      cell('State', d.state),
      cell('Owner', d.owner),
      cell('By', d.actor || '—'));
  }

  async function loadEvents() {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(feed.filters)) if (v) params.set(k, v);
    params.set('before', '');
    params.set('limit', String(FEED_SIZE));
    try {
      const { body } = await getJSON(`/api/v2/events?${params}`);
      $('#events tbody').replaceChildren(...body.events.slice().reverse().map((e) => eventRow(e, false)));
      showProblem(null);
    } catch (error) {
      showProblem(error);
    }
  }

  async function loadRecent() {
    try {
      const { body } = await getJSON(`/api/v2/events?before=&limit=${RECENT_SIZE}`);
      $('#recent').replaceChildren(...body.events.slice().reverse().map(feedItem));
    } catch (error) {
      showProblem(error);
    }
  }

  function prepend(list, node, max) {
    list.prepend(node);
    while (list.children.length > max) list.lastElementChild.remove();
  }

  // ---- routing ------------------------------------------------------------------------
  let view = null;

  function parseHash() {
    const hash = location.hash.replace(/^#/, '') || '/';
    const [path, query] = hash.split('?');
    const params = Object.fromEntries(new URLSearchParams(query || ''));
    if (path.startsWith('/resource/')) return { view: 'resource', name: decodeURIComponent(path.slice('/resource/'.length)), params };
    if (path === '/resources') return { view: 'resources', params };
    if (path === '/events') return { view: 'events', params };
    return { view: 'overview', params };
  }

  function route() {
    const target = parseHash();
    view = target.view;
    for (const section of document.querySelectorAll('main > section')) section.hidden = section.id !== `view-${view}`;
    for (const link of document.querySelectorAll('[data-nav]')) {
      const here = link.dataset.nav === view || (view === 'resource' && link.dataset.nav === 'resources');
      if (here) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    refresh(target);
    const heading = document.querySelector(`#view-${view} h1`);
    if (heading && document.activeElement !== document.body) heading.focus();
  }

  /** Read the current view's data again. */
  function refresh(target) {
    if (view === 'overview') {
      document.title = 'Mason — pools';
      loadOverview();
      loadStatus();
      loadRecent();
    } else if (view === 'resources') {
      document.title = 'Mason — resources';
      applyResourceFilters(target.params);
    } else if (view === 'resource') {
      document.title = `Mason — ${target.name}`;
      loadResource(target.name);
    } else {
      document.title = 'Mason — events';
      feed.filters = target.params;
      const form = $('#event-filters');
      for (const name of ['type', 'name', 'owner', 'kind']) form.elements[name].value = feed.filters[name] || '';
      loadEvents();
    }
  }

  // ---- live updates -------------------------------------------------------------------
  live.listeners.push((ev) => {
    if (view === 'overview') {
      loadOverview();
      prepend($('#recent'), feedItem(ev), RECENT_SIZE);
    } else if (view === 'resources') {
      const row = document.querySelector(`#resources tr[data-name="${CSS.escape(ev.name)}"]`);
      const shown = row || (table.cursors.length === 0 && !table.filters.q);
      if (shown) loadResources();
    } else if (view === 'resource' && ev.name === detail.name) {
      loadResource(detail.name);
    } else if (view === 'events' && matches(ev, feed.filters)) {
      prepend($('#events tbody'), eventRow(ev, true), FEED_SIZE);
    }
  });

  // ---- start --------------------------------------------------------------------------
  function start() {
    $('#filters').addEventListener('submit', (e) => {
      e.preventDefault();
      const params = new URLSearchParams(readFilters(e.target));
      location.hash = `#/resources${params.toString() ? `?${params}` : ''}`;
    });
    $('#event-filters').addEventListener('submit', (e) => {
      e.preventDefault();
      const params = new URLSearchParams(readFilters(e.target));
      location.hash = `#/events${params.toString() ? `?${params}` : ''}`;
    });
    $('#next-page').addEventListener('click', () => {
      if (!table.next) return;
      table.cursors.push(table.cursor);
      table.cursor = table.next;
      loadResources();
    });
    $('#prev-page').addEventListener('click', () => {
      if (table.cursors.length === 0) return;
      table.cursor = table.cursors.pop();
      loadResources();
    });
    $('#first-page').addEventListener('click', () => {
      table.cursors = [];
      table.cursor = '';
      loadResources();
    });
    window.addEventListener('hashchange', route);
    route();
    connect();
    setInterval(tickClocks, 1000);
    setInterval(() => {
      if (view === 'overview') loadStatus();
    }, STATUS_EVERY_MS);
  }

  start();
})();
