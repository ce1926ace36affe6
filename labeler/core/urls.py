"""Whether ``--project`` names a file or a project on a PostgreSQL server (no server code imported:
every command asks)."""

SCHEMES = ("postgresql", "postgres")


def is_pg_url(text) -> bool:
    """Whether ``text`` is a ``postgresql://`` (or ``postgres://``) URL rather than a file's path."""
    return isinstance(text, str) and "://" in text and text.split("://", 1)[0].lower() in SCHEMES


def without_password(url: str) -> str:
    """``url`` with no password in it (user info ``u:pw@`` becomes ``u@``; a ``password=``
    parameter is dropped): what may be kept, listed or shown. libpq finds the password in
    ~/.pgpass or PGPASSWORD instead."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = userinfo.split(":", 1)[0] + "@" + host
    query = urllib.parse.urlencode([(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
                                    if k.lower() != "password"])
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
