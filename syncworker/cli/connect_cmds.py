"""Commands registered on the `syncworker` root group (filled in by the owner of this module)."""

import click

commands: list[click.Command] = []
