import Auth
import FoundationEssentials
import Platform
import Logging

/// The whole configuration, built once at start-up from the environment and `.env`
/// (environment wins), validated in one pass, then passed down. Each property names its key.
struct AppConfiguration: Sendable {
    /// How `/protected` checks a token (`AUTH_VERIFY`).
    enum VerifyMode: String, Sendable, CaseIterable {
        /// Local signature and claim checks against the provider's cached JWKS (default).
        case jwks
        /// The seed's behaviour: one userinfo call to the provider per request.
        case userinfo
        /// RFC 7662 introspection at the provider, cached briefly: revocation takes effect at once.
        case introspect
    }

    /// `KEYCLOAK_SERVER_URL` + `KEYCLOAK_REALM` (or `KEYCLOAK_ISSUER`), `KEYCLOAK_DISCOVERY_URL`, `KEYCLOAK_CLIENT_ID`,
    /// `KEYCLOAK_CLIENT_SECRET` (or `KEYCLOAK_CLIENT_SECRET_FILE`),
    /// `KEYCLOAK_CONNECT_TIMEOUT_SECONDS` (3), `KEYCLOAK_TIMEOUT_SECONDS` (10), `KEYCLOAK_CA_FILE`.
    var provider: ProviderSettings
    /// `KEYCLOAK_MAX_CONCURRENT_CALLS`: worker threads that may wait on the provider at once
    /// (default: `FCGI_WORKERS` minus a quarter, at least 2 kept free).
    var maximumConcurrentProviderCalls: Int
    /// `FCGI_LISTEN`: `unix:/path`, `host:port` (default `127.0.0.1:9000`) or `systemd`.
    var listen: ListenAddress
    /// `FCGI_SOCKET_MODE`: octal permissions of a unix socket (default `660`).
    var socketMode: Int
    /// `FCGI_WORKERS`: worker threads, each with its own FastCGI request and curl handle (64).
    var workers: Int
    /// `FCGI_BACKLOG`: the listen backlog (1024).
    var backlog: Int
    /// `MAX_BODY_BYTES`: longest request body accepted (65536).
    var maximumBodyBytes: Int
    /// `AUTH_VERIFY`: `jwks` (default), `userinfo` or `introspect`.
    var verifyMode: VerifyMode
    /// `AUTH_AUDIENCE` (list), `AUTH_CLOCK_SKEW_SECONDS` (30), `AUTH_REQUIRE_AT_JWT` (false).
    var policy: VerificationPolicy
    /// `AUTH_EXTRA_ISSUERS`: other realms (issuers) whose tokens are accepted in jwks mode, each
    /// written `issuer` or `issuer=audience` (that realm's audience instead of `AUTH_AUDIENCE`).
    var extraIssuers: [ExtraIssuer]
    /// `AUTH_JWKS_REFRESH_SECONDS`: how often the signing keys are refetched (300).
    var jwksRefreshInterval: Duration
    /// `AUTH_TOKEN_CACHE_SIZE`: verdicts kept (jwks and introspect modes); 0 turns the cache off (10000).
    var tokenCacheSize: Int
    /// `AUTH_INTROSPECTION_TTL_SECONDS`: longest an active introspection answer is reused (10).
    var introspectionTTLSeconds: Double
    /// `AUTH_REQUIRED_ROLES`, `AUTH_REQUIRED_SCOPES`: what `/protected` (and `/auth`, unless nginx
    /// passes its own) requires; roles as `name` (realm) or `client:name` (client role).
    var authorization: AuthorizationPolicy
    /// `LOG_LEVEL`: trace, debug, info (default), notice, warning, error, critical.
    var logLevel: Logger.Level
    /// `LOG_FORMAT`: `text` (default) or `json` (one JSON object per line).
    var logFormat: LogFormat

    /// How log lines are written.
    enum LogFormat: String, Sendable, CaseIterable {
        case text, json
    }

