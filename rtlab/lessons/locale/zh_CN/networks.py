"""zh-CN: notebook 06's network paths (rtlab/lessons/networks.py, exercises/networks.py), 07's
middleboxes table (rtlab/lessons/middleboxes.py) and 08's cluster (rtlab/lessons/at_scale.py,
widgets/at_scale.py).

弱网 is the article's word for a bad mobile network; 往返时延 (RTT) and 单程时延 (one-way
delay) are the usual networking terms; 队头阻塞 is head-of-line blocking. The profile
sources are quoted titles: their proper names (WebPageTest, Firefox DevTools, HPBN) stay.
"""

MESSAGES: dict[str, str] = {
    # --- 06: the profiles table (networks.profile_markdown) ---
    "| profile | RTT | down / up kbit/s | loss per segment | source |":
        "| 网络配置 | 往返时延 | 下行 / 上行 kbit/s | 每个分段的丢包率 | 出处 |",
    "no cap": "不限速",
    # The sources of rtlab.net.path_model.PROFILES (a test checks that each one is here).
    "127.0.0.1, no emulation: the relay is not in the path": "127.0.0.1，不做模拟：路径上没有中继",
    "no preset: ~1 ms RTT, what ping shows on a switched LAN; no cap":
        "没有现成的预设：约 1 ms 往返时延，即交换式局域网上 ping 的结果；不限速",
    "Firefox DevTools throttling preset 'Wi-Fi': 30/15 Mbit/s, 2 ms":
        "Firefox DevTools 限速预设“Wi-Fi”：30/15 Mbit/s，2 ms",
    "WebPageTest connectivity profile '4G': 9 Mbit/s, 170 ms RTT":
        "WebPageTest 网络配置“4G”：9 Mbit/s，往返时延 170 ms",
    "WebPageTest connectivity profile '3G': 1.6 Mbit/s / 768 kbit/s, 300 ms RTT":
        "WebPageTest 网络配置“3G”：1.6 Mbit/s / 768 kbit/s，往返时延 300 ms",
    "HPBN table 1-2, New York-Sydney in fibre: 160 ms RTT":
        "HPBN 表 1-2，纽约—悉尼光纤：往返时延 160 ms",
    "comcast 'WIFI (good)' 40 ms, 30 Mbit/s; 2 % loss (BrowserStack 2g-gprs-lossy)":
        "comcast“WIFI (good)”40 ms，30 Mbit/s；丢包 2 %（BrowserStack 2g-gprs-lossy）",
    # --- 06: the client → server direction (networks.upstream's keys) ---
    "websocket frame": "WebSocket 帧",
    "POST, kept-alive connection": "POST，保持连接（keep-alive）",
    "POST, new connection": "POST，每次新建连接",
    # --- 06: the regenerated ranking (networks.ordering_markdown) ---
    "| network | the article says | slower: p50 (rounds) | faster: p50 (rounds) | by how much | verdict |":
        "| 网络 | 文章的说法 | 较慢者：p50（各轮） | 较快者：p50（各轮） | 相差多少 | 判定 |",
    "{slower} slower than {faster} ({words})": "{slower} 比 {faster} 慢（{words}）",
    # --- 06: a path in the checker's words (exercises/networks._summary) ---
    "RTT {ms:g} ms": "往返时延 {ms:g} ms",
    "jitter {ms:g} ms": "抖动 {ms:g} ms",
    "{down}/{up} kbit/s down/up": "下行/上行 {down}/{up} kbit/s",
    "loss {percent:g} % of segments": "丢包 {percent:g} % 的分段",
    "TLS +{n} RTT": "TLS +{n} 个往返",
    ", ": "，",
    # --- 07: the middleboxes table and the idle race (lessons/middleboxes.py) ---
    "| middlebox | what it does | after |": "| 中间设备 | 它做什么 | 仿照 |",
    # The descriptions of rtlab.net.middlebox.MIDDLEBOXES ("what  [after]"; a test checks each is here).
    "a reverse proxy that holds a response until it ends or 4 KiB (buffering=16k) fill; honours X-Accel-Buffering: no  [nginx proxy_buffering on, the default]":
        "反向代理：扣住响应，直到它结束或填满 4 KiB（buffering=16k 可改）；遵守 X-Accel-Buffering: no  [nginx 的 proxy_buffering on，默认值]",
    "gzip middleware: compresses text/event-stream too, flushes every 32 KiB of input  [Starlette GZipMiddleware before it skipped SSE, Kludex/starlette#2753]":
        "gzip 中间件：连 text/event-stream 也压缩，每 32 KiB 输入才冲刷一次  [跳过 SSE 之前的 Starlette GZipMiddleware，Kludex/starlette#2753]",
    "idle-timeout=S: cuts a connection that carried nothing for S seconds  [nginx proxy_read_timeout / AWS ALB 60 s, Cloudflare 100 s, scaled down]":
        "idle-timeout=S：切断 S 秒内什么都没传的连接  [nginx proxy_read_timeout / AWS ALB 60 秒、Cloudflare 100 秒，按比例缩小]",
    "refuses Upgrade: websocket with 403 Forbidden and closes (no-upgrade=strip: drops the header, the server answers the plain GET)  [corporate proxies; meteor/meteor#1128]":
        "用 403 Forbidden 拒绝 Upgrade: websocket 并关闭连接（no-upgrade=strip：删掉这个请求头，服务器回答普通的 GET）  [公司代理；meteor/meteor#1128]",
    "passes everything (switch no-upgrade on later: block_upgrades())":
        "全部放行（之后可以用 block_upgrades() 打开 no-upgrade）",
    "| connection (idle timeout {timeout:g} s) | cut by the path | reconnects | next event | missed |":
        "| 连接（空闲超时 {timeout:g} 秒） | 被路径切断 | 重连 | 下一个事件 | 漏掉 |",
    "arrived": "到达",
    "lost": "丢失",
    # --- 07 §6: the negotiating client's tables (lessons/negotiation.py) ---
    "{delivered} of {published} events, {lost} lost, {repeated} repeated":
        "{published} 个事件中交付 {delivered} 个，丢失 {lost} 个，重复 {repeated} 个",
    ", OUT OF ORDER": "，顺序错乱",
    "| at (ms from the fault) | from | to | why |": "| 时刻（距故障 ms） | 从 | 到 | 原因 |",
    "| fault | detected after | events again after | on SSE/WebSocket again after | exactly once |":
        "| 故障 | 察觉用时 | 重新收到事件用时 | 回到 SSE/WebSocket 用时 | 恰好一次 |",
    # --- 08: the quiz at scale ---
    "{good}/{n} players have seqs 1..{latest} once each, in order; {moved} moved gateway":
        "{good}/{n} 名玩家按顺序收到了 seq 1..{latest}，每个恰好一次；{moved} 名换过网关",
    "gateway": "网关",
    "state": "状态",
    "pid": "进程号",
    "players": "玩家数",
    "lowest seq": "最小 seq",
    "highest seq": "最大 seq",
    "up": "运行中",
    "down": "已停止",
    "gateway {index}": "网关 {index}",
    "{n} players; {moved} have moved gateway at least once · broker {url}":
        "{n} 名玩家；{moved} 名至少换过一次网关 · 消息中间件 {url}",
}
