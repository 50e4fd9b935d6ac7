import Auth
import FoundationEssentials
import Logging
import Platform

extension AppConfiguration {
    /// Every key, in the order of the README's configuration table (a test keeps the two equal;
    /// `KEYCLOAK_FCGI_UPDATE_README=1 swift test --filter ConfigurationTable` rewrites the
    /// README's table from this list). Keys are read in this order, so a key may rely on the
    /// ones above it (`KEYCLOAK_ISSUER` on the server URL and realm, `KEYCLOAK_MAX_CONCURRENT_CALLS`
    /// on `FCGI_WORKERS`).
    static var keys: [ConfigurationKey] {
        [
            ConfigurationKey(
                name: "KEYCLOAK_SERVER_URL", defaultText: "—",
                meaning:
                    #"Keycloak's base URL, with or without a trailing slash and with or without the `/auth` prefix of Keycloak ≤ 16 (both layouts are tried at discovery). Required unless `KEYCLOAK_ISSUER` is set."#,
                read: { reader, _ in
                    // Checked here; combined with the realm into the issuer by KEYCLOAK_ISSUER.
                    guard reader.optional("KEYCLOAK_ISSUER") == nil, let text = reader.required("KEYCLOAK_SERVER_URL") else { return }
                    _ = reader.httpURL(text, key: "KEYCLOAK_SERVER_URL")
                },
                show: { _ in nil }),
            ConfigurationKey(
                name: "KEYCLOAK_REALM", defaultText: "—",
                meaning: #"realm name; issuer = `<server>/realms/<realm>`. Required unless `KEYCLOAK_ISSUER` is set."#,
                read: { reader, _ in
                    guard reader.optional("KEYCLOAK_ISSUER") == nil, let realm = reader.required("KEYCLOAK_REALM") else { return }
                    if !Self.isRealmName(realm) {
                        reader.problem("KEYCLOAK_REALM", "must be a realm name, not a path")
                    }
                },
                show: { _ in nil }),
            ConfigurationKey(
                name: "KEYCLOAK_CLIENT_ID", defaultText: "—",
                meaning: #"the confidential client (`fastapi-keycloak` in the article)"#,
                read: { reader, configuration in configuration.provider.clientID = reader.required("KEYCLOAK_CLIENT_ID") ?? "" },
                show: { $0.provider.clientID }),
            ConfigurationKey(
                name: "KEYCLOAK_CLIENT_SECRET", defaultText: "—",
                meaning: #"its secret (client_secret_post). Required unless `..._FILE` is set."#,
                read: { reader, configuration in
                    switch (reader.optional("KEYCLOAK_CLIENT_SECRET"), reader.optional("KEYCLOAK_CLIENT_SECRET_FILE")) {
                    case (.some(let value), nil): configuration.provider.clientSecret = Secret(value)
                    case (nil, nil): reader.problem("KEYCLOAK_CLIENT_SECRET", "missing (or set KEYCLOAK_CLIENT_SECRET_FILE)")
                    default: break  // KEYCLOAK_CLIENT_SECRET_FILE's row
                    }
                },
                show: { "\($0.provider.clientSecret)" }),
            ConfigurationKey(
                name: "KEYCLOAK_CLIENT_SECRET_FILE", defaultText: "—",
                meaning: #"read the secret from this file instead (Docker secrets); trailing newline ignored"#,
                read: { reader, configuration in
                    guard let path = reader.optional("KEYCLOAK_CLIENT_SECRET_FILE") else { return }
                    guard reader.optional("KEYCLOAK_CLIENT_SECRET") == nil else {
                        reader.problem(
                            "KEYCLOAK_CLIENT_SECRET_FILE", "set either KEYCLOAK_CLIENT_SECRET or KEYCLOAK_CLIENT_SECRET_FILE, not both")
                        return
                    }
                    guard let contents = reader.readFile(path) else {
                        reader.problem("KEYCLOAK_CLIENT_SECRET_FILE", "cannot read \(path)")
                        return
                    }
                    let value = contents.trimmingNewlines
                    guard !value.isEmpty else {
                        reader.problem("KEYCLOAK_CLIENT_SECRET_FILE", "\(path) is empty")
                        return
                    }
                    configuration.provider.clientSecret = Secret(value)
                },
                show: { _ in nil }),
            ConfigurationKey(
                name: "KEYCLOAK_ISSUER", defaultText: "derived",
                meaning:
                    #"the full issuer URL, for OIDC servers with another layout; discovery at `<issuer>/.well-known/openid-configuration`"#,
                read: { reader, configuration in configuration.provider.issuerCandidates = Self.issuerCandidates(&reader) },
                show: { $0.provider.issuerCandidates.joined(separator: " | ") }),
            ConfigurationKey(
                name: "KEYCLOAK_DISCOVERY_URL", defaultText: "derived",
                meaning:
                    #"fetch discovery here instead: for Keycloak with hostname v2 and `hostname-backchannel-dynamic`, where tokens carry the public issuer (`KEYCLOAK_ISSUER`) but this service reaches Keycloak at an internal URL; the document's `issuer` must still equal the configured issuer, and its back-channel endpoints (token, JWKS, userinfo, introspection) are used"#,
                read: { reader, configuration in
                    configuration.provider.discoveryURL = reader.optional("KEYCLOAK_DISCOVERY_URL").flatMap {
                        reader.httpURL($0, key: "KEYCLOAK_DISCOVERY_URL")
                    }
                },
                show: { $0.provider.discoveryURL ?? "(derived from the issuer)" }),
            .duration(
                "KEYCLOAK_CONNECT_TIMEOUT_SECONDS", default: 3, range: 0.01...300, \.provider.limits.connectTimeout,
                #"connect timeout for calls to the provider"#),
            .duration(
                "KEYCLOAK_TIMEOUT_SECONDS", default: 10, range: 0.01...600, \.provider.limits.totalTimeout,
                #"total timeout for one call to the provider"#),
            ConfigurationKey(
                name: "KEYCLOAK_CA_FILE", defaultText: "system store",
                meaning: #"PEM bundle to trust for an `https` provider"#,
                read: { reader, configuration in
                    let path = reader.optional("KEYCLOAK_CA_FILE")
                    if let path, reader.readFile(path) == nil {
                        reader.problem("KEYCLOAK_CA_FILE", "cannot read \(path)")
                    }
                    configuration.provider.limits.caFile = path
                },
                show: { $0.provider.limits.caFile ?? "(system trust store)" }),
            ConfigurationKey(
                name: "FCGI_LISTEN", defaultText: "`127.0.0.1:9000`",
                meaning: #"`unix:/path/to.sock`, `host:port` (IPv4), or `systemd` (the socket from systemd socket activation, fd 3)"#,
                read: { reader, configuration in
                    guard let text = reader.optional("FCGI_LISTEN") else { return }
                    guard let address = ListenAddress(text) else {
                        reader.problem("FCGI_LISTEN", "must be unix:/absolute/path (no ':'), host:port or systemd")
                        return
                    }
                    configuration.listen = address
                    // sd_listen_fds(3): systemd says which process its sockets are for, and how many.
                    configuration.systemdSockets = SystemdSockets(
                        pid: reader.values["LISTEN_PID"].flatMap(Int32.init), count: reader.values["LISTEN_FDS"].flatMap(Int.init))
                },
                show: { "\($0.listen)" }),
            ConfigurationKey(
                name: "FCGI_SOCKET_MODE", defaultText: "`660`",
                meaning: #"permissions of a unix socket (nginx's user needs write access)"#,
                read: { reader, configuration in configuration.socketMode = reader.octal("FCGI_SOCKET_MODE", default: 0o660) },
                show: { String($0.socketMode, radix: 8) }),
            ConfigurationKey(
                name: "FCGI_WORKERS", defaultText: "`8 + 4 × CPUs`",
                meaning:
                    #"worker threads, each with its own FastCGI request and curl handle. Idle kept connections hold none (they wait in one epoll set), so this is what the CPUs and the provider calls need, not the number of connections (docs/design.md)"#,
                read: { reader, configuration in
                    configuration.workers = reader.integer(
                        "FCGI_WORKERS", default: AppConfiguration.defaultWorkers, range: 1...1024)
                },
                show: { "\($0.workers)" }),
            .integer(
                "FCGI_MAX_CONNECTIONS", default: 512, range: 8...65536, \.maximumConnections,
                #"FastCGI connections open at once (kept idle ones included); at the bound new ones wait in the listen backlog, with a warning"#
            ),
            ConfigurationKey(
                name: "KEYCLOAK_MAX_CONCURRENT_CALLS", defaultText: "workers − max(2, workers/4)",
                meaning:
                    #"worker threads that may wait on the provider at once; beyond that `/login` answers 503 at once, so `/protected` always has threads"#,
                read: { reader, configuration in
                    let workers = configuration.workers
                    let calls = reader.integer(
                        "KEYCLOAK_MAX_CONCURRENT_CALLS", default: max(1, workers - max(2, workers / 4)), range: 1...1024)
                    if calls > workers {
                        reader.problem("KEYCLOAK_MAX_CONCURRENT_CALLS", "must not exceed FCGI_WORKERS (\(workers))")
                    }
                    configuration.maximumConcurrentProviderCalls = calls
                },
                show: { "\($0.maximumConcurrentProviderCalls)" }),
            .integer("FCGI_BACKLOG", default: 1024, range: 1...65535, \.backlog, #"listen backlog"#),
            .integer(
                "MAX_BODY_BYTES", default: 65536, range: 1024...(16 << 20), \.maximumBodyBytes,
                #"largest request body (nginx's `client_max_body_size` should match)"#),
            .choice(
                "AUTH_VERIFY", default: VerifyMode.jwks, \.verifyMode,
                #"`jwks`: verify the JWT locally with the provider's cached keys; `userinfo`: the seed's call to the userinfo endpoint on every request; `introspect`: RFC 7662 introspection at the provider (revocation and logout take effect within the TTL below)"#
            ),
            .integer(
                "AUTH_TOKEN_CACHE_SIZE", default: 10000, range: 0...10_000_000, \.tokenCacheSize,
                #"verdicts kept (jwks: verified tokens until `exp` + skew, evicted when their key leaves the JWKS; introspect: answers within the TTL); as many opened session cookies (until their access token expires); `0` turns the caches off"#
            ),
            .seconds(
                "AUTH_INTROSPECTION_TTL_SECONDS", default: 10, range: 0...3600, \.introspectionTTLSeconds,
                #"longest an active introspection answer is reused (never past `exp`); inactive answers are reused for 2 s at most; `0` asks every time"#
            ),
            .list(
                "AUTH_REQUIRED_ROLES", \.authorization.requiredRoles,
                #"roles `/protected` (and `/auth` when nginx passes none) requires, all of them: `name` for a realm role, `client:name` for a client role"#
            ),
            .list("AUTH_REQUIRED_SCOPES", \.authorization.requiredScopes, #"scopes required in the token's `scope`, all of them"#),
            .list(
                "AUTH_AUDIENCE", \.policy.audiences,
                #"optional list (commas/spaces); a token passes when one is in `aud` or equals `azp`. Unset: no audience check"#),
            ConfigurationKey(
                name: "AUTH_EXTRA_ISSUERS", defaultText: "—",
                meaning:
                    #"other realms (issuers) whose tokens `/protected` and `/auth` accept, jwks mode only: a list of `issuer` or `issuer=audience` (that realm's audience instead of `AUTH_AUDIENCE`). Each has its own discovery, keys, refetch budget and cache; the token's `iss` picks the realm before any key lookup. `/login`, `/refresh`, `/logout` stay with the primary realm"#,
                read: { reader, configuration in configuration.extraIssuers = Self.extraIssuers(&reader, configuration) },
                show: { configuration in
                    configuration.extraIssuers.map { $0.issuer + ($0.audiences.map { "=" + $0.joined(separator: "|") } ?? "") }
                        .joined(separator: ",")
                }),
            .boolean(
                "AUTH_REQUIRE_AT_JWT", default: false, \.policy.requiresAccessTokenHeaderType,
                #"`true` when the provider marks access tokens with the RFC 9068 header `typ: at+jwt` (Keycloak's client option "Use at+jwt as access token header type"): tokens without it are refused"#
            ),
            .choice(
                "AUTH_DPOP", default: ResourceServer.DPoPMode.allowed, \.resourceServer.dpopMode,
                #"DPoP (RFC 9449) at `/protected` and `/auth`: `allowed` (DPoP-bound tokens with their proofs, and bearer tokens), `required` (DPoP-bound tokens only), `off` (the DPoP scheme is refused like any non-Bearer scheme). A DPoP-bound token sent as Bearer is refused in every mode"#
            ),
            ConfigurationKey(
                name: "AUTH_DPOP_ALGS", defaultText: "`ES256 ES384 PS256 PS384 PS512 RS256 RS384 RS512`",
                meaning: #"proof algorithms accepted and advertised (`algs`, `dpop_signing_alg_values_supported`); asymmetric only"#,
                read: { reader, configuration in
                    let names = reader.list("AUTH_DPOP_ALGS")
                    guard !names.isEmpty else { return }
                    var algorithms: [SignatureAlgorithm] = []
                    for name in names {
                        guard let algorithm = SignatureAlgorithm(rawValue: name.uppercased()) else {
                            reader.problem(
                                "AUTH_DPOP_ALGS",
                                "\(name.prefix(40)) is not one of \(SignatureAlgorithm.allCases.map(\.rawValue).joined(separator: " "))")
                            return
                        }
                        if !algorithms.contains(algorithm) { algorithms.append(algorithm) }
                    }
                    configuration.resourceServer.dpop.algorithms = algorithms
                },
                show: { $0.resourceServer.dpop.algorithms.map(\.rawValue).joined(separator: " ") }),
            ConfigurationKey(
                name: "AUTH_DPOP_PROOF_MAX_AGE_SECONDS", defaultText: "`60`",
                meaning: #"oldest `iat` a DPoP proof may have (5 s ahead of this clock are tolerated); its `jti` is remembered as long"#,
                read: { reader, configuration in
                    configuration.resourceServer.dpop.maximumAgeSeconds = Int64(
                        reader.integer("AUTH_DPOP_PROOF_MAX_AGE_SECONDS", default: 60, range: 1...3600))
                },
                show: { "\($0.resourceServer.dpop.maximumAgeSeconds)" }),
            .boolean(
                "AUTH_DPOP_NONCE", default: false, \.resourceServer.requiresNonce,
                #"`true`: DPoP proofs must carry a nonce this service issued (RFC 9449 §9; `use_dpop_nonce` with a `DPoP-Nonce` header, valid 1-2 minutes, shared by replicas with the same client secret)"#
            ),
            ConfigurationKey(
                name: "OAUTH_RESOURCE", defaultText: "the request's `https://host`",
                meaning:
                    #"the resource identifier (RFC 9728): an https URL named in `/.well-known/oauth-protected-resource` and in challenges' `resource_metadata`; its origin replaces the request's in DPoP `htu` checks (set it when a proxy in front of nginx changes the host)"#,
                read: { reader, configuration in
                    guard let text = reader.optional("OAUTH_RESOURCE") else { return }
                    guard let url = reader.httpURL(text, key: "OAUTH_RESOURCE") else { return }
                    guard !url.contains("?"), !url.contains("#") else {
                        reader.problem("OAUTH_RESOURCE", "must not have a query or fragment (RFC 9728 §1.2)")
                        return
                    }
                    configuration.resourceServer.resource = url
                },
                show: { $0.resourceServer.resource ?? "" }),
            .boolean(
                "AUTH_CHECK_ALLOWED_ORIGINS", default: false, \.resourceServer.checksAllowedOrigins,
                #"`true`: a request with an `Origin` header and a token with Keycloak's `allowed-origins` claim (the client's Web origins) gets 403 unless the origin is listed (or `*` is), as Keycloak's Java adapter did"#
            ),
            .seconds("AUTH_CLOCK_SKEW_SECONDS", default: 30, range: 0...3600, \.policy.clockSkewSeconds, #"tolerance for `exp` and `nbf`"#),
            .duration(
                "AUTH_JWKS_REFRESH_SECONDS", default: 300, range: 10...86400, \.jwksRefreshInterval,
                #"how often the signing keys are refetched in the background"#),
            ConfigurationKey(
                name: "LOG_LEVEL", defaultText: "`info`",
                meaning: #"`trace` … `critical`"#,
                read: { reader, configuration in configuration.logLevel = reader.choice("LOG_LEVEL", default: Logger.Level.info) },
                show: { "\($0.logLevel)" }),
            .choice(
                "LOG_FORMAT", default: LogFormat.text, \.logFormat,
                #"`text` (swift-log's stream format) or `json` (one JSON object per line)"#),
            .integer(
                "MALLOC_ARENA_MAX", default: 4, range: 1...64, \.mallocArenas,
                #"glibc's malloc arenas: each keeps its own free memory, and glibc would give up to 8 × cores to the worker threads (docs/design.md, "Memory")"#
            ),
            ConfigurationKey(
                name: "SESSION_KEYS_FILE", defaultText: "—",
                meaning:
                    #"turns on browser sign-in (`/oauth2/*`, session cookies at `/auth`): a file of AES-256 keys, one per line (32 bytes as base64 or 64 hex digits; `openssl rand -base64 32`); the first seals, all open, so a new key goes first and an old one is removed once its cookies have expired. Needs `OIDC_REDIRECT_URI`"#,
                read: { reader, configuration in Self.readBrowserSignIn(&reader, &configuration) },
                show: { $0.browserSignIn == nil ? "(browser sign-in off)" : "(set)" }),
            ConfigurationKey(
                name: "OIDC_REDIRECT_URI", defaultText: "—",
                meaning:
                    #"the sign-in callback as browsers reach it, e.g. `https://app.example.com/oauth2/callback`; must be one of the client's Valid Redirect URIs in Keycloak"#,
                read: { _, _ in },  // read with SESSION_KEYS_FILE
                show: { $0.browserSignIn?.redirectURI ?? "(browser sign-in off)" }),
            ConfigurationKey(
                name: "OIDC_POST_LOGOUT_REDIRECT_URI", defaultText: "the redirect URI's origin + `/`",
                meaning: #"where Keycloak sends the browser after sign-out; must be one of the client's Valid post logout redirect URIs"#,
                read: { _, _ in }, show: { $0.browserSignIn?.postLogoutRedirectURI ?? "(browser sign-in off)" }),
            ConfigurationKey(
                name: "OIDC_SCOPE", defaultText: "`openid`",
                meaning: #"scopes the sign-in asks for (`openid` is always included)"#,
                read: { _, _ in }, show: { $0.browserSignIn?.scope ?? "(browser sign-in off)" }),
            ConfigurationKey(
                name: "SIGNIN_ALLOWED_REDIRECT_ORIGINS", defaultText: "—",
                meaning:
                    #"origins (`https://host[:port]`) that `/oauth2/start?rd=` may send the browser back to besides this site's own paths"#,
                read: { _, _ in }, show: { $0.browserSignIn?.allowedRedirectOrigins.joined(separator: ",") ?? "(browser sign-in off)" }),
            ConfigurationKey(
                name: "SESSION_COOKIE_NAME", defaultText: "`__Host-keycloak-fcgi`",
                meaning:
                    #"the session cookie (chunks add `_0`, `_1`, …); must start with `__Host-` (Secure, Path=/, no Domain: only this host reads it)"#,
                read: { _, _ in }, show: { $0.browserSignIn?.cookieName ?? "(browser sign-in off)" }),
            ConfigurationKey(
                name: "REVOCATION_STORE", defaultText: "memory",
                meaning:
                    #"where back-channel logouts are shared: `redis://[:password@]host[:port][/db]` (every replica subscribes; docs/revocation.md), or unset for this process only"#,
                read: { reader, configuration in
                    guard let url = reader.optional("REVOCATION_STORE"), url != "memory" else { return }
                    let lower = url.lowercased()
                    guard lower.hasPrefix("redis://") || lower.hasPrefix("unix://") || lower.hasPrefix("redis+unix://") else {
                        reader.problem("REVOCATION_STORE", "must be a redis:// or unix:// URL, or unset")
                        return
                    }
                    if let problem = RedisRevocationStore.problem(with: url) {
                        reader.problem("REVOCATION_STORE", problem)
                        return
                    }
                    configuration.revocationStoreURL = Secret(url)
                },
                show: { $0.revocationStoreURL.map { Self.redactedURL($0.value) } ?? "memory" }),
            .integer(
                "REVOCATION_TTL_SECONDS", default: 3600, range: 60...(30 * 86400), \.revocationTTLSeconds,
                #"how long a back-channel logout keeps refusing its session or subject: at least the longest access-token lifetime of the realm"#
            ),
        ]
    }
}

extension AppConfiguration {
    /// `SESSION_KEYS_FILE` and the keys that only matter with it.
    static func readBrowserSignIn(_ reader: inout ConfigurationReader, _ configuration: inout AppConfiguration) {
        guard let path = reader.optional("SESSION_KEYS_FILE") else {
            for key in ["OIDC_REDIRECT_URI", "OIDC_POST_LOGOUT_REDIRECT_URI", "SIGNIN_ALLOWED_REDIRECT_ORIGINS"]
            where reader.optional(key) != nil {
                reader.problem(key, "needs SESSION_KEYS_FILE (browser sign-in is off without it)")
            }
            return
        }
        var keyring: SessionKeyring?
        if let text = reader.readFile(path) {
            switch SessionKeyring.parseKeyFile(text) {
            case .success(let keys): keyring = try? SessionKeyring(keys: keys)
            case .failure(let error):
                reader.problem(
                    "SESSION_KEYS_FILE",
                    error.line == 0 ? "\(path) holds no key" : "\(path) line \(error.line) is not a 32-byte key (base64 or 64 hex digits)")
            }
        } else {
            reader.problem("SESSION_KEYS_FILE", "cannot read \(path)")
        }
        guard let redirect = reader.required("OIDC_REDIRECT_URI") else { return }
        guard let redirectURI = reader.httpURL(redirect, key: "OIDC_REDIRECT_URI"), let origin = Self.origin(of: redirectURI) else {
            return
        }
        if !redirectURI.lowercased().hasPrefix("https://") {
            reader.problem("OIDC_REDIRECT_URI", "must be https:// (the session cookie is Secure)")
        }
        let postLogout = reader.optional("OIDC_POST_LOGOUT_REDIRECT_URI").flatMap {
            reader.httpURL($0, key: "OIDC_POST_LOGOUT_REDIRECT_URI")
        }
        var origins: [String] = []
        for entry in reader.list("SIGNIN_ALLOWED_REDIRECT_ORIGINS") {
            guard let url = reader.httpURL(entry, key: "SIGNIN_ALLOWED_REDIRECT_ORIGINS"), let entryOrigin = Self.origin(of: url),
                entryOrigin == url
            else {
                reader.problem("SIGNIN_ALLOWED_REDIRECT_ORIGINS", "\(entry.prefix(100)) is not an origin (scheme://host[:port], no path)")
                continue
            }
            origins.append(entryOrigin.lowercased())
        }
        var scopes = reader.list("OIDC_SCOPE")
        if !scopes.contains("openid") { scopes.insert("openid", at: 0) }
        let cookieName = reader.optional("SESSION_COOKIE_NAME") ?? "__Host-keycloak-fcgi"
        if !cookieName.hasPrefix("__Host-") || !cookieName.utf8.allSatisfy(Self.isCookieNameByte) || cookieName.utf8.count > 64 {
            reader.problem("SESSION_COOKIE_NAME", "must start with __Host- and hold only letters, digits, - and _ (at most 64)")
        }
        guard let keyring else { return }
        configuration.browserSignIn = BrowserSignInSettings(
            keyring: keyring, redirectURI: redirectURI, postLogoutRedirectURI: postLogout ?? origin + "/",
            scope: scopes.joined(separator: " "), allowedRedirectOrigins: origins, cookieName: cookieName)
    }

    /// `scheme://host[:port]` of an http(s) URL, lower-cased scheme and host.
    static func origin(of url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), let host = components.host
        else { return nil }
        let port = components.port.map { ":\($0)" } ?? ""
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "\(scheme)://\(bracketed.lowercased())\(port)"
    }

    static func isCookieNameByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }

    /// A store URL with its password replaced, for `--check-config`.
    static func redactedURL(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else { return url }
        let schemeEnd = url.index(colon, offsetBy: 3)
        guard schemeEnd < at else { return url }
        return String(url[..<schemeEnd]) + "***" + String(url[at...])
    }
}
