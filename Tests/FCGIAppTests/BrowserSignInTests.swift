import Auth
import Foundation
import TestSupport
import Testing

@testable import FCGIApp

/// The pieces of browser sign-in that need no provider: where `rd` may send the browser, and
/// how a session is split into cookies and read back.
@Suite("Browser sign-in")
struct BrowserSignInTests {
    static let allowed = ["https://good.example.com"]

    @Test(
        "rd: this site's paths and allow-listed origins only",
        arguments: [
            ("/", true), ("/api/page?x=1#top", true), ("/a/b%20c", true), ("https://good.example.com", true),
            ("https://good.example.com/x?y", true), ("HTTPS://GOOD.example.com/x", true),
            ("//evil.com", false), ("/\\evil.com", false), ("\\\\evil.com", false), ("https://evil.com", false),
            ("/%2F%2Fevil.com", false), ("/%2fevil.com", false), ("%2F%2Fevil.com", false), ("/%5Cevil.com", false),
            ("/\t/evil.com", false), ("/%09/evil.com", false), ("javascript:alert(1)", false), ("http:evil.com", false),
            ("https://good.example.com.evil.com", false), ("https://good.example.com@evil.com", false),
            ("https://good.example.com:8443/x", false), ("http://good.example.com/x", false), ("", false), ("evil.com", false),
            ("https://good.example.com//evil.com", false), ("/ok\r\nSet-Cookie: x=y", false),
        ])
    func redirects(target: String, accepted: Bool) {
        #expect((SignInRedirect.validate(target, allowedOrigins: Self.allowed) != nil) == accepted, "\(target)")
    }

    static func session(idTokenBytes: Int) -> BrowserSession {
        let user = AuthenticatedUser(
            subject: "u-1", username: "abdullah", email: nil, fullName: nil, roles: ["user"], sessionID: "s-1", issuer: "https://i")
        return BrowserSession(
            user: user, issuer: "https://i", accessExpiresAt: 100, refreshExpiresAt: 200, refreshToken: "refresh",
            idToken: String(repeating: "x", count: idTokenBytes), csrf: "c")
    }

    static func cookies(from setCookies: [String]) -> [(name: Substring, value: Substring)] {
        Cookies.parse(
            setCookies.filter { !$0.contains("Max-Age=0") }.map { String($0.prefix { $0 != ";" }) }.joined(separator: "; "))
    }

    @Test("a small session is one cookie; a large one is chunks that read back; stale chunks are deleted")
    func chunking() throws {
        let jar = SessionCookieJar(name: "__Host-s", keyring: try SessionKeyring(keys: [[UInt8](repeating: 3, count: 32)]))
        let small = try #require(jar.setCookies(for: Self.session(idTokenBytes: 100), maxAge: 60, replacing: []))
        #expect(small.count == 1 && small[0].hasPrefix("__Host-s=") && small[0].contains("; Secure; HttpOnly; SameSite=Lax"))
        let large = try #require(jar.setCookies(for: Self.session(idTokenBytes: 6000), maxAge: 60, replacing: []))
        #expect(large.map { String($0.prefix { $0 != "=" }) } == ["__Host-s_0", "__Host-s_1", "__Host-s_2"])
        #expect(large.allSatisfy { $0.utf8.count < 4000 })
        let read = try #require(jar.sealedValue(in: Self.cookies(from: large)))
        #expect(BrowserSession.open(read, with: jar.keyring) == Self.session(idTokenBytes: 6000))

        // Swapped or missing chunks do not open.
        var swapped = Self.cookies(from: large)
        (swapped[0].value, swapped[1].value) = (swapped[1].value, swapped[0].value)
        #expect(jar.sealedValue(in: swapped).flatMap { BrowserSession.open($0, with: jar.keyring) } == nil)
        let missing = Self.cookies(from: large).filter { $0.name != "__Host-s_1" }
        #expect(jar.sealedValue(in: missing).flatMap { BrowserSession.open($0, with: jar.keyring) } == nil)

        // Shrinking back to one cookie deletes the three chunks.
        let shrunk = try #require(jar.setCookies(for: Self.session(idTokenBytes: 100), maxAge: 60, replacing: Self.cookies(from: large)))
        #expect(shrunk.filter { $0.contains("Max-Age=0") }.count == 3)
        #expect(jar.clearCookies(Self.cookies(from: large)).count == 3)
    }

