"""Personal-data masking and who may see what in clear (PIPL: minimum necessary, masked by
default). The one permission table for personal data lives here; docs/governance.md explains it.
"""

from __future__ import annotations

import re

# Roles that may ask for a resident's phone number in clear (customer service calls people
# back; managers answer complaints). Asking is explicit (`?reveal=phone`) and audit-logged:
# every other response, for every role, carries masked numbers only.
PHONE_ROLES = frozenset({"customer_service", "manager"})
# Fields of each export dataset that hold personal data: masked unless an approval names them.
PERSONAL_FIELDS: dict[str, frozenset[str]] = {
    "residents": frozenset({"name", "phone"}),
    "tasks": frozenset({"reporter_name", "reporter_phone"}),
    "facilities": frozenset(),
    "fees": frozenset(),
}

_MOBILE = re.compile(r"1[3-9]\d{9}")


def may_see_phone(role: str) -> bool:
    """May this role ask for a resident's full phone number (audit-logged when it does)?"""
    return role in PHONE_ROLES


def mask_phone(phone: str) -> str:
    """138****1234 for mainland mobiles; keep only the last 4 digits of anything else."""
    digits = phone.strip()
    if len(digits) == 11 and digits.isdigit():
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_name(name: str) -> str:
    """张* / 欧阳** : the family name stays, so a caller can still be addressed politely."""
    name = name.strip()
    return name[:1] + "*" * (len(name) - 1) if name else ""


def mask_field(field: str, value: str) -> str:
    """Mask one personal field of an export by what it holds (phones, else names)."""
    return mask_phone(value) if field.endswith("phone") else mask_name(value)


def mask_phones_in(text: str) -> str:
    """Every mainland mobile number inside free text masked (notes people typed)."""
    return _MOBILE.sub(lambda m: mask_phone(m.group(0)), text)
