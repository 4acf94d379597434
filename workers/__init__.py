"""The well-being check-in worker: Label Studio webhooks in, Slack check-ins out (docs/worker.md)."""
