"""The Kash simulator: an in-process venue model and an HTTP double of the REST API."""
