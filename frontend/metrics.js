// A model card's measured accuracy made readable: a few headline numbers, notes, every measurement on demand.
// Cards nest their metrics freely (by split, by image kind, by movie); nothing here knows a model's name.

import { el } from "./api.js";

/** Keys worth showing first, most wanted first (segmentation AP and F1, tracking TRA, DET, divisions). */
const HEADLINE_KEYS = ["ap50_image_mean", "f1_pooled", "tra", "det", "division_f1"];
const MAX_HEADLINE = 8;
const FALLBACK_HEADLINE = 4; // numbers shown when a card has none of the keys above
const NAMES = {
  ap50_image_mean: "AP@0.5 (image mean)",
  ap50_pooled: "AP@0.5 (pooled)",
  map_image_mean: "mAP (image mean)",
  map_pooled: "mAP (pooled)",
  f1_pooled: "F1 (pooled)",
  precision_pooled: "precision (pooled)",
  recall_pooled: "recall (pooled)",
  mean_matched_iou: "mean IoU of matches",
  n_images: "images",
  tra: "TRA",
  det: "DET",
  aogm: "AOGM",
  division_f1: "division F1",
};

/** A metric key in words: known names, else underscores as spaces. */
export function metricName(key) {
  return NAMES[key] ?? String(key).replaceAll("_", " ");
}

/** A measured value as text: integers whole, fractions to 3 decimals (4 where 3 would round up to 1). */
export function formatValue(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(1);
  const three = v.toFixed(3);
  return Math.abs(v) < 1 && Math.abs(Number(three)) >= 1 ? v.toFixed(4) : three;
}

/**
 * Flatten nested metrics to {path, value} leaves: numbers, booleans and nulls are measurements,
 * strings are notes; lists are walked by position ("1", "2", …) unless they hold only numbers.
 */
export function flattenMetrics(metrics, path = [], out = { measurements: [], notes: [] }) {
  for (const [key, value] of Object.entries(metrics ?? {})) {
    const here = [...path, key];
    if (Array.isArray(value) && value.every((v) => typeof v === "number")) {
      out.measurements.push({ path: here, value: value.map(formatValue).join(", ") });
    } else if (Array.isArray(value)) {
      flattenMetrics(Object.fromEntries(value.map((v, i) => [String(i + 1), v])), here, out);
    } else if (value !== null && typeof value === "object") {
      flattenMetrics(value, here, out);
    } else if (typeof value === "string") {
      out.notes.push({ path: here, value });
    } else {
      out.measurements.push({ path: here, value });
    }
  }
  return out;
}

/** "val › fluorescence › AP@0.5 (image mean)" */
export function pathLabel(path) {
  return path.map((p, i) => (i === path.length - 1 ? metricName(p) : p)).join(" › ");
}

/** The headline measurements: wanted keys first (exact, then as a prefix or suffix), in the card's order. */
export function headline(measurements) {
  const rank = ({ path }) => {
    const key = String(path[path.length - 1]);
    const exact = HEADLINE_KEYS.indexOf(key);
    if (exact >= 0) return exact;
    const near = HEADLINE_KEYS.findIndex((k) => key.startsWith(`${k}_`) || key.endsWith(`_${k}`));
    return near >= 0 ? HEADLINE_KEYS.length + near : Infinity;
  };
  const ranked = measurements.map((m, order) => ({ m, order, rank: rank(m) })).filter((r) => r.rank < Infinity);
  if (!ranked.length) return measurements.filter((m) => typeof m.value === "number").slice(0, FALLBACK_HEADLINE);
  ranked.sort((a, b) => a.rank - b.rank || a.order - b.order);
  return ranked
    .slice(0, MAX_HEADLINE)
    .sort((a, b) => a.order - b.order)
    .map((r) => r.m);
}

/** The "Measured accuracy" part of a model card. */
export function metricsNode(metrics) {
  const { measurements, notes } = flattenMetrics(metrics);
  if (!measurements.length && !notes.length) return el("span", { class: "muted" }, "not measured yet");
  const top = headline(measurements);
  return el(
    "div",
    { class: "metrics" },
    top.length
      ? el(
          "dl",
          { class: "metrics-headline" },
          top.map((m) => [el("dt", {}, pathLabel(m.path)), el("dd", { dataset: { metric: m.path.join(".") } }, formatValue(m.value))]),
        )
      : null,
    notes.length
      ? el(
          "ul",
          { class: "metrics-notes" },
          notes.map((n) => el("li", {}, el("span", { class: "muted" }, `${pathLabel(n.path)}: `), n.value)),
        )
      : null,
    measurements.length > top.length
      ? el(
          "details",
          { class: "metrics-all" },
          el("summary", {}, `All measurements (${measurements.length})`),
          el(
            "table",
            {},
            el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "measurement"), el("th", { scope: "col" }, "value"))),
            el(
              "tbody",
              {},
              measurements.map((m) =>
                el("tr", {}, el("th", { scope: "row" }, pathLabel(m.path)), el("td", {}, formatValue(m.value))),
              ),
            ),
          ),
        )
      : null,
  );
}
