"""zh-CN: notebook 07's browser sections — the browser's six (widgets/six.py) and chat over POST (chat.py)."""

MESSAGES: dict[str, str] = {
    # --- 浏览器的六个连接 ---
    "with the browser's connections to this origin in use, the next EventSource neither opened nor failed, "
    "JupyterLab's own REST call stalled while a WebSocket opened, and after closing them JupyterLab "
    "answered again":
        "本源的浏览器连接全部被占用时，下一个 EventSource 既没有打开也没有报错，JupyterLab 自己的 REST "
        "请求卡住了，WebSocket 却照常打开；关掉这些流之后，JupyterLab 又能正常应答",
    "{opened} opened (plus {others} held by rtlab clients), stream #{n}: {outcome}, error fired: {error}; "
    "GET /api/status while full: {rest}; WebSocket: {ws}; GET /api/status after: {after}":
        "已打开 {opened} 个（另有 {others} 个被 rtlab 客户端占用），第 {n} 个流：{outcome}，是否触发 "
        "error：{error}；占满时 GET /api/status：{rest}；WebSocket：{ws}；关闭之后 GET /api/status：{after}",
    "the browser's six needs a browser: the demo runs in the page that displays the widget above. Headless "
    "(nbval, a script) no page runs it, so nothing is claimed; in JupyterLab this line turns into the "
    "verdict a few seconds after the demo starts.":
        "“浏览器的六个连接”需要真正的浏览器：演示运行在显示上方小部件的页面里。无头运行（nbval、脚本）时"
        "没有页面执行它，所以这里不下任何结论；在 JupyterLab 中，演示开始几秒后，这一行会变成结论。",
    # --- 用 POST 聊天 ---
    "answer {id} arrived whole and in order, each token once": "回答 {id} 完整、按顺序到达，每个 token 只出现一次",
    "{n} tokens, {chars} characters, {repeats} repeats, same text as the server's: {same}":
        "{n} 个 token，{chars} 个字符，重复 {repeats} 个，与服务器端文本一致：{same}",
    "the cut answer came back on one more connection, from token {n}":
        "被切断的回答多用了一个连接，从第 {n} 个 token 接着传回",
    "{connections} connections, resumed at token(s) {at}": "{connections} 个连接，在第 {at} 个 token 处续传",
    "the page POSTed the prompt with fetch, read the answer as it streamed through the Jupyter proxy, and "
    "resumed the cut stream with a Last-Event-ID header: every token once, in order":
        "页面用 fetch 以 POST 发送提示词，经 Jupyter 代理边到边读回答，并带着 Last-Event-ID 请求头续上被切断的"
        "流：每个 token 恰好一次，顺序不乱",
    "{n} tokens in {reads} pieces over {c} connection(s), resumed at {at}, {repeats} repeats, same text as "
    "the server's: {same}, first token after {first} ms":
        "{n} 个 token 分 {reads} 块到达，共用 {c} 个连接，从第 {at} 个 token 处续传，重复 {repeats} 个，"
        "与服务器端文本一致：{same}，首个 token 用时 {first} ms",
    "the page could not stream the answer: {error}": "页面没能以流的方式读到回答：{error}",
    "chat in the browser needs a browser: the page that displays the box above asks the question. Headless "
    "no page runs it, so nothing is claimed; in JupyterLab this line turns into the verdict when the answer "
    "is done.":
        "浏览器里的聊天需要真正的浏览器：由显示上方对话框的页面发出提问。无头运行时没有页面执行它，所以这里"
        "不下任何结论；在 JupyterLab 中，回答结束后，这一行会变成结论。",
}
