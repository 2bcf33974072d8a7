#!/usr/bin/env python3
"""A tiny OpenID Connect provider and a stand-in for API Gateway's JWT authorizer, for the agent board's login test.

OidcProvider (127.0.0.1, a free port, a background thread):
  GET  /.well-known/openid-configuration   discovery (CORS)
  GET  /authorize                          checks client_id, redirect_uri, response_type=code and an S256
                                           code_challenge, then shows a username/password form
  POST /authorize                          checks the password, redirects to redirect_uri with code and state
  POST /token                              authorization_code grant: the code once, the same client_id and
                                           redirect_uri, and code_verifier whose SHA-256 is the challenge; answers an
                                           RS256 access token (iss, aud and client_id, sub, username, scope, exp), an
                                           ID token and a refresh token (CORS).
                                           refresh_token grant (public client: client_id, no secret): a refresh token
                                           this provider issued to that client_id; answers a new access and ID token.
                                           rotate_refresh=True (default): refresh tokens are single-use and every
                                           refresh answer carries the next one; False: as Cognito does by default,
                                           a refresh token is reusable until it expires and refresh answers carry none.
  GET  /jwks                               the signing key (CORS)

JwtAuthorizer (127.0.0.1, a free port, a background thread) proxies to the board server like API Gateway with a JWT
authorizer on /api/*: GET / and GET /config.json go through unauthenticated; /api/* only with
`Authorization: Bearer <JWT>` whose signature checks against the issuer's JWKS (found through discovery) and whose
iss, exp and aud (or client_id) are right; anything else answers 401 {"message":"Unauthorized"}. Other paths: 404.

Run by hand: board_oidc.py --upstream http://127.0.0.1:PORT/ prints the issuer and the proxy's URL.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import http.client
import json
import math
import re
import secrets
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
    "Access-Control-Max-Age": "600",
}
VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode()).digest())


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread."""

    handler: type

    def _serve(self, name: str, port: int = 0):
        handler = type(name, (self.handler,), {"app": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    app = None

    def log_message(self, fmt, *args):
        pass

    def reply(self, status: int, body: bytes = b"", content_type: str | None = None, headers: dict | None = None):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, status: int, value, headers: dict | None = None):
        self.reply(status, json.dumps(value).encode(), "application/json", headers)

    def form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


class _ProviderHandler(_Handler):
    def do_OPTIONS(self):  # noqa: N802 - CORS preflight
        self.reply(204, headers=CORS)

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        if url.path == "/.well-known/openid-configuration":
            return self.reply_json(200, self.app.discovery(), CORS)
        if url.path == "/jwks":
            return self.reply_json(200, self.app.jwks(), CORS)
        if url.path == "/authorize":
            q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            problem = self.app.check_authorize(q)
            if problem:
                self.app.events.append(("authorize-refused", problem))
                return self.reply(400, f"<h1>Bad request</h1><p>{html.escape(problem)}</p>".encode(), "text/html")
            self.app.events.append(("authorize", q.get("state")))
            return self.reply(200, self.app.login_form(q).encode(), "text/html; charset=utf-8")
        self.reply_json(404, {"error": "not_found"})

    def do_POST(self):  # noqa: N802
        url = urlsplit(self.path)
        if url.path == "/authorize":
            f = self.form()
            problem = self.app.check_authorize(f)
            if problem:
                return self.reply(400, html.escape(problem).encode(), "text/html")
            if self.app.users.get(f.get("username")) != f.get("password"):
                self.app.events.append(("login-failed", f.get("username")))
                return self.reply(200, self.app.login_form(f, "Wrong username or password.").encode(), "text/html")
            code = secrets.token_urlsafe(24)
            self.app.codes[code] = {
                "client_id": f["client_id"],
                "redirect_uri": f["redirect_uri"],
                "challenge": f["code_challenge"],
                "scope": f.get("scope") or "openid",
                "username": f["username"],
                "expires": time.time() + 120,
            }
            self.app.events.append(("code", f["username"]))
            location = f["redirect_uri"] + ("&" if "?" in f["redirect_uri"] else "?")
            location += urlencode({"code": code, "state": f.get("state", "")})
            return self.reply(302, headers={"Location": location})
        if url.path == "/token":
            form = self.form()
            status, answer = self.app.exchange(form)
            # ("token", ...) for a code exchange (a login), ("refresh", ...) for the refresh grant
            kind = "refresh" if form.get("grant_type") == "refresh_token" else "token"
            self.app.events.append((kind, status, answer.get("error")))
            return self.reply_json(status, answer, {**CORS, "Cache-Control": "no-store"})
        self.reply_json(404, {"error": "not_found"})


class OidcProvider(_Server):
    handler = _ProviderHandler

    def __init__(self, client_id: str = "agent-board", users: dict[str, str] | None = None,
                 redirect_uris: list[str] | None = None, token_seconds: int = 3600, port: int = 0,
                 rotate_refresh: bool = True, refresh_seconds: int = 30 * 86400):
        self.client_id = client_id
        self.users = users or {"supervisor": "correct horse"}
        self.redirect_uris = redirect_uris  # None: any http://127.0.0.1:<port>/... is accepted
        # The switches below may be changed while the provider runs (a test's short token lifetime, an outage).
        self.token_seconds = token_seconds  # access and ID token lifetime (expires_in)
        self.rotate_refresh = rotate_refresh
        self.refresh_seconds = refresh_seconds
        self.token_unavailable = False  # /token answers 503, as an identity provider having a bad minute
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        self.codes: dict[str, dict] = {}
        self.refresh_tokens: dict[str, dict] = {}  # refresh token -> the grant; clear() revokes every session
        self._refresh_lock = threading.Lock()  # a single-use token is spent once, however many ask at once
        self.events: list[tuple] = []  # what happened, for tests to assert on
        self._serve("oidc-provider", port)
        self.issuer = f"http://127.0.0.1:{self.port}"

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "profile"],
        }

    def jwks(self) -> dict:
        numbers = self.key.public_key().public_numbers()
        as_bytes = lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big")  # noqa: E731
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                          "n": b64url(as_bytes(numbers.n)), "e": b64url(as_bytes(numbers.e))}]}

    def redirect_allowed(self, uri: str) -> bool:
        if self.redirect_uris is not None:
            return uri in self.redirect_uris
        return bool(re.fullmatch(r"http://127\.0\.0\.1:\d+/[^?#]*", uri or ""))

    def check_authorize(self, q: dict) -> str | None:
        if q.get("client_id") != self.client_id:
            return "unknown client_id"
        if not self.redirect_allowed(q.get("redirect_uri", "")):
            return "redirect_uri not registered"
        if q.get("response_type") != "code":
            return "response_type must be code"
        challenge = q.get("code_challenge", "")
        if q.get("code_challenge_method") != "S256" or not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge):
            return "PKCE with an S256 code_challenge is required"
        if not q.get("state"):
            return "state is required"
        return None

    def login_form(self, q: dict, message: str = "") -> str:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(q.get(k, ""))}">'
            for k in ("client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
                      "code_challenge_method")
        )
        return (
            "<!doctype html><html><head><meta charset=utf-8><title>Sign in</title></head><body>"
            f"<h1>Sign in to the agent board</h1><p id=message>{html.escape(message)}</p>"
            f'<form method="post" action="/authorize">{hidden}'
            '<label>Username <input name="username" id="username" autocomplete="username"></label> '
            '<label>Password <input name="password" id="password" type="password"></label> '
            '<button type="submit" id="sign-in">Sign in</button></form></body></html>'
        )

    def exchange(self, f: dict) -> tuple[int, dict]:
        def bad(error, description):
            return 400, {"error": error, "error_description": description}

        if self.token_unavailable:
            return 503, {"error": "temporarily_unavailable", "error_description": "try again later"}
        if f.get("grant_type") == "refresh_token":
            return self.refresh(f)
        if f.get("grant_type") != "authorization_code":
            return bad("unsupported_grant_type", "only authorization_code and refresh_token")
        grant = self.codes.pop(f.get("code", ""), None)  # a code works once
        if grant is None or grant["expires"] < time.time():
            return bad("invalid_grant", "unknown, used or expired code")
        if f.get("client_id") != grant["client_id"]:
            return bad("invalid_client", "client_id differs from the authorization request")
        if f.get("redirect_uri") != grant["redirect_uri"]:
            return bad("invalid_grant", "redirect_uri differs from the authorization request")
        verifier = f.get("code_verifier", "")
        if not VERIFIER.fullmatch(verifier):
            return bad("invalid_grant", "code_verifier missing or malformed")
        if s256(verifier) != grant["challenge"]:
            return bad("invalid_grant", "code_verifier does not match the code_challenge")
        return 200, {**self.tokens(grant), "refresh_token": self.new_refresh_token(grant)}

    def refresh(self, f: dict) -> tuple[int, dict]:
        """The refresh_token grant for a public client: no secret, the client_id the token was issued to."""
        def bad(error, description):
            return 400, {"error": error, "error_description": description}

        if f.get("client_id") != self.client_id:
            return bad("invalid_client", "unknown client_id")
        with self._refresh_lock:
            grant = self.refresh_tokens.get(f.get("refresh_token", ""))
            if grant is None or grant["expires"] < time.time():
                return bad("invalid_grant", "unknown, used, revoked or expired refresh token")
            if grant["client_id"] != f["client_id"]:
                return bad("invalid_grant", "the refresh token was issued to another client")
            answer = self.tokens(grant)
            if self.rotate_refresh:  # single-use: spent now, the answer carries the next one
                del self.refresh_tokens[f["refresh_token"]]
                answer["refresh_token"] = self.new_refresh_token(grant)
        return 200, answer

    def new_refresh_token(self, grant: dict) -> str:
        token = secrets.token_urlsafe(32)
        self.refresh_tokens[token] = {"client_id": grant["client_id"], "scope": grant["scope"],
                                      "username": grant["username"], "expires": time.time() + self.refresh_seconds}
        return token

    def tokens(self, grant: dict) -> dict:
        """An access and an ID token for the grant. exp is rounded up to the second, so a token is good for at least
        expires_in seconds from now (a few-second lifetime in a test must not lose most of a second to rounding)."""
        now = time.time()
        common = {"iss": self.issuer, "sub": "sub-" + grant["username"], "iat": int(now),
                  "exp": math.ceil(now) + self.token_seconds}
        access = self.sign({**common, "aud": self.client_id, "client_id": self.client_id, "token_use": "access",
                            "scope": grant["scope"], "username": grant["username"], "jti": secrets.token_hex(8)})
        id_token = self.sign({**common, "aud": self.client_id, "token_use": "id",
                              "preferred_username": grant["username"]})
        return {"access_token": access, "id_token": id_token, "token_type": "Bearer",
                "expires_in": self.token_seconds, "scope": grant["scope"]}

    def sign(self, claims: dict) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host", "content-length"}


