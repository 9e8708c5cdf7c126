"""The signing scheme's test vectors (docs/signing.md), computed with `openssl dgst -sha256 -hmac`.

A platform implementing the receiver checks its code against the same table.
"""

import pytest
from multidict import CIMultiDict

from takedowns.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    sign,
    signature_headers,
    verify,
)

# (secret, timestamp, body, signature): printf '%s' "$timestamp.$body" | openssl dgst -sha256 -hmac "$secret"
VECTORS = [
    (
        "modwatch-test-secret-0001",
        1767225600,
        b'{"request_id":"tdr-0001","platform":"example"}',
        "v1=f724e4475d5b2d42b9c1e30ff343830ab0ad7f9be51af048feeea4677c18a709",
    ),
    (
        "modwatch-test-secret-0001",
        1767225600,
        b"",
        "v1=7ed884cf8a4ef4aa482c1f83837add4d3c53dfaa830fe1026bec50959f489a66",
    ),
    (
        "sixteen-byte-key",
        1767225600,
        '{"request_id":"tdr-0001","text":"ٹی ٹی پی"}'.encode(),
        "v1=64b8d06e6c6cf654ce0597ca02c3e0ae5a534b0f67948156e2487a4140a39736",
    ),
]


@pytest.mark.parametrize(("secret", "timestamp", "body", "signature"), VECTORS)
def test_vectors(secret, timestamp, body, signature):
    assert sign(secret, timestamp, body) == signature
    assert sign(secret.encode(), str(timestamp), body) == signature
    headers = signature_headers("tdr-0001", secret, timestamp, body)
    assert headers[SIGNATURE_HEADER] == signature
    verify(secret, headers, body, now=timestamp + 299)


def test_each_refusal_has_its_reason():
    secret, timestamp, body, signature = VECTORS[0]
    good = {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature}
    cases = {
        "missing_header": ({TIMESTAMP_HEADER: str(timestamp)}, body, timestamp),
        "bad_format": ({**good, SIGNATURE_HEADER: "v2=" + signature[3:]}, body, timestamp),
        "mismatch": (good, body + b" ", timestamp),
        "stale_timestamp": (good, body, timestamp + 301),
        "future_timestamp": (good, body, timestamp - 301),
    }
    for reason, (headers, signed_body, now) in cases.items():
        with pytest.raises(SignatureError) as error:
            verify(secret, headers, signed_body, now=now)
        assert error.value.reason == reason
    with pytest.raises(SignatureError, match="given 2 times"):
        headers = CIMultiDict([(TIMESTAMP_HEADER, "1"), (TIMESTAMP_HEADER.lower(), "1"), (SIGNATURE_HEADER, signature)])
        verify(secret, headers, body, now=timestamp)


def test_header_names_match_without_case():
    secret, timestamp, body, signature = VECTORS[0]
    verify(secret, {TIMESTAMP_HEADER.lower(): str(timestamp), SIGNATURE_HEADER.upper(): signature}, body, timestamp)
