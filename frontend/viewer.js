// The result viewer: image + label overlay on a canvas, zoom and pan, cells linked to their table rows.

import { ApiError, el, getJSON, request } from "./api.js";
import { describeSize } from "./size.js";
import { CellTable, parseCsv } from "./cells.js";
import { FrameCache } from "./frames.js";
import { drawIds, highlightCanvas, overlayCanvas } from "./overlay.js";
import { TrackMode } from "./tracks.js";

const ZOOM_STEP = 1.25;
const PAN_STEP_PX = 50;
const DRAG_THRESHOLD_PX = 4;
const MAX_SCALE = 40;
const DETAIL_COLUMNS = ["frame", "track_id", "parent", "area_px", "centroid_y", "centroid_x"];

/** cells.csv rows grouped by frame ("" for an image without frames). */
function byFrame(rows) {
  const groups = new Map();
  for (const r of rows) {
    const key = r.frame ?? "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  return groups;
}

export class Viewer {
  constructor(root, onJob = () => {}) {
    this.root = root;
    this.onJob = onJob;
    this.$ = (id) => root.querySelector(`#${id}`);
    this.canvas = this.$("canvas");
    this.ctx = this.canvas.getContext("2d");
    this.table = new CellTable(this.$("cell-table"), (label) => this.select(label, true));
    this.mode = "outline";
    this.opacity = Number(this.$("opacity").value);
    this.view = { scale: 1, x: 0, y: 0 };
    this.token = 0;
    this.tracks = new TrackMode(this);
    this.bindControls();
    this.bindPointer();
    new ResizeObserver(() => this.resize()).observe(this.canvas.parentElement);
  }

  bindControls() {
    for (const radio of this.root.querySelectorAll("input[name=mode]")) {
      radio.addEventListener("change", () => {
        this.mode = radio.value;
        this.buildOverlay();
        this.draw();
      });
    }
    this.$("opacity").addEventListener("input", (e) => {
      this.opacity = Number(e.target.value);
      this.$("opacity-out").value = `${Math.round(this.opacity * 100)}%`;
      this.draw();
    });
    this.$("page").addEventListener("input", (e) => {
      this.tracks.player.pause();
      this.loadPage(Number(e.target.value));
    });
    this.$("zoom-in").addEventListener("click", () => this.zoomAt(ZOOM_STEP));
    this.$("zoom-out").addEventListener("click", () => this.zoomAt(1 / ZOOM_STEP));
    this.$("zoom-fit").addEventListener("click", () => this.fit());
    this.$("image-select").addEventListener("change", (e) => this.loadJob(e.target.value));
    this.$("size-line").addEventListener("submit", (e) => {
      e.preventDefault();
      this.rerun(Number(this.$("rerun-diameter").value));
    });
    this.$("close-viewer").addEventListener("click", () => {
      this.root.hidden = true;
      this.token++;
      this.tracks.player.pause();
      this.returnFocus?.focus();
    });
  }

  /** Show a finished job (or, for a batch, its finished images). */
  async open(jobId, title, children) {
    this.returnFocus = document.activeElement;
    this.root.hidden = false;
    this.$("viewer-title").textContent = `Result: ${title}`;
    const picker = this.$("image-picker");
    picker.hidden = !children;
    let first = jobId;
    if (children) {
      const done = children.filter((c) => c.status === "done");
      first = done[0]?.id;
      this.$("image-select").replaceChildren(
        ...children.map((c) =>
          el("option", { value: c.id, disabled: c.status !== "done" }, `${c.input_name || c.id}${c.status === "done" ? "" : ` (${c.error || c.status})`}`),
        ),
      );
      this.$("image-select").value = first;
      this.$("image-count").textContent = `${done.length} of ${children.length} images have results`;
    }
    this.root.scrollIntoView({ block: "start" });
    this.$("image-select").focus({ preventScroll: true });
    if (!children) this.canvas.focus({ preventScroll: true });
    await this.loadJob(first);
  }

  status(text, isError = false) {
    const node = this.$("view-status");
    node.textContent = text;
    node.classList.toggle("error", isError);
  }

  async loadJob(jobId) {
    const token = ++this.token;
    this.status("loading…");
    try {
      const infos = await getJSON(`/api/jobs/${jobId}/view`);
      if (!infos.length) throw new ApiError("this result holds no label image", 404);
      const info = infos[0];
      const cells = info.cells_file ? parseCsv(await (await request(`/api/jobs/${jobId}/files/${info.cells_file}`)).text()) : { columns: [], rows: [] };
      const cellsByFrame = byFrame(cells.rows);
      await this.tracks.load(jobId, info, cellsByFrame);
      if (token !== this.token) return;
      const base = `/api/jobs/${jobId}/view/${encodeURIComponent(info.stem)}`;
      const frames = new FrameCache(base, info.pages, Math.ceil(info.width / info.stride), Math.ceil(info.height / info.stride));
      Object.assign(this, { jobId, info, cells, cellsByFrame, frames, page: -1, selected: null });
      const slider = this.$("page");
      slider.max = String(info.pages - 1);
      slider.value = "0";
      this.$("page-control").hidden = info.pages < 2;
      this.renderDownloads(jobId, info);
      this.renderSize(info.size);
      await this.loadPage(0, true);
    } catch (err) {
      if (token === this.token) this.status(`could not show this result: ${err.message}`, true);
    }
  }

  renderDownloads(jobId, info) {
    const file = (name, label) => el("li", {}, el("a", { href: `/api/jobs/${jobId}/files/${name}`, download: "", dataset: { download: name } }, label));
    this.$("downloads").replaceChildren(
      el(
        "ul",
        {},
        el("li", {}, el("a", { href: `/api/jobs/${jobId}/result`, download: "", dataset: { download: `${info.stem}_results.zip` }, id: "download-archive" }, "Archive (zip)")),
        file(info.labels_file, "Labels (TIFF)"),
        info.cells_file ? file(info.cells_file, "Cells (CSV)") : null,
        info.overlay_file ? file(info.overlay_file, "Overlay (PNG)") : null,
      ),
    );
  }

  /** The object size the job segmented at, and the diameter field to run it again with another one. */
  renderSize(size) {
    const line = this.$("size-line");
    line.hidden = !size;
    this.$("rerun-status").textContent = "";
    if (!size) return;
    this.$("size-info").textContent = describeSize(size);
    this.$("rerun-diameter").value = size.diameter_px ?? "";
  }

  /** Submit the shown job again (same input, model and params) with params.diameter set. */
  async rerun(diameter) {
    const status = this.$("rerun-status");
    try {
      const job = await getJSON(`/api/jobs/${this.jobId}`);
      const body = { type: job.type, input: job.input, model: job.model, params: { ...(job.params || {}), diameter } };
      delete body.params.scale; // a fixed scale would override the diameter
      const created = await getJSON("/api/jobs", { method: "POST", json: body });
      status.textContent = `submitted as a new job (${created.id.slice(0, 8)}…)`;
      this.onJob({ id: created.id, name: `${job.input_name || job.id} (diameter ${diameter} px)`, type: job.type });
    } catch (err) {
      status.textContent = `could not submit: ${err.message}`;
    }
  }

  /** Move the slider to a page and show it (resolves once it is drawn, or could not be). */
  async showFrame(page) {
    this.$("page").value = String(page);
    await this.loadPage(page);
  }

  /** One frame back or forward (keyboard), pausing the player. */
  step(delta) {
    const page = this.page + delta;
    if (!this.info || page < 0 || page >= this.info.pages) return;
    this.tracks.player.pause();
    this.showFrame(page);
  }

  async loadPage(page, refit = false) {
    if (page === this.page) return;
    const token = ++this.token;
    const { jobId, info } = this;
    this.$("page-out").value = this.tracks.position(page, info.pages);
    this.status("loading…");
    try {
      const frame = await this.frames.get(page);
      if (token !== this.token) return;
      this.page = page;
      this.$("tooltip").hidden = true; // it named a cell of the previous frame
      this.setFrame(frame);
      this.showCells(page);
      this.buildOverlay();
      if (refit || !this.fitted) this.fit();
      if (this.selected) this.select(this.selected); // a track stays selected from frame to frame
      else this.draw();
      this.status(frame.note, Boolean(frame.note));
      this.canvas.dataset.ready = `${jobId}:${page}`;
      this.frames.prefetch(page);
    } catch (err) {
      if (token === this.token) this.status(`could not show this page: ${err.message}`, true);
    }
  }

  setFrame(frame) {
    Object.assign(this, { frame, w: frame.w, h: frame.h, ids: frame.ids, base: frame.base, highlight: null });
    if (!this.tracks.active) this.selected = null;
    if (!this.selected) this.$("cell-details").replaceChildren(el("p", { class: "muted" }, "Hover over or click a cell to see its measurements."));
  }

  showCells(page) {
    const rows = this.cellsByFrame.get(String(page)) || this.cellsByFrame.get("") || [];
    this.rowsByLabel = new Map(rows.map((r) => [Number(r.label), r]));
    const multi = this.info.pages > 1;
    const where = this.tracks.active ? `in frame ${page}` : `on page ${page + 1}`;
    const count = this.$("cell-count");
    count.dataset.count = String(rows.length);
    count.textContent = `${rows.length} cell${rows.length === 1 ? "" : "s"}` + (multi ? ` ${where} (${this.cells.rows.length} in all ${this.tracks.active ? "frames" : "pages"})` : "");
    this.table.show(this.cells.columns, rows, multi);
  }

  buildOverlay() {
    if (!this.frame) return;
    const cached = this.frame.overlays;
    this.overlay = cached[this.mode] ||= overlayCanvas(this.ids, this.w, this.h, this.mode);
  }

  /** Mark one cell; its bounding box from cells.csv (full-resolution pixels) limits the search. */
  buildHighlight(label) {
    const row = this.rowsByLabel.get(label);
    const box = row ? [row.bbox_min_y, row.bbox_min_x, row.bbox_max_y, row.bbox_max_x].map((v) => Number(v) / this.info.stride) : null;
    return highlightCanvas(this.ids, this.w, this.h, label, box);
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const { clientWidth, clientHeight } = this.canvas;
    this.canvas.width = Math.max(1, Math.round(clientWidth * dpr));
    this.canvas.height = Math.max(1, Math.round(clientHeight * dpr));
    if (this.fitted === false || !this.base) return this.draw();
    this.fit();
  }

  fit() {
    if (!this.w) return;
    const { clientWidth: cw, clientHeight: ch } = this.canvas;
    const scale = Math.min(cw / this.w, ch / this.h) || 1;
    this.view = { scale, x: (cw - this.w * scale) / 2, y: (ch - this.h * scale) / 2 };
    this.fitted = true;
    this.draw();
  }

  zoomAt(factor, cx = this.canvas.clientWidth / 2, cy = this.canvas.clientHeight / 2) {
    const v = this.view;
    const scale = Math.min(MAX_SCALE, Math.max(0.05, v.scale * factor));
    const k = scale / v.scale;
    this.view = { scale, x: cx - (cx - v.x) * k, y: cy - (cy - v.y) * k };
    this.fitted = false;
    this.draw();
  }

  panBy(dx, dy) {
    this.view = { ...this.view, x: this.view.x + dx, y: this.view.y + dy };
    this.fitted = false;
    this.draw();
  }

  draw() {
    const ctx = this.ctx;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.base) return;
    const { scale, x, y } = this.view;
    ctx.setTransform(dpr * scale, 0, 0, dpr * scale, dpr * x, dpr * y);
    ctx.imageSmoothingEnabled = scale < 1;
    ctx.drawImage(this.base, 0, 0);
    ctx.globalAlpha = this.opacity;
    ctx.drawImage(this.overlay, 0, 0);
    ctx.globalAlpha = 1;
    if (this.highlight) ctx.drawImage(this.highlight.canvas, this.highlight.x, this.highlight.y);
    if (this.tracks.showIds) {
      const s = this.info.stride;
      const cells = [...this.rowsByLabel.values()].map((r) => ({ id: r.label, x: Number(r.centroid_x) / s, y: Number(r.centroid_y) / s }));
      drawIds(ctx, cells, this.view, dpr);
    }
  }

  /** The label id under a point of the canvas (CSS pixels), 0 for background or outside. */
  labelAt(cx, cy) {
    if (!this.ids) return 0;
    const x = Math.floor((cx - this.view.x) / this.view.scale);
    const y = Math.floor((cy - this.view.y) / this.view.scale);
    return x >= 0 && y >= 0 && x < this.w && y < this.h ? this.ids[y * this.w + x] : 0;
  }

  select(label, centre = false) {
    const changed = (label || null) !== this.selected;
    this.selected = label || null;
    const here = this.selected && this.rowsByLabel.has(this.selected);
    this.highlight = here || (this.selected && !this.tracks.active) ? this.buildHighlight(this.selected) : null;
    this.showDetails(this.selected, this.$("cell-details")); // first: it changes the table's height
    if (changed) this.tracks.select(this.selected);
    this.table.select(this.selected);
    if (centre && this.selected) {
      const row = this.rowsByLabel.get(this.selected);
      if (row) {
        const s = this.info.stride;
        const { clientWidth: cw, clientHeight: ch } = this.canvas;
        const scale = Math.max(this.view.scale, Math.min(4, 40 / Math.max(1, Math.sqrt(Number(row.area_px)) / s)));
        this.view = { scale, x: cw / 2 - (Number(row.centroid_x) / s) * scale, y: ch / 2 - (Number(row.centroid_y) / s) * scale };
        this.fitted = false;
      }
    }
    this.draw();
  }

  showDetails(label, target) {
    if (!label) return target.replaceChildren(el("p", { class: "muted" }, "No cell selected."));
    const row = this.rowsByLabel.get(label);
    if (!row && this.tracks.active) return target.replaceChildren(el("h3", {}, `Track ${label}`), el("p", { class: "muted" }, `not in frame ${this.page}`));
    if (!row) return target.replaceChildren(el("p", {}, `Cell ${label} (no measurements)`));
    const columns = Object.keys(row);
    const keys = [
      ...DETAIL_COLUMNS.filter((k) => k in row && (k !== "frame" || this.info.pages > 1)),
      ...columns.filter((k) => k.startsWith("mean_intensity")),
      ...columns.filter((k) => k.startsWith("integrated_intensity")),
    ];
    target.replaceChildren(
      el("h3", {}, `${this.tracks.active ? "Track" : "Cell"} ${label}`),
      el("dl", { class: "measures" }, keys.map((k) => [el("dt", {}, k.replaceAll("_", " ")), el("dd", {}, row[k])])),
    );
  }

  bindPointer() {
    const c = this.canvas;
    const tip = this.$("tooltip");
    let drag = null;
    c.addEventListener("pointerdown", (e) => {
      drag = { x: e.clientX, y: e.clientY, moved: false };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener("pointermove", (e) => {
      if (drag) {
        const dx = e.clientX - drag.x;
        const dy = e.clientY - drag.y;
        if (drag.moved || Math.hypot(dx, dy) > DRAG_THRESHOLD_PX) {
          drag = { x: e.clientX, y: e.clientY, moved: true };
          c.classList.add("dragging");
          this.panBy(dx, dy);
        }
        return;
      }
      const label = this.labelAt(e.offsetX, e.offsetY);
      tip.hidden = !label;
      if (!label) return;
      const row = this.rowsByLabel.get(label);
      const noun = this.tracks.active ? "track" : "cell";
      tip.textContent = row ? `${noun} ${label} · ${row.area_px} px` : `${noun} ${label}`;
      tip.style.left = `${e.offsetX + 14}px`;
      tip.style.top = `${e.offsetY + 14}px`;
    });
    c.addEventListener("pointerup", (e) => {
      c.classList.remove("dragging");
      if (drag && !drag.moved) this.select(this.labelAt(e.offsetX, e.offsetY));
      drag = null;
    });
    c.addEventListener("pointerleave", () => (tip.hidden = true));
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoomAt(Math.exp(-e.deltaY * 0.0015), e.offsetX, e.offsetY);
    }, { passive: false });
    c.addEventListener("keydown", (e) => {
      const keys = {
        ArrowLeft: () => this.panBy(PAN_STEP_PX, 0),
        ArrowRight: () => this.panBy(-PAN_STEP_PX, 0),
        ArrowUp: () => this.panBy(0, PAN_STEP_PX),
        ArrowDown: () => this.panBy(0, -PAN_STEP_PX),
        "+": () => this.zoomAt(ZOOM_STEP),
        "=": () => this.zoomAt(ZOOM_STEP),
        "-": () => this.zoomAt(1 / ZOOM_STEP),
        0: () => this.fit(),
        Escape: () => this.select(null),
        ",": () => this.step(-1),
        ".": () => this.step(1),
      };
      if (this.tracks.key(e.key)) e.preventDefault();
      else if (keys[e.key]) {
        e.preventDefault();
        keys[e.key]();
      }
    });
  }
}
