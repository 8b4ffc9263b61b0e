"""The control plane over HTTP: a FastAPI app on loopback, behind a bearer token."""
