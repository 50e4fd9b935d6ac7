import Auth
import Foundation
import Logging
import Platform
import Testing

@testable import FCGIApp

@Suite("AppConfiguration")
struct AppConfigurationTests {
    static let secret = "s3cr3t-Value#With&Symbols"
    static let minimal = [
        "KEYCLOAK_SERVER_URL": "http://localhost:8080",
        "KEYCLOAK_REALM": "testing",
        "KEYCLOAK_CLIENT_ID": "fastapi-keycloak",
        "KEYCLOAK_CLIENT_SECRET": secret,
    ]

    private func load(_ environment: [String: String], dotEnv: [String: String] = [:], files: [String: String] = [:])
        throws(ConfigurationError) -> AppConfiguration
    {
        try AppConfiguration.load(environment: environment, dotEnv: dotEnv, readFile: { files[$0] })
    }

    private func problems(_ environment: [String: String], dotEnv: [String: String] = [:], files: [String: String] = [:])
        -> ConfigurationError?
    {
        #expect(throws: ConfigurationError.self) { try load(environment, dotEnv: dotEnv, files: files) }
    }

    @Test("defaults")
    func defaults() throws {
        let configuration = try load(Self.minimal)
        #expect(
            configuration.provider.issuerCandidates == [
                "http://localhost:8080/realms/testing", "http://localhost:8080/auth/realms/testing",
            ])
        #expect(configuration.provider.clientID == "fastapi-keycloak")
        #expect(configuration.provider.clientSecret.value == Self.secret)
        #expect(configuration.provider.limits.connectTimeout == .seconds(3))
        #expect(configuration.provider.limits.totalTimeout == .seconds(10))
        #expect(configuration.provider.limits.caFile == nil)
        #expect(configuration.listen == .tcp(host: "127.0.0.1", port: 9000))
        #expect(configuration.socketMode == 0o660)
        #expect(configuration.workers == 8 + 4 * onlineProcessorCount)
        #expect(configuration.maximumConcurrentProviderCalls == configuration.workers - max(2, configuration.workers / 4))
        #expect(configuration.maximumConnections == 512)
        #expect(configuration.backlog == 1024)
        #expect(configuration.maximumBodyBytes == 65536)
        #expect(configuration.verifyMode == .jwks)
        #expect(configuration.policy.audiences == [])
        #expect(configuration.policy.clockSkewSeconds == 30)
        #expect(configuration.policy.maximumTokenBytes == 16 * 1024)
        #expect(configuration.jwksRefreshInterval == .seconds(300))
        #expect(configuration.logLevel == .info)
    }

    @Test("every value can be set")
    func everyValue() throws {
        var environment = Self.minimal
        environment.merge([
            "KEYCLOAK_CONNECT_TIMEOUT_SECONDS": "1.5", "KEYCLOAK_TIMEOUT_SECONDS": "4",
            "KEYCLOAK_CA_FILE": "/etc/ca.pem", "KEYCLOAK_MAX_CONCURRENT_CALLS": "3",
            "FCGI_LISTEN": "unix:/run/keycloak-fcgi/fcgi.sock", "FCGI_SOCKET_MODE": "600", "FCGI_WORKERS": "4",
            "FCGI_BACKLOG": "64", "MAX_BODY_BYTES": "2048", "AUTH_VERIFY": "UserInfo",
            "AUTH_CLOCK_SKEW_SECONDS": "5", "AUTH_JWKS_REFRESH_SECONDS": "60", "LOG_LEVEL": "DEBUG",
        ]) { $1 }
        let configuration = try load(environment, files: ["/etc/ca.pem": "-----BEGIN CERTIFICATE-----"])
        #expect(configuration.provider.limits.connectTimeout == .milliseconds(1500))
        #expect(configuration.provider.limits.totalTimeout == .seconds(4))
        #expect(configuration.provider.limits.caFile == "/etc/ca.pem")
        #expect(configuration.maximumConcurrentProviderCalls == 3)
        #expect(configuration.listen == .unix(path: "/run/keycloak-fcgi/fcgi.sock"))
        #expect(configuration.socketMode == 0o600)
        #expect(configuration.workers == 4)
        #expect(configuration.backlog == 64)
        #expect(configuration.maximumBodyBytes == 2048)
        #expect(configuration.verifyMode == .userinfo)
        #expect(configuration.policy.clockSkewSeconds == 5)
        #expect(configuration.jwksRefreshInterval == .seconds(60))
        #expect(configuration.logLevel == .debug)
    }

    @Test("the environment wins over .env; .env fills the gaps")
    func precedence() throws {
        let configuration = try load(
            ["KEYCLOAK_REALM": "from-env", "KEYCLOAK_CLIENT_SECRET": Self.secret],
            dotEnv: [
                "KEYCLOAK_REALM": "from-dotenv", "KEYCLOAK_SERVER_URL": "https://kc.example.com", "KEYCLOAK_CLIENT_ID": "dotenv-client",
                "KEYCLOAK_CLIENT_SECRET": "dotenv-secret",
            ])
        #expect(configuration.provider.issuerCandidates.first == "https://kc.example.com/realms/from-env")
        #expect(configuration.provider.clientID == "dotenv-client")
        #expect(configuration.provider.clientSecret.value == Self.secret)
    }

    @Test("all four required keys missing are named in one error")
    func allMissing() {
        let error = problems([:])
        #expect(error?.keys == ["KEYCLOAK_SERVER_URL", "KEYCLOAK_REALM", "KEYCLOAK_CLIENT_ID", "KEYCLOAK_CLIENT_SECRET"])
        for key in ["KEYCLOAK_SERVER_URL", "KEYCLOAK_REALM", "KEYCLOAK_CLIENT_ID", "KEYCLOAK_CLIENT_SECRET"] {
            #expect(error?.description.contains(key) == true)
        }
    }

    @Test("every bad value is named in one error, and the secret never appears")
    func badValuesTogether() {
        var environment = Self.minimal
        environment.merge([
            "FCGI_WORKERS": "0", "AUTH_VERIFY": "foo", "FCGI_LISTEN": "unix:rel", "KEYCLOAK_SERVER_URL": "ftp://x",
            "LOG_LEVEL": "loud",
        ]) { $1 }
        let error = problems(environment)
        #expect(Set(error?.keys ?? []) == ["FCGI_WORKERS", "AUTH_VERIFY", "FCGI_LISTEN", "KEYCLOAK_SERVER_URL", "LOG_LEVEL"])
        #expect(error?.description.contains(Self.secret) == false)
    }

    struct BadValue: Sendable, CustomTestStringConvertible {
        let key: String
        let value: String
        var testDescription: String { "\(key)=\(value)" }
    }

    @Test(
        "refuses a bad value, naming its key",
        arguments: [
            BadValue(key: "FCGI_WORKERS", value: "0"), BadValue(key: "FCGI_WORKERS", value: "1025"),
            BadValue(key: "FCGI_WORKERS", value: "four"),
            BadValue(key: "AUTH_VERIFY", value: "foo"), BadValue(key: "FCGI_LISTEN", value: "unix:rel"),
            BadValue(key: "FCGI_LISTEN", value: "9000"),
            BadValue(key: "KEYCLOAK_SERVER_URL", value: "ftp://x"), BadValue(key: "KEYCLOAK_SERVER_URL", value: "localhost:8080"),
            BadValue(key: "KEYCLOAK_SERVER_URL", value: "http://"),
            BadValue(key: "KEYCLOAK_SERVER_URL", value: "https://kc.example.com?x=1"),
            BadValue(key: "LOG_LEVEL", value: "loud"), BadValue(key: "FCGI_SOCKET_MODE", value: "999"),
            BadValue(key: "FCGI_SOCKET_MODE", value: "1777"),
            BadValue(key: "KEYCLOAK_TIMEOUT_SECONDS", value: "0"), BadValue(key: "KEYCLOAK_TIMEOUT_SECONDS", value: "nan"),
            BadValue(key: "KEYCLOAK_CONNECT_TIMEOUT_SECONDS", value: "-1"), BadValue(key: "AUTH_CLOCK_SKEW_SECONDS", value: "inf"),
            BadValue(key: "AUTH_JWKS_REFRESH_SECONDS", value: "1"), BadValue(key: "MAX_BODY_BYTES", value: "10"),
            BadValue(key: "FCGI_BACKLOG", value: "0"), BadValue(key: "KEYCLOAK_MAX_CONCURRENT_CALLS", value: "0"),
            BadValue(key: "KEYCLOAK_REALM", value: "testing/../master"),
            BadValue(key: "KEYCLOAK_ISSUER", value: "sso.example.com/realms/x"),
            BadValue(key: "KEYCLOAK_CA_FILE", value: "/missing.pem"),
            BadValue(key: "REVOCATION_STORE", value: "redis://:p%zz@127.0.0.1:6379"),
            BadValue(key: "REVOCATION_STORE", value: "redis://127.0.0.1:99999"), BadValue(key: "REVOCATION_STORE", value: "redis://"),
            BadValue(key: "REVOCATION_STORE", value: "http://127.0.0.1:6379"),
        ])
    func badValue(_ bad: BadValue) {
        var environment = Self.minimal
        environment[bad.key] = bad.value
        let error = problems(environment)
        #expect(error?.keys == [bad.key])
        #expect(error?.description.contains(Self.secret) == false)
        #expect(error?.description.contains("p%zz") == false)
    }

    @Test("the summary redacts the secret and shows the rest")
    func summary() throws {
        let configuration = try load(Self.minimal)
        let text = configuration.summary.joined(separator: "\n")
        #expect(!text.contains(Self.secret))
        #expect(text.contains("KEYCLOAK_CLIENT_SECRET=<redacted>"))
        #expect(text.contains("KEYCLOAK_CLIENT_ID=fastapi-keycloak"))
        #expect(text.contains("FCGI_LISTEN=127.0.0.1:9000"))
        #expect(text.contains("KEYCLOAK_ISSUER=http://localhost:8080/realms/testing | http://localhost:8080/auth/realms/testing"))
        #expect(!String(describing: configuration).contains(Self.secret))
        #expect(!String(reflecting: configuration.provider).contains(Self.secret))
    }

    @Test("KEYCLOAK_CLIENT_SECRET_FILE is read through the injected reader, trailing newline trimmed")
    func secretFile() throws {
        var environment = Self.minimal
        environment["KEYCLOAK_CLIENT_SECRET"] = nil
        environment["KEYCLOAK_CLIENT_SECRET_FILE"] = "/run/secrets/kc"
        let configuration = try load(environment, files: ["/run/secrets/kc": Self.secret + "\n"])
        #expect(configuration.provider.clientSecret.value == Self.secret)
        let crlf = try load(environment, files: ["/run/secrets/kc": Self.secret + "\r\n"])
        #expect(crlf.provider.clientSecret.value == Self.secret)
    }

    @Test(
        "secret file problems",
        arguments: [
            ("/run/secrets/kc", [String: String](), "cannot read"),
            ("/run/secrets/kc", ["/run/secrets/kc": "\n"], "empty"),
        ])
    func secretFileProblems(path: String, files: [String: String], reason: String) {
        var environment = Self.minimal
        environment["KEYCLOAK_CLIENT_SECRET"] = nil
        environment["KEYCLOAK_CLIENT_SECRET_FILE"] = path
        let error = problems(environment, files: files)
        #expect(error?.keys == ["KEYCLOAK_CLIENT_SECRET_FILE"])
        #expect(error?.description.contains(reason) == true)
    }

    @Test("both KEYCLOAK_CLIENT_SECRET and KEYCLOAK_CLIENT_SECRET_FILE is an error that shows neither secret")
    func secretAndFile() {
        var environment = Self.minimal
        environment["KEYCLOAK_CLIENT_SECRET_FILE"] = "/run/secrets/kc"
        let error = problems(environment, files: ["/run/secrets/kc": "file-secret-value"])
        #expect(error?.keys == ["KEYCLOAK_CLIENT_SECRET_FILE"])
        #expect(error?.description.contains(Self.secret) == false)
        #expect(error?.description.contains("file-secret-value") == false)
    }

    @Test("KEYCLOAK_ISSUER overrides server URL and realm, which then are not required")
    func issuerOverride() throws {
        let configuration = try load([
            "KEYCLOAK_ISSUER": "https://login.example.com/realms/prod/", "KEYCLOAK_SERVER_URL": "https://ignored.example.com",
            "KEYCLOAK_CLIENT_ID": "c", "KEYCLOAK_CLIENT_SECRET": "s",
        ])
        #expect(configuration.provider.issuerCandidates == ["https://login.example.com/realms/prod"])
        let withoutServer = try load([
            "KEYCLOAK_ISSUER": "https://login.example.com/realms/prod", "KEYCLOAK_CLIENT_ID": "c", "KEYCLOAK_CLIENT_SECRET": "s",
        ])
        #expect(withoutServer.provider.issuerCandidates == ["https://login.example.com/realms/prod"])
    }

    @Test(
        "the server URL yields both issuer candidates, the given layout first",
        arguments: [
            ("https://sso.example.com", ["https://sso.example.com/realms/testing", "https://sso.example.com/auth/realms/testing"]),
            ("https://sso.example.com/", ["https://sso.example.com/realms/testing", "https://sso.example.com/auth/realms/testing"]),
            ("https://sso.example.com//", ["https://sso.example.com/realms/testing", "https://sso.example.com/auth/realms/testing"]),
            ("https://sso.example.com/auth", ["https://sso.example.com/auth/realms/testing", "https://sso.example.com/realms/testing"]),
            ("https://sso.example.com/auth/", ["https://sso.example.com/auth/realms/testing", "https://sso.example.com/realms/testing"]),
            ("http://keycloak:8080/kc", ["http://keycloak:8080/kc/realms/testing", "http://keycloak:8080/kc/auth/realms/testing"]),
        ])
    func issuerCandidates(server: String, expected: [String]) throws {
        var environment = Self.minimal
        environment["KEYCLOAK_SERVER_URL"] = server
        #expect(try load(environment).provider.issuerCandidates == expected)
    }

    @Test("the realm is percent-encoded in the issuer")
    func realmEncoding() throws {
        var environment = Self.minimal
        environment["KEYCLOAK_REALM"] = "my realm"
        #expect(try load(environment).provider.issuerCandidates.first == "http://localhost:8080/realms/my%20realm")
    }

    @Test(
        "AUTH_AUDIENCE is a list separated by commas or spaces",
        arguments: [
            ("fastapi-keycloak", ["fastapi-keycloak"]),
            ("a,b", ["a", "b"]),
            (" a, b  c ,,d ", ["a", "b", "c", "d"]),
            ("", []),
        ])
    func audiences(text: String, expected: [String]) throws {
        var environment = Self.minimal
        environment["AUTH_AUDIENCE"] = text
        #expect(try load(environment).policy.audiences == expected)
    }

    @Test(
        "KEYCLOAK_MAX_CONCURRENT_CALLS defaults to the workers minus a quarter, keeping two free",
        arguments: [
            (16, 12), (8, 6), (4, 2), (3, 1), (2, 1), (1, 1), (100, 75),
        ])
    func concurrentCallsDefault(workers: Int, expected: Int) throws {
        var environment = Self.minimal
        environment["FCGI_WORKERS"] = String(workers)
        #expect(try load(environment).maximumConcurrentProviderCalls == expected)
    }

    @Test("KEYCLOAK_MAX_CONCURRENT_CALLS above the workers is an error; equal is fine")
    func concurrentCallsAboveWorkers() throws {
        var environment = Self.minimal
        environment["FCGI_WORKERS"] = "4"
        environment["KEYCLOAK_MAX_CONCURRENT_CALLS"] = "5"
        #expect(problems(environment)?.keys == ["KEYCLOAK_MAX_CONCURRENT_CALLS"])
        environment["KEYCLOAK_MAX_CONCURRENT_CALLS"] = "4"
        #expect(try load(environment).maximumConcurrentProviderCalls == 4)
    }

    @Test("the default reader loads KEYCLOAK_CLIENT_SECRET_FILE from disk")
    func secretFileFromDisk() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kfc-secret-\(UUID().uuidString)").path
        try Data((Self.secret + "\n").utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var environment = Self.minimal
        environment["KEYCLOAK_CLIENT_SECRET"] = nil
        environment["KEYCLOAK_CLIENT_SECRET_FILE"] = path
        #expect(try AppConfiguration.load(environment: environment).provider.clientSecret.value == Self.secret)
    }

    @Test("every key is in AppConfiguration.keys, once")
    func keysListed() {
        let names = AppConfiguration.keys.map(\.name)
        #expect(Set(names).count == names.count)
        for key in Self.minimal.keys {
            #expect(names.contains(key))
        }
    }

    // MARK: Verification mode, cache, authorization, logs

    @Test("defaults of the cache, introspection, authorization and log format keys")
    func newDefaults() throws {
        let configuration = try load(Self.minimal)
        #expect(configuration.tokenCacheSize == 10_000)
        #expect(configuration.introspectionTTLSeconds == 10)
        #expect(configuration.authorization == .none)
        #expect(configuration.logFormat == .text)
        let summary = configuration.summary
        for line in [
            "AUTH_TOKEN_CACHE_SIZE=10000", "AUTH_INTROSPECTION_TTL_SECONDS=10.0", "AUTH_REQUIRED_ROLES=", "AUTH_REQUIRED_SCOPES=",
            "LOG_FORMAT=text",
        ] {
            #expect(summary.contains(line), "\(line)")
        }
    }

    @Test(
        "AUTH_VERIFY takes jwks, userinfo and introspect, in any case",
        arguments: [
            ("jwks", AppConfiguration.VerifyMode.jwks), ("userinfo", .userinfo), ("introspect", .introspect), ("Introspect", .introspect),
            (" INTROSPECT ", .introspect),
        ])
    func verifyModes(text: String, expected: AppConfiguration.VerifyMode) throws {
        var environment = Self.minimal
        environment["AUTH_VERIFY"] = text
        #expect(try load(environment).verifyMode == expected)
    }

    @Test(
        "AUTH_TOKEN_CACHE_SIZE: 0 turns the cache off; up to 10 million",
        arguments: [("0", 0), ("1", 1), ("50000", 50_000), ("10000000", 10_000_000), ("", 10_000)])
    func tokenCacheSize(text: String, expected: Int) throws {
        var environment = Self.minimal
        environment["AUTH_TOKEN_CACHE_SIZE"] = text
        #expect(try load(environment).tokenCacheSize == expected)
    }

    @Test(
        "AUTH_INTROSPECTION_TTL_SECONDS: 0 to 3600 seconds, fractions allowed",
        arguments: [("0", 0.0), ("0.5", 0.5), ("10", 10), ("3600", 3600)])
    func introspectionTTL(text: String, expected: Double) throws {
        var environment = Self.minimal
        environment["AUTH_INTROSPECTION_TTL_SECONDS"] = text
        #expect(try load(environment).introspectionTTLSeconds == expected)
    }

    @Test(
        "AUTH_REQUIRED_ROLES and AUTH_REQUIRED_SCOPES are lists separated by commas or spaces",
        arguments: [
            ("admin", ["admin"]),
            ("admin,orders-api:write", ["admin", "orders-api:write"]),
            (" admin  reader ,, x ", ["admin", "reader", "x"]),
            ("", []),
        ])
    func requiredLists(text: String, expected: [String]) throws {
        var environment = Self.minimal
        environment["AUTH_REQUIRED_ROLES"] = text
        environment["AUTH_REQUIRED_SCOPES"] = text
        let configuration = try load(environment)
        #expect(configuration.authorization.requiredRoles == expected)
        #expect(configuration.authorization.requiredScopes == expected)
        #expect(configuration.summary.contains("AUTH_REQUIRED_ROLES=\(expected.joined(separator: ","))"))
    }

    @Test(
        "LOG_FORMAT: json or text, in any case", arguments: [("json", AppConfiguration.LogFormat.json), ("JSON", .json), ("text", .text)])
    func logFormat(text: String, expected: AppConfiguration.LogFormat) throws {
        var environment = Self.minimal
        environment["LOG_FORMAT"] = text
        let configuration = try load(environment)
        #expect(configuration.logFormat == expected)
        #expect(configuration.summary.contains("LOG_FORMAT=\(expected.rawValue)"))
    }

    @Test("FCGI_LISTEN=systemd takes the socket from systemd")
    func systemdListen() throws {
        var environment = Self.minimal
        environment["FCGI_LISTEN"] = "systemd"
        let configuration = try load(environment)
        #expect(configuration.listen == .systemd)
        #expect(configuration.summary.contains("FCGI_LISTEN=systemd"))
    }

    @Test(
        "refuses a bad value of the new keys, naming it",
        arguments: [
            BadValue(key: "AUTH_VERIFY", value: "introspection"), BadValue(key: "AUTH_VERIFY", value: "local"),
            BadValue(key: "AUTH_TOKEN_CACHE_SIZE", value: "-1"), BadValue(key: "AUTH_TOKEN_CACHE_SIZE", value: "10000001"),
            BadValue(key: "AUTH_TOKEN_CACHE_SIZE", value: "many"), BadValue(key: "AUTH_TOKEN_CACHE_SIZE", value: "1.5"),
            BadValue(key: "AUTH_INTROSPECTION_TTL_SECONDS", value: "-1"),
            BadValue(key: "AUTH_INTROSPECTION_TTL_SECONDS", value: "3601"),
            BadValue(key: "AUTH_INTROSPECTION_TTL_SECONDS", value: "inf"),
            BadValue(key: "AUTH_INTROSPECTION_TTL_SECONDS", value: "ten"),
            BadValue(key: "LOG_FORMAT", value: "xml"), BadValue(key: "LOG_FORMAT", value: "logfmt"),
            BadValue(key: "FCGI_LISTEN", value: "systemd:"),
        ])
    func badNewValue(_ bad: BadValue) {
        var environment = Self.minimal
        environment[bad.key] = bad.value
        let error = problems(environment)
        #expect(error?.keys == [bad.key])
        #expect(error?.description.contains(Self.secret) == false)
    }

    @Test("the new keys are listed in AppConfiguration.keys")
    func newKeysListed() {
        let names = AppConfiguration.keys.map(\.name)
        for key in [
            "AUTH_TOKEN_CACHE_SIZE", "AUTH_INTROSPECTION_TTL_SECONDS", "AUTH_REQUIRED_ROLES", "AUTH_REQUIRED_SCOPES", "LOG_FORMAT",
        ] {
            #expect(names.contains(key), "\(key)")
        }
    }

    // MARK: Back-channel discovery, several realms, RFC 9068

    @Test("KEYCLOAK_DISCOVERY_URL: discovery fetched there; the issuer stays the configured one")
    func discoveryURL() throws {
        let configuration = try load(
            Self.minimal.merging([
                "KEYCLOAK_ISSUER": "https://sso.example.com/realms/testing",
                "KEYCLOAK_DISCOVERY_URL": "http://keycloak:8080/realms/testing/.well-known/openid-configuration",
            ]) { $1 })
        #expect(configuration.provider.issuerCandidates == ["https://sso.example.com/realms/testing"])
        #expect(configuration.provider.discoveryURL == "http://keycloak:8080/realms/testing/.well-known/openid-configuration")
        #expect(
            configuration.summary.contains("KEYCLOAK_DISCOVERY_URL=http://keycloak:8080/realms/testing/.well-known/openid-configuration"))
        #expect(try load(Self.minimal).provider.discoveryURL == nil)
        #expect(problems(Self.minimal.merging(["KEYCLOAK_DISCOVERY_URL": "keycloak:8080/x"]) { $1 })?.keys == ["KEYCLOAK_DISCOVERY_URL"])
    }

    @Test("AUTH_EXTRA_ISSUERS: issuers, each with an optional audience of its own")
    func extraIssuers() throws {
        let configuration = try load(
            Self.minimal.merging([
                "AUTH_EXTRA_ISSUERS": "https://sso.example.com/realms/b, https://sso.example.com/realms/c/=client-c"
            ]) { $1 })
        #expect(
            configuration.extraIssuers == [
                .init(issuer: "https://sso.example.com/realms/b", audiences: nil),
                .init(issuer: "https://sso.example.com/realms/c", audiences: ["client-c"]),
            ])
        #expect(
            configuration.summary.contains("AUTH_EXTRA_ISSUERS=https://sso.example.com/realms/b,https://sso.example.com/realms/c=client-c"))
        #expect(try load(Self.minimal).extraIssuers.isEmpty)
    }

    @Test(
        "AUTH_EXTRA_ISSUERS refusals",
        arguments: [
            ["AUTH_EXTRA_ISSUERS": "not-a-url"],
            ["AUTH_EXTRA_ISSUERS": "https://sso.example.com/realms/b="],
            ["AUTH_EXTRA_ISSUERS": "https://sso.example.com/realms/b https://sso.example.com/realms/b/"],
            ["AUTH_EXTRA_ISSUERS": "http://localhost:8080/realms/testing"],
            ["AUTH_EXTRA_ISSUERS": "https://sso.example.com/realms/b", "AUTH_VERIFY": "introspect"],
            ["AUTH_EXTRA_ISSUERS": "https://sso.example.com/realms/b", "AUTH_VERIFY": "userinfo"],
        ])
    func extraIssuerRefusals(environment: [String: String]) {
        #expect(problems(Self.minimal.merging(environment) { $1 })?.keys == ["AUTH_EXTRA_ISSUERS"])
    }

    @Test("AUTH_REQUIRE_AT_JWT", arguments: [("true", true), ("FALSE", false), ("1", true), ("off", false)])
    func requireAtJWT(text: String, expected: Bool) throws {
        #expect(try load(Self.minimal.merging(["AUTH_REQUIRE_AT_JWT": text]) { $1 }).policy.requiresAccessTokenHeaderType == expected)
        #expect(try load(Self.minimal).policy.requiresAccessTokenHeaderType == false)
        #expect(problems(Self.minimal.merging(["AUTH_REQUIRE_AT_JWT": "maybe"]) { $1 })?.keys == ["AUTH_REQUIRE_AT_JWT"])
    }
}
