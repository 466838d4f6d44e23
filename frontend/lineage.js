// The lineage of a selected track: its frames, ancestors, division and daughters, and its family
// tree from the first ancestor, each track a button that jumps to it.

import { el } from "./api.js";

const MAX_TREE_NODES = 80; // a family larger than this is cut, with a note

function span(track) {
  return track.first_frame === track.last_frame ? `frame ${track.first_frame}` : `frames ${track.first_frame}–${track.last_frame}`;
}

export class LineagePanel {
  /** @param onJump called with a track id when a track button is pressed */
  constructor(root, onJump) {
    Object.assign(this, { root, onJump, tracks: new Map(), frames: 0 });
  }

  /** Set the lineage of the movie ({frames, tracks}) or null for an image without one. */
  setLineage(lineage) {
    this.tracks = new Map((lineage?.tracks || []).map((t) => [t.track_id, t]));
    this.frames = lineage?.frames || 0;
    this.show(null);
  }

  trackButton(id, text = `Track ${id}`) {
    return el("button", { type: "button", class: "link track", dataset: { track: String(id) }, onclick: () => this.onJump(id) }, text);
  }

  ancestors(track) {
    const chain = [];
    for (let t = this.tracks.get(track.parent); t && chain.length < this.tracks.size; t = this.tracks.get(t.parent)) chain.push(t);
    return chain;
  }

  show(id) {
    const track = id ? this.tracks.get(id) : null;
    this.root.hidden = !this.tracks.size;
    this.root.dataset.track = track ? String(id) : "";
    if (!track) {
      const text = id ? `Track ${id} is not in the lineage.` : "Click a cell (or a row) to see the lineage of its track.";
      return this.root.replaceChildren(el("h3", { id: "lineage-title" }, "Lineage"), el("p", { class: "muted" }, text));
    }
    const chain = this.ancestors(track);
    const missing = track.missing_frames.length ? ` (not detected in ${track.missing_frames.join(", ")})` : "";
    const end = track.daughters.length
      ? [`divides at frame ${track.division_frame} into `, ...track.daughters.flatMap((d, i) => [i ? " and " : "", this.trackButton(d)])]
      : [track.last_frame >= this.frames - 1 ? "present until the last frame" : `ends at frame ${track.last_frame} (lost or left the field)`];
    const facts = [
      ["Frames", `${track.first_frame}–${track.last_frame}${missing}`],
      ["Parent", track.parent ? this.trackButton(track.parent) : track.first_frame === 0 ? "none (present from the first frame)" : "none (appears without a division)"],
      ["Ancestors", chain.length ? chain.flatMap((t, i) => [i ? " ← " : "", this.trackButton(t.track_id)]) : "none"],
      ["Fate", end],
    ];
    this.root.replaceChildren(
      el("h3", { id: "lineage-title" }, `Lineage of track ${id}`),
      el("dl", { class: "lineage-facts" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", { dataset: { fact: k.toLowerCase() } }, v)])),
      el("p", { class: "tree-title" }, "Family tree"),
      this.tree(chain.length ? chain[chain.length - 1] : track, id),
    );
  }

  /** Nested lists from the root of the family down, the selected track marked. */
  tree(root, selected) {
    let budget = MAX_TREE_NODES;
    const node = (track) => {
      budget--;
      const label = `Track ${track.track_id} · ${span(track)}`;
      const button = this.trackButton(track.track_id, label);
      if (track.track_id === selected) button.setAttribute("aria-current", "true");
      const kids = track.daughters.map((d) => this.tracks.get(d)).filter(Boolean);
      if (!kids.length) return el("li", {}, button);
      if (budget <= 0) return el("li", {}, button, el("span", { class: "muted" }, " … (family too large to show)"));
      return el("li", {}, button, el("ul", {}, kids.map(node)));
    };
    return el("ul", { class: "lineage-tree", "aria-label": "Family tree" }, node(root));
  }
}
