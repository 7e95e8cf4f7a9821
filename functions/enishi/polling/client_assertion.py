"""OAuth client authentication by a signed JWT (``private_key_jwt``, RFC 7523 §2.2 / OIDC Core §9), ES256 only.

STORES' token endpoint authenticates the client this way (heyinc/development-partner-docs ``auth-oauth.md``):
the form carries ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and
``client_assertion=<JWT>`` whose claims are ``iss`` = ``sub`` = the client id, ``aud`` = the token endpoint URL,
``jti``, ``iat``, ``exp``; the only algorithm accepted is ES256. STORES hands the private key over as a JWK;
``enishi connect`` stores it as PEM (``jwk_to_pem``).

Built with ``cryptography`` directly (ECDSA P-256 + SHA-256; the JWS signature is the raw ``r || s``, 32 bytes
each, base64url). This module is imported only when a token is refreshed with a private key, so no other cart's
cold start pays for ``cryptography``.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LIFETIME = timedelta(minutes=5)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _private_key(pem: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (TypeError, ValueError) as exc:  # TypeError: an encrypted key
        raise ValueError(
            f"the private key cannot be read ({type(exc).__name__}): an unencrypted PEM is needed"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the private key is not an EC P-256 key (ES256)")
    return key


def claims(client_id: str, audience: str, now: datetime, jti: str | None = None) -> dict[str, Any]:
    iat = int(now.timestamp())
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": jti or secrets.token_urlsafe(18),
        "iat": iat,
        "exp": iat + int(LIFETIME.total_seconds()),
    }


def sign(payload: dict[str, Any], private_key_pem: str, key_id: str | None = None) -> str:
    """A compact JWS (ES256) of ``payload``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    header: dict[str, Any] = {"alg": "ES256", "typ": "JWT", **({"kid": key_id} if key_id else {})}
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)
    )
    der = _private_key(private_key_pem).sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def client_assertion(
    client_id: str, audience: str, private_key_pem: str, now: datetime, key_id: str | None = None
) -> dict[str, str]:
    """The two form fields that authenticate the client at ``audience`` (the token endpoint URL)."""
    return {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": sign(claims(client_id, audience, now), private_key_pem, key_id),
    }


def verify(token: str, public_key: Any) -> dict[str, Any]:
    """Check an ES256 JWS's signature with an EC public key; return its claims (ValueError if it does not hold).
    Used by the local fake token endpoint and the tests; claim checks (aud, exp, jti) are the verifier's."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        head, body, sig = token.split(".")
        header = json.loads(b64url_decode(head))
        raw = b64url_decode(sig)
    except (ValueError, json.JSONDecodeError) as exc:
        raise ValueError("not a compact JWS") from exc
    if not isinstance(header, dict) or header.get("alg") != "ES256" or len(raw) != 64:
        raise ValueError("not an ES256 JWS")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public_key.verify(der, f"{head}.{body}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise ValueError("bad signature") from exc
    payload = json.loads(b64url_decode(body))
    if not isinstance(payload, dict):
        raise ValueError("claims are not an object")
    return payload


def jwk_to_pem(jwk: dict[str, Any]) -> tuple[str, str | None]:
    """A private EC P-256 JWK (what STORES hands over) → (PKCS#8 PEM, its ``kid``)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or not jwk.get("d"):
        raise ValueError("the JWK is not a private EC P-256 key (kty EC, crv P-256, d)")
    numbers = ec.EllipticCurvePrivateNumbers(
        int.from_bytes(b64url_decode(jwk["d"]), "big"),
        ec.EllipticCurvePublicNumbers(
            int.from_bytes(b64url_decode(jwk["x"]), "big"),
            int.from_bytes(b64url_decode(jwk["y"]), "big"),
            ec.SECP256R1(),
        ),
    )
    pem = numbers.private_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode("ascii"), (str(jwk["kid"]) if jwk.get("kid") else None)


def check_private_key(pem: str) -> None:
    """ValueError unless ``pem`` is an unencrypted EC P-256 private key (``enishi connect`` checks before storing)."""
    _private_key(pem)
