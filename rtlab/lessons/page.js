// What every rtlab widget's JavaScript shares in the learner's page (prepended to each widget's
// module by rtlab/lessons/page.py): the page's base URL, the page-wide connection budget, and an
// SSE client built on fetch.

// The page's base URL: "/" locally, "/user/alice/" on a JupyterHub.
function pageBaseUrl() {
  if (document.body.dataset.baseUrl) return document.body.dataset.baseUrl;
  const config = document.getElementById("jupyter-config-data");
  try {
    return JSON.parse(config.textContent).baseUrl || "/";
  } catch {
    return "/";
  }
}

// What rtlab.browser.proxy_url() computes in Python: base + "proxy/<port><path>".
function proxyUrl(model, path) {
  const base = pageBaseUrl().replace(/\/?$/, "/");
  return `${base}proxy/${model.get("port")}${path}`;
}

// -- The page-wide budget: rtlab's clients hold at most two of the browser's six --------------
// Over HTTP/1.1 Chromium opens at most 6 connections per origin, and the Jupyter proxy puts
// rtlab's servers on JupyterLab's own origin. A request beyond the six waits, silently — and
// then JupyterLab's saves and file listings wait behind it. So every HTTP request rtlab's
// widgets make (fetch or EventSource; WebSockets have a pool of their own) first takes one of
// TWO slots, page-wide, whichever notebook it comes from:
//   * a short request (a poll, a clock reading) gives its slot back as soon as it is answered;
//   * a held one (an EventSource, a long poll, a streamed answer) keeps it; when something has
//     waited SHARE_AFTER_MS and both slots are held, the oldest held one that has had its slot
//     for at least SHARE_AFTER_MS is asked to yield (it closes, queues again, and resumes from
//     its cursor), so two endless streams can never starve a third client.
// The budget lives on globalThis, because each widget's module is evaluated on its own.
// It is per page: two JupyterLab tabs of the same server each have their own two.
const BUDGET_LIMIT = 2;
const SHARE_AFTER_MS = 2000;
// A request the page stops reading before its body ends — a closed EventSource, an aborted
// fetch, and also a 204 or an error status whose body is never read — is over for the page at
// once, but Chromium's network stack cancels it a moment later: measured through CDP, a request
// sent right after overlapped it (tests/browser/test_browser_budget.py). So such a request's
// slot is freed this much later; one whose body was read to its end is freed at once.
const CANCEL_GRACE_MS = 250;

function pageBudget() {
  if (!globalThis.rtlabBudget) {
    const budget = {
      limit: BUDGET_LIMIT,
      active: new Set(), // slots in use: {label, held, since, yieldSlot, release}
      waiting: [], // {slot, since, resolve}, first come first served
      peak: 0, // the most slots ever in use at once (read by tests/browser/)
      use(slot) {
        slot.since = performance.now();
        this.active.add(slot);
        this.peak = Math.max(this.peak, this.active.size);
      },
      grant() {
        // The slot is counted as in use HERE, before its waiter runs: never two per free slot.
        while (this.active.size < this.limit && this.waiting.length) {
          const entry = this.waiting.shift();
          this.use(entry.slot);
          entry.resolve(entry.slot);
        }
      },
      share() {
        // Someone has waited SHARE_AFTER_MS and both slots are held: the oldest held one yields.
        if (!this.waiting.length || this.active.size < this.limit) return;
        const now = performance.now();
        if (now - this.waiting[0].since < SHARE_AFTER_MS) return;
        const held = [...this.active].filter((s) => s.held && s.yieldSlot && now - s.since >= SHARE_AFTER_MS);
        if (held.length && held.length === this.active.size) {
          const oldest = held.sort((a, b) => a.since - b.since)[0];
          oldest.yieldSlot = null; // asked once; it releases its slot when it has closed
          oldest.yielder();
        }
      },
    };
    budget.timer = setInterval(() => budget.share(), 250);
    globalThis.rtlabBudget = budget;
  }
  return globalThis.rtlabBudget;
}

