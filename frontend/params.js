// The advanced parameters of a job type, as form fields generated from its JSON schema.

import { el } from "./api.js";

/** Values typed into the fields under `root`; empty fields are left out (the server's defaults apply). */
export function readParams(root) {
  const out = {};
  for (const input of root.querySelectorAll("[data-param]")) {
    const { param, kind } = input.dataset;
    if (kind === "checkbox") {
      if (input.checked) out[param] = true;
    } else if (input.value !== "") {
      out[param] = kind === "number" ? Number(input.value) : kind === "boolean" ? input.value === "true" : input.value;
    }
  }
  return out;
}

/** A labelled input for one parameter of the job type's JSON schema. */
export function paramField(name, schema, fallback) {
  const options = schema.anyOf ? schema.anyOf.filter((s) => s.type !== "null") : [schema];
  const spec = { ...schema, ...(options[0] || {}) };
  const nullable = Boolean(schema.anyOf?.some((s) => s.type === "null"));
  const id = `param-${name}`;
  const label = name.replaceAll("_", " ");
  const shown = fallback ?? schema.default;
  const known = shown !== undefined && shown !== null;
  const saysDefault = /default/i.test(schema.description || "");
  const help = [schema.description, known && !saysDefault ? `default: ${shown}` : null].filter(Boolean).join("; ");
  let input;
  if (spec.type === "boolean" && !nullable) {
    input = el("input", { id, type: "checkbox", checked: Boolean(schema.default), dataset: { param: name, kind: "checkbox" } });
  } else if (spec.type === "boolean") {
    input = el(
      "select",
      { id, dataset: { param: name, kind: "boolean" } },
      el("option", { value: "" }, `default${known ? ` (${shown ? "yes" : "no"})` : ""}`),
      el("option", { value: "true" }, "yes"),
      el("option", { value: "false" }, "no"),
    );
  } else if (spec.type === "number" || spec.type === "integer") {
    input = el("input", {
      id,
      type: "number",
      step: spec.type === "integer" ? "1" : "any",
      min: spec.minimum ?? spec.exclusiveMinimum,
      max: spec.maximum ?? spec.exclusiveMaximum,
      placeholder: known ? String(shown) : "default",
      dataset: { param: name, kind: "number" },
    });
  } else {
    // JSON Schema patterns match anywhere in the value; an HTML pattern must match all of it
    const pattern = spec.pattern ? `.*(?:${spec.pattern}).*` : undefined;
    input = el("input", { id, type: "text", placeholder: "automatic", pattern, dataset: { param: name, kind: "text" } });
  }
  return el("div", { class: "field" }, el("label", { for: id }, label), input, help ? el("small", {}, help) : null);
}
