// The portal: wires the upload form, the job list and the viewer together.

import { enableAuthorisedDownloads } from "./api.js";
import { JobList } from "./jobs.js";
import { Submitter } from "./upload.js";
import { Viewer } from "./viewer.js";

const banner = document.getElementById("banner");

function showProblem(text) {
  banner.textContent = text;
  banner.hidden = !text;
}

async function loadChoices(submitter) {
  try {
    await submitter.load();
    showProblem("");
  } catch (err) {
    showProblem(`Could not load the analyses: ${err.message}. Retrying…`);
    setTimeout(() => loadChoices(submitter), 5000);
  }
}

const viewer = new Viewer(document.getElementById("viewer"), (job) => jobs.add(job));
const jobs = new JobList(document.getElementById("jobs"), (id, title, children) => viewer.open(id, title, children));
const submitter = new Submitter(document.getElementById("submit"), (job) => jobs.add(job));
enableAuthorisedDownloads(showProblem);
jobs.start();
loadChoices(submitter);
