"""Whether ``--project`` names a file or a project on a PostgreSQL server (no server code imported:
every command asks)."""

SCHEMES = ("postgresql", "postgres")


def is_pg_url(text) -> bool:
    """Whether ``text`` is a ``postgresql://`` (or ``postgres://``) URL rather than a file's path."""
    return isinstance(text, str) and "://" in text and text.split("://", 1)[0].lower() in SCHEMES