class _ProxyHandler(_Handler):
    def do_GET(self):  # noqa: N802
        self.route()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def route(self):
        path = urlsplit(self.path).path
        app: JwtAuthorizer = self.app
        if path.startswith("/api/"):
            problem = app.check(self.headers.get("Authorization", ""))
            app.seen.append((self.command, path, problem))
            if problem:
                return self.reply_json(401, {"message": "Unauthorized"},
                                       {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        elif path in ("/", "/config.json"):
            app.seen.append((self.command, path, None))
        else:
            return self.reply_json(404, {"message": "Not Found"})
        self.forward()

    def forward(self):
        app: JwtAuthorizer = self.app
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn = http.client.HTTPConnection(app.upstream_host, app.upstream_port, timeout=30)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            res = conn.getresponse()
            data = res.read()
        except OSError:
            return self.reply_json(503, {"message": "Service Unavailable"})
        finally:
            conn.close()
        out = {k: v for k, v in res.getheaders() if k.lower() not in HOP_BY_HOP}
        self.send_response(res.status)
        for k, v in out.items():
            self.send_header(k, v)
        if res.status != 304:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and res.status != 304 and self.command != "HEAD":
            self.wfile.write(data)


class JwtAuthorizer(_Server):
    handler = _ProxyHandler

    def __init__(self, upstream: str, issuer: str, audience: str, port: int = 0):
        u = urlsplit(upstream)
        self.upstream_host, self.upstream_port = u.hostname, u.port or 80
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.force_401 = False  # a test's switch: every /api/ request is refused, as after a key rotation
        self.seen: list[tuple] = []  # (method, path, None or why it was refused)
        self._jwks = None
        self._lock = threading.Lock()
        self._serve("jwt-authorizer", port)
        self.url = f"http://127.0.0.1:{self.port}/"

    def jwk_client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                with urllib.request.urlopen(self.issuer + "/.well-known/openid-configuration", timeout=10) as r:
                    meta = json.load(r)
                self._jwks = jwt.PyJWKClient(meta["jwks_uri"], cache_keys=True)
            return self._jwks

    def check(self, authorization: str) -> str | None:
        """None when the bearer token is good, else why not."""
        if self.force_401:
            return "refused by the test"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "no bearer token"
        try:
            key = self.jwk_client().get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=self.issuer,
                                options={"verify_aud": False, "require": ["exp", "iss"]})
        except jwt.PyJWTError as e:
            return f"invalid token: {e}"
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if self.audience not in auds and claims.get("client_id") != self.audience:
            return "audience"
        return None


def main() -> int:
    p = argparse.ArgumentParser(description="Run the test OIDC provider and the JWT authorizer proxy by hand.")
    p.add_argument("--upstream", required=True, help="the board server, e.g. http://127.0.0.1:8080/")
    p.add_argument("--client-id", default="agent-board")
    p.add_argument("--user", default="supervisor:correct horse", help="username:password")
    p.add_argument("--token-seconds", type=int, default=3600, help="access token lifetime (watch the page refresh)")
    p.add_argument("--reusable-refresh", action="store_true", help="refresh tokens as Cognito: reusable, not rotated")
    args = p.parse_args()
    name, _, password = args.user.partition(":")
    provider = OidcProvider(args.client_id, {name: password}, token_seconds=args.token_seconds,
                            rotate_refresh=not args.reusable_refresh).start()
    proxy = JwtAuthorizer(args.upstream, provider.issuer, args.client_id).start()
    print(f"OIDC_ISSUER={provider.issuer} OIDC_CLIENT_ID={args.client_id}")
    print(f"Board through the authorizer: {proxy.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
