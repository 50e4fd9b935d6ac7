"""The seed's FastAPI app with one change: GET /protected verifies the access token locally with
PyJWT against the provider's JWKS instead of calling the userinfo endpoint. This is the fair
Python peer of keycloak-fcgi's jwks mode (bench/run_all.py).

Everything else is the seed (bench/peers/seed_app.py, imported): the same settings from the
environment, the same python-keycloak client, GET / and POST /login unchanged, the same response
model. Verification, per request:
- the signing key by the token's `kid` from `PyJWKClient` (the JWKS is fetched once and cached,
  keys cached by kid; an unknown kid refetches);
- the signature, RS256 only;
- `iss` exactly the issuer from the provider's discovery document; `exp` (and `nbf`, `iat`
  when present) with PyJWT's checks; `exp`, `iat`, `iss` and `sub` required;
- `typ` = "Bearer" (refresh and ID tokens refused), as keycloak-fcgi does.
The audience is not checked (keycloak-fcgi checks it only when AUTH_AUDIENCE is set; Keycloak's
access tokens carry `aud: account`).

Run: `uvicorn local_jwt_app:app --workers 2` with the seed's four KEYCLOAK_* variables.
"""

from __future__ import annotations

import jwt
from fastapi import Depends, FastAPI, Form, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from seed_app import AuthController, TokenResponse, UserInfo, keycloak_openid

# Discovery once per worker process, at import (the provider is up before the benchmark starts us).
_openid_config = keycloak_openid.well_known()
ISSUER: str = _openid_config["issuer"]
jwks_client = jwt.PyJWKClient(_openid_config["jwks_uri"], cache_keys=True, cache_jwk_set=True, lifespan=300)

INVALID = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Could not validate credentials",
    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
)


def verify_token_locally(token: str) -> UserInfo:
    try:
        signing_key = jwks_client.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            issuer=ISSUER,
            options={"verify_aud": False, "require": ["exp", "iat", "iss", "sub"]},
        )
    except jwt.PyJWTError:
        raise INVALID from None
    if claims.get("typ", "Bearer") != "Bearer" or "preferred_username" not in claims:
        raise INVALID
    return UserInfo(
        preferred_username=claims["preferred_username"],
        email=claims.get("email"),
        full_name=claims.get("name"),
    )


app = FastAPI()
bearer_scheme = HTTPBearer()


@app.get("/")
async def read_root():
    return AuthController.read_root()


@app.post("/login", response_model=TokenResponse)
async def login(username: str = Form(...), password: str = Form(...)):
    return AuthController.login(username, password)


@app.get("/protected", response_model=UserInfo)
async def protected_endpoint(
    credentials: HTTPAuthorizationCredentials = Depends(bearer_scheme),
):
    # CPU only once the key is cached: an `async def` endpoint, like the seed's.
    return verify_token_locally(credentials.credentials)