// Take a slot (waiting for one if both are in use); call slot.release() exactly when the
// request is over. held: it will keep the slot; yieldSlot(): how it gives it back when asked.
function takeSlot(label, { held = false, yieldSlot = null, signal = null } = {}) {
  const budget = pageBudget();
  const slot = { label, held, yieldSlot, yielder: yieldSlot, released: false };
  // release() when the request has ended; release({ cancelled: true }) when the page cut it.
  slot.release = ({ cancelled = false } = {}) => {
    if (slot.released) return;
    slot.released = true;
    const free = () => {
      budget.active.delete(slot);
      budget.grant();
    };
    if (cancelled) setTimeout(free, CANCEL_GRACE_MS);
    else free();
  };
  if (signal?.aborted) return Promise.reject(new DOMException("aborted", "AbortError"));
  if (budget.active.size < budget.limit && !budget.waiting.length) {
    budget.use(slot);
    return Promise.resolve(slot);
  }
  return new Promise((resolve, reject) => {
    const entry = { slot, since: performance.now(), resolve };
    budget.waiting.push(entry);
    signal?.addEventListener("abort", () => {
      const i = budget.waiting.indexOf(entry);
      if (i >= 0) budget.waiting.splice(i, 1);
      else slot.release(); // granted just now, nothing sent yet: give it back
      reject(new DOMException("aborted while waiting for a connection", "AbortError"));
    });
  });
}

// A short request: fetch() inside a slot.
async function budgetFetch(label, url, options = {}) {
  const slot = await takeSlot(label, { signal: options.signal });
  let read = false;
  try {
    const response = await fetch(url, options);
    const body = await response.arrayBuffer(); // read it all: the connection is free only then
    read = response.body !== null; // a 204/304 has none to read: Chromium may still be ending it
    return new Response(body.byteLength || ![204, 304].includes(response.status) ? body : null, response);
  } finally {
    slot.release({ cancelled: !read });
  }
}

// -- SSE over fetch: what EventSource cannot do ------------------------------------------------
// EventSource only GETs, and sends no header of the page's choosing (whatwg/html#2177): no
// Authorization, no POST body, no Last-Event-ID on the first connect. fetch can, and its
// response body is a ReadableStream we parse as the SSE spec says (§9.2.6). Accept must be
// EXACTLY "text/event-stream": jupyter-server-proxy streams only that; with anything else it
// buffers the whole response until it ends, and every token would arrive at once.
function sseParser(onEvent) {
  let buffer = "";
  let data = [];
  let type = "";
  let idBuffer = "";
  let lastEventId = "";
  let retry = null;
  const line = (text) => {
    if (text === "") {
      lastEventId = idBuffer; // committed on dispatch, as the spec says
      if (data.length) onEvent({ event: type || "message", data: data.join("\n"), id: lastEventId });
      data = [];
      type = "";
      return;
    }
    if (text.startsWith(":")) return; // a comment (keep-alive)
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") type = value;
    else if (field === "id" && !value.includes("\0")) idBuffer = value;
    else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
  };
  return {
    feed(text) {
      buffer += text;
      // Lines end in CRLF, LF or CR; a CR at the very end may be half of a CRLF: keep it.
      const parts = buffer.split(/\r\n|\n|\r(?!$)/);
      buffer = parts.pop();
      parts.forEach(line);
    },
    get lastEventId() { return lastEventId; },
    get retry() { return retry; },
  };
}

// One SSE response read with fetch. headers: any (Accept is always exactly text/event-stream).
// Calls onEvent({event, data, id}) per event and onRead() after each piece the body arrived in;
// resolves with {status, lastEventId, retry} at the end.
async function fetchEventStream(url, { method = "GET", headers = {}, body, signal, onEvent, onRead }) {
  const response = await fetch(url, {
    method, body, signal, cache: "no-store",
    headers: { ...headers, Accept: "text/event-stream" },
  });
  if (response.status === 204) return { status: 204, lastEventId: "", retry: null };
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).trim()}`);
  const type = response.headers.get("Content-Type") || "";
  if (!type.startsWith("text/event-stream")) throw new Error(`not an event stream: ${type}`);
  const parser = sseParser(onEvent);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(value);
      onRead?.();
    }
  } finally {
    reader.releaseLock();
  }
  return { status: response.status, lastEventId: parser.lastEventId, retry: parser.retry };
}
