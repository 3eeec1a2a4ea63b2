// The browser's six: this code runs in the learner's page (rtlab/lessons/widgets/six.py).
//
// Over HTTP/1.1, Chromium opens at most 6 connections per origin, and the Jupyter proxy puts
// the kernel's server on JupyterLab's own origin. We open EventSources to it one by one until
// one neither opens nor fails; then, with the pool full, we try one of JupyterLab's own REST
// calls (GET /api/status, as the page sends it) and one WebSocket (JupyterLab's event bus,
// /api/events/subscribe: WebSockets have a pool of their own); then we close everything and
// check that the REST call works again. What happened goes back to the kernel in `result`.
//
// BOUNDED, whatever happens: a timer set here, in the page, closes every stream after
// HARD_STOP_MS even if the kernel is gone (restarted, busy) or a step hangs; removing the
// widget (a re-run cell, a closed notebook) closes them at once. JupyterLab stalls only
// while the demo runs, a few seconds, and never after it.
// pageBaseUrl, proxyUrl, pageBudget: page.js, prepended to this module.

const STEP_MS = 2000; // how long a stream, a REST call or a WebSocket gets before we call it stalled
const HARD_STOP_MS = 15000; // the demo's whole life: after this every stream is closed
const MAX_STREAMS = 10; // never more, even in a browser with a larger pool

function jupyterToken() {
  try {
    return JSON.parse(document.getElementById("jupyter-config-data").textContent).token || "";
  } catch {
    return "";
  }
}

// Resolves with how long `start(done, fail)` took to call done, or "stalled" / "failed" /
// "closed" / "aborted". Never waits more than STEP_MS.
function within(start) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("stalled"), STEP_MS);
    start(
      () => { clearTimeout(timer); resolve(performance.now() - t0); },
      (why) => { clearTimeout(timer); resolve(why); },
    );
  });
}

// JupyterLab's own REST call, as the page makes it: same origin, its cookie, and the token
// header when the page has one (a token-less server relies on the cookie and _xsrf).
function restCall(signal) {
  const token = jupyterToken();
  return fetch(`${pageBaseUrl().replace(/\/?$/, "/")}api/status`, {
    cache: "no-store", signal, headers: token ? { Authorization: `token ${token}` } : {},
  });
}

export default {
  initialize({ model }) {
    const sources = [];
    const aborts = [];
    let socket = null;
    let finished = false;
    const closeAll = () => {
      // The stalled one first: closing an open one would hand it the freed connection.
      sources.slice().reverse().forEach((s) => s.close());
      aborts.forEach((a) => a.abort());
      socket?.close();
    };
    // What the page saw, kept here and sent whole, as a fresh copy each time: a nested array
    // changed in place and set again would compare equal to itself and not be sent.
    const seen = {};
    const report = (fields) => {
      Object.assign(seen, fields);
      model.set("result", JSON.parse(JSON.stringify(seen)));
      model.save_changes();
    };
    const hardStop = setTimeout(() => {
      if (!finished) report({ phase: "stopped by its timer", error: `still running after ${HARD_STOP_MS} ms` });
      finished = true;
      closeAll();
    }, HARD_STOP_MS);

    const run = async () => {
      const budget = pageBudget();
      report({ phase: "opening streams", others: budget.active.size, started: true });
      const url = (i) => proxyUrl(model, `${model.get("path")}?client=six-${i}`);
      const opened = [];
      let stalled = null; // the stream that did not open: {index, error_fired}
      for (let i = 1; i <= MAX_STREAMS && !finished; i++) {
        const source = new EventSource(url(i));
        sources.push(source);
        let errorFired = false;
        const took = await within((done, fail) => {
          source.onopen = done;
          source.onerror = () => { errorFired = true; fail("error"); };
        });
        if (typeof took !== "number") {
          stalled = { index: i, outcome: took };
          source.onerror = () => { errorFired = true; }; // does it ever fire while we watch?
          stalled.error = () => errorFired;
          break;
        }
        opened.push(Math.round(took));
        report({ opened_ms: opened });
      }
      if (finished) return;
      report({ phase: "the pool is full: trying JupyterLab's REST API and a WebSocket",
               stalled_index: stalled ? stalled.index : null, stalled_outcome: stalled ? stalled.outcome : "none" });

      // JupyterLab's own REST call, while the pool is full.
      const abort = new AbortController();
      aborts.push(abort);
      const rest = await within((done, fail) => {
        restCall(abort.signal).then((r) => (r.ok ? done() : fail(`HTTP ${r.status}`)),
          (e) => fail(e.name === "AbortError" ? "aborted" : String(e)));
      });
      abort.abort();
      // A WebSocket to JupyterLab's event bus, while the pool is full.
      const wsUrl = new URL(`${pageBaseUrl().replace(/\/?$/, "/")}api/events/subscribe`, location.href);
      wsUrl.protocol = wsUrl.protocol.replace("http", "ws");
      const ws = await within((done, fail) => {
        socket = new WebSocket(wsUrl.href);
        socket.onopen = done;
        socket.onerror = () => fail("failed");
      });
      socket?.close();
      const seventhError = stalled ? stalled.error() : false;
      report({
        rest_while_full: typeof rest === "number" ? `ok in ${Math.round(rest)} ms` : rest,
        websocket_while_full: typeof ws === "number" ? `open in ${Math.round(ws)} ms` : ws,
        stalled_error_fired: seventhError,
        phase: "closing every stream",
      });

      // Close everything, then check that JupyterLab is back to normal.
      closeAll();
      const after = await within((done, fail) => {
        restCall(null).then((r) => (r.ok ? done() : fail(`HTTP ${r.status}`)), (e) => fail(String(e)));
      });
      finished = true;
      clearTimeout(hardStop);
      report({ rest_after: typeof after === "number" ? `ok in ${Math.round(after)} ms` : after,
               phase: "done", done: true });
    };
    run().catch((err) => {
      finished = true;
      closeAll();
      report({ phase: "failed", error: String(err), done: true });
    });
    return () => {
      finished = true;
      clearTimeout(hardStop);
      closeAll();
    };
  },

  render({ model, el }) {
    const box = document.createElement("div");
    box.className = "rtlab-six";
    box.style.fontFamily = "var(--jp-code-font-family, monospace)";
    el.appendChild(box);
    const show = () => {
      const r = model.get("result") || {};
      const opened = r.opened_ms || [];
      const lines = [
        `the browser's six: ${r.phase || "waiting for the page to run it"}`,
        `streams opened: ${opened.length}${opened.length ? ` (${opened.join(", ")} ms)` : ""}` +
          (r.others ? ` · rtlab clients already holding ${r.others}` : ""),
      ];
      if (r.stalled_index) {
        lines.push(`stream #${r.stalled_index}: ${r.stalled_outcome === "stalled"
          ? `no open, no error for ${STEP_MS / 1000} s` : r.stalled_outcome}`);
      }
      if (r.rest_while_full) lines.push(`JupyterLab's GET /api/status meanwhile: ${r.rest_while_full}`);
      if (r.websocket_while_full) lines.push(`a WebSocket meanwhile: ${r.websocket_while_full}`);
      if (r.rest_after) lines.push(`after closing them: GET /api/status ${r.rest_after}`);
      if (r.error) lines.push(`error: ${r.error}`);
      box.innerText = lines.join("\n");
      box.dataset.done = r.done ? "1" : "";
      box.dataset.result = JSON.stringify(r);
    };
    model.on("change:result", show);
    show();
    return () => model.off("change:result", show);
  },
};
