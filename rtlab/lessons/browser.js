// rtlab's browser client: this code runs in the learner's page, not in the kernel.
//
// It connects to an rtlab server the way a real web page would — fetch, EventSource,
// WebSocket — through jupyter-server-proxy: the server listens on 127.0.0.1 inside the
// kernel's machine, which the browser cannot reach; the Jupyter server forwards
// <base_url>proxy/<port>/... to it, and the Jupyter login cookie authenticates the request.
// What it receives is written back into the widget's model, so the kernel can plot it.

// pageBaseUrl, proxyUrl, takeSlot, budgetFetch: page.js, prepended to this module.

// Two clocks: the kernel stamps sent_ns with its monotonic clock (ns since boot); the page
// has performance.now() (ms since the page loaded). They share no zero, so we estimate the
// offset between them as NTP does: note t0, ask the server its clock, note t1. The server
// read its clock somewhere inside [t0, t1]; assume the middle. The error is at most half
// the round trip, so we keep the fastest of a few tries (and keep trying now and then:
// a busy page or proxy makes some round trips slow, and the fastest one wins).
async function clockOffset(model, best = null, tries = 5, signal = null) {
  for (let i = 0; i < tries; i++) {
    const slot = await takeSlot("clock", { signal }); // t0 after the wait: time the request only
    let t0, t1, clock;
    try {
      t0 = performance.now();
      const response = await fetch(proxyUrl(model, "/clock"), { cache: "no-store", signal });
      if (!response.ok) throw new Error(`HTTP ${response.status} from ${response.url}`);
      clock = await response.json();
      t1 = performance.now();
    } finally {
      slot.release({ cancelled: clock === undefined }); // body not read to its end: see page.js
    }
    const offset = clock.monotonic_ns / 1e6 - (t0 + t1) / 2; // server ms minus page ms
    if (best === null || t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset, seq: clock.seq };
  }
  return best;
}

