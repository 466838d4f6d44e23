// The jobs submitted from this browser: kept in localStorage, followed live, newest first.

import { ApiError, apiKey, el, getJSON } from "./api.js";

const STORE = "cellkiosk.jobs";
const TERMINAL = new Set(["done", "failed", "cancelled"]);
const POLL_MS = 1000;
const RETRY_MS = 5000;
const STAGES = {
  download: "fetching the input",
  preprocess: "reading the image",
  size: "measuring nucleus size",
  predict: "running the model",
  postprocess: "separating cells",
  track: "tracking",
  measure: "measuring cells",
  upload: "saving results",
  fanout: "unpacking the zip",
  children: "analysing images",
  collect: "collecting results",
};

export function loadStored() {
  try {
    const list = JSON.parse(localStorage.getItem(STORE) || "[]");
    return Array.isArray(list) ? list.filter((j) => j && typeof j.id === "string") : [];
  } catch {
    return [];
  }
}

function saveStored(entries) {
  localStorage.setItem(STORE, JSON.stringify(entries.map(({ id, name, type, created }) => ({ id, name, type, created }))));
}

export class JobList {
  /** @param onView called with (jobId, title, batchChildren?) to open a result in the viewer */
  constructor(root, onView) {
    this.list = root.querySelector("#job-list");
    this.empty = root.querySelector("#no-jobs");
    this.onView = onView;
    this.entries = loadStored().map((s) => ({ ...s, job: null, children: null, problem: null }));
    this.timer = setInterval(() => this.tick(), 1000);
  }

  start() {
    this.render();
    for (const entry of this.entries) this.follow(entry);
  }

  add({ id, name, type }) {
    const entry = { id, name, type, created: Date.now() / 1000, job: null, children: null, problem: null };
    this.entries.unshift(entry);
    saveStored(this.entries);
    this.render();
    this.follow(entry);
  }

  forget(entry) {
    entry.stopped = true;
    entry.source?.close();
    this.entries = this.entries.filter((e) => e !== entry);
    saveStored(this.entries);
    this.render();
  }

  update(entry, job) {
    entry.job = job;
    entry.problem = null;
    this.renderEntry(entry);
  }

  /** Server-Sent Events without an API key (EventSource cannot send headers); polling with one. */
  follow(entry) {
    if (entry.stopped || (entry.job && TERMINAL.has(entry.job.status))) return this.afterEnd(entry);
    if (!apiKey() && window.EventSource) {
      const source = new EventSource(`/api/jobs/${entry.id}/events`);
      entry.source = source;
      source.addEventListener("job", (e) => {
        this.update(entry, JSON.parse(e.data));
        if (entry.job.children) this.refreshChildren(entry);
        if (TERMINAL.has(entry.job.status)) {
          source.close();
          this.afterEnd(entry);
        }
      });
      source.onerror = () => {
        source.close(); // 401, 404 or a dropped connection: polling says which, and retries
        if (!entry.job || !TERMINAL.has(entry.job.status)) this.poll(entry);
      };
      return;
    }
    this.poll(entry);
  }

  async poll(entry) {
    if (entry.stopped) return;
    try {
      this.update(entry, await getJSON(`/api/jobs/${entry.id}`));
      if (entry.job.children) await this.refreshChildren(entry);
      if (TERMINAL.has(entry.job.status)) return this.afterEnd(entry);
      setTimeout(() => this.poll(entry), POLL_MS);
    } catch (err) {
      entry.problem = err.message;
      this.renderEntry(entry);
      if (err instanceof ApiError && [401, 404].includes(err.status)) return; // no key given, or expired
      setTimeout(() => this.follow(entry), RETRY_MS);
    }
  }

  async afterEnd(entry) {
    if (entry.job?.children) await this.refreshChildren(entry);
  }

  async refreshChildren(entry) {
    if (entry.loadingChildren) return;
    entry.loadingChildren = true;
    try {
      entry.children = await getJSON(`/api/jobs/${entry.id}/children`);
      this.renderEntry(entry);
      if (!TERMINAL.has(entry.job.status)) setTimeout(() => this.refreshChildren(entry), 2 * POLL_MS);
    } catch {
      /* the parent's own status already shows problems */
    } finally {
      entry.loadingChildren = false;
    }
  }

  async cancel(entry) {
    try {
      this.update(entry, await getJSON(`/api/jobs/${entry.id}`, { method: "DELETE" }));
    } catch (err) {
      entry.problem = `could not cancel: ${err.message}`;
      this.renderEntry(entry);
    }
  }