    /// One entry of `AUTH_EXTRA_ISSUERS`.
    struct ExtraIssuer: Sendable, Equatable {
        /// The issuer URL, exactly as its tokens' `iss` (discovery at `<issuer>/.well-known/...`).
        var issuer: String
        /// Audiences its tokens must carry; nil: `AUTH_AUDIENCE` applies.
        var audiences: [String]?
    }

    /// Every key this type reads, in the order of the README's table.
    static let keys = [
        "KEYCLOAK_SERVER_URL", "KEYCLOAK_REALM", "KEYCLOAK_CLIENT_ID", "KEYCLOAK_CLIENT_SECRET",
        "KEYCLOAK_CLIENT_SECRET_FILE", "KEYCLOAK_ISSUER", "KEYCLOAK_DISCOVERY_URL", "KEYCLOAK_CONNECT_TIMEOUT_SECONDS",
        "KEYCLOAK_TIMEOUT_SECONDS", "KEYCLOAK_CA_FILE", "KEYCLOAK_MAX_CONCURRENT_CALLS",
        "FCGI_LISTEN", "FCGI_SOCKET_MODE", "FCGI_WORKERS", "FCGI_BACKLOG", "MAX_BODY_BYTES",
        "AUTH_VERIFY", "AUTH_AUDIENCE", "AUTH_EXTRA_ISSUERS", "AUTH_REQUIRE_AT_JWT", "AUTH_CLOCK_SKEW_SECONDS", "AUTH_JWKS_REFRESH_SECONDS",
        "AUTH_TOKEN_CACHE_SIZE", "AUTH_INTROSPECTION_TTL_SECONDS", "AUTH_REQUIRED_ROLES", "AUTH_REQUIRED_SCOPES",
        "LOG_LEVEL", "LOG_FORMAT",
    ]

