"""The login test's stand-ins (scripts/board_oidc.py) do check what they claim to: PKCE, client and redirect URI at
the provider, and the refresh token grant (the client it was issued to, single-use or reusable); signature, issuer,
audience and expiry at the JWT authorizer. No browser, no Rust binary: the authorizer forwards to
scripts/board_mock.py."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))
from board_mock import BoardMock  # noqa: E402
from board_oidc import JwtAuthorizer, OidcProvider  # noqa: E402

CLIENT = "agent-board-test"
USER, PASSWORD = "supervisor", "correct horse"
REDIRECT = "http://127.0.0.1:9/board/"


def request(base: str, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    """(status, headers, body bytes); redirects are not followed."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    data = urlencode(body).encode() if body is not None else None
    h = {**({"Content-Type": "application/x-www-form-urlencoded"} if data else {}), **(headers or {})}
    conn.request(method, path, body=data, headers=h)
    res = conn.getresponse()
    out = res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    conn.close()
    return out


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(challenge: str, **over) -> dict:
    return {"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT, "scope": "openid",
            "state": "st-1", "code_challenge": challenge, "code_challenge_method": "S256", **over}


def code_for(provider: OidcProvider, challenge: str) -> str:
    status, headers, _ = request(provider.issuer, "POST", "/authorize",
                                 {**authorize_params(challenge), "username": USER, "password": PASSWORD})
    assert status == 302
    location = urlsplit(headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    q = parse_qs(location.query)
    assert q["state"] == ["st-1"]
    return q["code"][0]


def exchange(provider, code, verifier, **over):
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": CLIENT,
            "code_verifier": verifier, **over}
    status, headers, body = request(provider.issuer, "POST", "/token", form)
    return status, headers, json.loads(body)


@pytest.fixture(scope="module")
def provider():
    with OidcProvider(CLIENT, {USER: PASSWORD}, redirect_uris=[REDIRECT]) as p:
        yield p


@pytest.fixture(scope="module")
def proxy(provider):
    with BoardMock(agents=8, rate=1) as mock, JwtAuthorizer(mock.url, provider.issuer, CLIENT) as proxy:
        mock.day.started -= 3600  # an hour into the day: everyone logged in
        yield proxy


def test_discovery_names_the_endpoints_with_cors(provider):
    status, headers, body = request(provider.issuer, "GET", "/.well-known/openid-configuration")
    meta = json.loads(body)
    assert status == 200 and headers["access-control-allow-origin"] == "*"
    assert meta["issuer"] == provider.issuer
    assert meta["token_endpoint"] == provider.issuer + "/token"
    assert meta["code_challenge_methods_supported"] == ["S256"]


def test_code_and_verifier_give_an_rs256_access_token_for_the_client(provider):
    verifier, challenge = pkce()
    status, form_headers, form = request(provider.issuer, "GET", "/authorize?" + urlencode(authorize_params(challenge)))
    assert status == 200 and b'name="password"' in form
    status, headers, answer = exchange(provider, code_for(provider, challenge), verifier)
    assert status == 200, answer
    assert headers["access-control-allow-origin"] == "*"
    key = jwt.PyJWKClient(provider.issuer + "/jwks").get_signing_key_from_jwt(answer["access_token"])
    claims = jwt.decode(answer["access_token"], key.key, algorithms=["RS256"], audience=CLIENT, issuer=provider.issuer)
    assert claims["client_id"] == CLIENT and claims["username"] == USER
    assert claims["exp"] - time.time() == pytest.approx(answer["expires_in"], abs=5)


@pytest.mark.parametrize("change, error", [
    ({"code_verifier": None}, "invalid_grant"),  # the wrong verifier
    ({"redirect_uri": "http://127.0.0.1:9/other/"}, "invalid_grant"),
    ({"client_id": "someone-else"}, "invalid_client"),
    ({"grant_type": "password"}, "unsupported_grant_type"),
])
def test_token_exchange_refuses_what_does_not_match_the_authorization(provider, change, error):
    verifier, challenge = pkce()
    code = code_for(provider, challenge)
    if "code_verifier" in change:
        change = {"code_verifier": pkce()[0]}
    status, _, answer = exchange(provider, code, verifier, **change)
    assert (status, answer["error"]) == (400, error)


