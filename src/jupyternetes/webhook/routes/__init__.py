"""HTTP routes of the webhook."""
