# constructed: two site checks on the real memory size of the machine under test: one asks for more RAM
# than any machine has (fails for real everywhere), one for 1 MiB (passes for real everywhere).
from envdoctor.diagnosis.catalog import check, fail, passed, unknown


def _at_least(facts, need: int, what: str):
    mem = facts.system.mem_total_bytes
    if mem is None:
        return unknown("memory size not known", missing=["/proc/meminfo"])
    if mem >= need:
        return passed(f"{mem / 2**30:.0f} GiB of RAM")
    return fail(f"{mem / 2**30:.0f} GiB of RAM, less than {what}", evidence=[f"MemTotal {mem} bytes"])


@check("site_ram_1pib", "At least 1 PiB of RAM", order=900)
def site_ram_1pib(facts):
    """Fails on every machine there is: the failing check of the Slurm drain tests."""
    return _at_least(facts, 2**50, "1 PiB")


@check("site_ram_1mib", "At least 1 MiB of RAM", order=901)
def site_ram_1mib(facts):
    """Passes on every machine there is: the healthy check of the Slurm drain tests."""
    return _at_least(facts, 2**20, "1 MiB")
