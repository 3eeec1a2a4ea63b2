"""zh-CN: what the claims and the exercise checkers say (rtlab/lessons/exercises/)."""

MESSAGES: dict[str, str] = {
    # --- verdict words (claims.py) ---
    "not yet": "还没对",
    "could not check": "无法检查",
    "Hint:": "提示：",
    "Hint: {hint}": "提示：{hint}",
    "done": "完成",
    "none": "无",
    "{statement} — measured: {measured}. If the machine was very busy, re-run the experiment cell; if it "
    "fails again, something is broken.":
        "{statement} —— 实测：{measured}。如果机器当时很忙，请重新运行实验单元格；如果再次失败，说明有东西坏了。",
    " (line {n} of your code: {line})": "（你的代码第 {n} 行：{line}）",
    " (line {n} of your code)": "（你的代码第 {n} 行）",
    "the machine may be very busy: run this cell again": "机器可能很忙：请再运行一次这个单元格",
    "your function raised {error}: {exc}{where}": "你的函数抛出了 {error}：{exc}{where}",
    "read the error, fix the function, and run its cell and this one again":
        "读一读报错，改好函数，再依次运行它所在的单元格和这个单元格",
    # --- 01 短轮询 ---
    "build_headers(None) returned {first!r}, not a dict of headers":
        "build_headers(None) 返回了 {first!r}，而不是一个请求头字典",
    "return {} when there is no ETag yet": "还没有 ETag 时，返回 {}",
    "build_headers(None) returned {first!r}: with no ETag yet there is nothing to compare with, and the "
    "server would read that value as an ETag":
        "build_headers(None) 返回了 {first!r}：还没有 ETag 时没有可比较的对象，服务器会把这个值当成 ETag",
    "send If-None-Match only when previous_etag is not None": "只在 previous_etag 不为 None 时发送 If-None-Match",
    "build_headers({etag!r}) returned {headers!r}, not a dict of headers":
        "build_headers({etag!r}) 返回了 {headers!r}，而不是一个请求头字典",
    "with your headers {headers!r} the server answered {statuses}, not 304. It answers 304 Not Modified only "
    "when If-None-Match matches the ETag it sent, {etag} — character for character, quotes included":
        "带上你的请求头 {headers!r}，服务器的回答是 {statuses}，不是 304。只有当 If-None-Match 与它发出的 ETag "
        "{etag} 完全一致（逐字符，连引号在内）时，它才回答 304 Not Modified",
    "send the ETag of the last response back, as it came, in an If-None-Match header":
        "把上一次响应的 ETag 原样放进 If-None-Match 请求头发回去",
    "after a new event, a poll with your headers got {status} and ETag {new_etag}":
        "有新事件之后，带你的请求头的一次轮询得到 {status}，ETag 为 {new_etag}",
    "build_headers({new_etag!r}) got {status_after}: the headers must use the ETag you are given, not a "
    "fixed one":
        "build_headers({new_etag!r}) 得到 {status_after}：请求头必须用传给你的 ETag，而不是一个写死的值",
    "{polls} polls with nothing new: {plain_bytes:,} B on the wire without your headers, {cond_bytes:,} B "
    "with them — {per_poll:.0f} B saved per poll ({share:.0%}). All {polls} came back 304 Not Modified, and "
    "after a goal the old ETag {etag} brought the new state ({new_etag}).":
        "{polls} 次没有新内容的轮询：不带你的请求头，线路上共 {plain_bytes:,} B；带上之后 {cond_bytes:,} B —— "
        "每次轮询省下 {per_poll:.0f} B（{share:.0%}）。{polls} 次全部返回 304 Not Modified；进球之后，"
        "旧的 ETag {etag} 换回了新的状态（{new_etag}）。",
    "predict({interval}, {rate}) returned {got!r}; expected two numbers (mean_latency_ms, requests_per_s)":
        "predict({interval}, {rate}) 返回了 {got!r}；应当是两个数 (mean_latency_ms, requests_per_s)",
    "replace each None with a formula in interval (and rate, if it matters)":
        "把每个 None 换成关于 interval 的公式（如果 rate 有影响，也用上它）",
    "an event arrives at a random moment between two polls; it waits for the next one":
        "事件在两次轮询之间的随机时刻到达，它要等下一次轮询",
    "that is the worst case (an event just after a poll); what is the average wait?":
        "这是最坏情况（事件恰好在一次轮询之后到达）；平均要等多久？",
    "right idea, but in milliseconds please": "思路对了，但请用毫秒",
    "predict({interval}, {rate}) says mean latency {latency:g} ms; polling every {interval} s it is about "
    "{want:g} ms":
        "predict({interval}, {rate}) 给出平均延迟 {latency:g} ms；每 {interval} 秒轮询一次，应约为 {want:g} ms",
    "the client polls on a clock": "客户端按时钟轮询",
    "the event rate does not matter: the client polls whether anything happened or not":
        "事件频率无关紧要：不管有没有事发生，客户端都照样轮询",
    "predict({interval}, {rate}) says {requests:g} requests/s; polling every {interval} s makes {want:g}":
        "predict({interval}, {rate}) 给出每秒 {requests:g} 个请求；每 {interval} 秒轮询一次，应为 {want:g}",
    "  every {interval:g} s: mean latency {latency:.0f} ms predicted, {mean:.0f} ms measured; requests/s "
    "{requests:.1f} predicted, {rps:.1f} measured":
        "  每 {interval:g} 秒：平均延迟预测 {latency:.0f} ms，实测 {mean:.0f} ms；每秒请求数预测 {requests:.1f}，"
        "实测 {rps:.1f}",
    "your theory matches the formulas, and the measurements:": "你的理论与公式一致，也与实测一致：",
    "empty_per_event({interval}, {rate}) returned {got!r}; expected a number":
        "empty_per_event({interval}, {rate}) 返回了 {got!r}；应当是一个数",
    "count per second: how many polls, and how many of them can carry an event?":
        "按每秒来数：有多少次轮询，其中最多有几次能带回事件？",
    "per second the client makes 1/interval polls and at most `rate` of them can carry an event":
        "客户端每秒轮询 1/interval 次，其中最多 `rate` 次能带回事件",
    "when events come faster than polls, every poll carries something: never below 0":
        "事件比轮询来得快时，每次轮询都有收获：结果不会小于 0",
    "empty_per_event({interval}, {rate}) = {got:g}; expected {want:g} ({polls:g} polls/s, {rate:g} events/s)":
        "empty_per_event({interval}, {rate}) = {got:g}；应为 {want:g}（每秒 {polls:g} 次轮询、{rate:g} 个事件）",
    "measured {measured:.2f} empty responses per event, predicted {predicted:g}: the machine may be very "
    "busy, re-run this cell":
        "实测每个事件 {measured:.2f} 次空响应，预测 {predicted:g}：机器可能很忙，请重新运行这个单元格",
    "formula right; measured at 0.05 s and 5 events/s: {empty} empty responses for {events} events = "
    "{measured:.2f} per event (predicted {predicted:g})":
        "公式正确；在 0.05 秒间隔、每秒 5 个事件下实测：{events} 个事件有 {empty} 次空响应，"
        "即每个事件 {measured:.2f} 次（预测 {predicted:g}）",
    # --- 02 长轮询 ---
    "you polled with since={cursor}, but the newest change is {changes}: the server holds such a poll until "
    "a change newer than the cursor exists, and answers 204 when the hold ends. Nothing will ever come.":
        "你用 since={cursor} 轮询，但最新的变更是 {changes}：服务器会把这样的请求挂起，直到出现比游标更新的变更，"
        "挂起时间到了就回答 204。永远不会有数据来。",
    "the cursor is the seq of the last event you received": "游标是你收到的最后一个事件的 seq",
    "the cursor is the seq of the last event you received, never more": "游标是你收到的最后一个事件的 seq，绝不能更大",
    "the server answered {status} to since={cursor!r}: {body}": "服务器对 since={cursor!r} 的回答是 {status}：{body}",
    "next_cursor must return a non-negative int": "next_cursor 必须返回一个非负整数",
    "you polled with since={cursor}, but the newest change on the server was {latest}: a cursor ahead of "
    "the stream can only come from another stream, so the server answered \"reset\" (start over from 1).":
        "你用 since={cursor} 轮询，但服务器上最新的变更是 {latest}：跑在数据流前面的游标只可能来自另一条流，"
        "所以服务器回答了 \"reset\"（从 1 重新开始）。",
    "you polled with since={cursor} and got events {again} again: you had already seen up to {last}. After an "
    "answer, the cursor must move past every event in it, or the next poll brings them back (a duplicate is "
    "a config change applied twice).":
        "你用 since={cursor} 轮询，又收到了事件 {again}：你已经看到过 {last} 为止的所有事件。收到一次回答后，"
        "游标必须越过其中每个事件，否则下一次轮询会把它们再带回来（重复一次就是一条配置变更被应用了两次）。",
    "changes {lost} never arrived: after an answer whose last event was {last}, next_cursor returned "
    "{cursor}, so the server skipped them. If you used body['seq']: that is the newest change on the server, "
    "but one answer carries at most {per_answer} events, so the rest were never sent.":
        "变更 {lost} 始终没有到达：一次回答的最后一个事件是 {last}，next_cursor 却返回了 {cursor}，"
        "于是服务器跳过了它们。如果你用的是 body['seq']：那是服务器上最新的变更，但一次回答最多只带 "
        "{per_answer} 个事件，其余的根本没发出来。",
    "body['seq'] is the newest change on the server, not the newest one you have: where in the answer is the "
    "last change you actually received?":
        "body['seq'] 是服务器上最新的变更，不是你手里最新的那个：你真正收到的最后一个变更在回答的哪里？",
    "next_cursor({cursor}, <answer with events {got}>) returned {new!r}; it must return an int: the since= of "
    "the next poll":
        "next_cursor({cursor}, <含事件 {got} 的回答>) 返回了 {new!r}；它必须返回一个整数：下一次轮询的 since=",
    "return a number: the seq of a change, taken from the answer": "返回一个数：从回答里取出的某个变更的 seq",
    "after 30 s you had seen {seen} of {changes} changes (the last one {last})":
        "30 秒后你只看到了 {changes} 个变更中的 {seen} 个（最后一个是 {last}）",
    "{changes:,} changes, each seen exactly once and in order, in {answers} answers (at most {per_answer} per "
    "answer; {waiting} were waiting before the first poll, {arrived} arrived while you polled)":
        "{changes:,} 个变更，每个恰好收到一次且顺序正确，共 {answers} 次回答（每次最多 {per_answer} 个；"
        "{waiting} 个在第一次轮询前就已等着，{arrived} 个在你轮询期间到达）",
    "Nacos 1.x: the client gives up after 30 s; jupyter-server-proxy cuts at 300 s":
        "Nacos 1.x：客户端 30 秒后放弃；jupyter-server-proxy 300 秒切断",
    "Apollo: the client reads for 90 s": "阿波罗（Apollo）：客户端读取超时 90 秒",
    "a proxy that cuts requests after 20 s, in front of a 30 s client": "一个 20 秒就切断请求的代理，挡在 30 秒超时的客户端前面",
    "this lab's real test: a client that gives up after 1 s": "本实验的真实测试：客户端 1 秒后放弃",
    "choose_hold({client:g}, {proxy:g}) returned {hold!r}, not a number of seconds":
        "choose_hold({client:g}, {proxy:g}) 返回了 {hold!r}，而不是秒数",
    "choose_hold({client:g}, {proxy:g}) = {hold:g} s ({who}): the request is cut after {limit:g} s, and the "
    "204 must travel back before that; leave at least {margin:g} s. Too late, and the client sees an error "
    "instead of 'nothing new' (and a proxy may log it as a failure).":
        "choose_hold({client:g}, {proxy:g}) = {hold:g} 秒（{who}）：请求在 {limit:g} 秒后被切断，204 必须在此之前"
        "传回来；至少留出 {margin:g} 秒。太晚的话，客户端看到的是错误而不是“没有新内容”（代理还可能把它记成一次失败）。",
    "answer a little before the first of the two limits: Nacos 1.x held 29.5 s for 30 s":
        "在两个期限中较早的那个之前一点点回答：Nacos 1.x 对 30 秒的超时挂起 29.5 秒",
    "choose_hold({client:g}, {proxy:g}) = {hold:g} s ({who}): safe, but an idle watcher then asks {rate:.2g} "
    "times a second where {enough:.2g} would do; with 10,000 watchers that is {total:,.0f} requests/s for "
    "nothing.":
        "choose_hold({client:g}, {proxy:g}) = {hold:g} 秒（{who}）：安全，但一个空闲的监听者每秒要问 {rate:.2g} 次，"
        "其实 {enough:.2g} 次就够；10,000 个监听者就是每秒 {total:,.0f} 个白白浪费的请求。",
    "hold as long as you safely can: just under the smaller of the two limits": "在安全的前提下挂起得越久越好：略小于两个期限中较小的那个",
    "for real: a poll held {hold:g} s, read with a {client:g} s timeout, timed out before the 204 came back "
    "— the margin was too small for this machine":
        "真实测试：挂起 {hold:g} 秒的轮询、客户端 {client:g} 秒超时，在 204 回来之前就超时了 —— 余量对这台机器来说太小",
    "leave more room between the hold and the client's timeout": "在挂起时间和客户端超时之间多留些余量",
    "for real: the idle poll answered {status}, expected 204 No Content": "真实测试：空闲轮询的回答是 {status}，应为 204 No Content",
    "all {cases} cases hold between half the limit and the limit minus a margin; for real, a poll held "
    "{hold:g} s came back 204 after {ms:.0f} ms, inside the {client:g} s timeout. At your Nacos-style hold "
    "({nacos:g} s) 10,000 idle watchers make {total:,.0f} requests/s.":
        "全部 {cases} 种情况的挂起时间都在期限的一半与期限减余量之间；真实测试中，挂起 {hold:g} 秒的轮询在 "
        "{ms:.0f} ms 后返回 204，没有超过 {client:g} 秒的超时。按你给 Nacos 式场景的挂起时间（{nacos:g} 秒），"
        "10,000 个空闲监听者每秒发出 {total:,.0f} 个请求。",
    # --- 03 WebSocket ---
    "heartbeat_for({deadline:g}) returned {h!r}: return a number of seconds > 0.":
        "heartbeat_for({deadline:g}) 返回了 {h!r}：请返回一个大于 0 的秒数。",
    "with heartbeat={h:g} s the server pings after {h:g} s of silence, then waits {half:g} s for the pong: a "
    "vanished client is dropped after about {drop:g} s, later than the {deadline:g} s asked for.":
        "heartbeat={h:g} 秒时，服务器在静默 {h:g} 秒后发 ping，再等 {half:g} 秒的 pong：消失的客户端大约在 "
        "{drop:g} 秒后才被断开，晚于要求的 {deadline:g} 秒。",
    "ping after h seconds without data, give up h/2 seconds later: solve h + h/2 ≤ deadline.":
        "没有数据 h 秒后发 ping，再过 h/2 秒放弃：解 h + h/2 ≤ deadline。",
    "heartbeat_for({deadline:g}) = {h:g} s meets the deadline but pings about {times:.0f} times per deadline; "
    "every ping wakes every client (phones too).":
        "heartbeat_for({deadline:g}) = {h:g} 秒满足期限，但每个期限内要 ping 约 {times:.0f} 次；每次 ping "
        "都会唤醒每个客户端（手机也不例外）。",
    "aim just under deadline / 1.5.": "取略小于 deadline / 1.5 的值。",
    "the silent client was still connected after {after:g} s (heartbeat={h:g} s, pings it got: {pings}).":
        "{after:g} 秒后静默客户端仍然连着（heartbeat={h:g} 秒，它收到的 ping：{pings} 个）。",
    "the silent client was dropped after {after:.2f} s, not within {deadline:g} s (heartbeat={h:g} s).":
        "静默客户端在 {after:.2f} 秒后才被断开，没有在 {deadline:g} 秒内（heartbeat={h:g} 秒）。",
    "the live client was dropped too (heartbeat={h:g} s): is the heartbeat so short that a healthy pong "
    "cannot make it in time?":
        "活着的客户端也被断开了（heartbeat={h:g} 秒）：心跳是不是短到连正常的 pong 都来不及回来？",
    "a ping at {at:.2f} s, ": "在 {at:.2f} 秒收到一个 ping，",
    "heartbeat={h:.2f} s: the silent client got {first_ping}no pong went back, and the server dropped it "
    "after {after:.2f} s (deadline {deadline:g} s); the live client answered its pings and stayed connected":
        "heartbeat={h:.2f} 秒：静默客户端{first_ping}没有回 pong，服务器在 {after:.2f} 秒后断开了它（期限 "
        "{deadline:g} 秒）；活着的客户端回应了 ping，一直保持连接",
    "the quiz's own page": "答题页面自己",
    "no Origin header: not a browser (curl, a Python client). Origin checks protect browser users; a script "
    "can send any header it likes anyway":
        "没有 Origin 请求头：不是浏览器（curl、Python 客户端）。Origin 检查保护的是浏览器用户；脚本本来就能随意伪造请求头",
    "a page on another site, riding on the learner's cookies": "另一个网站的页面，借用学员的 Cookie",
    "a look-alike that merely starts with the allowed origin": "只是以允许的源开头的仿冒域名",
    "same host over plain http: another scheme is another origin": "同一主机但走明文 http：协议不同就是另一个源",
    "same host, another port: another origin": "同一主机、不同端口：另一个源",
    "the origin of a sandboxed iframe or a file:// page": "沙箱 iframe 或 file:// 页面的源",
    "origin_allowed({origin!r}, {allowed}) returned {got!r}: return True or False.":
        "origin_allowed({origin!r}, {allowed}) 返回了 {got!r}：请返回 True 或 False。",
    "origin_allowed({origin!r}, {allowed}) returned {got}, expected {expected}: {why}.":
        "origin_allowed({origin!r}, {allowed}) 返回 {got}，应为 {expected}：{why}。",
    "compare the whole origin (scheme://host:port) exactly; allow a missing one.":
        "精确比较完整的源（scheme://host:port）；缺少 Origin 时放行。",
    "the real server answered {statuses}; expected 403 for the foreign origin and 101 for the allowed one.":
        "真实服务器的回答是 {statuses}；外来源应得到 403，允许的源应得到 101。",
    "Origin https://evil.example → HTTP 403 (no WebSocket), https://quiz.example → 101 Switching Protocols; "
    "{n} tricky origins judged right":
        "Origin https://evil.example → HTTP 403（不建立 WebSocket），https://quiz.example → 101 Switching "
        "Protocols；{n} 个刁钻的源全部判断正确",
    # --- 04 SSE ---
    "{call} returned {kind}, not bytes.": "{call} 返回的是 {kind}，不是 bytes。",
    "build a str, then .encode('utf-8') — the stream is UTF-8 on the wire.": "先拼出 str，再 .encode('utf-8') —— 线路上的流是 UTF-8。",
    "{call} produced {raw!r}, which a browser reads as {n} events, not 1.": "{call} 生成了 {raw!r}，浏览器会读成 {n} 个事件，而不是 1 个。",
    "every line of the payload needs its own 'data: ' prefix (a bare line break or a blank line inside would "
    "end or break the event), and the event ends with one blank line: the bytes end in '\\n\\n'.":
        "负载的每一行都要有自己的 'data: ' 前缀（中间裸露的换行或空行会结束或打断事件），事件以一个空行结束："
        "字节以 '\\n\\n' 结尾。",
    "an event is dispatched only by a blank line: end with '\\n\\n'.": "只有空行才会派发事件：以 '\\n\\n' 结尾。",
    "event type": "事件类型",
    "data": "数据",
    "id": "id",
    "{call} produced {raw!r}; a browser reads its {what} as {g!r}, expected {e!r}.":
        "{call} 生成了 {raw!r}；浏览器读到的 {what} 是 {g!r}，应为 {e!r}。",
    "which line endings does the parser know (there are three)? Every line of the payload needs a field line "
    "of its own; and how many spaces after the colon does the parser remove?":
        "解析器认得哪几种换行符（一共三种）？负载的每一行都需要单独的字段行；解析器会去掉冒号后的几个空格？",
    "{call} produced {raw!r}: the spec parser is happy, but httpx-sse reads {other!r} (expected [{want!r}]). "
    "Keep to the plainest form of each field.":
        "{call} 生成了 {raw!r}：规范解析器没意见，但 httpx-sse 读到的是 {other!r}（应为 [{want!r}]）。"
        "每个字段请用最朴素的写法。",
    "all {n} tricky payloads survive the round trip (parsed by rtlab's spec parser and by httpx-sse).":
        "全部 {n} 个刁钻的负载都完好往返（经 rtlab 的规范解析器和 httpx-sse 解析）。",
    "all {n} tricky payloads survive the round trip (parsed by rtlab's spec parser).":
        "全部 {n} 个刁钻的负载都完好往返（经 rtlab 的规范解析器解析）。",
    "{n} events": "{n} 个事件",
    "{n} events (seq {first}..{last})": "{n} 个事件（seq {first}..{last}）",
    "a first connection sends no Last-Event-ID: it wants the whole answer": "第一次连接不带 Last-Event-ID：它要完整的回答",
    "an empty Last-Event-ID means the same as none": "空的 Last-Event-ID 和没有是一个意思",
    "the client has 1..20": "客户端已有 1..20",
    "the client has everything": "客户端什么都有了",
    "an id newer than anything sent: nothing to replay": "id 比发出过的任何事件都新：没有可重放的",
    "events_to_replay({header!r}, buffer) raised {exc!r} ({why}).": "events_to_replay({header!r}, buffer) 抛出了 {exc!r}（{why}）。",
    "a missing or empty header is not an error: what should it count as?": "缺少请求头或请求头为空都不是错误：它该算作什么？",
    "Last-Event-ID {header!r} ({why}): you replay {got}, expected {want}.": "Last-Event-ID {header!r}（{why}）：你重放了 {got}，应为 {want}。",
    "the header is the id of the last event the client has: which events does it still need, and in what "
    "order? (No header at all: what does the client have then?)":
        "这个请求头是客户端手里最后一个事件的 id：它还需要哪些事件，按什么顺序？（完全没有请求头时，客户端手里有什么？）",
    "Last-Event-ID 'abc' gave {got}: an id this server never sent must be refused (raise ValueError — the "
    "server answers 400 Bad Request).":
        "Last-Event-ID 'abc' 得到了 {got}：服务器从未发过的 id 必须拒绝（抛出 ValueError —— 服务器回答 400 Bad Request）。",
    "what happens when you turn 'abc' into a number?": "把 'abc' 转成数字时会发生什么？",
    "right idea, but Gap says {first}..{last} are missing; the client has 1..20 and the buffer starts at 41.":
        "思路对了，但 Gap 说缺的是 {first}..{last}；客户端已有 1..20，缓冲区从 41 开始。",
    "Gap takes the client's cursor and the oldest seq still in the buffer.": "Gap 接收客户端的游标和缓冲区里仍保存的最旧 seq。",
    "the buffer only holds seq 41..{last}, the client has 1..20, and you replay {got}: events 21..40 would "
    "vanish without a word.":
        "缓冲区只保存 seq 41..{last}，客户端已有 1..20，而你重放了 {got}：事件 21..40 会悄无声息地消失。",
    "compare the first seq the client needs with the oldest seq the buffer still has; if it is gone, raise "
    "rtlab.Gap and the server tells the client what it lost.":
        "把客户端需要的第一个 seq 和缓冲区里最旧的 seq 比一比；如果已经没了，就抛出 rtlab.Gap，服务器会告诉客户端丢了什么。",
    "replay is right: nothing twice, nothing lost, garbage refused, a gap announced.":
        "重放正确：不重复、不丢失、拒绝无效 id、缺口会被告知。",
    # --- 05 对决 ---
    "how many polls fit in the 60 s between two events, and what does one poll cost here? results[...].server "
    "has the run's requests and bytes.":
        "两个事件之间的 60 秒里能轮询几次，一次轮询在这里花多少？results[...].server 里有这次运行的请求数和字节数。",
    "a long poll ends when an event comes or when its hold runs out: how many requests does a minute with one "
    "event take, at a 30 s hold?":
        "长轮询在事件到来或挂起时间用完时结束：挂起 30 秒时，只有一个事件的一分钟需要几个请求？",
    "the event itself costs what it cost in this run; what else crosses the wire in a minute of silence? (see "
    "the task: keep-alive comments)":
        "事件本身的开销和这次运行中一样；一分钟的静默里，线路上还有什么？（见题目：保活注释）",
    "the event itself costs what it cost in this run; what else crosses the wire in a minute of silence? (see "
    "the task: pings)":
        "事件本身的开销和这次运行中一样；一分钟的静默里，线路上还有什么？（见题目：ping）",
    "predict({name!r}, results) raised {exc!r}.": "predict({name!r}, results) 抛出了 {exc!r}。",
    "predict({name!r}, results) returned None.": "predict({name!r}, results) 返回了 None。",
    "too low": "偏低",
    "too high": "偏高",
    "predict({name!r}, results) = {got:.0f} bytes per event: {direction} by more than a third, for a minute "
    "with one event.":
        "predict({name!r}, results) = 每个事件 {got:.0f} 字节：对于只有一个事件的一分钟，{direction}超过三分之一。",
    "your estimates match. At one event a minute {winner} sends the fewest bytes; for {clients} clients that "
    "is, per minute: {per_minute}.":
        "你的估算对了。每分钟一个事件时，{winner} 发送的字节最少；{clients} 个客户端每分钟分别是：{per_minute}。",
    # --- 06 真实网络 ---
    "count round trips before the answer's first byte can arrive: the TCP handshake, then TLS (path.tls of them), then the HTTP request — or WebSocket's Upgrade — and its answer; each costs path.rtt_ms.":
        "数一数回答的第一个字节到达之前要走几个往返：TCP 握手，然后是 TLS（path.tls 个），再是 HTTP 请求（或 WebSocket 的 Upgrade）及其回答；每个往返花费 path.rtt_ms。",
    "predict({transport!r}, path) returned {want!r}, not a number of milliseconds.":
        "predict({transport!r}, path) 返回了 {want!r}，而不是毫秒数。",
    "for {transport} you predict {want:.0f} ms; the lab measured {got:.0f} ms on {path} (accepted: ±25 %).":
        "对 {transport} 你预测 {want:.0f} ms；实验室在 {path} 上实测 {got:.0f} ms（允许误差 ±25 %）。",
    "your prediction matches every technique's first event: {each}. On {path} every reconnect pays all of it again.":
        "你的预测与每种技术的首个事件都吻合：{each}。在 {path} 上，每次断线重连都要把这些再付一遍。",
    # --- 07 路径上的中间设备 ---
    "read the symptoms in order: who answered the WebSocket handshake (websocket_status), whether a response "
    "head arrived at all (status), how it was encoded (content_encoding), whether the body started "
    "(first_byte_s), and whether the path hung up (closed_s).":
        "按顺序读症状：WebSocket 握手是谁回答的（websocket_status），响应头到底有没有到（status），"
        "它用什么编码（content_encoding），响应体开始了没有（first_byte_s），以及路径有没有挂断（closed_s）。",
    "diagnose() returned {said!r}; it should return one of {names}.":
        "diagnose() 返回了 {said!r}；它应当返回 {names} 之一。",
    "through {actual} your diagnose() said {said}. What the client saw: {symptoms}.":
        "经过 {actual} 时，你的 diagnose() 判断为 {said}。客户端看到的是：{symptoms}。",
    "you named all {n} paths from their symptoms alone.": "你只凭症状就认出了全部 {n} 条路径上的中间设备。",
}
