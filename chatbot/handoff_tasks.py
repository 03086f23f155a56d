"""The handoff delivery job: one attempt; after a failure the next attempt is queued with a doubling delay
(`RAGBOT_HANDOFF_RETRY_S`) until `RAGBOT_HANDOFF_MAX_ATTEMPTS`, and the job fails with the reason (Admin → Jobs).
The handoff stays open, with its attempts and last error, until one attempt succeeds."""

from __future__ import annotations

import uuid
from typing import Any

from chatbot.handoff_delivery import retry_delay
from chatbot.handoffs import DELIVERY_KIND
from chatbot.queue.progress import Progress
from chatbot.queue.tasks import task


class HandoffNotDelivered(RuntimeError):
    """This attempt failed; the message says why and when the next one runs."""


@task(DELIVERY_KIND)
def deliver_handoff(services: Any, progress: Progress, handoff: str) -> dict[str, Any]:
    progress(0.0, f"delivering handoff {handoff}")
    outcome = services.handoffs.deliver(uuid.UUID(handoff))
    if outcome is None:  # delivered or answered meanwhile, or another attempt holds it
        return {"handoff": handoff, "delivered": False, "skipped": "not open"}
    if outcome.status == "delivered":
        return {"handoff": handoff, "delivered": True, "attempts": outcome.attempts}
    settings = services.settings
    if outcome.attempts >= settings.handoff_max_attempts:
        raise HandoffNotDelivered(f"attempt {outcome.attempts} failed ({outcome.last_error}); retries stopped: "
                                  "`ragbot handoffs deliver` or Admin → Handoffs tries again")
    delay = retry_delay(outcome.attempts, settings.handoff_retry_s)
    queued = services.handoffs.queue(outcome.id, delay)
    then = f"next attempt in {delay:g} s" if queued else "the next attempt could not be queued"
    raise HandoffNotDelivered(f"attempt {outcome.attempts} failed ({outcome.last_error}); {then}")