def test_a_code_works_once(provider):
    verifier, challenge = pkce()
    code = code_for(provider, challenge)
    assert exchange(provider, code, verifier)[0] == 200
    assert exchange(provider, code, verifier)[0] == 400


@pytest.mark.parametrize("change", [{"code_challenge_method": "plain"}, {"code_challenge": ""},
                                    {"client_id": "nobody"}, {"redirect_uri": "http://evil.invalid/"},
                                    {"state": ""}])
def test_authorize_refuses_requests_without_pkce_or_from_unknown_clients(provider, change):
    _, challenge = pkce()
    status, _, _ = request(provider.issuer, "GET", "/authorize?" + urlencode(authorize_params(challenge, **change)))
    assert status == 400


def test_a_wrong_password_gives_no_code(provider):
    _, challenge = pkce()
    status, headers, body = request(provider.issuer, "POST", "/authorize",
                                    {**authorize_params(challenge), "username": USER, "password": "guess"})
    assert status == 200 and "location" not in headers and b"Wrong username or password" in body


def login(provider) -> dict:
    """A fresh login's token answer (access, ID and refresh token)."""
    verifier, challenge = pkce()
    status, _, answer = exchange(provider, code_for(provider, challenge), verifier)
    assert status == 200, answer
    return answer


def refresh(provider, refresh_token, client_id=CLIENT):
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    status, headers, body = request(provider.issuer, "POST", "/token", form)
    return status, headers, json.loads(body)


def claims_of(provider, access_token) -> dict:
    key = jwt.PyJWKClient(provider.issuer + "/jwks").get_signing_key_from_jwt(access_token)
    return jwt.decode(access_token, key.key, algorithms=["RS256"], audience=CLIENT, issuer=provider.issuer)


def test_a_refresh_token_gives_a_new_access_token_and_with_rotation_works_once(provider, proxy):
    first = login(provider)
    assert first["refresh_token"]
    status, headers, answer = refresh(provider, first["refresh_token"])
    assert status == 200, answer
    assert headers["access-control-allow-origin"] == "*" and headers["cache-control"] == "no-store"
    assert answer["access_token"] != first["access_token"]
    claims = claims_of(provider, answer["access_token"])
    assert claims["client_id"] == CLIENT and claims["username"] == USER and claims["scope"] == "openid"
    # the authorizer takes the refreshed token as it took the first
    auth = {"Authorization": "Bearer " + answer["access_token"]}
    assert request(proxy.url, "GET", "/api/board", headers=auth)[0] == 200
    # single-use: the answer carries the next refresh token, the spent one is refused
    assert answer["refresh_token"] and answer["refresh_token"] != first["refresh_token"]
    status, _, again = refresh(provider, first["refresh_token"])
    assert (status, again["error"]) == (400, "invalid_grant")
    assert refresh(provider, answer["refresh_token"])[0] == 200
    assert ("refresh", 200, None) in provider.events and ("refresh", 400, "invalid_grant") in provider.events


def test_without_rotation_a_refresh_token_is_reusable_and_answers_carry_none(provider):
    provider.rotate_refresh = False  # as a Cognito app client by default
    try:
        first = login(provider)
        for _ in range(2):
            status, _, answer = refresh(provider, first["refresh_token"])
            assert status == 200, answer
            assert "refresh_token" not in answer and claims_of(provider, answer["access_token"])["username"] == USER
    finally:
        provider.rotate_refresh = True


@pytest.mark.parametrize("what, error", [("wrong client", "invalid_client"), ("unknown token", "invalid_grant"),
                                         ("expired token", "invalid_grant"), ("revoked token", "invalid_grant")])
