"""One module per CLI command; each exposes `register(app)`. The CLI stays a thin shell over the library."""
