"""``localcore.malloc``: after the threshold is set, a password pool that has hashed gives its argon2id
work areas back (in a subprocess, so the test process's own allocator is left alone)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import asyncio, os, sys
    from localcore.auth.passwords import PasswordHasher
    from localcore.malloc import return_large_blocks_to_the_os

    def rss_mib():
        with open(f"/proc/{os.getpid()}/status") as status:
            return int(status.read().split("VmRSS:")[1].split()[0]) / 1024

    async def main():
        hasher = PasswordHasher(workers=2)
        before = rss_mib()
        await asyncio.gather(*(hasher.hash(f"password-{i}") for i in range(6)))
        await hasher.warm_up()
        print(rss_mib() - before)
        hasher.close()

    if sys.argv[1] == "on":
        assert return_large_blocks_to_the_os()
    asyncio.run(main())
""")


def growth_mib(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True, timeout=60)
    return float(out.stdout.strip())


def test_hashing_leaves_no_work_area_resident_with_the_threshold_set() -> None:
    kept_without = growth_mib("off")
    kept_with = growth_mib("on")
    # Without it each pool thread keeps a 19 MiB arena; with it the growth is what Python itself allocated.
    assert kept_without > 15, f"the default allocator kept only {kept_without:.1f} MiB (test cannot tell)"
    assert kept_with < 5, f"{kept_with:.1f} MiB still resident after hashing"
