"""zh-CN: the article's table regenerated, and its selection advice (rtlab/lessons/article.py)."""

MESSAGES: dict[str, str] = {
    "实时性 (real-time-ness)": "实时性",
    "资源消耗 (resource use)": "资源消耗",
    "| technique | aspect | the article says | the lab reads it as | measured | verdict |":
        "| 技术 | 维度 | 文章的评价 | 实验室的理解 | 实测 | 结论 |",
    "{agree} ✓, {near} ≈, {contra} ✗ of {n}": "共 {n} 项：{agree} ✓，{near} ≈，{contra} ✗",
    "sooner than {other}": "比 {other} 更快送达",
    "later than {other}": "比 {other} 更晚送达",
    "costs more than {other}": "比 {other} 开销大",
    "costs less than {other}": "比 {other} 开销小",
    " (bytes per event)": "（按每个事件的字节数）",
    "{bytes:.0f} B and {requests:.2f} requests per event": "每个事件 {bytes:.0f} B、{requests:.2f} 个请求",
    "; {share:.0%} of polls empty": "；{share:.0%} 的轮询是空的",
    "{names}: fewer than 3 clients each, too few to know the spread": "{names}：每种不足 3 个客户端，太少，无从知道离散程度",
    "per-client medians overlap ({fast} {a}, {slow} {b})": "各客户端的中位数有重叠（{fast} {a}，{slow} {b}）",
    "medians only {ratio:.2f}× apart (less than {limit:g}×)": "中位数只差 {ratio:.2f} 倍（不足 {limit:g} 倍）",
    "{names}: {ratio:.0f}× sooner, per-client medians apart": "{names}：快 {ratio:.0f} 倍，各客户端的中位数互不重叠",
    "{names}: {slow} was {ratio:.1f}× sooner, per-client medians apart": "{names}：反而是 {slow} 快 {ratio:.1f} 倍，各客户端的中位数互不重叠",
    "{cheap} {c:.0f} B vs {dear} {d:.0f} B per event": "每个事件 {cheap} {c:.0f} B 对 {dear} {d:.0f} B",
    "{names}: {dear} is the cheaper one": "{names}：反而是 {dear} 更省",
    "{names}: within {limit:g}× of each other, the same rating": "{names}：相差不到 {limit:g} 倍，评价相同",
    "hundreds of ms": "数百毫秒",
    "about 10 ms": "约 10 毫秒",
    "where WebSocket is blocked, Socket.IO and SignalR fall back to long polling plus ordinary POSTs: the lab's long polling delivered in {lp} (p50) on loopback":
        "在 WebSocket 被拦截的地方，Socket.IO 和 SignalR 会退回到长轮询加普通 POST：本实验的长轮询在回环网络上的送达时间是 {lp}（p50）",
    "the client sends too: only WebSocket carries both directions on one connection":
        "客户端也要发消息：只有 WebSocket 能在一条连接上双向传输（全双工）",
    "plain requests and answers on a timer: nothing held open, nothing a proxy can cut":
        "定时发出的普通请求和响应：不挂起任何连接，代理也无从切断",
    "updates may be seconds late: poll at that interval, simplest of all": "更新晚几秒也无妨：就按这个间隔轮询，最简单",
    "long polling is plain HTTP request/response too, as compatible unless a proxy cuts held requests; in notebook 05 it delivered in {lp} against short polling's {sp}, with fewer requests":
        "长轮询同样是普通的 HTTP 请求/响应，只要代理不切断挂起的请求，兼容性一样好；在 05 号笔记本里，它的送达时间是 {lp}，短轮询是 {sp}，而且请求更少",
    "the lab does not find long polling 'medium': on loopback its median latency ({lp}) cannot be separated from SSE's ({sse}); what it pays is a request and its headers per event. The lab would take SSE unless the infrastructure only does request/response (over a real network, each event's new request adds a round trip)":
        "实验室并没有测出长轮询“中”的实时性：在回环网络上，它的延迟中位数（{lp}）与 SSE（{sse}）分不出高下；它付出的代价是每个事件一个请求及其请求头。除非基础设施只支持请求/响应，否则实验室会选 SSE（在真实网络上，每个事件的新请求都要多一次往返）",
    "near real time over plain request/response, as config centres did it": "用普通的请求/响应做到准实时，配置中心（Nacos、阿波罗）就是这么做的",
    "'SSE 高, WebSocket 极高' is not separated on loopback: their medians ({sse} vs {ws}) are within noise":
        "“SSE 高、WebSocket 极高”在回环网络上分不出来：两者的中位数（{sse} 对 {ws}）在噪声范围之内",
    "only the server speaks: one long HTTP response, automatic reconnect with Last-Event-ID":
        "只有服务器在说话：一个长长的 HTTP 响应，带 Last-Event-ID 的自动断线重连",
    "<b>Use {technique}</b> — the article's rule <b>{rule}</b>: {why}": "<b>选 {technique}</b> —— 文章的选择建议 <b>{rule}</b>：{why}",
    "Measured here: p50 {p50:.3g} ms, p99 {p99:.3g} ms, {requests:.2f} requests and {bytes:.0f} bytes per event.":
        "本机实测：p50 {p50:.3g} ms，p99 {p99:.3g} ms，每个事件 {requests:.2f} 个请求、{bytes:.0f} 字节。",
    "Where the lab disagrees: {note}": "实验室的不同意见：{note}",
}
