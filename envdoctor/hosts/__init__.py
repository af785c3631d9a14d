"""Reaching hosts: TARGETs and host ranges resolved to hosts (targets, hostrange, inventory), the fan-out
over them (runner), the fleet summary (fleet), and the one way code talks to a host (transport/)."""
