// Choosing files, looking inside them, choosing the analysis, model and parameters, submitting jobs.

import { ApiError, el, formatBytes, getJSON, uploadFile } from "./api.js";
import { metricsNode } from "./metrics.js";
import { paramField, readParams, showParamProblems } from "./params.js";

const BROWSER_IMAGES = ["image/png", "image/jpeg"]; // what an <img> can show as a thumbnail
let nextId = 1;

export class Submitter {
  /** @param onSubmitted called with {id, name, type} for each job created */
  constructor(root, onSubmitted) {
    this.files = [];
    this.types = [];
    this.models = [];
    this.onSubmitted = onSubmitted;
    this.list = root.querySelector("#file-list");
    this.form = root.querySelector("#analysis-form");
    this.typeSelect = root.querySelector("#job-type");
    this.modelSelect = root.querySelector("#model");
    this.card = root.querySelector("#model-card");
    this.params = root.querySelector("#params");
    this.advanced = root.querySelector("#advanced");
    this.batch = root.querySelector("#as-batch");
    this.message = root.querySelector("#form-message");
    this.button = root.querySelector("#analyse");
    this.input = root.querySelector("#file-input");
    root.querySelector("#pick-files").addEventListener("click", () => this.input.click());
    this.input.addEventListener("change", () => {
      this.add([...this.input.files]);
      this.input.value = "";
    });
    const zone = root.querySelector("#dropzone");
    zone.addEventListener("dragover", (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      this.add([...e.dataTransfer.files]);
    });
    this.typeSelect.addEventListener("change", () => this.showType());
    this.modelSelect.addEventListener("change", () => this.showModel());
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.render();
  }

  /** Load job types and model cards from the server. */
  async load() {
    [this.types, this.models] = await Promise.all([getJSON("/api/job-types"), getJSON("/api/models")]);
    this.typeSelect.replaceChildren(...this.types.map((t) => el("option", { value: t.name }, t.name)));
    this.showType();
  }

  get type() {
    return this.types.find((t) => t.name === this.typeSelect.value);
  }

  get model() {
    return this.models.find((m) => m.name === this.modelSelect.value);
  }

  showType() {
    const type = this.type;
    if (!type) return;
    document.getElementById("job-type-help").textContent = type.description;
    this.modelSelect.replaceChildren(
      ...type.models.map((name) => el("option", { value: name, selected: name === type.default_model }, name)),
    );
    this.showModel();
  }

  showModel() {
    const card = this.model;
    if (!card) {
      this.card.replaceChildren(el("p", { class: "error" }, "No model for this analysis is installed on the server."));
      return;
    }
    const px = card.inputs.pixel_size_um;
    this.card.replaceChildren(
      el("p", {}, card.description),
      el(
        "dl",
        {},
        el("dt", {}, "Expects"),
        el("dd", {}, card.inputs.channels.map((c) => `${c.name}: ${c.description}`).join("; ")),
        el("dt", {}, "Pixel size"),
        el("dd", {}, px ? `${px} µm (images at another scale may need resizing)` : "not specified"),
        el("dt", {}, "Measured accuracy"),
        el("dd", {}, metricsNode(card.metrics)),
        el("dt", {}, "Version"),
        el("dd", {}, String(card.version)),
      ),
    );
    this.renderParams(card);
    this.render();
  }

  renderParams(card) {
    const schema = this.type?.params_schema || {};
    // scalar defaults from the card's post-processing and per-frame segmentation; an object
    // parameter's (e.g. `tracking`) from the card's section of the same name
    const defaults = { ...(card.segmentation || {}), ...(card.postprocess?.params || {}), tile_px: card.inputs.tile_px };
    const fields = Object.entries(schema.properties || {})
      .filter(([name]) => name !== "channels") // mapped per file, next to the file
      .map(([name, spec]) => paramField(name, spec, defaults[name] ?? sectionOf(card, name), schema.$defs));
    this.params.replaceChildren(...fields);
  }

  /** Parameters typed into the advanced section (empty fields keep their defaults) and the fields in error. */
  paramValues() {
    return readParams(this.params);
  }

  add(files) {
    for (const file of files) {
      const entry = { id: nextId++, file, name: file.name, size: file.size, state: "uploading", progress: 0 };
      if (BROWSER_IMAGES.includes(file.type)) entry.thumb = URL.createObjectURL(file);
      entry.ready = this.prepare(entry);
      this.files.push(entry);
    }
    this.message.textContent = "";
    this.render();
  }

  async prepare(entry) {
    try {
      const up = await uploadFile(entry.file, (fraction) => {
        entry.progress = fraction;
        this.renderEntry(entry);
      });
      entry.key = up.key;
      entry.state = "checking";
      this.renderEntry(entry);
      entry.info = await getJSON(`/api/uploads/info?key=${encodeURIComponent(up.key)}`);
      entry.error = entry.info.error;
      entry.state = entry.error ? "error" : "ready";
    } catch (err) {
      entry.state = "error";
      entry.error = err.message;
    }
    this.render();
  }

  noThumb(entry) {
    URL.revokeObjectURL(entry.thumb);
    entry.thumb = null; // the browser cannot decode it: whatever the file claims, no thumbnail
    this.renderEntry(entry);
  }

  remove(entry) {
    this.files = this.files.filter((f) => f !== entry);
    if (entry.thumb) URL.revokeObjectURL(entry.thumb);
    this.render();
    document.getElementById("pick-files").focus();
  }

  render() {
    this.list.replaceChildren(...this.files.map((f) => this.entryNode(f)));
    const usable = this.files.filter((f) => f.state !== "error");
    this.batch.closest("label").hidden = usable.length < 2;
    this.button.disabled = !usable.length || !this.model;
    this.button.textContent = usable.length > 1 ? `Analyse ${usable.length} files` : "Analyse";
  }

