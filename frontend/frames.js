// Frames (pages) of one labelled image, fetched and decoded once, kept within a memory budget and
// fetched ahead of the one shown so that a movie plays without waiting for the server.

import { request } from "./api.js";
import { canvasOf, decodeLabels } from "./overlay.js";

const MEMORY_BUDGET_BYTES = 256 * 1024 * 1024;
const BYTES_PER_PIXEL = 16; // label ids + input image + one overlay, 4 bytes each, and some slack
const PARALLEL_FETCHES = 2; // the gateway reads the whole archive for each frame

async function bitmapOf(path) {
  const blob = await (await request(path)).blob();
  return createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
}

export class FrameCache {
  /** @param base e.g. /api/jobs/ID/view/STEM; pages, height and width of the (strided) image */
  constructor(base, pages, width, height) {
    Object.assign(this, { base, pages });
    this.capacity = Math.max(4, Math.min(pages, Math.floor(MEMORY_BUDGET_BYTES / Math.max(1, width * height * BYTES_PER_PIXEL))));
    this.frames = new Map(); // page -> Promise of a frame, least recently used first
    this.waiting = []; // pages to prefetch, in order
    this.running = 0;
  }

  /** A frame: {page, ids, w, h, base (canvas with the input image), note (why there is no image), overlays}. */
  get(page) {
    let frame = this.frames.get(page);
    if (frame) this.frames.delete(page); // re-inserted below: most recently used
    else frame = this.load(page);
    this.frames.set(page, frame);
    frame.catch(() => this.frames.get(page) === frame && this.frames.delete(page)); // retry on the next get
    this.evict(page);
    return frame;
  }

  async load(page) {
    const [labels, image] = await Promise.all([
      bitmapOf(`${this.base}/labels.png?page=${page}`),
      bitmapOf(`${this.base}/image.png?page=${page}`).catch((err) => err),
    ]);
    const { width: w, height: h } = labels;
    const base = canvasOf(w, h);
    const note = image instanceof Error ? `${image.message} (showing the labels only)` : "";
    if (!note) base.getContext("2d").drawImage(image, 0, 0);
    return { page, ids: decodeLabels(labels), w, h, base, note, overlays: {} };
  }

  evict(keep) {
    for (const page of this.frames.keys()) {
      if (this.frames.size <= this.capacity) break;
      if (page !== keep) this.frames.delete(page);
    }
  }

  /** Fetch the frames after `page` (as many as the budget allows, wrapping around) in the background. */
  prefetch(page, ahead = this.capacity - 1) {
    const count = Math.min(ahead, this.pages - 1);
    this.waiting = Array.from({ length: count }, (_, i) => (page + 1 + i) % this.pages).filter((p) => !this.frames.has(p));
    while (this.running < PARALLEL_FETCHES && this.waiting.length) this.next();
  }

  next() {
    const page = this.waiting.shift();
    if (page === undefined) return;
    this.running++;
    const frame = this.load(page);
    this.frames.set(page, frame);
    this.evict(page);
    frame
      .catch(() => this.frames.get(page) === frame && this.frames.delete(page))
      .finally(() => {
        this.running--;
        this.next();
      });
  }
}