  tick() {
    for (const node of this.list.querySelectorAll("[data-started]")) {
      const started = Number(node.dataset.started);
      node.textContent = elapsed(Date.now() / 1000 - started);
    }
  }

  render() {
    this.empty.hidden = this.entries.length > 0;
    this.list.replaceChildren(...this.entries.map((e) => this.entryNode(e)));
  }

  renderEntry(entry) {
    const old = this.list.querySelector(`[data-job="${entry.id}"]`);
    if (!old) return this.render();
    const focused = old.contains(document.activeElement) ? document.activeElement.dataset.focusKey : null;
    const node = this.entryNode(entry);
    old.replaceWith(node);
    if (focused) node.querySelector(`[data-focus-key="${focused}"]`)?.focus();
  }

  entryNode(entry) {
    const job = entry.job;
    const status = job ? job.status : entry.problem ? "unknown" : "connecting";
    const title = entry.name || job?.input_name || entry.id;
    const running = job && !TERMINAL.has(job.status);
    const stage = job?.stage && running ? STAGES[job.stage] || job.stage : "";
    return el(
      "li",
      { class: `job ${status}`, dataset: { job: entry.id, status } },
      el(
        "div",
        { class: "job-head" },
        el("span", { class: "job-name" }, title),
        el("span", { class: `badge ${status}` }, status),
        timeNode(job),
      ),
      el(
        "div",
        { class: "job-progress" },
        el("progress", { max: 100, value: job ? job.progress : 0, "aria-label": `Progress of ${title}` }),
        el("span", { class: "muted" }, job ? `${Math.round(job.progress)}%${stage ? ` · ${stage}` : ""}` : ""),
      ),
      job?.children ? batchSummary(job.children) : null,
      job?.error ? el("p", { class: "error", role: "alert" }, job.error) : null,
      entry.problem ? el("p", { class: "error", role: "alert" }, entry.problem) : null,
      el("div", { class: "job-actions" }, this.actions(entry, title)),
      entry.children ? this.childrenNode(entry) : null,
    );
  }

  actions(entry, title) {
    const job = entry.job;
    const out = [];
    if (job && !TERMINAL.has(job.status)) {
      out.push(el("button", { type: "button", dataset: { focusKey: "cancel" }, onclick: () => this.cancel(entry) }, "Cancel"));
    }
    const view = (label, children) =>
      el(
        "button",
        { type: "button", class: "primary", dataset: { focusKey: "view" }, onclick: () => this.onView(entry.id, title, children) },
        label,
      );
    if (job?.status === "done" && !job.children) out.push(view("View result", null));
    if (job?.children && entry.children?.some((c) => c.status === "done")) out.push(view("View images", entry.children));
    if (job?.status === "done") {
      out.push(el("a", { href: job.result_url, class: "button", download: "", dataset: { download: `${entry.id}.zip` } }, "Download archive"));
    }
    if (!job || TERMINAL.has(job.status) || entry.problem) {
      out.push(
        el(
          "button",
          { type: "button", class: "link", dataset: { focusKey: "forget" }, "aria-label": `Remove ${title} from this list`, onclick: () => this.forget(entry) },
          "Remove from list",
        ),
      );
    }
    return out;
  }

  childrenNode(entry) {
    const rows = entry.children.map((c) =>
      el(
        "li",
        { class: `child ${c.status}`, dataset: { status: c.status } },
        el("span", { class: "child-name" }, c.input_name || c.id),
        el("progress", { max: 100, value: c.progress, "aria-label": `Progress of ${c.input_name || c.id}` }),
        el("span", { class: `badge ${c.status}` }, c.status),
        c.error ? el("span", { class: "error" }, c.error) : null,
      ),
    );
    const details = el("details", { class: "children" }, el("summary", {}, `Images (${entry.children.length})`), el("ul", {}, rows));
    const old = this.list.querySelector(`[data-job="${entry.id}"] details.children`);
    details.open = old ? old.open : entry.children.length <= 10;
    return details;
  }
}

function batchSummary(c) {
  const parts = [`${c.done} of ${c.total} images done`];
  if (c.failed) parts.push(`${c.failed} failed`);
  return el("p", { class: "muted batch-summary" }, parts.join(", "));
}

function timeNode(job) {
  if (!job) return null;
  const start = job.started_at || job.created_at;
  if (job.finished_at) return el("span", { class: "muted elapsed" }, elapsed(job.finished_at - start));
  return el("span", { class: "muted elapsed", dataset: { started: String(start) } }, elapsed(Date.now() / 1000 - start));
}

function elapsed(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
