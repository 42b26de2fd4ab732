"""Personal-data masking (PIPL: minimum necessary, masked by default)."""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """138****1234 for mainland mobiles; keep only the last 4 digits of anything else."""
    digits = phone.strip()
    if len(digits) == 11 and digits.isdigit():
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]
