// cells.csv: parsing, and a sortable table of the cells of one page linked to the viewer.

import { el } from "./api.js";

const MAX_ROWS = 3000; // more rows make the page sluggish; sorting brings any cell to the top
const HIDDEN = new Set(["image"]);

/** Parse CSV text (RFC 4180 quoting) into an array of objects keyed by the header. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") row.push(field), (field = "");
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      (row = []), (field = "");
    } else field += c;
  }
  if (field !== "" || row.length) row.push(field), rows.push(row);
  const [header, ...body] = rows.filter((r) => r.length > 1 || r[0] !== "");
  if (!header) return { columns: [], rows: [] };
  return { columns: header, rows: body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ""]))) };
}

export class CellTable {
  /** @param onSelect called with a label id when a row is chosen */
  constructor(root, onSelect) {
    this.root = root;
    this.onSelect = onSelect;
    this.columns = [];
    this.rows = [];
    this.sort = { column: "label", ascending: true };
    this.selected = null;
  }

  show(columns, rows, multiPage) {
    this.columns = columns.filter((c) => !HIDDEN.has(c) && (multiPage || c !== "frame"));
    this.rows = rows;
    this.selected = null;
    this.render();
  }

  sortBy(column) {
    this.sort = { column, ascending: this.sort.column === column ? !this.sort.ascending : true };
    this.render();
    this.root.querySelector(`th[data-column="${column}"] button`)?.focus();
  }

  sorted() {
    const { column, ascending } = this.sort;
    const sign = ascending ? 1 : -1;
    const numeric = this.rows.every((r) => r[column] === "" || !Number.isNaN(Number(r[column])));
    return [...this.rows].sort((a, b) => {
      const x = numeric ? Number(a[column]) : a[column];
      const y = numeric ? Number(b[column]) : b[column];
      return x < y ? -sign : x > y ? sign : 0;
    });
  }

  render() {
    const head = el(
      "tr",
      {},
      this.columns.map((c) => {
        const active = this.sort.column === c;
        return el(
          "th",
          { scope: "col", dataset: { column: c }, "aria-sort": active ? (this.sort.ascending ? "ascending" : "descending") : "none" },
          el("button", { type: "button", class: "sort", onclick: () => this.sortBy(c) }, c.replaceAll("_", " "), active ? (this.sort.ascending ? " ▲" : " ▼") : ""),
        );
      }),
    );
    const rows = this.sorted().slice(0, MAX_ROWS);
    const body = rows.map((r) =>
      el(
        "tr",
        { dataset: { label: r.label }, class: String(this.selected) === r.label ? "selected" : null, onclick: () => this.onSelect(Number(r.label)) },
        this.columns.map((c) =>
          el("td", {}, c === "label" ? el("button", { type: "button", class: "link", "aria-label": `Show cell ${r.label}` }, r[c]) : r[c]),
        ),
      ),
    );
    const note = this.rows.length > MAX_ROWS ? el("caption", {}, `first ${MAX_ROWS} of ${this.rows.length} cells; sort to see others`) : null;
    this.root.replaceChildren(el("table", { class: "cells" }, note, el("thead", {}, head), el("tbody", {}, body)));
  }

  /** Mark a cell's row and scroll it into view (null clears). */
  select(label) {
    this.selected = label;
    for (const tr of this.root.querySelectorAll("tr.selected")) tr.classList.remove("selected");
    if (label === null) return;
    const tr = this.root.querySelector(`tr[data-label="${label}"]`);
    if (tr) {
      tr.classList.add("selected");
      tr.scrollIntoView({ block: "nearest" });
    }
  }
}
