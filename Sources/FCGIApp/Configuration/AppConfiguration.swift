import Auth
import FoundationEssentials
import Logging
import Platform

/// The whole configuration, built once at start-up from the environment and `.env`
/// (environment wins), validated in one pass, then passed down. What each key means, its
/// default and how it is read are in `AppConfiguration.keys`, the one table of keys.
package struct AppConfiguration: Sendable {
    /// `FCGI_WORKERS` when unset: enough threads for the CPUs and for the provider calls a
    /// few of them may be waiting on (16 on 2 CPUs; the provider-call cap is then 12).
    static var defaultWorkers: Int { min(1024, 8 + 4 * onlineProcessorCount) }

    /// How `/protected` checks a token (`AUTH_VERIFY`).
    enum VerifyMode: String, Sendable, CaseIterable {
        /// Local signature and claim checks against the provider's cached JWKS (default).
        case jwks
        /// The seed's behaviour: one userinfo call to the provider per request.
        case userinfo
        /// RFC 7662 introspection at the provider, cached briefly: revocation takes effect at once.
        case introspect
    }

    /// How log lines are written (`LOG_FORMAT`).
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

    // The values, by the keys of `AppConfiguration.keys` that set them.
    var provider = ProviderSettings(issuerCandidates: [""], clientID: "", clientSecret: Secret(""))
    var maximumConcurrentProviderCalls = 1
    var listen = ListenAddress.tcp(host: "127.0.0.1", port: 9000)
    /// What systemd passed with socket activation (read with `FCGI_LISTEN=systemd`).
    var systemdSockets = SystemdSockets()
    var socketMode = 0o660
    var workers = AppConfiguration.defaultWorkers
    var maximumConnections = 512
    var backlog = 1024
    var maximumBodyBytes = 65536
    var verifyMode = VerifyMode.jwks
    var policy = VerificationPolicy()
    var extraIssuers: [ExtraIssuer] = []
    var jwksRefreshInterval: Duration = .seconds(300)
    var tokenCacheSize = 10000
    var introspectionTTLSeconds = 10.0
    var authorization = AuthorizationPolicy.none
    /// DPoP, certificate binding, `allowed-origins` and the resource identifier.
    var resourceServer = ResourceServer.Settings()
    var logLevel = Logger.Level.info
    var logFormat = LogFormat.text
    var mallocArenas = 4
    /// Browser sign-in (`SESSION_KEYS_FILE` and the `OIDC_*` keys); nil: off.
    var browserSignIn: BrowserSignInSettings?
    /// `REVOCATION_STORE`; nil: in memory, this process only.
    var revocationStoreURL: Secret?
    var revocationTTLSeconds = 3600

    /// Builds and validates the configuration from `environment` and `dotEnv` (the environment
    /// wins), reading every key of `keys` in order. `readFile` reads the files keys name
    /// (injected for tests).
    package static func load(
        environment: [String: String],
        dotEnv: [String: String] = [:],
        readFile: @escaping (String) -> String? = { Files.readText($0) }
    ) throws(ConfigurationError) -> AppConfiguration {
        var reader = ConfigurationReader(
            values: dotEnv.merging(environment) { _, environmentValue in environmentValue }, readFile: readFile)
        var configuration = AppConfiguration()
        for key in keys {
            key.read(&reader, &configuration)
        }
        guard reader.problems.isEmpty else {
            throw ConfigurationError(problems: reader.problems)
        }
        return configuration
    }

    /// The configuration of this process: its environment and the `.env` file (`--env-file`
    /// must exist; the default `./.env` may be absent). The one place that reads the
    /// environment.
    package static func fromProcess(envFile: String?) throws(ConfigurationError) -> AppConfiguration {
        let path = envFile ?? ".env"
        var dotEnv: [String: String] = [:]
        if let text = Files.readText(path) {
            do {
                dotEnv = try DotEnvFile.parse(text)
            } catch {
                throw ConfigurationError(key: path, reason: "line \(error.line): \(error.reason)")
            }
        } else if envFile != nil {
            throw ConfigurationError(key: "--env-file", reason: "cannot read \(path)")
        }
        return try load(environment: ProcessInfo.processInfo.environment, dotEnv: dotEnv)
    }

    /// Applies what must be set for the whole process before threads start.
    package func applyProcessSettings() {
        Memory.limitArenas(to: mallocArenas)
    }

    /// The configuration as `--check-config` prints it: one `KEY=value` per line, the secret
    /// redacted.
    package var summary: [String] {
        Self.keys.compactMap { key in key.show(self).map { "\(key.name)=\($0)" } }
    }

    /// The README's configuration table, generated from `keys`.
    static var markdownTable: String {
        (["| Key | Default | Meaning |", "|---|---|---|"] + keys.map(\.markdownRow)).joined(separator: "\n")
    }
}

