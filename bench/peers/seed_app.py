"""The seed: the article's FastAPI service ("Integrating FastAPI with Keycloak for Authentication",
/work/shared/seed-article.txt), as the article builds it, for the benchmark (bench/run_all.py).

The article's src/models.py, config.py, service.py, controller.py and main.py in one module,
in that order, code unchanged except where marked BENCH. It runs as the article runs it (an ASGI
app under uvicorn; the benchmark starts `uvicorn seed_app:app --workers 2`) and is configured
like it, by KEYCLOAK_SERVER_URL, KEYCLOAK_REALM, KEYCLOAK_CLIENT_ID and KEYCLOAK_CLIENT_SECRET
in the environment (or a .env file in the working directory).

Its design, measured as it is:
- GET /protected asks Keycloak's userinfo endpoint on every request (python-keycloak's
  `KeycloakOpenID.userinfo`), a blocking `requests` call;
- POST /login calls `KeycloakOpenID.token(username, password)`;
- both from `async def` endpoints, so each blocking call holds the worker's event loop: a uvicorn
  worker serves one such request at a time.

python-keycloak's `token()` sends grant_type=password and, by default (`scope="openid"`, in the
pinned 7.1.1 as in the article's ^4.4), scope=openid, which the provider's userinfo endpoint
requires (without it, userinfo answers 403 insufficient_scope). So the article's plain
`keycloak_openid.token(username, password)` works as written and is kept.
"""

# --- src/models.py -------------------------------------------------------------------------------
from typing import Optional

from pydantic import BaseModel


class TokenRequest(BaseModel):
    username: str
    password: str


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"


class UserInfo(BaseModel):
    preferred_username: str
    email: Optional[str] = None
    full_name: Optional[str] = None


# --- src/config.py -------------------------------------------------------------------------------
from keycloak import KeycloakOpenID  # noqa: E402
from pydantic import Field  # noqa: E402
from pydantic_settings import BaseSettings  # noqa: E402


class Settings(BaseSettings):
    # As the article writes it: pydantic 2 warns that `env=` is deprecated and ignores it;
    # pydantic-settings reads the same variables from the field names (case-insensitive).
    keycloak_server_url: str = Field(..., env="KEYCLOAK_SERVER_URL")
    keycloak_realm: str = Field(..., env="KEYCLOAK_REALM")
    keycloak_client_id: str = Field(..., env="KEYCLOAK_CLIENT_ID")
    keycloak_client_secret: str = Field(..., env="KEYCLOAK_CLIENT_SECRET")

    class Config:
        env_file = ".env"
        env_file_encoding = "utf-8"


settings = Settings()

keycloak_openid = KeycloakOpenID(
    server_url=settings.keycloak_server_url,
    realm_name=settings.keycloak_realm,
    client_id=settings.keycloak_client_id,
    client_secret_key=settings.keycloak_client_secret,
)


def get_openid_config():
    return keycloak_openid.well_known()


# --- src/service.py ------------------------------------------------------------------------------
from fastapi import HTTPException, status  # noqa: E402
from keycloak.exceptions import KeycloakAuthenticationError  # noqa: E402


class AuthService:
    @staticmethod
    def authenticate_user(username: str, password: str) -> str:
        """
        Authenticate the user using Keycloak and return an access token.
        """
        try:
            token = keycloak_openid.token(username, password)
            return token["access_token"]
        except KeycloakAuthenticationError:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Invalid username or password",
            )

    @staticmethod
    def verify_token(token: str) -> UserInfo:
        """
        Verify the given token and return user information.
        """
        try:
            user_info = keycloak_openid.userinfo(token)
            # BENCH: the article prints every user_info here (`print(user_info)`); kept, the
            # benchmark sends the peer's stdout to /dev/null.
            print(user_info)
            if not user_info:
                raise HTTPException(
                    status_code=status.HTTP_401_UNAUTHORIZED, detail="Invalid token"
                )
            return UserInfo(
                preferred_username=user_info["preferred_username"],
                email=user_info.get("email"),
                full_name=user_info.get("name"),
            )
        except KeycloakAuthenticationError:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Could not validate credentials",
            )


# --- src/controller.py ---------------------------------------------------------------------------
from fastapi import Depends, Form  # noqa: E402
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer  # noqa: E402

# Initialize HTTPBearer security dependency
bearer_scheme = HTTPBearer()


class AuthController:
    """
    Controller for handling authentication logic.
    """

    @staticmethod
    def read_root():
        return {
            "message": (
                "Welcome to the Keycloak authentication system. "
                "Use the /login endpoint to authenticate and /protected to access the protected resource."
            ),
            "documentation": "/docs",
        }

    @staticmethod
    def login(username: str = Form(...), password: str = Form(...)) -> TokenResponse:
        # Authenticate the user using the AuthService
        access_token = AuthService.authenticate_user(username, password)
        if not access_token:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Invalid username or password",
            )
        return TokenResponse(access_token=access_token)

    @staticmethod
    def protected_endpoint(
        credentials: HTTPAuthorizationCredentials = Depends(bearer_scheme),
    ) -> UserInfo:
        # Extract the bearer token from the provided credentials
        token = credentials.credentials
        # Verify the token and get user information
        user_info = AuthService.verify_token(token)
        if not user_info:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Invalid token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return user_info


# --- src/main.py ---------------------------------------------------------------------------------
from fastapi import FastAPI  # noqa: E402

# Initialize the FastAPI app
app = FastAPI()

# Initialize the HTTPBearer scheme for authentication
bearer_scheme = HTTPBearer()


# Define the root endpoint
@app.get("/")
async def read_root():
    """
    Root endpoint that provides a welcome message and documentation link.
    """
    return AuthController.read_root()


# Define the login endpoint
@app.post("/login", response_model=TokenResponse)
async def login(username: str = Form(...), password: str = Form(...)):
    """
    Login endpoint to authenticate the user and return an access token.
    """
    return AuthController.login(username, password)


# Define the protected endpoint
@app.get("/protected", response_model=UserInfo)
async def protected_endpoint(
    credentials: HTTPAuthorizationCredentials = Depends(bearer_scheme),
):
    """
    Protected endpoint that requires a valid token for access.
    """
    return AuthController.protected_endpoint(credentials)
