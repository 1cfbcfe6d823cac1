"""Leaving the consumer group on a clean stop, as a static member must do for itself."""

from __future__ import annotations

import logging

from kafka.admin import KafkaAdminClient, MemberToRemove
from kafka.errors import KafkaError

log = logging.getLogger(__name__)


def leave_group(bootstrap: str, group: str, instance_id: str) -> None:
    """A static member never leaves on its own: a stop that is not a crash hands its partitions back now.

    Otherwise they would wait a session timeout for this member's return, and the group could
    not be reset meanwhile. After a crash (kill -9) the member stays, and a restart under the
    same instance id takes its partitions back at once.
    """
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            admin.remove_group_members(group, [MemberToRemove(group_instance_id=instance_id)])
        finally:
            admin.close()
    except (KafkaError, OSError) as exc:
        log.info("could not leave group %s (%s); its session ends on its own", group, exc)
