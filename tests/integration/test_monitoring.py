"""The Monitor tab's queries on the real embedded Postgres.

The session's database is shared with other tests, so this test's answers use generators and questions of its
own and are dated 20–21 days ago (no other test writes there); totals are checked as differences."""

from __future__ import annotations

import uuid
from dataclasses import astuple
from datetime import UTC, date, datetime, time, timedelta

import pytest
from langchain_core.documents import Document

from chatbot.chain import Answer
from chatbot.storage.monitoring import Monitor
from chatbot.ui.monitor_tab import conversation_view

pytestmark = pytest.mark.integration


def at(days_ago: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(datetime.now(UTC).date() - timedelta(days=days_ago), time(hour, minute, tzinfo=UTC))


def day(days_ago: int) -> date:
    return datetime.now(UTC).date() - timedelta(days=days_ago)


@pytest.fixture
def monitor(services) -> Monitor:
    return Monitor(services.pool)


def test_monitoring_queries_count_what_was_stored(services, monitor):
    tag = uuid.uuid4().hex[:8]
    g1, g2 = f"mon-a-{tag}", f"mon-b-{tag}"
    store = services.conversations
    before = {days: monitor.totals(days) for days in (7, 90)}

    def message(conversation, generator, question, when, seconds, not_covered=False, sources=()):
        answer = Answer(text=f"answer to {question}", generator=generator, question=question, search_query=question,
                        sources=list(sources), not_covered=not_covered, seconds=seconds, first_token_seconds=0.5)
        message_id = store.add_message(conversation, answer, "examples")
        with services.pool.connection() as conn:
            conn.execute("UPDATE messages SET created_at = %s WHERE id = %s", (when, message_id))
        return message_id

    def vote_time(message_id, when):
        with services.pool.connection() as conn:
            conn.execute("UPDATE feedback SET created_at = %s WHERE message_id = %s", (when, message_id))

    reset, battery, manual = f"How do I reset the hub? {tag}", f"Battery life {tag}", f"Where is the manual {tag}"
    hostile = Document(page_content="<script>alert('x')</script> Hold the button for 10 s.",
                       metadata={"title": "<b>Guide</b>", "source": "upload:guide.md", "chunk_id": 1, "score": 0.5})
    c1, c2 = store.create("first"), store.create("second")
    m1 = message(c1, g1, reset, at(20, 12, 0), 5000.0, sources=[(1, hostile)])
    m2 = message(c1, g1, manual, at(20, 12, 5), 2.0, not_covered=True)
    m3 = message(c2, g2, f"Warranty {tag}", at(21), 4000.0)
    m4 = message(c2, g2, f"  how do I   RESET the hub? {tag} ", at(20, 13), 1.0)
    m5 = message(c2, g1, battery, at(21, 14), 3.0, not_covered=True)

    for message_id, vote in ((m1, -1), (m2, 1), (m3, 1), (m4, -1), (m5, -1)):
        assert store.record_feedback(message_id, vote)
    vote_time(m1, datetime.now(UTC) - timedelta(hours=2))
    vote_time(m4, datetime.now(UTC) - timedelta(hours=1))  # the latest thumbs down of the reset question
    vote_time(m3, at(40))  # outside 30 days
    store.record_ab_vote(m1, m4, "a")  # g1 beats g2
    store.record_ab_vote(m3, m5, "tie")  # g2 ties g1
    store.record_ab_vote(m2, m5, "b")  # g1 against itself: one side, a loss
    old_vote = store.record_ab_vote(m4, m1, "a")  # g2 beats g1, 40 days ago
    with services.pool.connection() as conn:
        conn.execute("UPDATE ab_votes SET created_at = %s WHERE id = %s", (at(40), old_vote))

    # answers per day and generator: every day of the period, zeros included
    mine = [d for d in monitor.answers_per_day(30) if d.generator in (g1, g2)]
    assert len(mine) == 60 and {d.day for d in mine} == {day(n) for n in range(30)}
    counts = {(d.day, d.generator): d.answers for d in mine if d.answers}
    assert counts == {(day(20), g1): 2, (day(20), g2): 1, (day(21), g1): 1, (day(21), g2): 1}
    assert not [d for d in monitor.answers_per_day(7) if d.generator in (g1, g2)]

    # not covered per day
    per_day = {d.day: d for d in monitor.not_covered_per_day(30)}
    assert len(per_day) == 30 and min(per_day) == day(29) and max(per_day) == day(0)
    assert (per_day[day(20)].answers, per_day[day(20)].not_covered) == (3, 1)
    assert per_day[day(20)].rate == pytest.approx(1 / 3)
    assert (per_day[day(21)].answers, per_day[day(21)].not_covered, per_day[day(21)].rate) == (2, 1, 0.5)
    assert all(d.rate is None for d in per_day.values() if d.answers == 0)
    assert len(monitor.not_covered_per_day(7)) == 7

    # thumbs per generator, by when the vote was cast
    thumbs = {t.generator: (t.up, t.down) for t in monitor.thumbs(30) if t.generator in (g1, g2)}
    assert thumbs == {g1: (1, 2), g2: (0, 1)}
    thumbs_90 = {t.generator: t for t in monitor.thumbs(90) if t.generator in (g1, g2)}
    assert (thumbs_90[g2].up, thumbs_90[g2].down, thumbs_90[g2].up_share) == (1, 1, 0.5)
    assert thumbs_90[g1].up_share == pytest.approx(1 / 3)

    # blind votes per (generator, opponent)
    rates = {(r.generator, r.opponent): (r.wins, r.losses, r.ties) for r in monitor.win_rates(30)
             if r.generator in (g1, g2)}
    assert rates == {(g1, g1): (0, 1, 0), (g1, g2): (1, 0, 1), (g2, g1): (0, 1, 1)}
    rates_90 = [r for r in monitor.win_rates(90) if r.generator in (g1, g2)]
    assert {(r.generator, r.opponent): (r.wins, r.losses, r.ties) for r in rates_90}[(g1, g2)] == (1, 1, 1)
    assert [astuple(r) for r in rates_90] == [astuple(r) for r in store.win_rates() if r.generator in (g1, g2)]
    assert rates_90[1].win_rate == pytest.approx(0.5)

    # the slowest answers, with their conversation
    slowest = monitor.slowest(30, limit=2)
    assert [(s.message_id, s.conversation_id, s.seconds, s.generator) for s in slowest] == [
        (m1, c1, 5000.0, g1), (m3, c2, 4000.0, g2)]
    assert slowest[0].question == reset and slowest[0].created_at == at(20)
    assert all(s.message_id not in (m1, m3) for s in monitor.slowest(7, limit=50))

    # the worst-rated questions: case and spacing ignored, ids of the latest thumbs down
    worst = [w for w in monitor.worst_rated(30, limit=100) if tag in w.question]
    assert [(w.down, w.up, w.message_id, w.conversation_id, w.generator) for w in worst] == [
        (2, 0, m4, c2, g2), (1, 0, m5, c2, g1)]
    assert worst[0].question.strip().startswith("how do I") and worst[1].question == battery

    # totals, as differences (other tests share the database)
    fields = ("answers", "conversations", "not_covered", "thumbs_up", "thumbs_down", "blind_votes")
    after = {days: monitor.totals(days) for days in (7, 90)}
    delta = {days: {f: getattr(after[days], f) - getattr(before[days], f) for f in fields} for days in (7, 90)}
    assert delta[90] == {"answers": 5, "conversations": 2, "not_covered": 2, "thumbs_up": 2, "thumbs_down": 3,
                         "blind_votes": 4}
    assert delta[7] == {"answers": 0, "conversations": 0, "not_covered": 0, "thumbs_up": 1, "thumbs_down": 3,
                        "blind_votes": 3}
    assert after[90].mean_seconds is not None and after[90].mean_seconds > 0

    # a conversation: its messages in order, with stored sources and votes; the panel escapes document HTML
    messages = monitor.conversation(c1)
    assert [(m["id"], m["generator"], m["vote"], m["not_covered"]) for m in messages] == [
        (m1, g1, -1, False), (m2, g1, 1, True)]
    assert messages[0]["sources"][0]["title"] == "<b>Guide</b>"
    heading, shown, panel = conversation_view(monitor, str(c1), str(m1))
    assert str(c1) in heading and [m["role"] for m in shown] == ["user", "assistant"] * 2
    assert shown[0]["content"] == reset and "rated down" in shown[1]["content"]
    assert "&lt;script&gt;" in panel and "<script>" not in panel and "&lt;b&gt;Guide&lt;/b&gt;" in panel
    assert "guide.md" in panel and "[1]" in panel
    assert "No document matched" in conversation_view(monitor, str(c1), str(m2))[2]  # not covered
    assert conversation_view(monitor, "not-a-uuid", str(m1))[1] == []
