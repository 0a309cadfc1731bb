"""SNS adapter (aioboto3): customer and admin notifications, one topic ARN per audience."""

from datasources.sns.notifier import SnsNotifier, ensure_topics

__all__ = ["SnsNotifier", "ensure_topics"]
