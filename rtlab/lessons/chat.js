// Chat over POST, in the learner's page (rtlab/lessons/chat.py): what a chat UI does.
//
// EventSource cannot POST a prompt, so the page uses fetch: POST the JSON prompt with
// Accept: text/event-stream EXACTLY (the Jupyter proxy streams only that; with anything else
// every token would arrive at once, when the answer ends), and read the response body as SSE
// (fetchEventStream in page.js). If the stream is cut — here, on purpose, after `drop_after`
// tokens — the page resumes with GET and a Last-Event-ID header on its FIRST request, which
// EventSource cannot send, and keeps only the token numbered next: nothing lost or repeated.
// The answer holds one of the page's two connection slots (page.js) while it streams.
// pageBaseUrl, proxyUrl, takeSlot, fetchEventStream: page.js, prepended to this module.

export default {
  initialize({ model }) {
    const quit = new AbortController();
    const tokens = [];
    // reads: pieces of the body that brought new tokens. Streamed, that is about one per token;
    // buffered by a proxy, the whole answer comes in one or two pieces at its end.
    const state = { connections: 0, resumed_at: [], repeats: 0, requests: [], reads: 0 };
    let tokensAtLastRead = 0;
    const onRead = () => {
      if (tokens.length > tokensAtLastRead) state.reads += 1;
      tokensAtLastRead = tokens.length;
    };
    let answerId = "";
    let done = false;
    const t0 = performance.now();
    let firstTokenMs = null;
    let lastSync = 0;
    const sync = (force = false) => {
      const now = performance.now();
      if (!force && now - lastSync < 100) return; // at most 10 updates a second to the kernel
      lastSync = now;
      model.set("result", JSON.parse(JSON.stringify({ // a fresh copy: see six.js
        answer: answerId, tokens: tokens.length, text: tokens.join(""), done,
        first_token_ms: firstTokenMs, total_ms: done ? now - t0 : null, ...state,
      })));
      model.save_changes();
    };
    const onEvent = (cut) => (message) => {
      if (cut?.controller.signal.aborted) return; // hung up: the rest of this chunk is not read
      const dash = message.id.lastIndexOf("-");
      const n = Number(message.id.slice(dash + 1));
      answerId = answerId || message.id.slice(0, dash);
      if (message.event === "done") {
        done = true;
        return;
      }
      if (message.event !== "token") return;
      if (n !== tokens.length) {
        if (n < tokens.length) state.repeats += 1; // seen already: not shown twice
        return;
      }
      tokens.push(JSON.parse(message.data).text);
      if (firstTokenMs === null) firstTokenMs = performance.now() - t0;
      sync();
      if (cut && tokens.length >= cut.after) cut.controller.abort(); // hang up mid-answer
    };

    const run = async () => {
      const url = proxyUrl(model, model.get("path"));
      const dropAfter = model.get("drop_after");
      let retryMs = 1000;
      while (!done && !quit.signal.aborted) {
        if (state.connections > 10) throw new Error("no done after 10 resumes");
        const request = new AbortController();
        const onQuit = () => request.abort();
        quit.signal.addEventListener("abort", onQuit);
        const first = state.connections === 0;
        const cut = first && dropAfter > 0 ? { after: dropAfter, controller: request } : null;
        const headers = first ? { "Content-Type": "application/json" }
          : { "Last-Event-ID": `${answerId}-${tokens.length - 1}` };
        if (!first) {
          await new Promise((r) => setTimeout(r, retryMs));
          state.resumed_at.push(tokens.length);
        }
        // Held while it streams; asked to share the page's slots, it hangs up and resumes.
        const slot = await takeSlot("chat", { held: true, yieldSlot: () => request.abort(), signal: quit.signal });
        state.connections += 1;
        state.requests.push({ method: first ? "POST" : "GET", accept: "text/event-stream",
                              last_event_id: headers["Last-Event-ID"] || null });
        let ended = false; // the body read to its end (else: page.js's CANCEL_GRACE_MS)
        try {
          const end = await fetchEventStream(url, {
            method: first ? "POST" : "GET", headers, signal: request.signal, onEvent: onEvent(cut), onRead,
            body: first ? JSON.stringify({ prompt: model.get("prompt") }) : undefined,
          });
          if (end.status === 204) done = true; // the server says we have it all
          else ended = true;
          if (end.retry !== null) retryMs = end.retry;
        } catch (err) {
          if (err.name !== "AbortError" || quit.signal.aborted) throw err;
          // cut (by us, to show the resume; or to share a slot): resume from the last token
        } finally {
          slot.release({ cancelled: !ended });
          quit.signal.removeEventListener("abort", onQuit);
        }
        if (!answerId) throw new Error("the stream ended before it named its answer");
      }
      sync(true);
    };
    run().catch((err) => {
      if (quit.signal.aborted) return;
      state.error = String(err.message ?? err);
      sync(true);
    });
    return () => quit.abort();
  },

  render({ model, el }) {
    const box = document.createElement("div");
    box.className = "rtlab-chat";
    box.style.fontFamily = "var(--jp-ui-font-family, sans-serif)";
    const text = document.createElement("div");
    text.style.whiteSpace = "pre-wrap";
    const meta = document.createElement("div");
    meta.style.fontFamily = "var(--jp-code-font-family, monospace)";
    meta.style.color = "var(--jp-ui-font-color2, #555)";
    box.append(text, meta);
    el.appendChild(box);
    const show = () => {
      const r = model.get("result") || {};
      text.textContent = r.text || "…";
      meta.textContent = r.error ? `error: ${r.error}` : r.connections === undefined
        ? "waiting for a browser to display this widget"
        : `browser fetch: ${r.tokens} tokens · ${r.connections} connection(s)` +
          (r.resumed_at?.length ? ` · resumed at token ${r.resumed_at.join(", ")} with Last-Event-ID` : "") +
          ` · repeats ${r.repeats} · arrived in ${r.reads} pieces` + (r.done ? ` · done in ${Math.round(r.total_ms)} ms` : " · streaming…");
      box.dataset.result = JSON.stringify(r);
      box.dataset.done = r.done ? "1" : "";
    };
    model.on("change:result", show);
    show();
    return () => model.off("change:result", show);
  },
};
