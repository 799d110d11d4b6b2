"""SCRAM-SHA-256 verifiers for PostgreSQL and PgBouncer, computed on the controller.

PostgreSQL stores a password as a SCRAM verifier; PgBouncer can authenticate clients against the
same verifier (userlist.txt) and then log in to PostgreSQL on their behalf (SCRAM pass-through)
only if both hold the *identical* verifier (same salt and iteration count). Computing it here once
gives both the same string without any plain-text password on disk, and keeps runs idempotent:
the salt is derived from the role name and the password, so the same inputs give the same verifier.
"""

import base64
import hashlib
import hmac

_ITERATIONS = 4096  # PostgreSQL's scram_iterations default


def scram_sha256_verifier(password, role, iterations=_ITERATIONS):
    """Return 'SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>' for password of role."""
    if not isinstance(password, str) or not password:
        raise ValueError("scram_sha256_verifier needs a non-empty password string")
    pw = password.encode("utf-8")
    salt = hmac.new(pw, b"airflow-cluster/scram-salt/" + str(role).encode("utf-8"), hashlib.sha256).digest()[:16]
    salted = hashlib.pbkdf2_hmac("sha256", pw, salt, int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
    return f"SCRAM-SHA-256${int(iterations)}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


class FilterModule:
    def filters(self):
        return {"scram_sha256_verifier": scram_sha256_verifier}
