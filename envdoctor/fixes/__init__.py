"""Fixes: YAML playbooks applied to hosts the way Ansible does it, but agentless over our Transport.

    playbook.py  pydantic models of playbooks/plays/tasks, loaded with file:line errors
    yamlload.py  a PyYAML loader that keeps the line of every mapping and item
    expr.py      the small, safe `when:` / `{{ }}` expression language (no eval)
    helper.py    the stdlib-only script run on the target (reads state, writes atomically)
    remote.py    talks to that helper through a Transport
    modules/     one module per kind of change: typed args, plan from current state, diff, apply
    executor.py  runs plays on hosts: when, tags, notify/handlers, ignore_errors, check mode, recap
"""
