"""Weaviate internals of long-term memory: schema and migrations, filter translation, plans."""
