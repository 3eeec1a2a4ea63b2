"""The Chinese edition: one switch, a complete catalogue, Chinese plots with a Simplified font.

* every message id the code asks for (``t("…")``, ``N_("…")``) has a zh-CN translation with
  the same ``{fields}``;
* a zh-CN run of the checkers' "not yet" verdicts (the notebooks' own stubs as the learner's
  code) and of the plots prints no English sentence and asks the catalogue for nothing it lacks;
* a zh-CN plot draws with Noto Sans CJK **SC** (the Simplified face of the collection, not JP)
  and matplotlib warns of no missing glyph;
* English stays the default, and switching back restores it.
"""

from __future__ import annotations

import re
import string
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from i18n_msgids import msgids
from test_exercises import CHECKERS, STUBS, _function

import rtlab
from rtlab.lessons import fonts, i18n
from rtlab.lessons.locale.zh_CN import MESSAGES

# Four or more English words in a row: a sentence left untranslated. Quoted reprs ('…', "…")
# are the learner's own values and are removed first.
ENGLISH_RUN = re.compile(r"\b[A-Za-z]{2,}(?:[ ,]+[A-Za-z]{2,}){3,}")
QUOTED = re.compile(r"b?'[^']*'|\"[^\"]*\"")


def _english_sentences(text: str) -> list[str]:
    return ENGLISH_RUN.findall(QUOTED.sub("", text))


@pytest.fixture
def zh() -> Iterator[None]:
    rtlab.language("zh-CN")
    try:
        yield
    finally:
        rtlab.language("en")


def _fields(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_every_message_id_has_a_translation_with_the_same_fields() -> None:
    used = msgids()
    assert len(used) > 150
    untranslated = {m: where for m, where in used.items() if not MESSAGES.get(m, "").strip()}
    assert not untranslated, f"no zh-CN translation for: {untranslated}"
    for msgid, text in MESSAGES.items():
        assert _fields(msgid) == _fields(text), f"{msgid!r}: fields {_fields(msgid)} vs {_fields(text)}"
        if _english_sentences(msgid):
            assert not _english_sentences(text), f"{msgid!r} is translated as English: {text!r}"


def test_english_is_the_default_and_comes_back() -> None:
    assert rtlab.language() == "en"
    assert i18n.t("Hint: {hint}", hint="x") == "Hint: x"
    try:
        assert rtlab.language("zh") == "zh-CN"
        assert i18n.t("Hint: {hint}", hint="x") == "提示：x"
    finally:
        rtlab.language("en")
    assert i18n.t("Hint: {hint}", hint="x") == "Hint: x"
    with pytest.raises(ValueError):
        rtlab.language("fr")


@pytest.fixture(scope="module")
def showdown() -> dict[str, Any]:
    return rtlab.compare(clients=2, events=6, rate=10, interval=0.1, seed=1)


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_a_not_yet_verdict_in_chinese_has_no_english_sentence(name: str, zh: None,
                                                              request: pytest.FixtureRequest) -> None:
    results = request.getfixturevalue("showdown") if name.startswith("05") else {}
    check = CHECKERS[name](_function(STUBS[name], f"{name} stub"), results)
    text = str(check)
    assert text.startswith("✗ 还没对 — "), text
    assert "提示：" in text and "提示：" in check._repr_html_()
    assert not _english_sentences(text), f"{name}: English left in {text!r}"
    assert not {m for m in i18n.missing() if _english_sentences(m)}, i18n.missing()


def _texts(fig: Any) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text().strip()]


def test_plots_in_chinese_have_no_english_and_no_missing_glyph(zh: None, showdown: dict[str, Any]) -> None:
    from rtlab import plots

    figures = {
        "latency_cdf": plots.latency_cdf(showdown),
        "latency_histogram": plots.latency_histogram(showdown["short-polling"], theory_uniform_ms=100),
        "timeline": plots.timeline(showdown),
        "timeline latency": plots.timeline(showdown, y="latency"),
        "cost_bars": plots.cost_bars(showdown),
        "connection_bars": plots.connection_bars(showdown),
        "tradeoff": plots.tradeoff([(0.1, 10.0, 55.0), (0.5, 2.0, 240.0)]),
    }
    for name, fig in figures.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            png = plots.figure_to_png(fig)
        assert png.startswith(b"\x89PNG")
        glyphs = [str(w.message) for w in caught if "Glyph" in str(w.message) or "missing" in str(w.message)]
        assert not glyphs, f"{name}: {glyphs}"
        texts = _texts(fig)
        assert any(re.search(r"[\u4e00-\u9fff]", t) for t in texts), f"{name}: no Chinese in {texts}"
        english = [t for t in texts if _english_sentences(t)]
        assert not english, f"{name}: English left in {english}"
    assert not {m for m in i18n.missing() if _english_sentences(m)}, i18n.missing()


def test_the_chinese_font_is_the_simplified_face(zh: None) -> None:
    from matplotlib import font_manager

    assert fonts.use_cjk_font() == fonts.CJK_FAMILY == "Noto Sans CJK SC"
    entry = next(f for f in font_manager.fontManager.ttflist if f.name == "Noto Sans CJK SC")
    found = font_manager.findfont(font_manager.FontProperties(family=fonts.CJK_FAMILY),
                                  fallback_to_default=False)
    assert found == entry.fname
    # In a .ttc the face is chosen by its index: SC is not the collection's first (JP) face.
    if entry.fname.endswith(".ttc"):
        assert getattr(entry, "index", 0) != 0, entry