    /// Builds and validates the configuration. `environment` wins over `dotEnv`.
    /// `readFile` reads `KEYCLOAK_CLIENT_SECRET_FILE` (injected for tests).
    static func load(
        environment: [String: String],
        dotEnv: [String: String] = [:],
        readFile: (String) -> String? = { Files.readText($0) }
    ) throws(ConfigurationError) -> AppConfiguration {
        var reader = Reader(values: dotEnv.merging(environment) { _, environmentValue in environmentValue })

        let issuerCandidates = reader.issuerCandidates()
        let discoveryURL = reader.optional("KEYCLOAK_DISCOVERY_URL").flatMap { reader.httpURL($0, key: "KEYCLOAK_DISCOVERY_URL") }
        let clientID = reader.required("KEYCLOAK_CLIENT_ID")
        let secret = reader.clientSecret(readFile: readFile)
        let connectTimeout = reader.seconds("KEYCLOAK_CONNECT_TIMEOUT_SECONDS", default: 3, range: 0.01...300)
        let totalTimeout = reader.seconds("KEYCLOAK_TIMEOUT_SECONDS", default: 10, range: 0.01...600)
        let caFile = reader.optional("KEYCLOAK_CA_FILE")
        if let caFile, readFile(caFile) == nil {
            reader.problem("KEYCLOAK_CA_FILE", "cannot read \(caFile)")
        }
        let listen = reader.listenAddress()
        let socketMode = reader.octal("FCGI_SOCKET_MODE", default: 0o660)
        let workers = reader.integer("FCGI_WORKERS", default: 64, range: 1...1024)
        let defaultCalls = max(1, workers - max(2, workers / 4))
        let calls = reader.integer("KEYCLOAK_MAX_CONCURRENT_CALLS", default: defaultCalls, range: 1...1024)
        if calls > workers {
            reader.problem("KEYCLOAK_MAX_CONCURRENT_CALLS", "must not exceed FCGI_WORKERS (\(workers))")
        }
        let backlog = reader.integer("FCGI_BACKLOG", default: 1024, range: 1...65535)
        let maximumBody = reader.integer("MAX_BODY_BYTES", default: 65536, range: 1024...(16 << 20))
        let verifyMode = reader.choice("AUTH_VERIFY", default: VerifyMode.jwks)
        let audiences = reader.list("AUTH_AUDIENCE")
        let extraIssuers = reader.extraIssuers(primary: issuerCandidates ?? [])
        if !extraIssuers.isEmpty && verifyMode != .jwks {
            reader.problem("AUTH_EXTRA_ISSUERS", "works with AUTH_VERIFY=jwks only (introspection and userinfo ask the primary realm)")
        }
        let requiresAccessTokenType = reader.boolean("AUTH_REQUIRE_AT_JWT", default: false)
        let skew = reader.seconds("AUTH_CLOCK_SKEW_SECONDS", default: 30, range: 0...3600)
        let refresh = reader.seconds("AUTH_JWKS_REFRESH_SECONDS", default: 300, range: 10...86400)
        let cacheSize = reader.integer("AUTH_TOKEN_CACHE_SIZE", default: 10000, range: 0...10_000_000)
        let introspectionTTL = reader.seconds("AUTH_INTROSPECTION_TTL_SECONDS", default: 10, range: 0...3600)
        let authorization = AuthorizationPolicy(requiredRoles: reader.list("AUTH_REQUIRED_ROLES"), requiredScopes: reader.list("AUTH_REQUIRED_SCOPES"))
        let logLevel = reader.logLevel()
        let logFormat = reader.choice("LOG_FORMAT", default: LogFormat.text)

        guard reader.problems.isEmpty, let issuerCandidates, let clientID, let secret else {
            throw ConfigurationError(problems: reader.problems)
        }
        let limits = HTTPClientLimits(
            connectTimeout: .milliseconds(Int64(connectTimeout * 1000)),
            totalTimeout: .milliseconds(Int64(totalTimeout * 1000)),
            caFile: caFile)
        return AppConfiguration(
            provider: ProviderSettings(
                issuerCandidates: issuerCandidates, discoveryURL: discoveryURL, clientID: clientID, clientSecret: secret, limits: limits),
            maximumConcurrentProviderCalls: calls,
            listen: listen ?? .tcp(host: "127.0.0.1", port: 9000),
            socketMode: socketMode,
            workers: workers,
            backlog: backlog,
            maximumBodyBytes: maximumBody,
            verifyMode: verifyMode,
            policy: VerificationPolicy(audiences: audiences, clockSkewSeconds: skew, requiresAccessTokenHeaderType: requiresAccessTokenType),
            extraIssuers: extraIssuers,
            jwksRefreshInterval: .milliseconds(Int64(refresh * 1000)),
            tokenCacheSize: cacheSize,
            introspectionTTLSeconds: introspectionTTL,
            authorization: authorization,
            logLevel: logLevel,
            logFormat: logFormat)
    }


