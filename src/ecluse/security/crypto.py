"""AES-256-GCM encryption of stored secrets, under a key from ``ECLUSE_SECRET_KEY`` or an
auto-generated key file (mode 0600) in the data directory."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE = "secret.key"


class SecretError(Exception):
    pass


def load_master_key(secret_key: str | None, data_dir: Path) -> bytes:
    """32 bytes: from the setting (base64 of 32 bytes, or any passphrase, hashed), else from
    ``data_dir/secret.key``, created with mode 0600 on first use."""
    if secret_key:
        try:
            raw = base64.urlsafe_b64decode(secret_key.encode() + b"=" * (-len(secret_key) % 4))
            if len(raw) == 32:
                return raw
        except ValueError:
            pass
        return hashlib.sha256(secret_key.encode()).digest()
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        text = path.read_text(encoding="ascii").strip()
        return base64.urlsafe_b64decode(text.encode())
    key = AESGCM.generate_key(bit_length=256)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(base64.urlsafe_b64encode(key).decode())
    os.chmod(path, 0o600)
    return key


def derive_key(master: bytes, purpose: str) -> bytes:
    return hmac.new(master, purpose.encode(), hashlib.sha256).digest()


class SecretBox:
    """Encrypts JSON values; the output carries a version byte and a random 96-bit nonce."""

    def __init__(self, master: bytes) -> None:
        self._aes = AESGCM(derive_key(master, "ecluse-secrets-v1"))

    def encrypt(self, value: Any, *, aad: str = "") -> str:
        nonce = os.urandom(12)
        data = self._aes.encrypt(nonce, json.dumps(value).encode(), aad.encode())
        return "v1:" + base64.b64encode(nonce + data).decode()

    def decrypt(self, token: str, *, aad: str = "") -> Any:
        if not token.startswith("v1:"):
            raise SecretError("unknown secret format")
        raw = base64.b64decode(token[3:])
        try:
            plain = self._aes.decrypt(raw[:12], raw[12:], aad.encode())
        except InvalidTag as exc:
            raise SecretError("the secret cannot be decrypted with this key") from exc
        return json.loads(plain)
