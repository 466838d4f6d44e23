// The viewer's track mode (a tracking job, or any image with a lineage): frame slider with Play,
// track ids on the cells, and the lineage of the selected track.

import { getJSON } from "./api.js";
import { LineagePanel } from "./lineage.js";
import { Player } from "./player.js";

const IDS_BY_DEFAULT_UP_TO = 300; // cells in the busiest frame; more ids than this clutter the image

export class TrackMode {
  constructor(viewer) {
    const $ = viewer.$;
    Object.assign(this, { viewer, $, active: false });
    this.panel = new LineagePanel($("lineage"), (id) => this.jump(id));
    this.player = new Player($("play"), {
      show: (page) => viewer.showFrame(page),
      current: () => viewer.page,
      count: () => (this.active ? viewer.info.pages : 0),
      onChange: (playing) => $("cell-details").setAttribute("aria-live", playing ? "off" : "polite"),
    });
    $("show-ids").addEventListener("change", () => viewer.draw());
  }

  /** Switch the mode on or off for a newly loaded image; fetches its lineage. */
  async load(jobId, info, cellsByFrame) {
    this.player.pause();
    this.active = info.kind === "tracks" || Boolean(info.lineage_file);
    let lineage = null;
    let problem = "";
    if (this.active && info.lineage_file) {
      lineage = await getJSON(`/api/jobs/${jobId}/view/${encodeURIComponent(info.stem)}/lineage`).catch((err) => {
        problem = `no lineage: ${err.message}`;
        return null;
      });
    }
    this.panel.setLineage(lineage);
    if (problem) this.panel.root.append(Object.assign(document.createElement("p"), { className: "error", textContent: problem }));
    const busiest = Math.max(0, ...[...cellsByFrame.values()].map((rows) => rows.length));
    this.$("show-ids").checked = busiest <= IDS_BY_DEFAULT_UP_TO;
    this.$("page-label").textContent = this.active ? "Frame" : "Page";
    this.$("play").hidden = !this.active;
    this.$("ids-control").hidden = !this.active;
    this.$("track-help").hidden = !this.active;
  }

  /** The text beside the slider: frames are numbered from 0, as in cells.csv and lineage.json. */
  position(page, pages) {
    return this.active ? `${page} (0–${pages - 1})` : `${page + 1} of ${pages}`;
  }

  get showIds() {
    return this.active && this.$("show-ids").checked;
  }

  select(label) {
    if (this.active) this.panel.show(label);
  }

  /** Show a track at its first frame, selected and centred; keeps the focus in the lineage panel. */
  async jump(id) {
    const track = this.panel.tracks.get(id);
    if (!track) return;
    this.player.pause();
    await this.viewer.showFrame(track.first_frame);
    this.viewer.select(id, true);
    this.panel.root.querySelector(`button[aria-current="true"]`)?.focus();
  }

  /** Keyboard on the canvas: Space or K plays/pauses. */
  key(key) {
    if (!this.active || (key !== " " && key !== "k")) return false;
    this.player.toggle();
    return true;
  }
}