    /// The configuration as `--check-config` prints it: one `KEY=value` per line, the secret
    /// redacted.
    var summary: [String] {
        [
            "KEYCLOAK_ISSUER=\(provider.issuerCandidates.joined(separator: " | "))",
            "KEYCLOAK_DISCOVERY_URL=\(provider.discoveryURL ?? "(derived from the issuer)")",
            "KEYCLOAK_CLIENT_ID=\(provider.clientID)",
            "KEYCLOAK_CLIENT_SECRET=\(provider.clientSecret)",
            "KEYCLOAK_CONNECT_TIMEOUT_SECONDS=\(provider.limits.connectTimeout)",
            "KEYCLOAK_TIMEOUT_SECONDS=\(provider.limits.totalTimeout)",
            "KEYCLOAK_CA_FILE=\(provider.limits.caFile ?? "(system trust store)")",
            "KEYCLOAK_MAX_CONCURRENT_CALLS=\(maximumConcurrentProviderCalls)",
            "FCGI_LISTEN=\(listen)",
            "FCGI_SOCKET_MODE=\(String(socketMode, radix: 8))",
            "FCGI_WORKERS=\(workers)",
            "FCGI_BACKLOG=\(backlog)",
            "MAX_BODY_BYTES=\(maximumBodyBytes)",
            "AUTH_VERIFY=\(verifyMode.rawValue)",
            "AUTH_AUDIENCE=\(policy.audiences.joined(separator: ","))",
            "AUTH_EXTRA_ISSUERS=\(extraIssuers.map { $0.issuer + ($0.audiences.map { "=" + $0.joined(separator: "|") } ?? "") }.joined(separator: ","))",
            "AUTH_REQUIRE_AT_JWT=\(policy.requiresAccessTokenHeaderType)",
            "AUTH_CLOCK_SKEW_SECONDS=\(policy.clockSkewSeconds)",
            "AUTH_JWKS_REFRESH_SECONDS=\(jwksRefreshInterval)",
            "AUTH_TOKEN_CACHE_SIZE=\(tokenCacheSize)",
            "AUTH_INTROSPECTION_TTL_SECONDS=\(introspectionTTLSeconds)",
            "AUTH_REQUIRED_ROLES=\(authorization.requiredRoles.joined(separator: ","))",
            "AUTH_REQUIRED_SCOPES=\(authorization.requiredScopes.joined(separator: ","))",
            "LOG_LEVEL=\(logLevel)",
            "LOG_FORMAT=\(logFormat.rawValue)",
        ]
    }
}

/// Reads typed values and collects every problem instead of stopping at the first.
private struct Reader {
    let values: [String: String]
    var problems: [(key: String, reason: String)] = []

    mutating func problem(_ key: String, _ reason: String) {
        problems.append((key, reason))
    }

    /// The value, or nil when unset or blank.
    func optional(_ key: String) -> String? {
        guard let value = values[key]?.trimmingWhitespace, !value.isEmpty else { return nil }
        return value
    }

    mutating func required(_ key: String) -> String? {
        guard let value = optional(key) else {
            problem(key, "missing")
            return nil
        }
        return value
    }

    mutating func issuerCandidates() -> [String]? {
        if let issuer = optional("KEYCLOAK_ISSUER") {
            guard let normalized = httpURL(issuer, key: "KEYCLOAK_ISSUER") else { return nil }
            return [normalized]
        }
        let server = required("KEYCLOAK_SERVER_URL").flatMap { httpURL($0, key: "KEYCLOAK_SERVER_URL") }
        let realm = required("KEYCLOAK_REALM")
        if let realm, realm.contains("/") || realm.contains("?") || realm.contains("#") {
            problem("KEYCLOAK_REALM", "must be a realm name, not a path")
            return nil
        }
        guard let server, let realm else { return nil }
        let encodedRealm = realm.percentEncodedPathSegment
        // Keycloak 17+ serves /realms/<realm>; 16 and older put /auth in front. Try the URL as
        // given first, then the other layout.
        let alternate = server.hasSuffix("/auth") ? String(server.dropLast("/auth".count)) : server + "/auth"
        return ["\(server)/realms/\(encodedRealm)", "\(alternate)/realms/\(encodedRealm)"]
    }

    /// An http(s) URL with a host, without trailing slashes.
    mutating func httpURL(_ text: String, key: String) -> String? {
        var trimmed = Substring(text)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let components = URLComponents(string: String(trimmed)),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil
        else {
            problem(key, "must be an http:// or https:// URL with a host")
            return nil
        }
        return String(trimmed)
    }

