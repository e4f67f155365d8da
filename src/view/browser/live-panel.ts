// The live panel: listens to the server's Server-Sent Events and shows, once a second, each
// loop's utilization, the long tasks as they happen (with their stacks) and the threadpool delay.
// Text goes in with textContent only.

import type { LiveUpdate } from '../live-update.js';
import { formatNs } from './axis.js';


const MAX_TASKS_SHOWN = 20;

export function startLive(url: string, panel: HTMLElement): EventSource {
  panel.hidden = false;
  const head = document.createElement('h3');
  head.textContent = 'Live';
  const threads = document.createElement('table');
  threads.className = 'live-threads';
  const pool = document.createElement('div');
  pool.className = 'live-threadpool';
  const tasks = document.createElement('div');
  tasks.className = 'live-long-tasks';
  panel.replaceChildren(head, threads, pool, tasks);
  const updates = { count: 0 };
  (window as unknown as { looptraceLive: unknown }).looptraceLive = updates;
  const source = new EventSource(url);
  source.addEventListener('update', (e) => {
    const u = JSON.parse((e as MessageEvent<string>).data) as LiveUpdate;
    updates.count++;
    head.textContent = `Live — ${new Date(u.timeUnixMs).toISOString().slice(11, 19)} UTC`;
    threads.replaceChildren(
      ...u.threads.map((t) => {
        const tr = document.createElement('tr');
        const name = document.createElement('td');
        name.textContent = t.name;
        const util = document.createElement('td');
        util.className = 'live-util';
        util.textContent = t.utilization === null ? '–' : `${Math.round(t.utilization * 100)}%`;
        const bar = document.createElement('td');
        const fill = document.createElement('span');
        fill.className = 'live-bar';
        fill.style.width = `${Math.round((t.utilization ?? 0) * 120)}px`;
        bar.appendChild(fill);
        tr.append(name, util, bar);
        return tr;
      }),
    );
    pool.textContent = u.threadpool.count === 0 ? 'Threadpool: no probes in the last second' : `Threadpool delay: p50 ${formatNs(u.threadpool.p50Ns)}, max ${formatNs(u.threadpool.maxNs)} (${u.threadpool.count} probes)`;
    for (const lt of u.longTasks) {
      const item = document.createElement('div');
      item.className = 'live-long-task';
      const title = document.createElement('div');
      title.textContent = `${formatNs(lt.durationNs)} on ${lt.threadName} at ${new Date(lt.startUnixMs).toISOString().slice(11, 23)}`;
      item.appendChild(title);
      if (lt.stack.length > 0) {
        const pre = document.createElement('pre');
        pre.textContent = lt.stack.join('\n');
        item.appendChild(pre);
      }
      tasks.prepend(item);
    }
    while (tasks.childElementCount > MAX_TASKS_SHOWN) tasks.lastElementChild!.remove();
  });
  return source;
}
