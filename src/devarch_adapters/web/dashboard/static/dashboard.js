// devarch dashboard: progressive enhancement only (every page works without it).
// - tbody[data-live]: re-fetch the rows every 3 s (live status);
// - ol[data-events]: follow a job's Server-Sent Events (apply/down progress);
// - pre[data-stream]: append an instance's new log lines (Server-Sent Events);
// - input[data-filter]: filter a list as you type (catalog search).
"use strict";

function describe(e) {
  if (e.event === "step") return e.phase + ": " + e.item + " " + e.status;
  if (e.event === "phase_started") return e.phase + " started";
  if (e.event === "phase_finished") return e.phase + " done in " + e.seconds + " s";
  return e.message || e.event;
}

function liveRows(tbody) {
  const url = tbody.dataset.live;
  setInterval(async () => {
    if (document.hidden) return;
    try {
      const r = await fetch(url, { credentials: "same-origin" });
      if (r.ok) tbody.innerHTML = await r.text();
    } catch (_) { /* the next tick retries */ }
  }, 3000);
}

function followJob(list) {
  const state = document.getElementById("job-state");
  if (list.dataset.done === "yes") return;
  const shown = list.children.length;
  const source = new EventSource(list.dataset.events);
  let seen = 0;
  const add = (text, cls) => {
    const li = document.createElement("li");
    li.className = cls;
    li.textContent = text;
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
  };
  for (const kind of ["phase_started", "phase_finished", "step", "warning"]) {
    source.addEventListener(kind, (msg) => {
      seen += 1;
      if (seen <= shown) return; // rendered by the server already
      add(describe(JSON.parse(msg.data)), "ev-" + kind);
    });
  }
  source.addEventListener("done", (msg) => {
    source.close();
    const job = JSON.parse(msg.data);
    state.textContent = job.state;
    if (job.error) add(job.error.error + ": " + job.error.message, "ev-error");
    list.dataset.done = "yes";
  });
}

function followLogs(pre) {
  const source = new EventSource(pre.dataset.stream);
  source.addEventListener("line", (msg) => {
    const line = JSON.parse(msg.data);
    pre.append(document.createTextNode(line.text + "\n"));
    pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener("end", () => source.close());
  window.addEventListener("pagehide", () => source.close());
}

function filterList(input) {
  const items = document.querySelectorAll(input.dataset.filter);
  input.addEventListener("input", () => {
    const q = input.value.trim().toLowerCase();
    for (const li of items) li.hidden = q !== "" && !li.textContent.toLowerCase().includes(q);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("tbody[data-live]").forEach(liveRows);
  document.querySelectorAll("ol[data-events]").forEach(followJob);
  document.querySelectorAll("pre[data-stream]").forEach(followLogs);
  document.querySelectorAll("input[data-filter]").forEach(filterList);
});
