"""Realm users from the users file: ``User`` (roles, password, profile claims) and
``UserDirectory`` (lookup by login name or id)."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


#: What the composite realm role ``default-roles-<realm>`` contains in a new Keycloak realm:
#: realm roles, and the ``account`` client's roles (``manage-account`` is itself a composite
#: holding ``manage-account-links``). Users created through the admin console or registration
#: get it; users imported from a realm file get only the roles the file lists
#: (``DefaultExportImportManager.createUser``: ``addUser(..., addDefaultRoles=false, ...)``).
DEFAULT_REALM_ROLES = ("offline_access", "uma_authorization")
DEFAULT_ACCOUNT_ROLES = ("manage-account", "manage-account-links", "view-profile")


@dataclass(frozen=True)
class User:
    """One realm user, as loaded from the users file."""

    id: str
    username: str
    password: str = field(repr=False)
    enabled: bool
    email: str | None
    email_verified: bool
    first_name: str | None
    last_name: str | None
    realm_roles: tuple[str, ...]
    client_roles: Mapping[str, tuple[str, ...]]
    profile_optional: bool

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> User:
        """Build a user from one entry of the users file (Keycloak's representation names)."""
        return cls(
            id=str(item["id"]),
            username=str(item["username"]).lower(),
            password=str(item["password"]),
            enabled=bool(item.get("enabled", True)),
            email=item.get("email") or None,
            email_verified=bool(item.get("emailVerified", False)),
            first_name=item.get("firstName") or None,
            last_name=item.get("lastName") or None,
            realm_roles=tuple(item.get("realmRoles", ())),
            client_roles={client: tuple(roles) for client, roles in item.get("clientRoles", {}).items()},
            profile_optional=bool(item.get("profileOptional", False)),
        )

    def effective_roles(self, realm: str) -> tuple[set[str], dict[str, set[str]]]:
        """Realm and client roles with the composite ``default-roles-<realm>`` expanded, as
        Keycloak resolves role mappings into a token."""
        realm_roles = set(self.realm_roles)
        client_roles = {client: set(roles) for client, roles in self.client_roles.items()}
        if f"default-roles-{realm}" in realm_roles:
            realm_roles.update(DEFAULT_REALM_ROLES)
            client_roles.setdefault("account", set()).update(DEFAULT_ACCOUNT_ROLES)
        return realm_roles, client_roles

    def password_matches(self, candidate: str) -> bool:
        """Constant-time password comparison."""
        return hmac.compare_digest(candidate.encode("utf-8"), self.password.encode("utf-8"))

    @property
    def profile_complete(self) -> bool:
        """Keycloak's user profile wants first name, last name and email before a login."""
        return self.profile_optional or bool(self.first_name and self.last_name and self.email)

    def profile_claims(self) -> dict[str, Any]:
        """The ``profile`` and ``email`` scope claims, in Keycloak's order, absent ones omitted."""
        claims: dict[str, Any] = {"email_verified": self.email_verified}
        full_name = " ".join(part for part in (self.first_name, self.last_name) if part)
        if full_name:
            claims["name"] = full_name
        claims["preferred_username"] = self.username
        if self.first_name:
            claims["given_name"] = self.first_name
        if self.last_name:
            claims["family_name"] = self.last_name
        if self.email:
            claims["email"] = self.email
        return claims


class UserDirectory:
    """Users by login name (username or email, case-insensitive) and by id."""

    def __init__(self, users: list[User]):
        self._by_login: dict[str, User] = {}
        self._by_id: dict[str, User] = {}
        for user in users:
            self._by_id[user.id] = user
            self._by_login[user.username] = user
            if user.email:
                self._by_login.setdefault(user.email.lower(), user)

    @classmethod
    def load(cls, path: Path) -> UserDirectory:
        """Read the users file: a JSON list of Keycloak-style user objects."""
        items = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(items, list):
            raise ValueError(f"{path}: expected a JSON list of users")
        return cls([User.from_json(item) for item in items])

    def find(self, login: str) -> User | None:
        """The user with this username or email."""
        return self._by_login.get(login.lower())

    def by_id(self, user_id: Any) -> User | None:
        """The user whose ``id`` (the tokens' ``sub``) this is."""
        return self._by_id.get(user_id) if isinstance(user_id, str) else None
