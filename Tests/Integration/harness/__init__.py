"""The integration suite's harness: everything the tests (and bench/) share, apart from the tests.

- ``stack``: the release binary behind real nginx on free loopback ports (``Stack``), the
  session's record of logs and secrets (``SessionRecord``), nginx template rendering;
- ``idp_fixture``: the test identity provider (``idp/mini_keycloak.py``) as a process;
- ``idp_client``: plain HTTP calls to that provider (token, userinfo, introspection, logout);
- ``gate``: the stack with the example ``auth_request`` gate in front of ``sample_upstream``;
- ``fastcgi_client``: a raw FastCGI client, to talk to the responder without nginx;
- ``openapi_contract``: live responses checked against ``nginx/html/openapi.json``;
- ``jwt``: base64url and the unverified parts of a compact JWT;
- ``load``: client threads that record every answer, fault vocabulary, process probes;
- ``attacks``: the hostile-input attack table and the raw HTTP/1.1 client that sends it;
- ``deploy_files``: reading Dockerfiles and the Compose file, finding the tools that check them.

``Tests/Integration`` is on ``sys.path`` (``conftest.py`` puts it there for pytest; bench/
scripts do the same), so everything imports as ``harness.<module>``.
"""

from pathlib import Path

#: The repository's root directory.
REPO_ROOT = Path(__file__).resolve().parents[3]