    @Test(
        "cookie headers: several cookies, blanks, quotes, junk, non-ASCII",
        arguments: [
            (#"a=1; b="two";  c=3 ;junk; =x; d="#, ["a=1", "b=two", "c=3", "d="]),
            ("", []), (";;", []), ("a", []), ("\t a=1\t ;\tb=x=y=", ["a=1", "b=x=y="]),
            (#"q=""; r="; s="x"#, ["q=", "r=\"", "s=\"x"]), ("é=ü; ñ=1;ø", ["é=ü", "ñ=1"]),
            ("a=1;a=2", ["a=1", "a=2"]), ("name with space=v", ["name with space=v"]),
        ])
    func cookieParsing(header: String, expected: [String]) {
        let parsed = Cookies.parse(header)
        #expect(parsed.map { "\($0.name)=\($0.value)" } == expected)
    }

    /// The gate with sign-in on, its keyring, and a sealed session for FixtureRealm's user.
    struct SignedIn {
        let app: AppHarness
        let keyring: SessionKeyring
        let cookie: String

        init() throws {
            let keyBytes = (0..<32).map { UInt8($0 &* 7 &+ 1) }
            let key = Data(keyBytes).base64EncodedString()
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("session-keys-\(UUID().uuidString)")
            try key.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            app = try AppHarness(environment: [
                "SESSION_KEYS_FILE": file.path, "OIDC_REDIRECT_URI": "https://app.example.com/oauth2/callback",
            ])
            keyring = try SessionKeyring(keys: [keyBytes])
            let user = AuthenticatedUser(
                subject: FixtureRealm.subject, username: "abdullah", email: nil, fullName: nil, roles: ["user"], sessionID: "s-1",
                issuer: FixtureRealm.issuer, issuedAt: Int64(FixtureRealm.now.timeIntervalSince1970) - 10)
            let session = BrowserSession(
                user: user, issuer: FixtureRealm.issuer, accessExpiresAt: Int64(FixtureRealm.now.timeIntervalSince1970) + 300,
                refreshExpiresAt: nil, refreshToken: nil, idToken: nil, csrf: "c")
            cookie = "__Host-keycloak-fcgi=\(session.sealed(with: keyring))"
        }

        func gate(cookie: String) -> HTTPResponse {
            app.send(HTTPRequest(method: "GET", path: "/auth", parameters: ["HTTP_COOKIE": "theme=dark; \(cookie)"]))
        }
    }

    @Test("a session answered from the opened-session cache is still refused once logged out, and the cache never matches altered bytes")
    func openedSessionCache() throws {
        let signedIn = try SignedIn()
        for _ in 0..<3 {
            let response = signedIn.gate(cookie: signedIn.cookie)
            #expect(response.status == .noContent)
            #expect(response.header("X-Auth-Username") == "abdullah")
        }
        // The cached value with one character changed (the last: part of the GCM tag) or cut short.
        var altered = Array(signedIn.cookie)
        altered[altered.count - 1] = altered[altered.count - 1] == "A" ? "B" : "A"
        for bad in [String(altered), String(signedIn.cookie.dropLast(4))] {
            let response = signedIn.gate(cookie: bad)
            #expect(response.status == .unauthorized)
            #expect(response.header("X-Auth-Set-Cookie-0")?.hasPrefix("__Host-keycloak-fcgi=; ") == true)
        }
        #expect(signedIn.gate(cookie: signedIn.cookie).status == .noContent)
        signedIn.app.application.revocationStore.list.insert(
            Revocation(
                kind: .session, issuer: FixtureRealm.issuer, value: "s-1", revokedAt: Int64(FixtureRealm.now.timeIntervalSince1970),
                expiresAt: Int64(FixtureRealm.now.timeIntervalSince1970) + 600))
        let revoked = signedIn.gate(cookie: signedIn.cookie)
        #expect(revoked.status == .unauthorized)
        #expect(revoked.header("X-Auth-Set-Cookie-0")?.hasPrefix("__Host-keycloak-fcgi=; ") == true)
    }
}
