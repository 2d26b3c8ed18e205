/**
 * `kdelay report FILE --html OUT`: one self-contained page. No network
 * fetch, no library: inline SVG written here, one inline stylesheet and one
 * inline script (sortable tables), both admitted by hash in a
 * Content-Security-Policy that forbids everything else (no other script,
 * style, image, font, frame or connection). Every string that came from
 * the target or the host (thread names, syscall and IRQ names, frames,
 * warnings) goes through esc(): a thread named `<img src=x onerror=...>`
 * shows as that text. SVG colours are presentation attributes, which the
 * policy does not govern. Pure: a recording in, a string out.
 *
 * Over 300 lines on purpose: the page is one document (its style, its
 * script and the SVG of each figure are written together so the policy's
 * hashes and the escaping are checked in one place).
 */
import { createHash } from 'node:crypto';
import { isThreadTable, type SectionSpec } from '../../bundle/manifest.js';
import { withThousands } from '../integers.js';
import { columnKey } from '../json-records.js';
import type { CountedTime, SyscallTime, ThreadAccount } from '../accounts.js';
import { percentileNs } from '../histograms.js';
import { humanNs, verdictLine } from '../verdict.js';
import type { CollectedRecording } from './collect.js';
import { foldedFrames } from './folded.js';

/** Text as HTML (element content and quoted attribute values alike). */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1200px}
h1{font-size:1.4em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}h3{font-size:1.05em;margin:1.2em 0 .3em}
table{border-collapse:collapse;margin:.3em 0 .8em}td,th{padding:1px 8px;text-align:right;font-variant-numeric:tabular-nums}
td:first-child,th:first-child{text-align:left}th{cursor:pointer;background:#f0f0f0;user-select:none}th.sorted-up::after{content:" \\25b2"}th.sorted-down::after{content:" \\25bc"}
.facts td{text-align:left}.thread{border:1px solid #ddd;border-radius:6px;padding:.2em 1em .6em;margin:1em 0}
.legend span{display:inline-block;margin-right:1em;white-space:nowrap}.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.3em;vertical-align:middle}
.verdict{font-family:monospace;white-space:pre-wrap;font-size:12px;color:#444}.note{color:#666}svg text{font:11px monospace}`;

/** Sorts a table when its header is clicked (numbers as numbers); marks the page ready (tests read it). */
const SCRIPT = `for(const th of document.querySelectorAll('th')){th.addEventListener('click',()=>{const table=th.closest('table');const body=table.tBodies[0];const col=[...th.parentNode.children].indexOf(th);const down=!th.classList.contains('sorted-down');for(const o of table.querySelectorAll('th'))o.classList.remove('sorted-up','sorted-down');th.classList.add(down?'sorted-down':'sorted-up');const key=(tr)=>{const t=tr.children[col].textContent.replace(/,/g,'');const n=Number(t);return t!==''&&!isNaN(n)?n:t};const rows=[...body.rows].sort((a,b)=>{const x=key(a),y=key(b);const c=typeof x==='number'&&typeof y==='number'?x-y:String(x).localeCompare(String(y));return down?-c:c});for(const r of rows)body.appendChild(r)})}document.body.dataset.ready='1';`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page's policy: nothing but its own inline stylesheet and script. */
export const CONTENT_SECURITY_POLICY = `default-src 'none'; style-src ${hash(STYLE)}; script-src ${hash(SCRIPT)}; img-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'`;

const COLORS: Record<string, string> = {
  user: '#4e9a06',
  syscall: '#73d216',
  hardirq: '#c4a000',
  softirq: '#edd400',
  runnable: '#cc0000',
  blocked: '#3465a4',
  page_fault: '#ad7fa8',
  stopped: '#75507b',
  unknown: '#888a85',
  absent: '#eeeeec',
};

interface Segment {
  label: string;
  ns: number;
  color: string;
}

const add = (a: CountedTime, b: CountedTime): CountedTime => ({ count: a.count + b.count, ns: a.ns + b.ns });

function addCalls(into: SyscallTime[], from: SyscallTime[]): SyscallTime[] {
  for (const c of from) {
    const found = into.find((x) => x.nr === c.nr);
    if (found) {
      found.count += c.count;
      found.ns += c.ns;
    } else into.push({ ...c });
  }
  return into.sort((x, y) => y.ns - x.ns);
}

/** One thread's accounts over every sample, added up. */
function mergeAccounts(list: ThreadAccount[]): ThreadAccount {
  const first = list[0];
  const merged: ThreadAccount = { ...first, syscalls: addCalls([], first.syscalls), blocked: addCalls([], first.blocked), delayers: first.delayers.map((d) => ({ ...d })) };
  for (const t of list.slice(1)) {
    merged.windowNs += t.windowNs;
    merged.aliveNs += t.aliveNs;
    merged.beforeBirthNs += t.beforeBirthNs;
    merged.afterExitNs += t.afterExitNs;
    merged.kernelDelayNs += t.kernelDelayNs;
    merged.unaccountedNs += t.unaccountedNs;
    for (const k of ['user', 'hardirq', 'softirq', 'runnable', 'pageFault', 'stopped', 'unknown'] as const) merged[k] = add(merged[k], t[k]);
    addCalls(merged.syscalls, t.syscalls);
    addCalls(merged.blocked, t.blocked);
    for (const d of t.delayers) {
      const found = merged.delayers.find((x) => x.pid === d.pid && x.comm === d.comm);
      if (found) {
        found.count += d.count;
        found.ns += d.ns;
      } else merged.delayers.push({ ...d });
    }
    if (t.runQueueHist) merged.runQueueHist = merged.runQueueHist ? merged.runQueueHist.map((n, i) => n + (t.runQueueHist?.[i] ?? 0)) : [...t.runQueueHist];
  }
  merged.delayers.sort((x, y) => y.ns - x.ns);
  return merged;
}

function accountSegments(t: ThreadAccount): Segment[] {
  const calls = (list: SyscallTime[], what: string, color: string) => {
    const top = list.slice(0, 3).map((c) => ({ label: `${what} ${c.syscall ?? '(since before kdelay)'}`, ns: c.ns, color }));
    const rest = list.slice(3).reduce((sum, c) => sum + c.ns, 0);
    return rest > 0 ? [...top, { label: `${what} other calls`, ns: rest, color }] : top;
  };
  return [
    { label: 'on CPU, user', ns: t.user.ns, color: COLORS.user },
    ...calls(t.syscalls, 'on CPU in', COLORS.syscall),
    { label: 'hard IRQ', ns: t.hardirq.ns, color: COLORS.hardirq },
    { label: 'soft IRQ', ns: t.softirq.ns, color: COLORS.softirq },
    { label: 'waiting for a CPU', ns: t.runnable.ns, color: COLORS.runnable },
    ...calls(t.blocked, 'blocked in', COLORS.blocked),
    { label: 'page faults', ns: t.pageFault.ns, color: COLORS.page_fault },
    { label: 'stopped', ns: t.stopped.ns, color: COLORS.stopped },
    { label: 'not known', ns: t.unknown.ns, color: COLORS.unknown },
    { label: 'not alive', ns: t.beforeBirthNs + t.afterExitNs, color: COLORS.absent },
  ].filter((s) => s.ns > 0);
}

/** A horizontal stacked bar of the window, with a legend; segments alternate shades so neighbours of one colour stay apart. */
function stackedBar(segments: Segment[], totalNs: number): string {
  const width = 1000;
  let x = 0;
  const rects = segments.map((s, i) => {
    const w = totalNs > 0 ? (s.ns / totalNs) * width : 0;
    const rect = `<rect x="${x.toFixed(2)}" y="0" width="${w.toFixed(2)}" height="22" fill="${s.color}" fill-opacity="${i % 2 ? 0.75 : 1}"><title>${esc(`${s.label}: ${humanNs(s.ns)} (${((s.ns / totalNs) * 100).toFixed(1)}%)`)}</title></rect>`;
    x += w;
    return rect;
  });
  const legend = segments
    .map(
      (s) =>
        `<span><svg class="swatch" width="10" height="10"><rect width="10" height="10" fill="${s.color}"/></svg>${esc(s.label)} ${esc(humanNs(s.ns))} (${((s.ns / totalNs) * 100).toFixed(1)}%)</span>`,
    )
    .join('');
  return `<svg class="bar" viewBox="0 0 ${width} 22" width="100%" height="22" preserveAspectRatio="none" role="img"><rect width="${width}" height="22" fill="#f6f6f4" stroke="#ccc"/>${rects.join('')}</svg><div class="legend">${legend}</div>`;
}

/** Log2 buckets as an SVG bar chart (bucket s: [2^s, 2^(s+1)) ns). */
function histogram(title: string, slots: readonly number[]): string {
  const used = slots.map((n, s) => [s, n] as const).filter(([, n]) => n > 0);
  if (!used.length) return '';
  const lo = used[0][0];
  const hi = used[used.length - 1][0];
  const max = Math.max(...used.map(([, n]) => n));
  const barW = 48;
  const h = 80;
  const bars: string[] = [];
  for (let s = lo; s <= hi; s++) {
    const n = slots[s] ?? 0;
    const bh = (n / max) * h;
    const x = (s - lo) * barW;
    bars.push(
      `<rect x="${x + 2}" y="${(h - bh + 2).toFixed(1)}" width="${barW - 4}" height="${bh.toFixed(1)}" fill="#3465a4"><title>${esc(`${humanNs(s === 0 ? 0 : 2 ** s)} .. ${humanNs(2 ** (s + 1))}: ${n}`)}</title></rect>`,
      `<text x="${x + barW / 2}" y="${h + 16}" text-anchor="middle">${esc(humanNs(2 ** s).replace(' ', ''))}</text>`,
    );
  }
  const p50 = percentileNs(slots, 0.5);
  const p99 = percentileNs(slots, 0.99);
  return `<h4>${esc(title)} <span class="note">(p50 &lt; ${esc(humanNs(p50 ?? 0))}, p99 &lt; ${esc(humanNs(p99 ?? 0))})</span></h4><svg class="hist" width="${(hi - lo + 1) * barW}" height="${h + 22}">${bars.join('')}</svg>`;
}

/** A sortable table: header cells, then rows of cells (numbers right-aligned with thousands separators). */
function table(cls: string, headers: string[], rows: (string | number)[][]): string {
  const cell = (v: string | number) => `<td>${typeof v === 'number' ? withThousands(Math.round(v)) : esc(v)}</td>`;
  const head = headers.length ? `<thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>` : '';
  return `<table class="${cls}">${head}<tbody>${rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('')}</tbody></table>`;
}

/** A section's rows of one thread, summed over the samples by label (counts and times add; max is the max; others kept from the largest). */
function sectionRows(section: SectionSpec, recording: CollectedRecording, tid: number): (string | number)[][] {
  const keys = section.columns.map((c) => c.key ?? columnKey(c.header));
  const offset = section.columns[0].format === 'label' ? 1 : 0;
  const byLabel = new Map<string, number[]>();
  for (const s of recording.samples) {
    const t = s.sample.tables.get(section.id);
    if (!t) continue;
    for (let row = 0; row < t.count; row++) {
      if (t.tid(row) !== tid) continue;
      const label = offset ? (t.label(row) ?? '') : '';
      const values = Array.from({ length: t.width }, (_, i) => t.value(row, i));
      const sums = byLabel.get(label);
      if (!sums) byLabel.set(label, values);
      else
        values.forEach((v, i) => {
          const key = keys[i + offset];
          sums[i] = /^(max|min)_/.test(key)
            ? key.startsWith('max')
              ? Math.max(sums[i], v)
              : Math.min(sums[i], v)
            : /(count|cnt|_ns)$/.test(key) && key !== 'average_ns'
              ? sums[i] + v
              : sums[i];
        });
    }
  }
  return [...byLabel].map(([label, values]) => (offset ? [label, ...values] : values));
}

interface FlameNode {
  name: string;
  value: number;
  children: Map<string, FlameNode>;
}

/** The -s events as a flame graph (root at the bottom, width: events). */
function flameGraph(recording: CollectedRecording): string {
  const root: FlameNode = { name: 'all', value: 0, children: new Map() };
  for (const s of recording.samples) {
    for (const e of s.sample.events ?? []) {
      let node = root;
      root.value++;
      for (const frame of [s.nameOf(e.tid), ...foldedFrames(e), e.name]) {
        let child = node.children.get(frame);
        if (!child) node.children.set(frame, (child = { name: frame, value: 0, children: new Map() }));
        child.value++;
        node = child;
      }
    }
  }
  if (!root.value) return '';
  const depthOf = (n: FlameNode): number => 1 + Math.max(0, ...[...n.children.values()].map(depthOf));
  const depth = depthOf(root);
  const width = 1180;
  const rowH = 17;
  const height = depth * rowH;
  const rects: string[] = [];
  const palette = ['#e6550d', '#fd8d3c', '#fdae6b', '#d94801', '#f16913', '#fdd0a2'];
  const draw = (n: FlameNode, x: number, level: number, w: number) => {
    const y = height - (level + 1) * rowH;
    const label = `${n.name} (${n.value} event${n.value === 1 ? '' : 's'})`;
    const color = palette[(n.name.length + level) % palette.length];
    rects.push(`<g><title>${esc(label)}</title><rect x="${x.toFixed(2)}" y="${y}" width="${Math.max(w - 0.5, 0.5).toFixed(2)}" height="${rowH - 1}" fill="${color}"/>`);
    const chars = Math.floor((w - 4) / 6.6);
    if (chars >= 3) rects.push(`<text x="${(x + 2).toFixed(2)}" y="${y + rowH - 5}">${esc(n.name.length > chars ? `${n.name.slice(0, chars - 2)}..` : n.name)}</text>`);
    rects.push('</g>');
    let cx = x;
    for (const child of [...n.children.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const cw = (child.value / n.value) * w;
      draw(child, cx, level + 1, cw);
      cx += cw;
    }
  };
  draw(root, 0, 0, width);
  return `<h2>Slow system calls (-s): flame graph</h2><p class="note">Each box is a frame; its width is the number of events under it. Bottom: all events; then thread, user frames, kernel frames, and the call.</p><svg class="flame" width="${width}" height="${height}">${rects.join('')}</svg>`;
}

export function htmlReport(recording: CollectedRecording): string {
  const { header } = recording;
  const sections = header.sections.filter(isThreadTable).sort((a, b) => a.order - b.order);
  const windowNs = recording.samples.reduce((sum, s) => sum + s.windowNs, 0);
  // Threads by tid over every sample, named as the last sample that had them printed them.
  const threads = new Map<number, { name: string; accounts: ThreadAccount[] }>();
  for (const s of recording.samples) {
    for (const section of sections) {
      const t = s.sample.tables.get(section.id);
      for (let row = 0; row < (t?.count ?? 0); row++) {
        const tid = t!.tid(row);
        const entry = threads.get(tid) ?? { name: '', accounts: [] };
        entry.name = s.nameOf(tid);
        threads.set(tid, entry);
      }
    }
    for (const a of s.accounts ?? []) {
      const entry = threads.get(a.tid) ?? { name: a.name, accounts: [] };
      entry.accounts.push(a);
      threads.set(a.tid, entry);
    }
  }
  const merged = new Map([...threads].map(([tid, t]) => [tid, t.accounts.length ? mergeAccounts(t.accounts) : undefined]));
  const order = [...threads.keys()].sort(
    (a, b) => (merged.get(b)?.kernelDelayNs ?? 0) - (merged.get(a)?.kernelDelayNs ?? 0) || threads.get(a)!.name.localeCompare(threads.get(b)!.name) || a - b,
  );

  const facts = table(
    'facts',
    [],
    [
      ['target', `${header.target.command} [${header.target.pid}]${header.target.exe ? ` ${header.target.exe}` : ''}`],
      ['host', `${header.host.hostname}: Linux ${header.host.kernel} ${header.host.machine}`],
      ['recorded', `${header.created} by kdelay ${header.kdelay_version}`],
      ['command line', header.argv.join(' ')],
      ['samples', `${recording.samples.length} (${humanNs(windowNs)} of window${recording.skipped ? `, ${recording.skipped} skipped` : ''})`],
    ],
  );
  const body: string[] = [`<h1>kdelay: ${esc(header.target.command)} [${header.target.pid}]</h1>`, facts];
  for (const w of recording.warnings) body.push(`<p class="note">WARNING: ${esc(w)}</p>`);
  if (!header.options.verdict)
    body.push(
      '<p class="note">Recorded without --verdict: the bars show the tables\' run, ready, stopped and IRQ times; record with --verdict for the whole window\'s accounting.</p>',
    );
  body.push(`<h2>Threads (${threads.size})</h2>`);
  for (const tid of order) {
    const { name } = threads.get(tid)!;
    const account = merged.get(tid);
    const parts = [`<div class="thread" data-tid="${tid}"><h3><span class="name">${esc(name)}</span> [${tid}]</h3>`];
    if (account) {
      const last = threads.get(tid)!.accounts.at(-1)!;
      if (recording.samples.length === 1) parts.push(`<div class="verdict">${esc(verdictLine(last))}</div>`);
      parts.push(
        `<p>kernel delay ${esc(humanNs(account.kernelDelayNs))} (${((account.kernelDelayNs / Math.max(account.aliveNs, 1)) * 100).toFixed(1)}% of its ${esc(humanNs(account.aliveNs))})</p>`,
      );
      parts.push(stackedBar(accountSegments(account), account.windowNs));
      if (account.delayers.length) {
        const waited = account.runnable.ns || 1;
        parts.push('<h4>Who delayed it (ran on its CPU while it waited)</h4>');
        parts.push(
          table(
            'delayers',
            ['task', 'PID', 'stretches', 'time ns', 'share %'],
            account.delayers.slice(0, 10).map((d) => [d.comm, d.pid, d.count, d.ns, `${((d.ns / waited) * 100).toFixed(1)}`]),
          ),
        );
        if (account.delayers.length > 10) parts.push(`<p class="note">and ${account.delayers.length - 10} other tasks</p>`);
      }
      if (account.runQueueHist) parts.push(histogram('Run-queue waits', account.runQueueHist));
      for (const h of (last.syscallHists ?? []).slice(0, 4)) parts.push(histogram(`${h.syscall} durations (last sample)`, h.slots));
    } else {
      const total = (id: string) => {
        const section = header.sections.find((x) => x.id === id);
        if (!section) return 0;
        const at = section.columns.map((c) => c.key ?? columnKey(c.header)).indexOf('total_ns');
        return at < 0 ? 0 : sectionRows(section, recording, tid).reduce((sum, r) => sum + Number(r[at]), 0);
      };
      const segments: Segment[] = [
        { label: 'on CPU (run)', ns: total('run'), color: COLORS.user },
        { label: 'on CPU across the edges', ns: total('partial_run'), color: COLORS.syscall },
        { label: 'waiting for a CPU', ns: total('ready'), color: COLORS.runnable },
        { label: 'stopped', ns: total('stopped'), color: COLORS.stopped },
      ].filter((s) => s.ns > 0);
      if (segments.length)
        parts.push(
          stackedBar(
            segments,
            Math.max(
              windowNs,
              segments.reduce((sum, s) => sum + s.ns, 0),
            ),
          ),
        );
    }
    for (const section of sections) {
      const rows = sectionRows(section, recording, tid);
      if (!rows.length) continue;
      parts.push(`<h4>${esc(section.title)}</h4>`);
      parts.push(
        table(
          `section-${esc(section.id)}`,
          section.columns.map((c) => c.header),
          rows,
        ),
      );
    }
    parts.push('</div>');
    body.push(parts.join(''));
  }
  body.push(flameGraph(recording));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${esc(CONTENT_SECURITY_POLICY)}">
<meta name="referrer" content="no-referrer">
<title>kdelay: ${esc(header.target.command)} [${header.target.pid}]</title>
<style>${STYLE}</style></head>
<body>
${body.join('\n')}
<script>${SCRIPT}</script>
</body></html>
`;
}
