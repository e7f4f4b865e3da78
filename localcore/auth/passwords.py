"""Password hashing, verification and the strength gate — all off the event loop.

- New hashes are argon2id (argon2-cffi) with at least OWASP's baseline: 19 MiB, 2 passes, 1 lane.
- Hashes imported from boring-core (better-auth's ``saltHex:keyHex``: scrypt N=16384, r=16, p=1,
  dkLen=64 over the NFKC-normalised password, the salt being the hex STRING's bytes) still verify;
  ``verify`` then reports ``needs_rehash`` so the caller upgrades them to argon2id on sign-in.
- Every hash and verification runs in a small dedicated thread pool: argon2 and scrypt release the GIL,
  so a burst of sign-ins never stalls the event loop (``bench/bench_auth.py`` measures it).
- ``verify_dummy`` spends the same work on a throwaway argon2id hash, so signing in with an unknown
  email costs what a wrong password costs (no user enumeration by timing).
- Strength: Dropbox's zxcvbn estimator (the algorithm upstream uses through zxcvbn-ts); a score below 2
  is ``WEAK_PASSWORD``. The user's email and name count as guessable words.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 128
MIN_SCORE = 2
_SCRYPT = {"n": 16384, "r": 16, "p": 1, "dklen": 64, "maxmem": 64 * 1024 * 1024}

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """argon2id cost; the defaults are OWASP's minimum recommendation (memory in KiB)."""

    time_cost: int = 2
    memory_cost: int = 19 * 1024
    parallelism: int = 1

    def __post_init__(self) -> None:
        if self.time_cost < 2 or self.memory_cost < 19 * 1024 or self.parallelism < 1:
            raise ValueError("argon2id parameters below the OWASP minimum (t=2, m=19 MiB, p=1)")


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    needs_rehash: bool = False


def is_legacy_scrypt(stored: str) -> bool:
    salt, colon, key = stored.partition(":")
    return bool(colon) and len(key) == 128 and all(c in "0123456789abcdefABCDEF" for c in salt + key)


def legacy_scrypt_hash(password: str, salt_hex: str | None = None) -> str:
    """better-auth's format (used to verify imports, and by tests to make such hashes)."""
    salt_hex = salt_hex or secrets.token_hex(16)
    key = hashlib.scrypt(unicodedata.normalize("NFKC", password).encode("utf-8"),
                         salt=salt_hex.encode("utf-8"), **_SCRYPT)
    return f"{salt_hex}:{key.hex()}"


def _verify_legacy_scrypt(stored: str, password: str) -> bool:
    salt_hex, _, key_hex = stored.partition(":")
    key = hashlib.scrypt(unicodedata.normalize("NFKC", password).encode("utf-8"),
                         salt=salt_hex.encode("utf-8"), **_SCRYPT)
    return hmac.compare_digest(key.hex(), key_hex.lower())


def strength_score(password: str, user_inputs: Sequence[str] = ()) -> int:
    """zxcvbn's 0..4 guessability score."""
    # Imported on first use: its dictionaries are ~12 MiB a server that only serves signed-in requests
    # never needs.
    from zxcvbn import zxcvbn

    result: dict[str, Any] = zxcvbn(password, user_inputs=list(user_inputs), max_length=MAX_LENGTH)
    return int(result["score"])


class PasswordHasher:
    """Hash, verify and judge passwords in a small thread pool. Call ``close()`` when done."""

    def __init__(self, params: Argon2Params | None = None, *, workers: int = 2) -> None:
        self.params = params or Argon2Params()
        self._argon = Argon2Hasher(time_cost=self.params.time_cost, memory_cost=self.params.memory_cost,
                                   parallelism=self.params.parallelism, type=Type.ID)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="localcore-pw")
        self._dummy: str | None = None
        self._dummy_lock = asyncio.Lock()

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    async def hash(self, password: str) -> str:
        """A new argon2id hash of ``password``."""
        return await self._run(self._argon.hash, password)

    async def verify(self, stored: str | None, password: str) -> Verification:
        """Check ``password`` against an argon2id or legacy scrypt hash; never raises for a bad hash."""
        if not stored:
            await self.verify_dummy(password)
            return Verification(False)
        if is_legacy_scrypt(stored):
            ok = await self._run(_verify_legacy_scrypt, stored, password)
            return Verification(ok, needs_rehash=ok)
        return await self._run(self._verify_argon, stored, password)

    def _verify_argon(self, stored: str, password: str) -> Verification:
        try:
            self._argon.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verification(False)
        return Verification(True, needs_rehash=self._argon.check_needs_rehash(stored))

    async def verify_dummy(self, password: str) -> None:
        """Spend one argon2id verification on a throwaway hash (timing parity for unknown users)."""
        await self._run(self._verify_argon, await self._dummy_hash(), password)

    async def _dummy_hash(self) -> str:
        """The throwaway hash, computed once (under a lock: concurrent first callers wait for the one)."""
        if self._dummy is None:
            async with self._dummy_lock:
                if self._dummy is None:
                    self._dummy = await self.hash(secrets.token_urlsafe(16))
        return self._dummy

    async def score(self, password: str, user_inputs: Sequence[str] = ()) -> int:
        return await self._run(strength_score, password, tuple(user_inputs))

    async def warm_up(self) -> None:
        """Compute the dummy hash now (which also starts the pool's threads), so the first unknown-email
        sign-in is not slower than later ones; one started meanwhile waits for it. No verification is
        spent here: every verification is a sign-in's."""
        await self._dummy_hash()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
