"""Blind-vote win rates split per collection and per topic, with their intervals, from the real database and
through `ragbot votes --json`."""

from __future__ import annotations

import json
import uuid

import pytest

from chatbot.ab_grouping import NO_GROUP, grouped_win_rates
from chatbot.chain import Answer
from chatbot.storage.monitoring import Monitor
from chatbot.ui.monitor_tab import win_rate_table
from tests.integration.private_db import run_cli


@pytest.fixture
def votes(services):
    """g1 beats g2 9 times of 11 in collection `one` (better); 1 win, 1 loss and 1 tie in `two`."""
    tag = uuid.uuid4().hex[:8]
    g1, g2, one, two = f"ab-a-{tag}", f"ab-b-{tag}", f"ab-one-{tag}", f"ab-two-{tag}"
    store = services.conversations
    conversation = store.create("ab")

    def pair(collection: str, question: str, winner: str) -> None:
        ids = [store.add_message(conversation, Answer(text="x", generator=g, question=question, search_query=question),
                                 collection) for g in (g1, g2)]
        store.record_ab_vote(ids[0], ids[1], winner, client=uuid.uuid4().hex)

    for i in range(11):
        pair(one, f"reset the hub {i}", "a" if i < 9 else "b")
    for winner in ("a", "b", "tie"):
        pair(two, f"battery {winner}", winner)
    return g1, g2, one, two


def test_win_rates_split_per_collection_and_topic(services, votes):
    g1, g2, one, two = votes
    monitor = Monitor(services.pool)
    mine = {(r.group, r.generator, r.opponent): r for r in monitor.win_rates(7, "collection") if r.generator == g1}
    assert {k: (r.wins, r.losses, r.ties) for k, r in mine.items()} == {(one, g1, g2): (9, 2, 0),
                                                                        (two, g1, g2): (1, 1, 1)}
    assert mine[(one, g1, g2)].judged.verdict == "better" and mine[(one, g1, g2)].judged.votes_needed == 0
    assert mine[(two, g1, g2)].judged.verdict == "not yet distinguishable"
    assert mine[(two, g1, g2)].judged.votes_needed is None  # exactly 50 %: no number of votes separates them

    def topic(vote):
        return "battery" if vote.question.startswith("battery") else None

    by_topic = {r.group: r for r in monitor.win_rates(7, topic) if r.generator == g2}
    assert (by_topic["battery"].wins, by_topic["battery"].losses, by_topic[NO_GROUP].wins) == (1, 1, 2)

    # one group for everything gives the unsplit SQL counts
    merged = {(r.generator, r.opponent): (r.wins, r.losses, r.ties)
              for r in grouped_win_rates(monitor.blind_votes(7), lambda vote: "all")}
    plain = {(r.generator, r.opponent): (r.wins, r.losses, r.ties) for r in monitor.win_rates(7)}
    assert merged == plain and plain[(g2, g1)] == (3, 10, 1)
    with pytest.raises(ValueError, match="unknown grouping"):
        monitor.win_rates(7, "colour")

    # the Monitor tab's table: split as chosen, with the interval and the verdict
    _, table = win_rate_table(monitor, 7, "collection", None)
    row = table[(table["group"] == one) & (table["generator"] == g1)].iloc[0]
    assert (row["95% interval"], row["verdict"]) == ("52%–95%", "better")
    _, by_topic_table = win_rate_table(monitor, 7, "topic", lambda votes, days: topic)
    assert "battery" in set(by_topic_table["group"])
    _, unsplit = win_rate_table(monitor, 7, "", lambda votes, days: topic)
    assert "group" not in unsplit.columns and g1 in set(unsplit["generator"])


def test_votes_cli_prints_intervals_per_collection(services, settings, votes):
    _, g2, one, _ = votes
    done = run_cli(["votes", "--by", "collection", "--days", "7", "--json"], settings)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["ties"] == "half"
    row = next(r for r in data["win_rates"] if r["group"] == one and r["generator"] == g2)
    assert (row["wins"], row["losses"], row["verdict"]) == (2, 9, "worse")
    assert row["interval"] == pytest.approx([0.052, 0.477], abs=1e-3) and row["votes_needed"] == 0
    bad = run_cli(["votes", "--by", "colour"], settings)
    assert bad.returncode == 2 and "unknown grouping" in bad.stderr
