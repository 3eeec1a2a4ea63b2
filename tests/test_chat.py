"""Chat over POST (rtlab.net.chat): the answer streams back on the POST's own response, and resumes.

The independent client is httpx with httpx-sse's parser over a POST response (``EventSource``
cannot POST; httpx-sse's ``connect_sse`` takes any method). The kernel client
(rtlab.net.chat_client) is tested against the same server, cut by itself and by the server.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from rtlab.net.chat import ChatServer, parse_event_id, scripted_answer, split_tokens
from rtlab.net.chat_client import ChatError, ask

ACCEPT = {"Accept": "text/event-stream"}
PROMPT = "Why do chat pages stream with fetch?"


@pytest.fixture
def chat(start_server: Callable[..., Any]) -> ChatServer:
    return start_server(ChatServer, first_token=0.01, per_token=0.005)


def _expected(prompt: str = PROMPT) -> list[str]:
    return split_tokens(scripted_answer(prompt))


def _events(client: httpx.Client, method: str, url: str, **kwargs: Any) -> list[Any]:
    with connect_sse(client, method, url, **kwargs) as source:
        assert source.response.status_code == 200
        assert source.response.headers["content-type"] == "text/event-stream"
        return list(source.iter_sse())


def test_post_streams_every_token_in_order_then_done(chat: ChatServer) -> None:
    with httpx.Client(timeout=10) as client:
        events = _events(client, "POST", chat.url, json={"prompt": PROMPT}, headers=ACCEPT)
    *tokens, done = events
    answer_id = parse_event_id(done.id)[0]
    assert [e.event for e in tokens] == ["token"] * len(tokens)
    assert [e.id for e in tokens] == [f"{answer_id}-{n}" for n in range(len(tokens))]
    assert [json.loads(e.data)["text"] for e in tokens] == _expected()
    assert done.event == "done" and json.loads(done.data) == {"answer": answer_id,
                                                              "tokens": len(tokens)}
    assert done.id == f"{answer_id}-{len(tokens)}"


def test_cut_mid_answer_then_get_with_last_event_id_continues_exactly_once(chat: ChatServer) -> None:
    expected = _expected()
    got: list[str] = []
    with httpx.Client(timeout=10) as client:
        with connect_sse(client, "POST", chat.url, json={"prompt": PROMPT}, headers=ACCEPT) as source:
            for event in source.iter_sse():
                got.append(json.loads(event.data)["text"])
                last_id = event.id
                if len(got) == 7:
                    break  # leaving the block closes the response: the stream is cut here
        events = _events(client, "GET", chat.url, headers={**ACCEPT, "Last-Event-ID": last_id})
    got += [json.loads(e.data)["text"] for e in events if e.event == "token"]
    assert got == expected  # nothing lost, nothing repeated
    assert events[0].id == f"{parse_event_id(last_id)[0]}-7"
    assert chat.read(lambda s: s.resumes) == [(parse_event_id(last_id)[0], 7)]


def test_resume_after_done_is_204_and_query_parameter_works(chat: ChatServer) -> None:
    with httpx.Client(timeout=10) as client:
        done = _events(client, "POST", chat.url, json={"prompt": PROMPT}, headers=ACCEPT)[-1]
        assert client.get(chat.url, headers={"Last-Event-ID": done.id}).status_code == 204
        answer_id = parse_event_id(done.id)[0]
        rest = _events(client, "GET", f"{chat.url}?last_event_id={answer_id}-2", headers=ACCEPT)
    assert [json.loads(e.data)["index"] for e in rest if e.event == "token"] == list(
        range(3, len(_expected())))


@pytest.mark.parametrize(("method", "body", "headers", "status"), [
    ("POST", b"{not json", {}, 400),
    ("POST", b"[1, 2]", {}, 400),
    ("POST", json.dumps({"prompt": 3}).encode(), {}, 400),
    ("POST", json.dumps({"prompt": "   "}).encode(), {}, 400),
    ("POST", json.dumps({"prompt": "x" * 5000}).encode(), {}, 413),
    ("POST", b"x" * 200_000, {}, 413),
    ("POST", json.dumps({"prompt": "hi"}).encode(), {"Last-Event-ID": "0123456789ab-1"}, 400),
    ("GET", b"", {}, 400),
    ("GET", b"", {"Last-Event-ID": "nonsense"}, 400),
    ("GET", b"", {"Last-Event-ID": "0123456789ab-3"}, 404),
])
def test_bad_requests_get_a_status_and_a_reason(chat: ChatServer, method: str, body: bytes,
                                                headers: dict[str, str], status: int) -> None:
    response = httpx.request(method, chat.url, content=body, headers=headers, timeout=10)
    assert response.status_code == status, response.text
    assert response.text.strip()  # a sentence saying why
    assert chat.running


def test_answers_are_kept_for_a_bounded_number(start_server: Callable[..., Any]) -> None:
    chat = start_server(ChatServer, first_token=0, per_token=0, max_answers=2)
    with httpx.Client(timeout=10) as client:
        ids = [_events(client, "POST", chat.url, json={"prompt": f"q{i}"})[-1].id for i in range(4)]
        first = client.get(chat.url, headers={"Last-Event-ID": ids[0].rsplit("-", 1)[0] + "-0"})
    assert first.status_code == 404  # dropped: only the newest two are kept (plus the new one)
    assert chat.read(lambda s: len(s.answers)) <= 3


def test_kernel_client_gets_the_whole_answer_on_one_connection(chat: ChatServer) -> None:
    answer = ask(chat.url, PROMPT)
    assert answer.done and answer.tokens == _expected()
    assert answer.connections == 1 and answer.resumed_at == [] and answer.repeats == 0
    assert chat.answer_text(answer.id) == answer.text


def test_kernel_client_resumes_after_hanging_up(start_server: Callable[..., Any]) -> None:
    chat = start_server(ChatServer, first_token=0.01, per_token=0.005, retry_ms=50)
    answer = ask(chat.url, PROMPT, drop_after=5)
    assert answer.tokens == _expected() and answer.repeats == 0
    assert answer.connections == 2 and answer.resumed_at == [5]


def test_kernel_client_resumes_after_the_server_cuts_the_stream(start_server: Callable[..., Any]) -> None:
    chat = start_server(ChatServer, first_token=0.01, per_token=0.02, retry_ms=50)
    cuts: list[int] = []

    def cut_once(n: int, text: str) -> None:
        if n == 10 and not cuts:  # from the client loop: cut() runs on the server's own loop
            cuts.append(chat.cut())

    answer = ask(chat.url, PROMPT, on_token=cut_once)
    assert cuts == [1]
    assert answer.tokens == _expected() and answer.repeats == 0
    assert answer.connections >= 2 and answer.resumed_at[0] >= 11
    # It waited the server's retry: (50 ms), read from the stream that was cut — not the
    # 1 s it would wait had it heard none.
    assert answer.waited_ms[0] == 50


def test_kernel_client_reports_a_refused_prompt(chat: ChatServer) -> None:
    with pytest.raises(ChatError, match="413"):
        ask(chat.url, "x" * 5000)


def test_stop_ends_a_stream_that_is_still_generating(start_server: Callable[..., Any]) -> None:
    chat = start_server(ChatServer, first_token=0, per_token=10)
    with httpx.Client(timeout=10) as client:
        with connect_sse(client, "POST", chat.url, json={"prompt": PROMPT}, headers=ACCEPT) as source:
            events = source.iter_sse()
            first = next(events)
            chat.stop()
            rest = []
            with contextlib.suppress(httpx.RemoteProtocolError):  # closed rather than ended
                rest = list(events)
    assert first.event == "token"
    assert [e.event for e in rest] in (["done"], [])  # ended at once, not 10 s a token later
