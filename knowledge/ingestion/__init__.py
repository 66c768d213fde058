"""Turning a customer's files into knowledge: parsers (bytes -> documents) and the chunker
(document -> passages with offsets). Plain Python: no Django, no database, no model."""