def test_refresh_is_refused_for_another_client_or_a_token_it_did_not_issue(provider, what, error):
    good = login(provider)["refresh_token"]
    client_id, refresh_token = CLIENT, good
    if what == "wrong client":
        client_id = "someone-else"
    elif what == "unknown token":
        refresh_token = secrets.token_urlsafe(32)
    elif what == "expired token":
        provider.refresh_tokens[good]["expires"] = time.time() - 1
    elif what == "revoked token":
        provider.refresh_tokens.clear()
    status, _, answer = refresh(provider, refresh_token, client_id)
    assert (status, answer["error"]) == (400, error)
    assert "access_token" not in answer
    if what in ("wrong client", "unknown token"):  # a refused attempt does not spend the client's token
        assert refresh(provider, good)[0] == 200


def test_a_short_token_lifetime_is_honoured_and_an_outage_answers_503(provider):
    provider.token_seconds = 3
    try:
        before = time.time()
        first = login(provider)
        after = time.time()
        assert first["expires_in"] == 3
        exp = claims_of(provider, first["access_token"])["exp"]
        assert before + 3 <= exp <= after + 4, "the token must be good for at least expires_in, at most 1 s more"
        provider.token_unavailable = True
        status, _, answer = refresh(provider, first["refresh_token"])
        assert (status, answer["error"]) == (503, "temporarily_unavailable")
        provider.token_unavailable = False
        assert refresh(provider, first["refresh_token"])[0] == 200, "an outage must not spend the refresh token"
    finally:
        provider.token_seconds, provider.token_unavailable = 3600, False


def token(provider, **claims) -> str:
    now = int(time.time())
    base = {"iss": provider.issuer, "aud": CLIENT, "client_id": CLIENT, "sub": "s", "iat": now, "exp": now + 300}
    return provider.sign({k: v for k, v in {**base, **claims}.items() if v is not None})


def test_authorizer_lets_the_page_and_config_through_without_a_token(proxy):
    status, headers, body = request(proxy.url, "GET", "/")
    assert status == 200 and b'id="tiles"' in body
    status, _, body = request(proxy.url, "GET", "/config.json")
    assert status == 200 and "thresholds" in json.loads(body)
    assert request(proxy.url, "GET", "/elsewhere")[0] == 404


def test_authorizer_forwards_the_api_with_a_valid_token_304_included(provider, proxy):
    auth = {"Authorization": "Bearer " + token(provider)}
    status, headers, body = request(proxy.url, "GET", "/api/board", headers=auth)
    assert status == 200 and len(json.loads(body)["agents"]) == 8
    assert "x-board-clock" in headers
    status, headers, body = request(proxy.url, "GET", "/api/board", headers={**auth, "If-None-Match": headers["etag"]})
    assert (status, body) == (304, b"") and headers["etag"]
    # a Cognito access token has client_id and no aud: API Gateway accepts it, so does the stand-in
    cognito = {"Authorization": "Bearer " + token(provider, aud=None)}
    assert request(proxy.url, "GET", "/api/board", headers=cognito)[0] == 200


@pytest.mark.parametrize("what", ["none", "garbage", "expired", "other key", "other issuer", "other audience"])
def test_authorizer_refuses_the_api_without_a_good_token(provider, proxy, what):
    now = int(time.time())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bearer = {
        "none": None,
        "garbage": "not.a.jwt",
        "expired": token(provider, iat=now - 600, exp=now - 60),
        "other key": jwt.encode({"iss": provider.issuer, "aud": CLIENT, "exp": now + 300}, other_key,
                                algorithm="RS256", headers={"kid": provider.kid}),
        "other issuer": token(provider, iss="http://127.0.0.1:1"),
        "other audience": token(provider, aud="another-app", client_id="another-app"),
    }[what]
    headers = {"Authorization": "Bearer " + bearer} if bearer else {}
    status, _, body = request(proxy.url, "GET", "/api/board", headers=headers)
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