export default {
  initialize({ model }) {
    const raw = []; // page clock at arrival minus kernel clock at publish, before the offset
    let cursor = 0; // seq of the last event received: the next request resumes from it
    let clock = null; // the best clock estimate so far: {rtt, offset, seq}
    let stopped = false;
    let dirty = false;
    const cleanups = [];
    const quit = new AbortController(); // aborts every request and wait of this widget at stop
    cleanups.push(() => quit.abort());
    const signal = quit.signal;
    const say = (status, error = "") => {
      if (status === model.get("status") && error === model.get("error")) return;
      model.set("status", status);
      model.set("error", error);
      model.save_changes();
    };

    // Called for every event, on arrival. Only stores: the kernel hears about it in batches.
    const received = (event) => {
      if (typeof event.seq !== "number" || event.seq <= cursor) return;
      cursor = event.seq;
      raw.push(performance.now() - event.sent_ns / 1e6); // + clock.offset = latency in ms
      model.set("last_event", `${event.type ?? "message"} #${event.seq}`);
      dirty = true;
    };
    // Sync to the kernel at most 4 times a second, not once per event, with the best offset.
    const sync = setInterval(() => {
      if (!dirty) return;
      dirty = false;
      model.set("received", raw.length);
      model.set("latencies_ms", raw.slice(-2000).map((ms) => ms + clock.offset));
      model.set("clock_rtt_ms", clock.rtt);
      model.save_changes();
    }, 250);
    // Refine the clock offset every 2 s; the latencies above are recomputed with it.
    let clockFailures = 0;
    const resync = setInterval(async () => {
      const budget = pageBudget();
      if (budget.active.size >= budget.limit || budget.waiting.length) return; // only if a slot is free now
      try {
        clock = await clockOffset(model, clock, 2, signal);
        dirty = raw.length > 0;
        clockFailures = 0;
      } catch {
        // One missed sample does no harm. Three in a row: the server (or its kernel) is
        // gone, so stop asking instead of knocking on a closed port forever.
        if (++clockFailures >= 3) {
          stop();
          say("stopped: the rtlab server is gone (kernel restarted or server stopped)");
        }
      }
    }, 2000);
    cleanups.push(() => clearInterval(sync), () => clearInterval(resync));
    const stop = () => {
      stopped = true;
      cleanups.splice(0).forEach((f) => f());
    };

    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const transports = {
      // Short polling: ask every interval, the server answers at once.
      async "short-polling"(url) {
        while (!stopped) {
          const started = performance.now();
          const response = await budgetFetch("short-poll", `${url}?since=${cursor}&client=browser`,
            { cache: "no-store", signal });
          if (!response.ok) throw new Error(`poll: HTTP ${response.status}`);
          say(`polling every ${model.get("interval_ms")} ms (fetch)`);
          (await response.json()).events.forEach(received);
          await sleep(Math.max(0, model.get("interval_ms") - (performance.now() - started)));
        }
      },
      // Long polling: the server holds the request until there is news (or 204 after `hold`).
      // The proxy buffers a plain fetch until it ends, which is fine here: each answer is short.
      // A held request: it keeps its slot of the page's two until answered, or until asked to
      // share it (then it is aborted, and asks again from its cursor: nothing is lost).
      async "long-polling"(url) {
        while (!stopped) {
          const hold = model.get("hold_s");
          const poll = new AbortController();
          const slot = await takeSlot("long-poll", { held: true, yieldSlot: () => poll.abort(), signal });
          const onQuit = () => poll.abort();
          signal.addEventListener("abort", onQuit);
          let response, body = null;
          try {
            response = await fetch(`${url}?since=${cursor}&hold=${hold}&client=browser`,
              { cache: "no-store", signal: poll.signal });
            body = response.status === 204 ? null : await response.text();
          } catch (err) {
            if (err.name !== "AbortError" || stopped) throw err;
            continue; // asked to share the slot: queue again
          } finally {
            signal.removeEventListener("abort", onQuit);
            // Aborted, a 204, an error: no body read to its end, so see page.js's CANCEL_GRACE_MS.
            slot.release({ cancelled: body === null });
          }
          say(`long polling, holds up to ${hold} s (fetch)`);
          if (response.status === 204) continue;
          if (!response.ok) throw new Error(`poll: HTTP ${response.status}`);
          JSON.parse(body).events.forEach(received);
        }
      },
      // SSE: EventSource sends Accept: text/event-stream, which the proxy streams unbuffered.
      // EventSource has no wildcard: a named event ("event: goal") only reaches listeners
      // of that name, so we listen to each type the kernel told us about. It holds a slot of
      // the page's two for as long as it is open; asked to share, it closes and queues again.
      async sse(url) {
        let current = null; // {source, slot}
        const close = (cancelled = true) => {
          current?.source.close();
          current?.slot.release({ cancelled });
          current = null;
        };
        cleanups.push(() => close());
        const open = async () => {
          const slot = await takeSlot("sse", {
            held: true, signal,
            yieldSlot: () => {
              close();
              say("sharing the connection with another rtlab client…");
              open().catch(() => {});
            },
          });
          if (stopped) return slot.release();
          const source = new EventSource(`${url}?since=${cursor}&client=browser`);
          current = { source, slot };
          const onEvent = (e) => received({ type: e.type, ...JSON.parse(e.data) });
          model.get("event_types").forEach((type) => source.addEventListener(type, onEvent));
          source.onopen = () => say("streaming (EventSource)");
          source.onerror = () => {
            if (source.readyState !== EventSource.CLOSED) return say("reconnecting…");
            say("stream closed");
            if (current?.source === source) close(false); // it will not reconnect: free the slot
          };
        };
        await open();
      },
      // WebSocket: the server checks Origin. Our page's origin is the Jupyter server's, so we
      // tell the kernel, which allows exactly that origin, then sets `go`. No other site is let in.
      async websocket(url) {
        if (!model.get("go")) {
          say("asking the kernel to allow this page's origin…");
          model.set("origin", location.origin);
          model.save_changes();
          await new Promise((resolve) => model.on("change:go", () => model.get("go") && resolve()));
        }
        const socket = new WebSocket(`${url.replace(/^http/, "ws")}?since=${cursor}&client=browser`);
        cleanups.push(() => socket.close());
        socket.onopen = () => say("connected (WebSocket)");
        socket.onmessage = (e) => received(JSON.parse(e.data));
        socket.onclose = (e) => stopped || say(`closed (code ${e.code})`, e.code === 1006 ? "connection refused or lost" : "");
      },
    };

    (async () => {
      const transport = model.get("transport");
      try {
        say("syncing clocks…");
        clock = await clockOffset(model, null, 5, signal);
        cursor = clock.seq; // start from now: older events would only measure how late we came
        model.set("clock_rtt_ms", clock.rtt);
        say(`connecting (${transport})…`);
        // Absolute URL: needed for WebSocket (ws://host/...), harmless for the others.
        const url = new URL(proxyUrl(model, model.get("path")), location.href).href;
        await transports[transport](url);
        if (transport.endsWith("polling")) say("stopped");
      } catch (err) {
        if (stopped) return; // closed while connecting: nothing to report
        stop();
        // 404: the Jupyter server has no /proxy/ route at all. Anything else: the proxy is
        // there but could not reach the rtlab server (stopped, or the kernel is elsewhere).
        const why = String(err).includes("HTTP 404")
          ? "jupyter-server-proxy is missing or turned off on this Jupyter server"
          : "jupyter-server-proxy could not reach it";
        say(
          `The browser cannot reach the rtlab server (${why}), so this browser client is off; ` +
            "the rest of the notebook works.",
          err.message ?? String(err),
        );
      }
    })();
    return stop;
  },

  render({ model, el }) {
    const line = document.createElement("div");
    line.className = "rtlab-browser";
    line.style.fontFamily = "var(--jp-code-font-family, monospace)";
    el.appendChild(line);
    const show = () => {
      const sorted = [...model.get("latencies_ms")].sort((a, b) => a - b);
      const p50 = sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
      // Failed before the first event: the status sentence alone, no row of zeros around it.
      const failed = model.get("error") && !model.get("received");
      line.textContent =
        `browser ${model.get("transport")}: ${model.get("status")}` +
        (failed ? "" : ` · received ${model.get("received")}` +
          ` · last ${model.get("last_event") || "–"}` +
          ` · p50 latency ${p50 === null ? "–" : p50.toFixed(1) + " ms"}` +
          ` (clock ±${(model.get("clock_rtt_ms") / 2).toFixed(1)} ms)`) +
        (model.get("error") ? ` · ${model.get("error")}` : "");
      // The same numbers, machine-readable, for tests/browser/test_browser_clients.py.
      line.dataset.transport = model.get("transport");
      line.dataset.received = model.get("received");
      line.dataset.p50 = p50 ?? "";
    };
    model.on("change", show);
    show();
    return () => model.off("change", show);
  },
};
