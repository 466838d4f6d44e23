// Words for the object size a job segmented at (job.json's `size`, served in the view info).

const BASIS = {
  estimated: "estimated from the image",
  "params.diameter": "as you set it",
  "pixel size": "from the image's pixel size",
  "params.scale": "fixed by params.scale",
};

/** "Nuclei about 98 px across (estimated from the image); resized ×0.17 for the model, trained at 17 px." */
export function describeSize(size) {
  const basis = BASIS[size.basis] || size.basis;
  const scale = Number(size.scale);
  const resized = scale === 1 ? "not resized" : `resized ×${scale.toPrecision(2)}`;
  const trained = size.model_diameter_px ? `, trained at ${size.model_diameter_px} px` : "";
  if (size.diameter_px == null) return `Object size: ${basis}; ${resized} for the model${trained}.`;
  return `Nuclei about ${size.diameter_px} px across (${basis}); ${resized} for the model${trained}.`;
}
