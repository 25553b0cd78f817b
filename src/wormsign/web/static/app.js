// wormsign dashboard: a little progressive enhancement. Every value from the server is
// written with textContent (never innerHTML), so log-derived text stays text.
"use strict";

(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.getAttribute("content") : "";

  async function api(method, url, body) {
    const opts = { method: method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = csrf;
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(url, opts);
    const data = await resp.json();
    if (!resp.ok) {
      const msg = data && data.error ? data.error.message : resp.statusText;
      throw new Error(msg);
    }
    return data;
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }

  // Playbook: ticking a task marks it done (unticking reopens it) without reloading.
  document.querySelectorAll("input.task-done").forEach(function (box) {
    box.addEventListener("change", async function () {
      const err = document.getElementById("task-error");
      const li = box.closest("li.task");
      const status = box.checked ? "done" : "open";
      box.disabled = true;
      try {
        const task = await api("PATCH", "/api/incidents/" + box.dataset.incident + "/tasks/" + box.dataset.task,
          { status: status });
        const badge = li.querySelector(".task-status");
        badge.textContent = task.status;
        badge.className = "badge task-status " + task.status;
        li.className = "task " + task.status;
        if (err) { err.hidden = true; }
        const all = document.querySelectorAll("input.task-done");
        const done = document.querySelectorAll("input.task-done:checked");
        const pct = all.length ? Math.round(1000 * done.length / all.length) / 10 : 0;
        const bar = document.getElementById("playbook-progress");
        if (bar) { bar.value = pct; }
        const label = document.getElementById("playbook-percent");
        if (label) { label.textContent = pct + "%"; }
      } catch (e) {
        box.checked = !box.checked;
        if (err) { err.textContent = "Could not update the task: " + e.message; err.hidden = false; }
      } finally {
        box.disabled = false;
      }
    });
  });

  // Attacked servers: loaded after the page (a scan of the incident's alerts).
  const servers = document.getElementById("servers");
  if (servers) {
    const body = servers.querySelector("tbody");
    api("GET", servers.dataset.src).then(function (data) {
      body.replaceChildren();
      if (!data.items.length) {
        const row = document.createElement("tr");
        cell(row, "No server names in the alerts.", "empty").colSpan = 2;
        body.appendChild(row);
      }
      data.items.forEach(function (s) {
        const row = document.createElement("tr");
        cell(row, s.host, "mono");
        cell(row, s.alerts.toLocaleString("en"), "num");
        body.appendChild(row);
      });
    }).catch(function (e) {
      body.replaceChildren();
      const row = document.createElement("tr");
      cell(row, "Could not load: " + e.message, "error").colSpan = 2;
      body.appendChild(row);
    });
  }

  // Upload job: poll its progress until it is finished.
  const job = document.getElementById("job");
  if (job) {
    const set = function (id, text) { const el = document.getElementById(id); if (el) { el.textContent = text; } };
    const poll = async function () {
      let state;
      try {
        state = await api("GET", "/api/jobs/" + job.dataset.job);
      } catch (e) {
        set("job-error", e.message);
        document.getElementById("job-error").hidden = false;
        return;
      }
      document.getElementById("job-progress").value = state.percent;
      set("job-percent", String(state.percent));
      set("job-phase", state.phase);
      set("job-alerts", state.alerts.toLocaleString("en"));
      set("job-added", state.added.toLocaleString("en"));
      set("job-duplicates", state.duplicates.toLocaleString("en"));
      set("job-skipped", state.skipped.toLocaleString("en"));
      if (state.error) {
        set("job-error", state.error);
        document.getElementById("job-error").hidden = false;
      }
      if (state.warnings && state.warnings.length) {
        set("job-warnings", state.warnings.join("\n"));
        document.getElementById("job-warnings").hidden = false;
      }
      if (state.finished) {
        document.getElementById("job-done").hidden = false;
        job.classList.add("finished");
      } else {
        window.setTimeout(poll, 400);
      }
    };
    poll();
  }
})();