def test_the_articles_table_and_advice_in_chinese(zh: None, showdown: dict[str, Any]) -> None:
    from rtlab import article, widgets

    verdicts = article.regenerate(showdown)
    text = article.as_markdown(verdicts) + "\n" + article.tally(verdicts)
    advice = [article.advise(both_directions=b, realtime=r, compatibility=c, results=showdown)
              for b in (False, True) for r in ("low", "medium", "high") for c in (False, True)]
    text += "\n".join(f"{a.rule} {a.why} {a.lab_note}" for a in advice)
    assert "实时性" in text and "资源消耗" in text
    assert not _english_sentences(text), _english_sentences(text)
    box = widgets.advisor(showdown)
    assert "文章的选择建议" in box.children[-1].value
    assert not _english_sentences(box.children[-1].value.replace("Last-Event-ID", ""))
    assert not {m for m in i18n.missing() if _english_sentences(m)}, i18n.missing()


def test_06_networks_tables_and_checker_in_chinese(zh: None) -> None:
    """Notebook 06's tables (profiles, the regenerated ranking) and its checker's path summary."""
    from rtlab.lessons import networks
    from rtlab.lessons.exercises.networks import _summary
    from rtlab.net.path_model import PROFILES

    lacking = [p.source for p in PROFILES.values() if p.source not in MESSAGES]
    assert not lacking, f"profile sources (rtlab/net/path_model.py) with no zh-CN translation: {lacking}"
    orders = [networks.Ordering("4g", slow, fast, f"{w1} < {w2}", (300.0, 310.0), (90.0, 95.0))
              for (slow, w1), (fast, w2) in zip(networks.ORDER, networks.ORDER[1:], strict=False)]
    texts = {"profiles": networks.profile_markdown(), "ordering": networks.ordering_markdown(orders)}
    texts.update({name: _summary(p) for name, p in PROFILES.items()})
    texts["tls"] = _summary(PROFILES["3g"].with_(tls=2, jitter_ms=5))
    for name, text in texts.items():
        english = _english_sentences(text.replace("Firefox DevTools", "").replace("WIFI (good)", ""))
        assert not english, f"{name}: English left in {english}"
        assert re.search(r"[\u4e00-\u9fff]", text), f"{name}: no Chinese in {text!r}"
    assert "往返时延" in texts["profiles"] and "比" in texts["ordering"]
    assert not i18n.missing(), i18n.missing()


def test_08_gateway_view_and_summary_in_chinese(zh: None) -> None:
    """Notebook 08's live gateway table and its exactly-once summary, drawn from stand-ins."""
    from types import SimpleNamespace

    from rtlab import widgets
    from rtlab.lessons import at_scale
    from rtlab.lessons.widgets.refresher import refresher

    gateways = [SimpleNamespace(url=f"ws://127.0.0.1:{port}/ws", running=port != 2, pid=100 + port)
                for port in (1, 2, 3)]
    cluster = SimpleNamespace(gateways=gateways, broker_url="redis://127.0.0.1:6399/0")
    players = [SimpleNamespace(url=gateways[i % 3].url, last_seq=3, moves=i % 2, name=f"player-{i}",
                               recorder=SimpleNamespace(seqs=[1, 2, 3])) for i in range(6)]
    try:
        view = widgets.gateways(cluster, players, name="zh-test-gateways", hz=1)
        ok, summary = at_scale.exactly_once(players)
    finally:
        refresher.cancel("zh-test-gateways")
    assert ok
    for text in (view.value, summary):
        plain = re.sub(r"<[^>]+>", " ", text).replace("redis://127.0.0.1:6399/0", "")
        assert not _english_sentences(plain), f"English left in {plain!r}"
        assert re.search(r"[\u4e00-\u9fff]", plain), plain
    assert "网关" in view.value and "已停止" in view.value and "玩家" in summary
    assert not i18n.missing(), i18n.missing()


def test_07_middlebox_tables_in_chinese(zh: None) -> None:
    """Notebook 07's middlebox table (descriptions from rtlab.net) and its idle-race table."""
    from rtlab.lessons import middleboxes
    from rtlab.net.middlebox import MIDDLEBOXES

    lacking = [text for text in MIDDLEBOXES.values() if text not in MESSAGES]
    assert not lacking, f"rtlab/net/middlebox.py descriptions with no zh-CN translation: {lacking}"
    assert all(("  [" in text) == ("  [" in MESSAGES[text]) for text in MIDDLEBOXES.values())
    race = {"SSE，每 0.3 s 保活一次": {"cuts": 0, "reconnects": 0, "got_last": True, "missed": 0},
            "WebSocket，不 ping": {"cuts": 1, "reconnects": 1, "got_last": False, "missed": 0}}
    for name, text in {"middleboxes": middleboxes.middlebox_markdown(),
                       "race": middleboxes.race_markdown(race, 1.0)}.items():
        plain = re.sub(r"`[^`]*`|X-Accel-Buffering: no|Upgrade: websocket|\[[^]]*\]", "", text)
        assert not _english_sentences(plain), f"{name}: English left in {_english_sentences(plain)}"
        assert re.search(r"[\u4e00-\u9fff]", text), name
    assert not i18n.missing(), i18n.missing()