/// Browser sign-in: the authorization code flow with PKCE and the sealed session cookie.
struct BrowserSignInSettings: Sendable {
    var keyring: SessionKeyring
    /// `OIDC_REDIRECT_URI`: the callback as the browser reaches it.
    var redirectURI: String
    var postLogoutRedirectURI: String
    /// Space-separated, `openid` first.
    var scope: String
    /// Lower-cased origins `rd` may name besides this site's paths.
    var allowedRedirectOrigins: [String]
    var cookieName: String
}

/// What systemd passes with socket activation (sd_listen_fds(3)): `LISTEN_PID`, the process the
/// sockets are for, and `LISTEN_FDS`, how many there are from fd 3 on.
package struct SystemdSockets: Sendable, Equatable {
    var pid: Int32?
    var count: Int?

    package init(pid: Int32? = nil, count: Int? = nil) {
        self.pid = pid
        self.count = count
    }
}

// The keys that depend on others.
extension AppConfiguration {
    /// `KEYCLOAK_ISSUER`, or `<KEYCLOAK_SERVER_URL>/realms/<KEYCLOAK_REALM>` and its other layout
    /// (the rows of those two keys report their own problems).
    static func issuerCandidates(_ reader: inout ConfigurationReader) -> [String] {
        if let issuer = reader.optional("KEYCLOAK_ISSUER") {
            return reader.httpURL(issuer, key: "KEYCLOAK_ISSUER").map { [$0] } ?? [""]
        }
        var quiet = ConfigurationReader(values: reader.values, readFile: reader.readFile)
        guard let text = quiet.optional("KEYCLOAK_SERVER_URL"), let server = quiet.httpURL(text, key: "KEYCLOAK_SERVER_URL"),
            let realm = quiet.optional("KEYCLOAK_REALM"), isRealmName(realm)
        else { return [""] }
        let encodedRealm = realm.percentEncodedPathSegment
        // Keycloak 17+ serves /realms/<realm>; 16 and older put /auth in front. Try the URL as
        // given first, then the other layout.
        let alternate = server.hasSuffix("/auth") ? String(server.dropLast("/auth".count)) : server + "/auth"
        return ["\(server)/realms/\(encodedRealm)", "\(alternate)/realms/\(encodedRealm)"]
    }

    /// A realm name, not a path or URL part.
    static func isRealmName(_ text: String) -> Bool {
        !text.contains("/") && !text.contains("?") && !text.contains("#")
    }

    /// `AUTH_EXTRA_ISSUERS`: `issuer[=audience]` entries separated by commas or spaces, jwks
    /// mode only, none of them the primary issuer.
    static func extraIssuers(_ reader: inout ConfigurationReader, _ configuration: AppConfiguration) -> [ExtraIssuer] {
        var issuers: [ExtraIssuer] = []
        for entry in reader.list("AUTH_EXTRA_ISSUERS") {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let issuer = reader.httpURL(String(parts[0]), key: "AUTH_EXTRA_ISSUERS") else { continue }
            let audience = parts.count == 2 ? String(parts[1]) : nil
            if audience?.isEmpty == true {
                reader.problem("AUTH_EXTRA_ISSUERS", "\(issuer)= names no audience")
                continue
            }
            if configuration.provider.issuerCandidates.contains(issuer) || issuers.contains(where: { $0.issuer == issuer }) {
                reader.problem("AUTH_EXTRA_ISSUERS", "\(issuer) is listed twice (or is the primary issuer)")
                continue
            }
            issuers.append(.init(issuer: issuer, audiences: audience.map { [$0] }))
        }
        if !issuers.isEmpty && configuration.verifyMode != .jwks {
            reader.problem("AUTH_EXTRA_ISSUERS", "works with AUTH_VERIFY=jwks only (introspection and userinfo ask the primary realm)")
        }
        return issuers
    }
}
