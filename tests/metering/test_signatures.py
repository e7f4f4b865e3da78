"""Signature and attribution schemes against fixed test vectors of boring-core's schemes (literal
values, and the same values recomputed with plain ``hmac`` here), plus the Stripe header parser."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from localcore.metering import lemonsqueezy, stripe
from localcore.metering.checkout import attribution_secrets

BODY = b'{"a":1}'
LS_VECTOR = "51426af50a41dd7ff2cd3f116594734766d4018d15d6fb07169aee5d2959adf5"
STRIPE_VECTOR = "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
LS_UAT_U1 = "39f0f2ecb53c3d70477bc0ce6b7164d55d4ee20df29d123aa2c7084b4013f658"
STRIPE_UAT_U1_10 = "5e3b1cf3c003de190e57a50aca08cadb86237440ff137a7a27e667b4aef50f26"


def independent(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def test_vectors_agree_with_plain_hmac() -> None:
    assert independent("whsec_test", BODY) == LS_VECTOR
    assert independent("whsec_test", b"1700000000." + BODY) == STRIPE_VECTOR
    assert independent("attr", b"credit-user:u1") == LS_UAT_U1
    assert independent("attr", b"credit:u1:10") == STRIPE_UAT_U1_10


def test_lemonsqueezy_signature() -> None:
    assert lemonsqueezy.verify_signature(BODY, LS_VECTOR, "whsec_test")
    assert not lemonsqueezy.verify_signature(b'{"a":2}', LS_VECTOR, "whsec_test")
    assert not lemonsqueezy.verify_signature(BODY, LS_VECTOR, "whsec_other")
    assert not lemonsqueezy.verify_signature(BODY, None, "whsec_test")
    assert not lemonsqueezy.verify_signature(BODY, LS_VECTOR, "")
    assert not lemonsqueezy.verify_signature(BODY, LS_VECTOR.upper(), "whsec_test")
    assert not lemonsqueezy.verify_signature(BODY, LS_VECTOR + "00", "whsec_test")
    assert not lemonsqueezy.verify_signature(BODY, "é" * 64, "whsec_test")


def test_stripe_signature_and_window() -> None:
    header = f"t=1700000000,v1={STRIPE_VECTOR}"
    assert stripe.verify_signature(BODY, header, "whsec_test", now_seconds=1_700_000_000)
    assert not stripe.verify_signature(BODY, header, "whsec_test", now_seconds=1_700_010_000)
    assert stripe.verify_signature(BODY, header, "whsec_test", now_seconds=1_700_010_000, tolerance_seconds=0)
    assert not stripe.verify_signature(BODY, "t=1,v1=deadbeef", "whsec_test", now_seconds=1)
    assert not stripe.verify_signature(BODY, header, "", now_seconds=1_700_000_000)
    assert stripe.sign_payload(BODY, "whsec_test", 1_700_000_000) == header


def test_stripe_header_parsing() -> None:
    assert stripe.parse_signature_header("t=12,v1=a,v0=b, v1 = c ,junk,=x") == (12.0, ["a", "c"])
    assert stripe.parse_signature_header("t=nan,v1=a") == (None, ["a"])
    assert stripe.parse_signature_header("t=1.5,v1=a=b") == (1.5, ["a=b"])


def test_attribution_vectors_and_rotation() -> None:
    assert lemonsqueezy.sign_attribution("u1", "attr") == LS_UAT_U1
    assert stripe.sign_attribution("u1", "10", "attr") == STRIPE_UAT_U1_10
    assert lemonsqueezy.verify_attribution("u1", LS_UAT_U1, ("new", "attr"))
    assert not lemonsqueezy.verify_attribution("u2", LS_UAT_U1, ("attr",))
    assert not lemonsqueezy.verify_attribution("u1", None, ("attr",))
    assert stripe.verify_attribution("u1", "10", STRIPE_UAT_U1_10, ("new", "attr"))
    assert not stripe.verify_attribution("u1", "25", STRIPE_UAT_U1_10, ("attr",))
    assert not stripe.verify_attribution("u1", None, STRIPE_UAT_U1_10, ("attr",))


@pytest.mark.parametrize(("current", "previous", "expected"), [
    ("a", ("b", "c"), ("a", "b", "c")),
    (None, (), ("whsec",)),
    ("  ", ("", " "), ("whsec",)),
    (None, ("old",), ("old",)),
])
def test_attribution_secret_list_is_never_empty(current: str | None, previous: tuple[str, ...],
                                                expected: tuple[str, ...]) -> None:
    assert attribution_secrets(current, previous, "whsec") == expected
