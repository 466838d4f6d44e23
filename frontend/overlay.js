// Pixel work of the viewer: decoding label PNGs, drawing outlines or fills, highlighting one cell.

import { labelColour } from "./colours.js";

export function canvasOf(width, height) {
  return Object.assign(document.createElement("canvas"), { width, height });
}

/** Label ids from the server's RGB PNG (id = R + 256·G + 65536·B), one per pixel. */
export function decodeLabels(bitmap) {
  const { width: w, height: h } = bitmap;
  const scratch = canvasOf(w, h).getContext("2d", { willReadFrequently: true });
  scratch.drawImage(bitmap, 0, 0);
  const rgba = scratch.getImageData(0, 0, w, h).data;
  const ids = new Uint32Array(w * h);
  for (let i = 0, o = 0; i < ids.length; i++, o += 4) ids[i] = rgba[o] | (rgba[o + 1] << 8) | (rgba[o + 2] << 16);
  return ids;
}

/** Inner boundary (4-neighbourhood), as skimage's find_boundaries(mode="inner") draws the archive's overlay. */
function isEdge(ids, w, h, x, y, i, id) {
  return (x > 0 && ids[i - 1] !== id) || (x < w - 1 && ids[i + 1] !== id) || (y > 0 && ids[i - w] !== id) || (y < h - 1 && ids[i + w] !== id);
}

/** A canvas with every cell's outline ("outline") or whole area ("fill") in its colour, opaque. */
export function overlayCanvas(ids, w, h, mode) {
  const image = new ImageData(w, h);
  const d = image.data;
  const outline = mode === "outline";
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i++) {
      const id = ids[i];
      if (!id || (outline && !isEdge(ids, w, h, x, y, i, id))) continue;
      const [r, g, b] = labelColour(id);
      const o = i * 4;
      (d[o] = r), (d[o + 1] = g), (d[o + 2] = b), (d[o + 3] = 255);
    }
  }
  const canvas = canvasOf(w, h);
  canvas.getContext("2d").putImageData(image, 0, 0);
  return canvas;
}

/** {canvas, x, y}: one cell with a yellow outline and a translucent yellow inside; `box` is [y0, x0, y1, x1] or null. */
export function highlightCanvas(ids, w, h, label, box) {
  const [by0, bx0, by1, bx1] = box || [0, 0, h, w];
  const [y0, x0] = [Math.max(0, Math.floor(by0) - 1), Math.max(0, Math.floor(bx0) - 1)];
  const [y1, x1] = [Math.min(h, Math.ceil(by1) + 1), Math.min(w, Math.ceil(bx1) + 1)];
  const image = new ImageData(Math.max(1, x1 - x0), Math.max(1, y1 - y0));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = y * w + x;
      if (ids[i] !== label) continue;
      const o = ((y - y0) * image.width + (x - x0)) * 4;
      image.data.set(isEdge(ids, w, h, x, y, i, label) ? [255, 230, 0, 255] : [255, 230, 0, 110], o);
    }
  }
  const canvas = canvasOf(image.width, image.height);
  canvas.getContext("2d").putImageData(image, 0, 0);
  return { canvas, x: x0, y: y0 };
}

/** Ids (e.g. track ids) at cell centroids, drawn in screen pixels so they keep their size at any zoom. */
export function drawIds(ctx, cells, view, dpr) {
  const { width, height } = ctx.canvas;
  ctx.save();
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  Object.assign(ctx, { font: "600 11px system-ui, sans-serif", textAlign: "center", textBaseline: "middle" });
  for (const { id, x, y } of cells) {
    const sx = Math.round(view.x + (x + 0.5) * view.scale);
    const sy = Math.round(view.y + (y + 0.5) * view.scale);
    if (sx < -20 || sy < -20 || sx * dpr > width + 20 || sy * dpr > height + 20) continue;
    const text = String(id);
    const w = ctx.measureText(text).width + 6;
    ctx.fillStyle = "rgba(10, 14, 20, 0.72)"; // a dark tag keeps the id readable on bright cells
    ctx.fillRect(sx - w / 2, sy - 7, w, 14);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, sx, sy + 0.5);
  }
  ctx.restore();
}