    mutating func clientSecret(readFile: (String) -> String?) -> Secret? {
        let inline = optional("KEYCLOAK_CLIENT_SECRET")
        let file = optional("KEYCLOAK_CLIENT_SECRET_FILE")
        switch (inline, file) {
        case (.some, .some):
            problem("KEYCLOAK_CLIENT_SECRET_FILE", "set either KEYCLOAK_CLIENT_SECRET or KEYCLOAK_CLIENT_SECRET_FILE, not both")
            return nil
        case (.some(let value), nil):
            return Secret(value)
        case (nil, .some(let path)):
            guard let contents = readFile(path) else {
                problem("KEYCLOAK_CLIENT_SECRET_FILE", "cannot read \(path)")
                return nil
            }
            let value = contents.trimmingNewlines
            guard !value.isEmpty else {
                problem("KEYCLOAK_CLIENT_SECRET_FILE", "\(path) is empty")
                return nil
            }
            return Secret(value)
        case (nil, nil):
            problem("KEYCLOAK_CLIENT_SECRET", "missing (or set KEYCLOAK_CLIENT_SECRET_FILE)")
            return nil
        }
    }

    mutating func integer(_ key: String, default defaultValue: Int, range: ClosedRange<Int>) -> Int {
        guard let text = optional(key) else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            problem(key, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            return defaultValue
        }
        return value
    }

    mutating func seconds(_ key: String, default defaultValue: Double, range: ClosedRange<Double>) -> Double {
        guard let text = optional(key) else { return defaultValue }
        guard let value = Double(text), value.isFinite, range.contains(value) else {
            problem(key, "must be a number of seconds from \(range.lowerBound) to \(range.upperBound)")
            return defaultValue
        }
        return value
    }

    mutating func octal(_ key: String, default defaultValue: Int) -> Int {
        guard let text = optional(key) else { return defaultValue }
        guard let value = Int(text, radix: 8), (0...0o777).contains(value) else {
            problem(key, "must be octal permissions such as 660")
            return defaultValue
        }
        return value
    }

    mutating func choice<Value: RawRepresentable & CaseIterable>(_ key: String, default defaultValue: Value) -> Value
    where Value.RawValue == String {
        guard let text = optional(key) else { return defaultValue }
        guard let value = Value(rawValue: text.lowercased()) else {
            problem(key, "must be one of \(Value.allCases.map(\.rawValue).joined(separator: ", "))")
            return defaultValue
        }
        return value
    }

    mutating func boolean(_ key: String, default defaultValue: Bool) -> Bool {
        guard let text = optional(key) else { return defaultValue }
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default:
            problem(key, "must be true or false")
            return defaultValue
        }
    }

    /// `AUTH_EXTRA_ISSUERS`: `issuer[=audience]` entries separated by commas or spaces.
    mutating func extraIssuers(primary: [String]) -> [AppConfiguration.ExtraIssuer] {
        var issuers: [AppConfiguration.ExtraIssuer] = []
        for entry in list("AUTH_EXTRA_ISSUERS") {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let issuer = httpURL(String(parts[0]), key: "AUTH_EXTRA_ISSUERS") else { continue }
            let audience = parts.count == 2 ? String(parts[1]) : nil
            if audience?.isEmpty == true {
                problem("AUTH_EXTRA_ISSUERS", "\(issuer)= names no audience")
                continue
            }
            if primary.contains(issuer) || issuers.contains(where: { $0.issuer == issuer }) {
                problem("AUTH_EXTRA_ISSUERS", "\(issuer) is listed twice (or is the primary issuer)")
                continue
            }
            issuers.append(.init(issuer: issuer, audiences: audience.map { [$0] }))
        }
        return issuers
    }

    /// A list separated by commas or spaces.
    func list(_ key: String) -> [String] {
        guard let text = optional(key) else { return [] }
        return text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
    }

    mutating func listenAddress() -> ListenAddress? {
        guard let text = optional("FCGI_LISTEN") else { return nil }
        guard let address = ListenAddress(text) else {
            problem("FCGI_LISTEN", "must be unix:/absolute/path (no ':'), host:port or systemd")
            return nil
        }
        return address
    }

    mutating func logLevel() -> Logger.Level {
        guard let text = optional("LOG_LEVEL") else { return .info }
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            problem("LOG_LEVEL", "must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            return .info
        }
        return level
    }
}
