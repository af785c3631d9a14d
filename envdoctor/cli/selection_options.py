"""--only, --skip and --no-torch: which checks a command judges, and whether the probe imports torch.
One definition for every command that takes them."""

from __future__ import annotations

import click

from envdoctor.cli.common import close_names


no_torch_option = click.option("--no-torch", is_flag=True,
                               help="Do not import torch on the target (faster; torch checks unknown; no proof-run).")


def selection_options(f):
    for opt in reversed([
        click.option("--only", multiple=True, help="Judge only these check ids (comma-separated, repeatable)."),
        click.option("--skip", multiple=True, help="Do not judge these check ids (comma-separated, repeatable)."),
        no_torch_option,
    ]):
        f = opt(f)
    return f


def _ids(values: tuple[str, ...]) -> set[str]:
    return {v.strip() for x in values for v in x.split(",") if v.strip()}


def select_checks(checks: list, only: tuple[str, ...], skip: tuple[str, ...]) -> list:
    """The checks --only and --skip leave; an id no check has is a usage error (a typo would judge nothing)."""
    only_ids, skip_ids = _ids(only), _ids(skip)
    known = [c.id for c in checks]
    bad = sorted((only_ids | skip_ids) - set(known))
    if bad:
        near = [n for b in bad for n in close_names(b, known)]
        hint = f"; did you mean {' or '.join(dict.fromkeys(near))}?" if near else ""
        raise click.UsageError(f"unknown check id(s): {', '.join(bad)}{hint} (envdoctor list shows them)")
    return [c for c in checks if (not only_ids or c.id in only_ids) and c.id not in skip_ids]
