"""Slurm as a way of reaching hosts: node states, drains and srun steps (nodes), what each srun task runs
(task, stdlib only, sent to the nodes), and the check and proof over a partition (fleet)."""
