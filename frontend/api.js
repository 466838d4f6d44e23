// Talking to the gateway: JSON calls, uploads with progress, the API key, authorised downloads.

const KEY_STORE = "cellkiosk.apiKey";
const UNREACHABLE = "server unreachable: check that cellkiosk is running and that you are online";

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status; // 0 when the server could not be reached
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORE);
}

let pendingKey = null; // one dialog for every call that got a 401 at the same time

/** Ask for an API key once; every waiting call resumes with it. */
function askForKey() {
  if (pendingKey) return pendingKey;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("api-key");
  const message = document.getElementById("key-message");
  message.textContent = apiKey() ? "That key was not accepted; check it and try again." : "This server requires an API key.";
  input.value = "";
  pendingKey = new Promise((resolve, reject) => {
    dialog.addEventListener(
      "close",
      () => {
        pendingKey = null;
        if (dialog.returnValue === "ok" && input.value.trim()) {
          sessionStorage.setItem(KEY_STORE, input.value.trim());
          resolve();
        } else {
          reject(new ApiError("this server requires an API key; reload the page to enter one", 401));
        }
      },
      { once: true },
    );
  });
  dialog.showModal();
  input.focus();
  return pendingKey;
}

async function detailOf(resp) {
  try {
    const body = await resp.json();
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  } catch {
    /* not JSON: fall through */
  }
  return `the server answered ${resp.status} ${resp.statusText}`;
}

function authHeaders(headers = {}) {
  const key = apiKey();
  return key ? { ...headers, "X-API-Key": key } : { ...headers };
}

/** fetch() with the API key; asks for a key on 401; ApiError with the server's `detail` otherwise. */
export async function request(path, { method = "GET", json, body, headers } = {}) {
  for (;;) {
    const h = authHeaders(headers);
    if (json !== undefined) {
      h["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    }
    let resp;
    try {
      resp = await fetch(path, { method, body, headers: h });
    } catch {
      throw new ApiError(UNREACHABLE, 0);
    }
    if (resp.status === 401) {
      await askForKey();
      continue;
    }
    if (!resp.ok) throw new ApiError(await detailOf(resp), resp.status);
    return resp;
  }
}

export async function getJSON(path, options) {
  return (await request(path, options)).json();
}

/** Upload one file (multipart) with progress callbacks; resolves to {key, name, size}. */
export function uploadFile(file, onProgress) {
  const attempt = () =>
    new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/uploads");
      for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
      xhr.onerror = () => reject(new ApiError(UNREACHABLE, 0));
      xhr.onload = () => {
        let detail = `the server answered ${xhr.status}`;
        try {
          const parsed = JSON.parse(xhr.responseText);
          if (xhr.status === 201) return resolve(parsed);
          if (typeof parsed.detail === "string") detail = parsed.detail;
        } catch {
          /* keep the generic message */
        }
        reject(new ApiError(detail, xhr.status));
      };
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  return attempt().catch(async (err) => {
    if (err.status !== 401) throw err;
    await askForKey();
    return uploadFile(file, onProgress);
  });
}

/** Links marked data-download work with an API key too: fetched with the header, saved as a blob. */
export function enableAuthorisedDownloads(onError) {
  document.addEventListener("click", async (event) => {
    const link = event.target.closest("a[data-download]");
    if (!link || !apiKey()) return; // without a key the plain link is best (streams, follows redirects)
    event.preventDefault();
    try {
      const blob = await (await request(link.getAttribute("href"))).blob();
      const url = URL.createObjectURL(blob);
      const a = Object.assign(document.createElement("a"), { href: url, download: link.dataset.download });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      onError(`download failed: ${err.message}`);
    }
  });
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let i = -1;
  do {
    n /= 1024;
    i += 1;
  } while (n >= 1024 && i < units.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}
