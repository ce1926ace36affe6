"""Commands of a team project on PostgreSQL: push, pull and the reviewer role. Registered on the main
group by :mod:`labeler.cli`."""

from __future__ import annotations

import click


@click.command()
@click.argument("local", type=click.Path(dir_okay=False))
@click.argument("url")
def push(local, url):
    """Copy the local project LOCAL into PostgreSQL at URL (postgresql://[user@]host[:port]/dbname?project=NAME),
    in one transaction. Pushing a pulled copy back merges by example: the newer decision wins, the
    events of both sides are kept."""
    from .core import store_pg

    click.echo(store_pg.push(local, url).describe())


@click.command()
@click.argument("url")
@click.argument("local", type=click.Path(dir_okay=False))
def pull(url, local):
    """Make the local project file LOCAL from the project at URL (never overwrites a file)."""
    from .core import store_pg

    click.echo(store_pg.pull(url, local).describe())


@click.group("team")
def team_group() -> None:
    """A project shared on a PostgreSQL server."""


@team_group.command("grant-reviewer")
@click.argument("url")
@click.argument("name")
@click.option("--nologin", is_flag=True, help="Make the role a group (no login), for members granted it.")
def team_grant_reviewer(url, name, nologin):
    """Let role NAME review the project at URL: write decisions, events, reviewer labels and sessions,
    never change or delete examples, the taxonomy or meta (the role is made when missing)."""
    from .core import store_pg

    for statement in store_pg.grant_reviewer(url, name, login=not nologin):
        click.echo(statement + ";")