  renderEntry(entry) {
    const old = this.list.querySelector(`[data-entry="${entry.id}"]`);
    if (old) old.replaceWith(this.entryNode(entry));
  }

  entryNode(entry) {
    const info = entry.info;
    let status;
    if (entry.state === "uploading") {
      status = el("progress", { max: 1, value: entry.progress, "aria-label": `Uploading ${entry.name}` });
    } else if (entry.state === "checking") {
      status = el("span", { class: "muted" }, "checking…");
    } else if (entry.state === "error") {
      status = el("p", { class: "error", role: "alert" }, entry.error);
    } else {
      status = el("span", { class: "muted" }, describe(info));
    }
    return el(
      "li",
      { class: "file", dataset: { entry: String(entry.id), state: entry.state } },
      entry.thumb ? el("img", { src: entry.thumb, alt: "", class: "thumb", onerror: () => this.noThumb(entry) }) : el("span", { class: "thumb none" }, "▦"),
      el(
        "div",
        { class: "file-main" },
        el("span", { class: "file-name" }, entry.name),
        el("span", { class: "muted" }, ` ${formatBytes(entry.size)}`),
        el("div", {}, status),
        info?.note ? el("p", { class: "muted" }, info.note) : null,
        this.channelMapping(entry),
      ),
      el("button", { type: "button", class: "link", "aria-label": `Remove ${entry.name}`, onclick: () => this.remove(entry) }, "✕"),
    );
  }

  /** One select per model input channel when the file has several channels. */
  channelMapping(entry) {
    const card = this.model;
    const n = entry.info?.channels;
    if (!card || entry.state !== "ready" || !n || n < 2) return null;
    entry.channels = entry.channels || card.inputs.channels.map(() => "");
    const colour = entry.info.axes?.includes("S") && n <= 4;
    const hint =
      !colour && n > card.inputs.channels.length
        ? el("p", { class: "hint" }, `This image has ${n} channels: pick the one that holds the ${card.inputs.channels[0].name} stain.`)
        : null;
    return el(
      "div",
      { class: "channels" },
      card.inputs.channels.map((spec, i) => {
        const id = `ch-${entry.id}-${i}`;
        return el(
          "span",
          { class: "field-inline" },
          el("label", { for: id }, `Channel for “${spec.name}”`),
          el(
            "select",
            { id, onchange: (e) => (entry.channels[i] = e.target.value) },
            el("option", { value: "" }, colour ? "automatic (colour → grey)" : "automatic"),
            Array.from({ length: n }, (_, c) => el("option", { value: String(c), selected: entry.channels[i] === String(c) }, `channel ${c}`)),
          ),
        );
      }),
      hint,
    );
  }

  paramsFor(entry, typed) {
    const params = structuredClone(typed);
    if (entry.channels && entry.channels.every((c) => c !== "")) params.channels = entry.channels.map(Number);
    return params;
  }

  async submit() {
    this.button.disabled = true;
    this.message.textContent = "";
    const { params: typed, invalid } = this.paramValues();
    if (invalid.length) {
      this.advanced.open = true;
      this.message.textContent = "Not sent: correct the advanced parameters marked in red.";
      invalid[0].focus();
      this.render();
      return;
    }
    await Promise.all(this.files.map((f) => f.ready));
    const ready = this.files.filter((f) => f.state === "ready");
    if (!ready.length) {
      this.message.textContent = "Nothing to analyse: add an image, or fix the files marked with an error.";
      this.render();
      return;
    }
    const body = { type: this.type.name, model: this.model.name };
    const groups = this.batch.checked && ready.length > 1 ? [ready] : ready.map((f) => [f]);
    for (const group of groups) {
      const many = group.length > 1;
      const payload = { ...body, params: this.paramsFor(group[0], typed) };
      if (many) payload.inputs = group.map((f) => f.key);
      else payload.input = group[0].key;
      try {
        const job = await getJSON("/api/jobs", { method: "POST", json: payload });
        const name = many ? `batch of ${group.length}: ${group.map((f) => f.name).join(", ")}` : group[0].name;
        this.onSubmitted({ id: job.id, name, type: body.type });
        for (const f of group) this.files = this.files.filter((x) => x !== f);
      } catch (err) {
        if (this.paramProblem(err)) break; // the same parameters would fail for every other file too
        for (const f of group) Object.assign(f, { state: "error", error: errorText(err) });
      }
    }
    this.render();
  }

  /** A 400 naming advanced parameters: shown next to them and under the button; the files stay ready. */
  paramProblem(err) {
    if (!(err instanceof ApiError) || err.status !== 400 || !showParamProblems(this.params, err.message)) return false;
    this.advanced.open = true;
    this.message.textContent = `Not accepted by the server: ${err.message}`;
    return true;
  }
}

/** A card's section named like a parameter (e.g. the tracker defaults under `tracking`), if it is one. */
function sectionOf(card, name) {
  const section = card[name];
  return section && typeof section === "object" && !Array.isArray(section) ? section : undefined;
}

function errorText(err) {
  return err instanceof ApiError ? err.message : `unexpected problem: ${err}`;
}

function describe(info) {
  if (!info) return "";
  if (info.kind === "zip") return `zip with ${info.images} image${info.images === 1 ? "" : "s"}: one result per image`;
  if (info.kind !== "image") return "ready";
  const parts = [`${info.width} × ${info.height} px`];
  if (info.pages > 1) parts.push(`${info.pages} pages`);
  parts.push(`${info.channels} channel${info.channels === 1 ? "" : "s"}`, info.dtype);
  return parts.join(", ");
}
