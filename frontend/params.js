// The advanced parameters of a job type, as form fields generated from its JSON schema.

import { el } from "./api.js";

/** A schema with its `$ref` (and those of its `anyOf` options) replaced by the definition it names. */
export function resolveSchema(schema, defs = {}) {
  const ref = schema?.$ref?.match(/^#\/\$defs\/(.+)$/);
  const resolved = ref && defs[ref[1]] ? { ...defs[ref[1]], ...schema, $ref: undefined } : { ...schema };
  if (resolved.anyOf) resolved.anyOf = resolved.anyOf.map((s) => resolveSchema(s, defs));
  return resolved;
}

/**
 * Values typed into the fields under `root`; empty fields are left out (the server's defaults apply).
 * JSON fields that do not parse to an object get their error next to them and are listed in `invalid`.
 */
export function readParams(root) {
  const params = {};
  const invalid = [];
  for (const input of root.querySelectorAll("[data-param]")) {
    const { param, kind } = input.dataset;
    setFieldError(input, ""); // judged afresh: earlier problems (the server's too) are gone or found again
    if (kind === "checkbox") {
      if (input.checked) params[param] = true;
    } else if (kind === "json") {
      if (!input.value.trim()) continue;
      const parsed = parseObject(input.value);
      if (parsed.error) {
        setFieldError(input, `params.${param}: ${parsed.error}`);
        invalid.push(input);
      } else {
        params[param] = parsed.value;
      }
    } else if (input.value !== "") {
      params[param] = kind === "number" ? Number(input.value) : kind === "boolean" ? input.value === "true" : input.value;
    }
  }
  return { params, invalid };
}

function parseObject(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `not valid JSON (${err.message})` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { error: 'must be a JSON object of keys and values, e.g. {"key": 1}' };
  }
  return { value };
}

/** Show (or with "" clear) a problem next to a parameter's field. */
export function setFieldError(input, message) {
  const slot = document.getElementById(`${input.id}-error`);
  if (slot) slot.textContent = message;
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/**
 * Put the problems of a server's "bad params: params.x.y: why; params.z: why" next to the fields they name.
 * Returns how many problems found a field (channels, mapped per file, have none here).
 */
export function showParamProblems(root, message) {
  let shown = 0;
  const problems = message.replace(/^bad params:\s*/, "").split(/;\s*(?=params\.)/);
  for (const problem of problems) {
    const name = problem.match(/^params\.([A-Za-z0-9_]+)/)?.[1];
    const input = name && root.querySelector(`[data-param="${name}"]`);
    if (!input) continue;
    setFieldError(input, problem);
    shown += 1;
  }
  return shown;
}

/** A labelled input for one parameter of the job type's JSON schema (`defs`: the schema's `$defs`). */
export function paramField(name, schema, fallback, defs = {}) {
  schema = resolveSchema(schema, defs);
  const options = schema.anyOf ? schema.anyOf.filter((s) => s.type !== "null") : [schema];
  // "auto" or a number (params.diameter): a number field whose empty value means the word
  const numeric = options.find((s) => s.type === "number" || s.type === "integer");
  const word = options.find((s) => typeof s.const === "string");
  const spec = { ...schema, ...((numeric && word ? numeric : options[0]) || {}) };
  const nullable = Boolean(schema.anyOf?.some((s) => s.type === "null"));
  const id = `param-${name}`;
  const label = name.replaceAll("_", " ");
  if (spec.type === "object" || spec.properties) return objectField(id, name, label, spec, fallback);
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
  return fieldNode(id, label, input, help ? el("small", { id: `${id}-help` }, help) : null);
}

/** A JSON textarea for an object parameter, its keys and defaults as placeholder and in a list. */
function objectField(id, name, label, spec, fallback) {
  const props = Object.entries(spec.properties || {});
  const defaults = Object.fromEntries(props.map(([key, s]) => [key, fallback?.[key] ?? s.default ?? null]));
  const input = el("textarea", {
    id,
    rows: 4,
    spellcheck: "false",
    autocomplete: "off",
    placeholder: JSON.stringify(defaults, null, 1).replace(/\n\s*/g, " "), // one line, spaced: it wraps
    dataset: { param: name, kind: "json" },
  });
  const help = el(
    "small",
    { id: `${id}-help` },
    [spec.description, "a JSON object with the keys to change (the others keep the defaults shown)"].filter(Boolean).join(": "),
  );
  const keys = props.length
    ? el(
        "details",
        { class: "param-keys" },
        el("summary", {}, `Keys and defaults (${props.length})`),
        el(
          "dl",
          {},
          props.map(([key, s]) => [
            el("dt", {}, el("code", {}, key)),
            el("dd", {}, [s.description, `default ${JSON.stringify(defaults[key])}`].filter(Boolean).join("; ")),
          ]),
        ),
      )
    : null;
  return fieldNode(id, label, input, help, keys, "field wide");
}

function fieldNode(id, label, input, help, extra = null, cls = "field") {
  input.setAttribute("aria-describedby", [help ? `${id}-help` : null, `${id}-error`].filter(Boolean).join(" "));
  input.addEventListener("input", () => setFieldError(input, "")); // a changed value is judged again on submit
  return el(
    "div",
    { class: cls },
    el("label", { for: id }, label),
    input,
    el("p", { id: `${id}-error`, class: "error field-error", role: "alert" }),
    help,
    extra,
  );
}
