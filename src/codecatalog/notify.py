"""Tell a person when a scheduled run was refused or is still waiting (issue 10 §6).

Through a Prefect notification block saved on the server as `custom-webhook/codecatalog-alerts`
(or the `<block type>/<name>` in `$CODECATALOG_NOTIFY_BLOCK`, e.g. `slack-webhook/oncall`): a
webhook, Slack, Teams, or e-mail (`prefect-email`). No block saved: no notification (the run's
state and artifacts still say it). Flows only: `codecatalog run-due` (no Prefect) reports through
its exit status and output, which cron mails. See the README's "Operations".
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from prefect.blocks.abstract import NotificationBlock

    from codecatalog.scheduled import Outcome

BLOCK_ENV = "CODECATALOG_NOTIFY_BLOCK"
DEFAULT_BLOCK = "custom-webhook/codecatalog-alerts"
NOTIFIED = ("refused", "waiting")  # the outcomes a person hears about


def message(outcome: Outcome) -> tuple[str, str]:
    """The subject and body of the notification of one outcome."""
    subject = f"codecatalog: {outcome.source} {outcome.version or ''} {outcome.status}".rstrip()
    lines = [outcome.message]
    lines += [str(f) for f in outcome.failures[:20]]
    if len(outcome.failures) > 20:
        lines.append(f"… and {len(outcome.failures) - 20} more failures (see the run's artifact)")
    return subject, "\n".join(lines)


def notify(outcome: Outcome, block: NotificationBlock) -> bool:
    """Send the notification of `outcome` when it is one a person hears about; whether it was."""
    if outcome.status not in NOTIFIED:
        return False
    subject, body = message(outcome)
    notifier: Any = block  # Prefect's sync-compatible method: a plain call in a sync context
    notifier.notify(body, subject=subject)
    return True


def saved_block() -> NotificationBlock | None:
    """The notification block saved on the Prefect server, None when none is saved."""
    from prefect.blocks.core import Block

    name = os.environ.get(BLOCK_ENV, DEFAULT_BLOCK)
    try:
        found: Any = Block.load(name)  # sync-compatible: the block itself in a sync context
    except ValueError:  # no block document of that name
        return None
    return cast("NotificationBlock", found)
