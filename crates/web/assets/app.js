// KubeCorp's page: a plain client of the recorded stream (schema kubecorp/v1).
// Live, it reads /events (Server-Sent Events, resumed with Last-Event-ID by the browser): records
// come in batches (one JSON array per message) and events in brief (who, whose door, how far, the
// outcome, one line), and an event's whole record is fetched from api/records/SEQ when opened;
// in a report, it replays the records embedded in the file, step by step. Live, a run's steps
// are kept as they come, so back and forward replay them too; a run at the presenter's pace
// (`--step`, `--pace`) waits for next ▶ on the page (with the token) or a key in the terminal.
// What it shows is what the records say: nothing is computed that the lab did not record.
'use strict';
(function () {
  var SCHEMA = 'kubecorp/v1';
  var MAX_EVENTS = 3000;   // events kept in memory (oldest dropped)
  var MAX_ROWS = 150;      // rows drawn in the timeline
  var TIMELINE_EVERY = 200; // ms between timeline redraws at most
  var TIMELINE_BUSY_EVERY = 500; // … after a redraw that brought BUSY_ROWS rows or more
  var BUSY_ROWS = 50;
  var DRAW_EVERY = 100;     // ms between redraws of the floor plan and the story at most
  var MAX_RECORDED = 200000; // a live run's records kept for back and forward
  var RELIGHT_AFTER = 1000; // ms before an edge lit alike is lit again (its fade waits 1.5 s)
  var STAGES = {
    tcp: ['TCP', 'the TCP connection: accepted, refused, or garbage on the wire'],
    tls: ['TLS handshake', 'the TLS handshake: badges shown, and (at etcd, and by every caller) checked against a CA before any request is read'],
    authn: ['authentication', 'authentication: after the handshake, the guard reads the client badge (CN = user, O = groups) and checks it against its client CA'],
    authz: ['authorization', 'authorization: the badge is genuine; may this user do this? (RBAC, the Node authorizer)'],
    request: ['request', 'the request itself, answered']
  };
  var KNOWN_CAS = ['kubernetes', 'etcd-ca', 'front-proxy-ca'];
  // The stage's short name, as the edges and the timeline show it.
  function short(stage) { return stage === 'tcp' || stage === 'tls' ? stage.toUpperCase() : stage; }

  var $ = function (id) { return document.getElementById(id); };
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  var SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- State: what the records said so far. ----
  var state;
  function fresh() {
    return {
      title: null, nodes: [], events: [], checks: [], steps: 0, step: null, chapter: null,
      outcome: null, clock: null, clockAt: 0, actions: []
    };
  }
  state = fresh();

  // ---- The floor plan. ----
  var PLACES = {
    founder: { x: 560, y: 42, w: 240, h: 56, name: 'The Founder', sub: 'signs every badge', cls: 'ca' },
    'ca-kubernetes': { x: 400, y: 118, w: 190, h: 50, name: 'kubernetes CA', sub: 'ca.crt', cls: 'ca' },
    'ca-etcd': { x: 600, y: 118, w: 190, h: 50, name: 'etcd-ca', sub: 'etcd/ca.crt', cls: 'ca' },
    'ca-front-proxy': { x: 800, y: 118, w: 190, h: 50, name: 'front-proxy-ca', sub: 'front-proxy-ca.crt', cls: 'ca' },
    apiserver: { x: 470, y: 285, w: 220, h: 74, name: 'Alice', sub: 'apiserver · the front door' },
    etcd: { x: 870, y: 310, w: 200, h: 74, name: 'Charlie', sub: 'etcd · the vault', cls: 'vault' },
    scheduler: { x: 275, y: 505, w: 160, h: 60, name: 'Bob', sub: 'scheduler' },
    proxy: { x: 475, y: 505, w: 160, h: 60, name: 'Dave', sub: 'kube-proxy' },
    cm: { x: 690, y: 505, w: 170, h: 60, name: 'controller', sub: 'manager' },
    metrics: { x: 270, y: 395, w: 170, h: 56, name: 'metrics-server', sub: 'metrics.k8s.io · a guest' },
    admin: { x: 95, y: 200, w: 160, h: 54, name: 'admin', sub: 'admin.conf', cls: 'visitor' },
    john: { x: 95, y: 275, w: 160, h: 54, name: 'john', sub: 'a developer', cls: 'visitor' },
    anonymous: { x: 95, y: 350, w: 160, h: 54, name: 'anonymous', sub: 'no badge', cls: 'visitor' },
    rogue: { x: 95, y: 425, w: 160, h: 54, name: 'a rogue', sub: 'unknown CA', cls: 'visitor' },
    visitor: { x: 95, y: 500, w: 160, h: 54, name: 'others', sub: 'other badges', cls: 'visitor' }
  };
  var edges = {};    // "caller>guard" -> {g, line, rect, text}
  var rooms = {};

  function deskKey(node) { return 'desk:' + node; }
  function addDesk(node) {
    var key = deskKey(node);
    if (PLACES[key]) return key;
    var i = Object.keys(PLACES).filter(function (k) { return k.indexOf('desk:') === 0; }).length;
    // Four desks to a column, right of the staff; more nodes get another column.
    PLACES[key] = { x: 895 - 210 * Math.floor(i / 4), y: 430 + (i % 4) * 52, w: 200, h: 46, name: 'the CEO · kubelet', sub: node, cls: 'desk' };
    if (svgReady) drawRoom(key);
    return key;
  }

  // Which room a name belongs to: a component, a node's desk, or a visitor at the entrance.
  function placeOf(name, identity) {
    var n = name || '';
    if (/^[0-9.]+:[0-9]+$/.test(n) || n.charAt(0) === '[') n = identity ? identity.cn : '';
    if (!n) return 'anonymous';
    if (n === 'apiserver' || n.indexOf('kube-apiserver') === 0) return 'apiserver';
    if (n === 'etcd') return 'etcd';
    if (n === 'scheduler' || n === 'system:kube-scheduler') return 'scheduler';
    if (n === 'kube-proxy' || n === 'system:kube-proxy') return 'proxy';
    if (n === 'controller-manager' || n === 'system:kube-controller-manager') return 'cm';
    // Alice's front-proxy badge is Alice passing a request on to an aggregated server.
    if (n === 'front-proxy-client') return 'apiserver';
    if (n === 'metrics-server' || n === 'system:serviceaccount:kube-system:metrics-server') return 'metrics';
    // --use-service-account-credentials: each controller calls as kube-system/<name>-controller.
    if (/^system:serviceaccount:kube-system:[a-z-]+-controller$/.test(n)) return 'cm';
    if (n === 'kubelet') return addDesk(state.nodes[0] || 'node');
    if (n.indexOf('system:node:') === 0) return addDesk(n.slice(12));
    if (identity && identity.issuer && KNOWN_CAS.indexOf(identity.issuer) === -1) return 'rogue';
    if (n === 'kubernetes-admin' || n === 'kubernetes-super-admin') return 'admin';
    if (n === 'john') return 'john';
    if (n === 'system:anonymous') return 'anonymous';
    return 'visitor';
  }
  function groupOf(place) {
    if (place.indexOf('desk:') === 0) return 'desk';
    if (PLACES[place] && PLACES[place].cls === 'visitor') return 'visitor';
    return place;
  }

  var svgReady = false;
  var floor, edgeLayer, roomLayer;
  function drawFloor() {
    floor = $('floor');
    floor.appendChild(svg('rect', { class: 'area', x: 8, y: 140, width: 180, height: 410, rx: 14 }));
    floor.appendChild(svg('text', { class: 'area-label', x: 20, y: 162 }, 'the entrance'));
    floor.appendChild(svg('rect', { class: 'area', x: 740, y: 222, width: 250, height: 156, rx: 14 }));
    floor.appendChild(svg('text', { class: 'area-label', x: 752, y: 244 }, "the vault: Alice's corridor only"));
    // The vault's wall has one door: the corridor from Alice.
    floor.appendChild(svg('line', { class: 'wall', x1: 740, y1: 262, x2: 740, y2: 286 }));
    floor.appendChild(svg('line', { class: 'wall', x1: 740, y1: 330, x2: 740, y2: 378 }));
    floor.appendChild(svg('text', { class: 'area-label legend', x: 500, y: 592, 'text-anchor': 'middle' },
      'each call: TCP → TLS (the handshake) → authn (who are you?) → authz (may you?) → request;  ✓ got past it,  ✗ refused there'));
    edgeLayer = svg('g', {});
    roomLayer = svg('g', {});
    floor.appendChild(edgeLayer);
    floor.appendChild(roomLayer);
    svgReady = true;
    Object.keys(PLACES).forEach(drawRoom);
  }
  function drawRoom(key) {
    var p = PLACES[key];
    var g = svg('g', { class: 'room ' + (p.cls || '') });
    g.appendChild(svg('rect', { x: p.x - p.w / 2, y: p.y - p.h / 2, width: p.w, height: p.h, rx: 10 }));
    g.appendChild(svg('text', { x: p.x, y: p.y - 3 }, p.name));
    g.appendChild(svg('text', { class: 'sub', x: p.x, y: p.y + 18 }, p.sub));
    roomLayer.appendChild(g);
    rooms[key] = g;
  }
  // The point where the segment from a's centre to b's centre leaves a's box.
  function border(a, b) {
    var dx = b.x - a.x, dy = b.y - a.y;
    if (dx === 0 && dy === 0) return { x: a.x, y: a.y };
    var sx = dx === 0 ? Infinity : (a.w / 2) / Math.abs(dx);
    var sy = dy === 0 ? Infinity : (a.h / 2) / Math.abs(dy);
    var s = Math.min(sx, sy);
    return { x: a.x + dx * s, y: a.y + dy * s };
  }
  function edgeFor(from, to) {
    var key = from + '>' + to;
    if (edges[key]) return edges[key];
    var a = PLACES[from], b = PLACES[to];
    var p = border(a, b), q = border(b, a);
    // Calls both ways between two rooms sit side by side.
    var len = Math.hypot(q.x - p.x, q.y - p.y) || 1;
    var off = from > to ? 7 : -7;
    var ox = -(q.y - p.y) / len * off, oy = (q.x - p.x) / len * off;
    var g = svg('g', { class: 'edge', 'data-edge': key });
    var line = svg('line', { x1: p.x + ox, y1: p.y + oy, x2: q.x + ox, y2: q.y + oy, 'marker-end': 'url(#arrow)' });
    // The label sits near the caller: calls converging on one door keep their labels apart.
    var t = 0.3;
    var mx = p.x + (q.x - p.x) * t + ox * 3, my = p.y + (q.y - p.y) * t + oy * 3;
    var rect = svg('rect', { x: mx - 95, y: my - 16, width: 190, height: 30, rx: 7 });
    var text = svg('text', { x: mx, y: my + 6 });
    g.appendChild(line); g.appendChild(rect); g.appendChild(text);
    edgeLayer.appendChild(g);
    edges[key] = { g: g, text: text, rect: rect, label: '', at: 0 };
    return edges[key];
  }
  function light(ev) {
    var from = placeOf(ev.from, ev.identity), to = placeOf(ev.to, null);
    if (from === to || !PLACES[from] || !PLACES[to]) return;
    var e = edgeFor(from, to);
    var label = (ev.allowed ? '✓ ' : '✗ ') + short(ev.stage);
    // An edge lit alike less than a second ago is still bright (its fade waits 1.5 s): a busy
    // door is not redrawn ten times a second for nothing.
    var now = Date.now();
    if (e.label === label && now - e.at < RELIGHT_AFTER) return;
    e.label = label;
    e.at = now;
    e.text.textContent = label;
    var w = Math.max(110, label.length * 9.5 + 18);
    e.rect.setAttribute('width', w);
    e.rect.setAttribute('x', +e.text.getAttribute('x') - w / 2);
    e.g.setAttribute('class', 'edge lit ' + (ev.allowed ? 'ok' : 'bad'));
    lit.push(e.g);
  }
  // Edges lit in this frame start fading in the next one (a CSS transition does the rest).
  var lit = [];
  function fadeLit() {
    var now = lit; lit = [];
    requestAnimationFrame(function () {
      now.forEach(function (g) { g.setAttribute('class', g.getAttribute('class').replace('lit', 'fading')); });
    });
  }

  // ---- Records in. ----
  function apply(r) {
    if (r.schema !== SCHEMA) return;
    switch (r.type) {
      case 'opened':
        state.title = r.title;
        (r.nodes || []).forEach(function (n) { if (state.nodes.indexOf(n) === -1) state.nodes.push(n); addDesk(n); });
        break;
      case 'chapter': state.chapter = r.title; break;
      case 'step': state.step = r; state.steps = r.step || state.steps; state.outcome = null; break;
      case 'outcome': state.outcome = r; break;
      case 'check': state.checks.push(r); break;
      case 'clock': state.clock = r; state.clockAt = Date.now(); break;
      case 'action': state.actions.push(r); state.events.push(r); break;
      case 'result': state.result = r; break;
      case 'event':
        state.events.push(r);
        if (!state.clock || !state.clock.running) {
          if (!state.clock || r.at > state.clock.now) { state.clock = { now: r.at, running: false }; state.clockAt = Date.now(); }
        }
        break;
    }
    if (state.events.length > MAX_EVENTS + 500) state.events.splice(0, state.events.length - MAX_EVENTS);
  }

  // ---- Drawing. ----
  function hms(at) { return (at || '').slice(11, 19); }
  function showClock() {
    var c = state.clock;
    if (!c) return;
    var t = new Date(c.now);
    if (c.running) t = new Date(t.getTime() + (Date.now() - state.clockAt));
    $('clock-time').textContent = t.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
    $('clock-time').setAttribute('datetime', t.toISOString());
  }
  function firstLine(s) { return (s || '').split('\n')[0]; }
  function summary(ev) {
    if (ev.type === 'action' || ev.brief) return ev.text;
    if (!ev.allowed) return firstLine(ev.client_text || ev.server_log || ev.explanation || ev.detail);
    return firstLine(ev.detail || '');
  }
  function callerName(ev) {
    var n = ev.from;
    if (/^[0-9.]+:[0-9]+$/.test(n) && ev.identity) n = ev.identity.cn + ' (' + n + ')';
    return n;
  }
  function matches(ev) {
    var f = filters;
    if (ev.type === 'action') return !f.identity && !f.outcome;
    if (f.outcome === 'refused' && ev.allowed) return false;
    if (f.outcome === 'allowed' && !ev.allowed) return false;
    if (f.component) {
      var a = groupOf(placeOf(ev.from, ev.identity)), b = groupOf(placeOf(ev.to, null));
      if (a !== f.component && b !== f.component) return false;
    }
    if (f.identity) {
      var hay = (ev.from + ' ' + (ev.identity ? ev.identity.cn + ' ' + ev.identity.orgs.join(' ') : '')).toLowerCase();
      if (hay.indexOf(f.identity) === -1) return false;
    }
    return true;
  }
  var filters = { component: '', identity: '', outcome: '' };
  var paused = false, pausedAt = 0;
  function rowFor(ev) {
    var li = el('li');
    var b = el('button', 'row ' + (ev.type === 'action' ? 'action' : ev.allowed ? 'ok' : 'bad'));
    b.type = 'button';
    b.dataset.seq = ev.seq;
    if (ev.type === 'action') {
      b.appendChild(el('span', 't', ''));
      b.appendChild(el('span', 'm', ev.ok ? '✓' : '✗'));
      b.appendChild(el('span', 's', 'trainer'));
      b.appendChild(el('span', 'w', ev.command));
    } else {
      b.appendChild(el('span', 't', hms(ev.at)));
      var m = el('span', 'm', ev.allowed ? '✓' : '✗');
      m.setAttribute('aria-label', ev.allowed ? 'allowed' : 'refused');
      b.appendChild(m);
      b.appendChild(el('span', 's', short(ev.stage)));
      b.appendChild(el('span', 'w', callerName(ev) + ' → ' + ev.to));
    }
    b.appendChild(el('span', 'x', summary(ev)));
    li.appendChild(b);
    return li;
  }
  // The newest rows go on top; rows already drawn stay as they are (so a row under the mouse
  // or the keyboard is still there a moment later), unless `full` asks for a redraw.
  var drawnSeq = -1, busy = false;
  function drawTimeline(full) {
    var list = $('timeline');
    var upto = paused ? pausedAt : state.events.length;
    upto = Math.min(upto, state.events.length);
    if (full || drawnSeq === -1) { list.textContent = ''; drawnSeq = -1; }
    var fresh = [];
    for (var i = upto - 1; i >= 0 && fresh.length !== MAX_ROWS; i--) {
      var ev = state.events[i];
      if (ev.seq <= drawnSeq) break;
      if (matches(ev)) fresh.push(ev);
    }
    if (upto) drawnSeq = Math.max(drawnSeq, state.events[upto - 1].seq);
    busy = fresh.length >= BUSY_ROWS;
    if (fresh.length) {
      var frag = document.createDocumentFragment();
      fresh.forEach(function (ev) { frag.appendChild(rowFor(ev)); });
      list.insertBefore(frag, list.firstChild);
      while (list.children.length > MAX_ROWS) list.removeChild(list.lastChild);
    }
    $('paused').textContent = paused ? 'paused: ' + (state.events.length - pausedAt) + ' new events wait' : '';
  }
  function drawStory() {
    var s = state.step;
    if (!s) return;
    $('story').hidden = false;
    $('chapter').textContent = state.chapter || '';
    $('say').textContent = s.type === 'step' && s.say && s.say !== s.headline ? s.say : '';
    $('headline').textContent = s.headline;
    var o = state.outcome, out = $('outcome');
    out.className = '';
    out.textContent = '';
    if (o) {
      out.className = o.allowed ? 'ok' : 'bad';
      out.textContent = (o.allowed ? '✓ ' : '✗ caller sees: ') + firstLine(o.text);
    }
  }
  function drawChecks(currentStep) {
    var body = $('checks').tBodies[0];
    var frag = document.createDocumentFragment();
    var failed = 0, skipped = 0;
    state.checks.forEach(function (c) {
      var tr = el('tr', c.skipped ? 'skipped' : c.passed ? 'passed' : 'failed');
      if (c.step === currentStep) tr.className += ' current';
      if (c.skipped) skipped++; else if (!c.passed) failed++;
      tr.appendChild(el('td', '', c.step));
      tr.appendChild(el('td', 'mark', c.skipped ? '–' : c.passed ? '✓' : '✗'));
      tr.appendChild(el('td', 'what', c.text));
      var place = el('td', 'place', c.place.split('/').pop());
      place.title = c.place;
      tr.appendChild(place);
      frag.appendChild(tr);
    });
    body.textContent = '';
    body.appendChild(frag);
    var n = state.checks.length;
    $('checks-summary').textContent = n ? (n - failed - skipped) + ' checks passed, ' + failed + ' failed' + (skipped ? ', ' + skipped + ' skipped' : '') : 'no checks yet';
  }
  function drawTitle() {
    if (state.title) { $('title').textContent = state.title; document.title = state.title; }
  }

  // ---- Details of one event. ----
  function row(dl, term, value) {
    if (value === undefined || value === null || value === '') return;
    dl.appendChild(el('dt', '', term));
    var dd = el('dd');
    if (typeof value === 'string') dd.textContent = value; else dd.appendChild(value);
    dl.appendChild(dd);
  }
  function section(body, title, text, pre) {
    if (!text) return;
    body.appendChild(el('h3', '', title));
    body.appendChild(el(pre ? 'pre' : 'p', '', text));
  }
  function span(ms) {
    var a = Math.abs(ms) / 1000;
    if (a >= 86400 * 2) return Math.round(a / 86400) + ' days';
    if (a >= 7200) return Math.round(a / 3600) + ' hours';
    if (a >= 120) return Math.round(a / 60) + ' minutes';
    return Math.round(a) + ' seconds';
  }
  function validity(id, at) {
    var from = Date.parse(id.not_before), to = Date.parse(id.not_after), now = Date.parse(at);
    var box = el('div');
    var lo = Math.min(from, now), hi = Math.max(to, now), total = (hi - lo) || 1;
    var bar = el('div', 'bar' + (now > to ? ' expired' : now < from ? ' early' : ''));
    var sp = el('div', 'span');
    sp.style.left = ((from - lo) / total * 100) + '%';
    sp.style.width = ((to - from) / total * 100) + '%';
    var mark = el('div', 'now');
    mark.style.left = 'calc(' + ((now - lo) / total * 100) + '% - 2px)';
    mark.title = 'the lab clock at the event';
    bar.appendChild(sp); bar.appendChild(mark);
    box.appendChild(el('div', '', id.not_before.replace('T', ' ') + '  →  ' + id.not_after.replace('T', ' ')));
    box.appendChild(bar);
    var words = now > to ? ['verdict-bad', '✗ expired ' + span(now - to) + ' before the lab clock (' + at.replace('T', ' ') + ')']
      : now < from ? ['verdict-bad', '✗ not valid for another ' + span(from - now) + ' by the lab clock']
      : ['verdict-ok', '✓ valid at the lab clock: ' + span(to - now) + ' left'];
    box.appendChild(el('div', words[0], words[1]));
    return box;
  }
  var opener = null, opening = null;
  function findEvent(list, seq) {
    for (var i = list.length - 1; i >= 0; i--) if (list[i].type === 'event' || list[i].type === 'action') { if (String(list[i].seq) === String(seq)) return i; }
    return -1;
  }
  // An event in brief is replaced by its whole record once fetched, in the timeline and the tape.
  function remember(whole) {
    var i = findEvent(state.events, whole.seq);
    if (i !== -1) state.events[i] = whole;
    i = findEvent(tape, whole.seq);
    if (i !== -1) tape[i] = whole;
  }
  function openDetails(seq) {
    var i = findEvent(state.events, seq);
    if (i === -1) return;
    var ev = state.events[i];
    opener = document.activeElement;
    opening = String(seq);
    if (ev.brief) {
      showDetails(ev, 'Reading the whole record from the office…');
      fetch('api/records/' + encodeURIComponent(ev.seq))
        .then(function (a) { return a.json().then(function (r) { return { ok: a.ok, r: r }; }); })
        .then(function (got) {
          if (opening !== String(seq) || $('details').hidden) return;
          if (got.ok && got.r.seq === ev.seq && got.r.type === 'event') { remember(got.r); showDetails(got.r); }
          else showDetails(ev, '✗ ' + (got.r.text || 'the whole record could not be read'));
        })
        .catch(function (e) { if (opening === String(seq)) showDetails(ev, '✗ the whole record could not be read: ' + e); });
    } else showDetails(ev);
    $('details').hidden = false;
    $('details').focus();
  }
  // `note`: the event is in brief (its texts are on their way, or could not be read).
  function showDetails(ev, note) {
    var body = $('d-body');
    body.textContent = '';
    if (ev.type === 'action') {
      $('d-title').textContent = (ev.ok ? '✓ ' : '✗ ') + 'trainer: ' + ev.command;
      section(body, 'What it printed', ev.text, true);
    } else {
      var stage = STAGES[ev.stage] || [ev.stage, ''];
      $('d-title').textContent = (ev.allowed ? '✓ allowed past ' : '✗ refused at ') + stage[0] + ': ' + callerName(ev) + ' → ' + ev.to;
      body.appendChild(el('h3', '', 'The check that decided'));
      body.appendChild(el('p', ev.allowed ? 'verdict-ok' : 'verdict-bad',
        stage[1] + (ev.verdict ? ' — verdict: ' + ev.verdict : '')));
      if (ev.identity) {
        var id = ev.identity;
        body.appendChild(el('h3', '', 'The badge shown'));
        var dl = el('dl');
        row(dl, 'subject', 'CN=' + id.cn + id.orgs.map(function (o) { return ', O=' + o; }).join(''));
        row(dl, 'issuer', 'CN=' + id.issuer + (KNOWN_CAS.indexOf(id.issuer) === -1 ? ' — not one of the Founder\'s CAs' : ''));
        if (!ev.brief) {
          row(dl, 'serial', id.serial);
          if (id.not_before) row(dl, 'valid', validity(id, ev.at));
          row(dl, 'SANs', (id.sans || []).join(', ') || 'none');
          row(dl, 'usages', (id.usages || []).join(', ') || 'any (no extended key usage)');
        }
        body.appendChild(dl);
      } else {
        section(body, 'The badge shown', 'none (or none that could be read)');
      }
      if (ev.brief) {
        section(body, 'In one line', ev.text, true);
        body.appendChild(el('p', 'pending', note));
      } else {
        section(body, 'What the caller sees', ev.client_text, true);
        section(body, 'What ' + (ev.logged_by || ev.to) + ' logs', ev.server_log, true);
        section(body, 'What it means', ev.explanation);
        section(body, 'Hint', ev.hint);
        section(body, 'Detail', ev.detail, true);
        if (ev.confirm && ev.confirm.length) section(body, 'Confirm it yourself', ev.confirm.join('\n'), true);
      }
      section(body, 'When', 'lab clock ' + ev.at.replace('T', ' ') + (ev.step ? ' · step ' + ev.step : '') + (ev.chapter ? ' · ' + ev.chapter : ''));
    }
  }
  function closeDetails() {
    $('details').hidden = true;
    if (opener && opener.focus) opener.focus();
  }

  // ---- Batching: records are queued as they come and drawn together, at most every DRAW_EVERY
  // ms: a busy stream (thousands of records a second under load) is drawn ten times a second,
  // not at every frame, so the browser's drawing does not take the machine from the office. ----
  var queue = [], frame = false, lastDraw = 0, lastTimeline = 0, timelineTimer = null;
  var online = false, seen = 0;
  function showLink() {
    $('link').textContent = (online ? '● live' : 'reconnecting…') + ' · ' + seen.toLocaleString('en') + ' records';
  }
  function receive(r) {
    queue.push(r);
    if (frame) return;
    frame = true;
    var wait = DRAW_EVERY - (Date.now() - lastDraw);
    if (wait <= 0) requestAnimationFrame(flush);
    else setTimeout(function () { requestAnimationFrame(flush); }, wait);
  }
  function flush() {
    frame = false;
    lastDraw = Date.now();
    var batch = queue; queue = [];
    seen += batch.length;
    if (!report) showLink();
    var latest = {};
    batch.forEach(function (r) {
      if (r.type === 'pace') { pace = r; return; }
      keep(r);
      if (!following) return;
      apply(r);
      if (r.type === 'event') latest[placeOf(r.from, r.identity) + '>' + placeOf(r.to, null)] = r;
    });
    if (!following) { drawPace(); return; }
    cursor = bounds.length;
    Object.keys(latest).forEach(function (k) { light(latest[k]); });
    fadeLit();
    drawTitle();
    drawStory();
    drawPace();
    showClock();
    // A flood of rows is drawn two times a second: redrawing the list is most of what the
    // browser spends on a busy office.
    var every = busy ? TIMELINE_BUSY_EVERY : TIMELINE_EVERY;
    var due = Date.now() - lastTimeline;
    if (due >= every) { lastTimeline = Date.now(); drawTimeline(); drawChecks(state.steps); }
    else if (!timelineTimer) timelineTimer = setTimeout(function () { timelineTimer = null; lastTimeline = Date.now(); drawTimeline(); drawChecks(state.steps); }, every - due);
  }

  // ---- Live: the stream over Server-Sent Events. ----
  function live() {
    var token = new URLSearchParams(location.search).get('token');
    var source = new EventSource('events');
    source.onopen = function () { online = true; showLink(); };
    source.onerror = function () { online = false; showLink(); };
    // One message, one JSON array of records (the office batches a busy stream).
    source.onmessage = function (m) {
      var batch;
      try { batch = JSON.parse(m.data); } catch (e) { return; }
      if (!Array.isArray(batch)) batch = [batch];
      batch.forEach(receive);
    };
    fetch('api/info').then(function (a) { return a.json(); }).then(function (info) {
      if (info.pace) {
        pace = { waiting: info.pace.waiting, seconds: info.pace.seconds };
        paceToken = token;
        startRun();
        var choice = $('pace');
        choice.hidden = false;
        showPace(pace.seconds);
        choice.onchange = function () {
          askPace({ action: 'pace', seconds: this.value ? +this.value : null });
        };
        $('pace-note').textContent = token ? ''
          : 'Read-only: this URL carries no token, so the run goes on only from the terminal (back and forward replay what was recorded). Open the URL printed in the terminal.';
        drawPace();
      }
      if (!info.control) return;
      $('tab-trainer').hidden = false;
      $('trainer-note').textContent = token ? 'Changes apply to the running office.'
        : 'Read-only: this URL carries no token, so every change will be refused. Open the URL printed in the terminal.';
      info.faults.forEach(function (f) { var o = el('option', '', f.name + ' — ' + f.what); o.value = f.name; $('t-fault').appendChild(o); });
      info.badges.forEach(function (b) { var o = el('option', '', b); o.value = b; $('t-badge').appendChild(o); });
      function send(action) {
        var out = $('trainer-result');
        out.className = '';
        out.textContent = '…';
        var headers = { 'Content-Type': 'application/json' };
        if (token) headers['X-Kubecorp-Token'] = token;
        fetch('api/action', { method: 'POST', headers: headers, body: JSON.stringify(action) })
          .then(function (a) { return a.json(); })
          .then(function (a) { out.className = a.ok ? '' : 'bad'; out.textContent = (a.ok ? '✓ ' : '✗ ') + (a.command ? a.command + '\n' : '') + a.text; })
          .catch(function (e) { out.className = 'bad'; out.textContent = '✗ ' + e; });
      }
      $('t-break').onclick = function () { send({ action: 'break', fault: $('t-fault').value, target: $('t-badge').value }); };
      $('t-undo').onclick = function () { send({ action: 'undo', target: $('t-badge').value }); };
      $('t-renew').onclick = function () { send({ action: 'renew', target: $('t-badge').value }); };
      Array.prototype.forEach.call(document.querySelectorAll('.t-clock'), function (b) {
        b.onclick = function () { send({ action: 'clock', advance_seconds: +b.dataset.seconds }); };
      });
    }).catch(function () { });
    setInterval(showClock, 1000);
  }

  // ---- Steps: a report's records, or a live run's as they came, step by step. ----
  var report = false, tape = [], bounds = [], cursor = 0, player = null, predict = false, veiled = false;
  var following = true, isRun = false, pace = null, paceToken = null;
  // The buttons and the chapter list, for a report and a live run alike.
  function wireSteps() {
    $('replay').hidden = false;
    $('chapters').onchange = function () { if (this.value) go(+this.value); this.value = ''; };
    $('first').onclick = function () { go(0); };
    $('prev').onclick = function () { go(cursor - 1); };
    $('next').onclick = forward;
    $('predict').onclick = function () {
      predict = !predict;
      this.setAttribute('aria-pressed', String(predict));
    };
    $('last').onclick = function () { go(bounds.length); };
  }
  function addChapter(r) {
    var o = el('option', '', r.title);
    o.value = r.step;
    $('chapters').appendChild(o);
    $('chapters').hidden = false;
  }
  // A live page keeps a run's records (not an office's endless stream) for back and forward.
  function startRun() {
    if (isRun) return;
    isRun = true;
    wireSteps();
    $('play').hidden = true;
    $('story').hidden = false;
    if (!state.step) $('headline').textContent = 'The office opens';
  }
  // The pace list shows the run's pace, whatever `--pace` it was started with.
  function showPace(seconds) {
    var choice = $('pace'), value = seconds ? String(seconds) : '';
    if (!Array.prototype.some.call(choice.options, function (o) { return o.value === value; })) {
      var o = el('option', '', 'hands-free, ' + value + ' s a step');
      o.value = value;
      choice.appendChild(o);
    }
    choice.value = value;
  }
  function keep(r) {
    if (r.type === 'opened' && r.file) startRun();
    if (r.type === 'step') startRun();
    if (!isRun || tape.length >= MAX_RECORDED) return;
    tape.push(r);
    if (r.type === 'step') bounds.push(tape.length - 1);
    if (r.type === 'chapter') addChapter(r);
  }
  function replay(records) {
    report = true;
    tape = records.filter(function (r) { return r.schema === SCHEMA; });
    bounds = [];
    tape.forEach(function (r, i) { if (r.type === 'step') bounds.push(i); });
    // Jump to a chapter: the step its opening is.
    tape.forEach(function (r) { if (r.type === 'chapter') addChapter(r); });
    wireSteps();
    $('link').textContent = 'replay of a recorded run';
    $('play').onclick = function () {
      if (player) { stop(); return; }
      $('play').setAttribute('aria-pressed', 'true');
      $('play').textContent = 'stop';
      player = setInterval(function () { if (cursor >= bounds.length && !veiled) stop(); else forward(); }, 2500);
    };
    go(bounds.length);
  }
  function stop() {
    clearInterval(player); player = null;
    $('play').setAttribute('aria-pressed', 'false');
    $('play').textContent = 'play';
  }
  // One step on; with "predict first", a step shows its action first and what came of it on
  // the next press, so a room can guess before the answer. At a live run's newest step, the
  // press goes to the run, which holds the outcome back itself.
  function forward() {
    if (veiled) go(cursor);
    else if (cursor !== bounds.length) go(cursor + 1, predict);
    else if (!report && pace) askPace({ action: 'next' });
  }
  // Tells the run what the page asks (next ▶, or a pace): only with the token.
  function askPace(asked) {
    var note = $('pace-note');
    var headers = { 'Content-Type': 'application/json' };
    if (paceToken) headers['X-Kubecorp-Token'] = paceToken;
    fetch('api/pace', { method: 'POST', headers: headers, body: JSON.stringify(asked) })
      .then(function (a) { return a.json(); })
      .then(function (a) { note.className = a.ok ? '' : 'bad'; note.textContent = a.ok ? '' : '✗ ' + a.text; })
      .catch(function (e) { note.className = 'bad'; note.textContent = '✗ ' + e; });
  }
  // What a paced run waits for, where the page is.
  function drawPace() {
    if (report || !isRun) return;
    var waits = pace && pace.waiting;
    var where = 'step ' + cursor + ' of ' + bounds.length;
    if (!following) where += ' · the run is at step ' + bounds.length;
    else if (waits === 'step') where += ' · the run waits: next ▶ (or →) for step ' + (bounds.length + 1);
    else if (waits === 'reveal') where += ' · the run waits: next ▶ (or →) shows what came of it';
    else if (waits === 'open') where += ' · the run is over; the office stays open for questions until the terminal closes it';
    else if (veiled) where += ' (not yet revealed)';
    $('where').textContent = where;
    if (following && waits === 'reveal') {
      $('outcome').className = '';
      $('outcome').textContent = 'What will happen? Predict, then press next ▶ (or →) to see.';
    }
    $('prev').disabled = cursor === 0;
    $('next').disabled = following && (!waits || waits === 'open');
    if (pace && document.activeElement !== $('pace')) showPace(pace.seconds);
  }
  // Shows the run as it stood at the end of step k (0: the office just opened); `veil` stops
  // just after the step's own record, before anything it caused. Live, the newest step is the
  // live view again.
  function go(k, veil) {
    k = Math.max(0, Math.min(bounds.length, k));
    cursor = k;
    veiled = !!veil && k !== 0;
    following = !report && k === bounds.length && !veiled;
    var end = veiled ? bounds[k - 1] + 1 : k === bounds.length ? tape.length : bounds[k];
    var start = veiled ? end : k === 0 ? 0 : bounds[k - 1];
    state = fresh();
    // Edges start over: a faded label of a later step must not give an answer away.
    edgeLayer.textContent = '';
    edges = {};
    var latest = {};
    for (var i = 0; i !== end; i++) {
      var r = tape[i];
      apply(r);
      if (i >= start && r.type === 'event') latest[placeOf(r.from, r.identity) + '>' + placeOf(r.to, null)] = r;
    }
    Object.keys(latest).forEach(function (key) { light(latest[key]); });
    drawTitle();
    if (k === 0) { $('story').hidden = false; $('chapter').textContent = ''; $('say').textContent = ''; $('headline').textContent = 'The office opens'; $('outcome').textContent = ''; }
    else drawStory();
    if (veiled) {
      $('outcome').className = '';
      $('outcome').textContent = 'What will happen? Predict, then press next ▶ (or →) to see.';
    }
    showClock();
    drawTimeline(true);
    drawChecks(k);
    $('where').textContent = 'step ' + k + ' of ' + bounds.length + (veiled ? ' (not yet revealed)' : '');
    $('prev').disabled = k === 0;
    $('next').disabled = k === bounds.length && !veiled;
    drawPace();
  }

  // ---- Controls every view shares. ----
  function wire() {
    $('f-component').onchange = function () { filters.component = this.value; drawTimeline(true); };
    $('f-outcome').onchange = function () { filters.outcome = this.value; drawTimeline(true); };
    $('f-identity').oninput = function () { filters.identity = this.value.trim().toLowerCase(); drawTimeline(true); };
    $('filters').onsubmit = function (e) { e.preventDefault(); };
    $('pause').onclick = function () {
      paused = !paused;
      pausedAt = state.events.length;
      this.setAttribute('aria-pressed', String(paused));
      this.textContent = paused ? 'resume' : 'pause';
      drawTimeline(!paused);
    };
    $('timeline').onclick = function (e) {
      var b = e.target.closest('button.row');
      if (b) openDetails(b.dataset.seq);
    };
    $('d-close').onclick = closeDetails;
    ['timeline', 'checks', 'trainer'].forEach(function (name) {
      $('tab-' + name).onclick = function () {
        ['timeline', 'checks', 'trainer'].forEach(function (other) {
          $('tab-' + other).setAttribute('aria-selected', String(other === name));
          $('pane-' + other).hidden = other !== name;
        });
      };
    });
    document.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' && !$('details').hidden) { closeDetails(); return; }
      var typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
      if ($('replay').hidden || typing) return;
      if (e.key === 'ArrowRight' || e.key === 'PageDown') forward();
      else if (e.key === 'ArrowLeft' || e.key === 'PageUp') go(cursor - 1);
      else if (e.key === 'Home') go(0);
      else if (e.key === 'End') go(bounds.length);
      else return;
      e.preventDefault();
    });
  }

  drawFloor();
  var defs = svg('defs', {});
  var marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 5, markerHeight: 5, orient: 'auto-start-reverse' });
  marker.appendChild(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#a9b6c4' }));
  defs.appendChild(marker);
  floor.insertBefore(defs, floor.firstChild);
  wire();
  var embedded = $('tape');
  if (embedded) replay(JSON.parse(embedded.textContent));
  else live();
})();
