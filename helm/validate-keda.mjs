// KEDA objects against the schemas generated from KEDA's API types (npm @kubernetes-models/keda).
// Usage: node helm/validate-keda.mjs NPM_PREFIX FILE.json...  (exit 1 naming each invalid object)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [prefix, ...files] = process.argv.slice(2);
const pkg = path.resolve(prefix, "node_modules/@kubernetes-models/keda");
const kinds = {
  ScaledObject: "keda.sh/v1alpha1/ScaledObject.js",
  TriggerAuthentication: "keda.sh/v1alpha1/TriggerAuthentication.js",
};
let bad = 0;
for (const file of files) {
  const doc = JSON.parse(readFileSync(file, "utf8"));
  const module = kinds[doc.kind];
  if (!module) { console.error(`${file}: no KEDA schema for kind ${doc.kind}`); bad++; continue; }
  const { [doc.kind]: Model } = await import(pathToFileURL(path.join(pkg, module)).href);
  try {
    new Model(doc).validate();
  } catch (error) {
    console.error(`${file}: ${doc.kind} ${doc.metadata.name}: ${error.message}`);
    bad++;
  }
}
console.log(`helm-check: ${files.length - bad} of ${files.length} KEDA objects valid against @kubernetes-models/keda`);
process.exit(bad ? 1 : 0);
