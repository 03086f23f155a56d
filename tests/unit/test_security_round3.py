"""Hardening round three (issue 29), the parts testable without a server: the collection name checked where every
answer passes (4), what a refused adapter name says (13), private RAGBOT_HOME and vote export (12), untrusted text
rendered inert (3), and the vote cookie (6)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chatbot.chat_service import ChatService
from chatbot.cluster.in_flight import AnswersInFlight
from chatbot.gate import GenerationGate
from chatbot.limits import InputTooLong, InvalidInput
from tests.unit.test_chain import doc, make_chain


class RecordingConversations:
    """Stores nothing, remembers what it was asked to store."""

    def __init__(self) -> None:
        self.stored: list[str] = []

    def create(self, title: str, token: str) -> str:
        self.stored.append(title)
        return "conversation"

    def add_message(self, conversation_id: str, answer: object, collection: str) -> str:
        self.stored.append(collection)
        return "message"


def chat_service() -> tuple[ChatService, RecordingConversations]:
    chain, _ = make_chain("The warranty lasts 24 months [1].", [doc("warranty is 24 months", 0.8)])
    conversations = RecordingConversations()
    uncapped = AnswersInFlight(None, "test", cap=0)  # type: ignore[arg-type]  # cap 0: never queries
    return ChatService(chain, conversations, GenerationGate(1), uncapped), conversations  # type: ignore[arg-type]


@pytest.mark.parametrize("name,error,says", [
    ("c" * 101, InputTooLong, "collection: 101 characters; at most 100"),
    ("c" * 1_900_000, InputTooLong, "collection: 1,900,000 characters"),
    ("a\x00b", InvalidInput, "collection: must not contain NUL"),
    ("a\ud800", InvalidInput, "collection: must be valid Unicode"),
])
def test_chat_service_refuses_a_collection_name_the_api_would_refuse(name, error, says):
    chat, conversations = chat_service()
    with pytest.raises(error, match=says) as refused:
        next(chat.stream("How long is the warranty?", collection=name))
    assert refused.value.field == "collection"
    assert conversations.stored == [] and chat.gate.in_use == 0


def test_chat_service_stores_a_valid_collection_name():
    chat, conversations = chat_service()
    list(chat.stream("How long is the warranty?", collection="c" * 100))
    assert conversations.stored[-1] == "c" * 100


def test_the_ui_says_why_a_collection_was_refused():
    from chatbot.ui.answering import answer_snapshots

    chat, _ = chat_service()
    *_, last = answer_snapshots(chat, "How long is the warranty?", generator="base", collection="a\x00b")
    assert last.error == "⚠️ Not answered: the collection must not contain NUL characters."
    *_, last = answer_snapshots(chat, "How long is the warranty?", generator="base", collection="c" * 101)
    assert last.error.startswith("⚠️ Not answered: the collection is 101 characters; at most 100")


def test_an_unknown_adapter_is_refused_without_naming_the_folder(tmp_path):
    from chatbot.adapter_catalog import AdapterCatalog
    from chatbot.backends.base import resolve_adapter
    from chatbot.generators import GeneratorUnavailable

    home = tmp_path / "secret-home-name"
    with pytest.raises(GeneratorUnavailable) as refused:
        resolve_adapter(AdapterCatalog(home / "adapters"), None, "finetuned:nope")
    assert "nope" in str(refused.value) and "secret-home-name" not in str(refused.value)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_vote_export_is_written_0600_even_over_a_public_file(tmp_path):
    from chatbot.storage.feedback_export import write_pairs

    out = tmp_path / "exports" / "votes.jsonl"
    write_pairs(out, [{"question": "q", "answer": "a"}])
    assert mode(out) == 0o600
    out.chmod(0o644)
    write_pairs(out, [{"question": "q2", "answer": "a2"}])
    assert mode(out) == 0o600 and "q2" in out.read_text()


def test_ragbot_home_is_created_0700(tmp_path, monkeypatch):
    from chatbot import settings as settings_module
    from chatbot.cli_services import load_settings

    home = tmp_path / "deep" / "home"
    monkeypatch.setenv("RAGBOT_HOME", str(home))
    monkeypatch.setattr(settings_module, "get_settings", lambda: settings_module.Settings(_env_file=None))
    previous = os.umask(0o022)  # a usual umask: without a mode, mkdir makes 0755
    try:
        assert load_settings().home == home
    finally:
        os.umask(previous)
    assert mode(home) == 0o700


@pytest.mark.parametrize("address,network", [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    (None, "unknown"),
])
def test_a_voter_is_keyed_by_the_peer_network(address, network):
    from chatbot.ui.voters import peer_network

    assert peer_network(address) == network


def test_a_voter_is_the_signed_cookie_at_the_network_else_the_network(tmp_path):
    from chatbot.ui.voters import VoterCookies, signing_key

    voters = VoterCookies(signing_key(tmp_path))
    cookie = voters.issue()
    same = voters.voter(cookie, "2001:db8::1")
    assert voters.voter(cookie, "2001:db8::2") == same  # one /64
    assert voters.voter(cookie, "2001:db8:0:1::1") != same  # another network
    assert voters.voter(voters.issue(), "2001:db8::1") != same  # another cookie
    forged = [voters.voter(f"{cookie.split('.')[0]}.{'A' * 24}", "10.0.0.1"), voters.voter("made-up", "10.0.0.1"),
              voters.voter(None, "10.0.0.1")]
    assert len(set(forged)) == 1  # anything unsigned is the address alone
    assert mode(tmp_path / "voter-cookie.key") == 0o600
    assert VoterCookies(signing_key(tmp_path)).voter_id(cookie) == cookie.split(".")[0]  # the key is kept


def test_the_chat_state_keeps_the_newest_rows_and_their_ids():
    from chatbot.ui.chat_tab import recent

    shown = [{"role": "user" if i % 2 == 0 else "assistant", "content": str(i)} for i in range(10)]
    ids = {"1": "m1", "5": "m5", "9": "m9"}
    kept, kept_ids = recent(shown, ids, 6)
    assert [r["content"] for r in kept] == ["4", "5", "6", "7", "8", "9"]
    assert kept_ids == {"1": "m5", "5": "m9"}
    assert recent(shown, ids, 10) == (shown, ids)


PAYLOAD = '<p style="background-image:url(http://203.0.113.9/x);position:fixed;inset:0">win</p>'


@pytest.mark.parametrize("text,shown", [
    (PAYLOAD, '&lt;p style="background-image:url(http://203.0.113.9/x);position:fixed;inset:0">win&lt;/p>'),
    ("a < b && c", "a &lt; b &amp;&amp; c"),
    ("&lt;img src=x&gt;", "&amp;lt;img src=x&amp;gt;"),  # an entity shows as typed, not as the character
    ("done![1] ![i](http://h/x)", "done!\\[1] !\\[i](http://h/x)"),
    ("run `ragbot ingest <folder>` then <b>", "run `ragbot ingest <folder>` then &lt;b>"),  # code is text already
    ("```\n<div style=x>\n```\n<i>", "```\n<div style=x>\n```\n&lt;i>"),
    ("\\`<b>`", "\\`&lt;b>`"),  # an escaped backtick opens no code span
    ("    ```\n<p style=x>", "    ```\n&lt;p style=x>"),  # indented 4: not a fence
    ("```a`b\n<p>", "```a`b\n&lt;p>"),  # a backtick in the info string: not a fence
])
def test_untrusted_markdown_carries_no_raw_html_and_no_image(text, shown):
    from chatbot.ui.formatting import inert_markdown

    assert inert_markdown(text) == shown


def test_untrusted_markdown_renders_without_a_tag_outside_code():
    from markdown_it import MarkdownIt

    from chatbot.ui.formatting import inert_markdown

    html = MarkdownIt("commonmark").render(inert_markdown(f"{PAYLOAD}\n\n`<x>`\n\n```\n<y>\n```\n\n{PAYLOAD}"))
    assert "<p style" not in html and "background-image" in html  # shown as text
    assert "<code>&lt;x&gt;</code>" in html and "<code>&lt;y&gt;\n</code>" in html
