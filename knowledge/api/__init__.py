"""REST API of the knowledge base: documents (admin) and search (API keys, like the parse API)."""
