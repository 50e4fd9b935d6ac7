import Auth
import TestSupport
import Foundation
import Synchronization
import Testing

/// `AUTH_VERIFY=introspect` over the fake transport: the provider's introspection endpoint
/// answers from a value the test changes; every call is counted.
@Suite("IntrospectionAuthenticator")
struct IntrospectionAuthenticatorTests {
    typealias P = FakeKeycloak
    static let now = FixtureRealm.now
    static let seconds = FixtureRealm.now.timeIntervalSince1970

    /// Keycloak's introspection answer for an access token with `claims`.
    static func active(_ changes: [String: Any?] = [:]) -> IncomingResponse {
        var body = FixtureRealm.claims(changes)
        body["active"] = true
        body["client_id"] = P.clientID
        body["username"] = "abdullah"
        body["token_type"] = "Bearer"
        return IncomingResponse(status: 200, contentType: "application/json", body: JSON.bytes(body))
    }

    static let inactive = IncomingResponse.json(200, #"{"active":false}"#)

    final class Endpoint: Sendable {
        private let answer: Mutex<Result<IncomingResponse, AuthError>>
        init(_ response: IncomingResponse) { answer = Mutex(.success(response)) }
        func respond(with response: IncomingResponse) { answer.withLock { $0 = .success(response) } }
        func fail(with error: AuthError) { answer.withLock { $0 = .failure(error) } }
        func get() throws(AuthError) -> IncomingResponse { try answer.withLock { $0 }.get() }
    }

    /// A discovered provider and a client whose transport serves the introspection endpoint.
    struct Realm {
        let provider: IdentityProvider
        let endpoint: Endpoint
        let transport: FakeTransport
        let client: KeycloakClient

        init(_ response: IncomingResponse = IntrospectionAuthenticatorTests.active(), discovered: Bool = true) {
            let endpoint = Endpoint(response)
            self.endpoint = endpoint
            provider = P.provider(discovered: discovered)
            transport = FakeTransport { request throws(AuthError) in
                guard request.url == P.introspectionEndpoint else { return .html(404) }
                return try endpoint.get()
            }
            client = KeycloakClient(provider: provider, transport: transport)
        }

        var calls: Int { transport.requests.filter { $0.url == P.introspectionEndpoint }.count }

        func authenticator(
            cache: TokenCache<IntrospectionAuthenticator.Verdict>? = TokenCache(capacity: 64), activeTTL: Double = 10,
            inactiveTTL: Double = 2, audiences: [String] = []
        ) -> IntrospectionAuthenticator {
            IntrospectionAuthenticator(
                verifier: JWTVerifier(policy: VerificationPolicy(audiences: audiences)), provider: provider, cache: cache,
                activeTTL: activeTTL, inactiveTTL: inactiveTTL)
        }

        func authenticate(_ authenticator: IntrospectionAuthenticator, _ token: String = "header.payload.signature", at offset: Double = 0)
            throws(AuthError) -> AuthenticatedUser
        {
            try authenticator.authenticate(token, using: client, now: IntrospectionAuthenticatorTests.now.addingTimeInterval(offset))
        }

        func refusal(_ authenticator: IntrospectionAuthenticator, _ token: String = "header.payload.signature", at offset: Double = 0)
            -> AuthError?
        {
            do {
                _ = try authenticate(authenticator, token, at: offset)
                return nil
            } catch {
                return error
            }
        }
    }

    @Test("an active token becomes its user, roles included; the provider is asked with this client's credentials")
    func activeToken() throws {
        let realm = Realm()
        let user = try realm.authenticate(realm.authenticator(), "eyJh.eyJz.c2ln")
        expectFixtureUser(user)

        let request = try #require(realm.transport.requests.only)
        #expect(request.method == .post)
        let form = FormURLEncoding.decode(try #require(request.body))
        #expect(form.map(\.0) == ["client_id", "client_secret", "token", "token_type_hint"])
        #expect(form.map(\.1) == [P.clientID, P.clientSecret, "eyJh.eyJz.c2ln", "access_token"])
    }

    @Test("an inactive token is tokenRejectedByProvider, and that answer is kept for inactiveTTL")
    func inactiveCached() {
        let realm = Realm(Self.inactive)
        let authenticator = realm.authenticator(activeTTL: 10, inactiveTTL: 2)
        #expect(realm.refusal(authenticator)?.code == .tokenRejectedByProvider)
        #expect(realm.calls == 1)

        // The provider changes its mind; the cached "inactive" still answers for 2 s.
        realm.endpoint.respond(with: Self.active())
        #expect(realm.refusal(authenticator, at: 1.999)?.code == .tokenRejectedByProvider)
        #expect(realm.calls == 1)
        #expect(realm.refusal(authenticator, at: 2) == nil)
        #expect(realm.calls == 2)
    }

    @Test(
        "Keycloak's 400 on a token it failed to introspect (keycloak#20174) is an inactive verdict, not a provider fault",
        arguments: [
            #"{"error":"invalid_request","error_description":"Failed to introspect token."}"#,
            #"{"error":"invalid_token","error_description":"Token verification failed"}"#,
        ])
    func failedIntrospectionIsInactive(body: String) {
        let realm = Realm(.json(400, body))
        let authenticator = realm.authenticator()
        #expect(realm.refusal(authenticator)?.code == .tokenRejectedByProvider)
        #expect(realm.refusal(authenticator, at: 1)?.code == .tokenRejectedByProvider)
        #expect(realm.calls == 1, "kept like any inactive answer")
    }

    @Test("an active answer without iss passes (RFC 7662 §2.2: iss is optional there)")
    func activeWithoutIssuer() {
        let realm = Realm(Self.active(["iss": nil]))
        #expect(realm.refusal(realm.authenticator()) == nil)
    }

    @Test("inactiveTTL never exceeds activeTTL")
    func inactiveTTLCapped() {
        let realm = Realm(Self.inactive)
        let authenticator = realm.authenticator(activeTTL: 1, inactiveTTL: 5)
        #expect(authenticator.inactiveTTL == 1)
        _ = realm.refusal(authenticator)
        _ = realm.refusal(authenticator, at: 1)
        #expect(realm.calls == 2)
    }

    struct Lifetime: Sendable, CustomTestStringConvertible {
        /// `exp` relative to the first call.
        let exp: Double
        let ttl: Double
        /// When the second call comes.
        let later: Double
        /// Introspection calls after both.
        let calls: Int
        var testDescription: String { "exp +\(exp), TTL \(ttl), again at +\(later) → \(calls) call(s)" }
    }

    @Test(
        "an active answer is reused until the earlier of exp and now + TTL",
        arguments: [
            Lifetime(exp: 300, ttl: 10, later: 9.999, calls: 1),
            Lifetime(exp: 300, ttl: 10, later: 10, calls: 2),
            Lifetime(exp: 300, ttl: 60, later: 59, calls: 1),
            Lifetime(exp: 5, ttl: 10, later: 4.999, calls: 1),
            // Past exp but within the 30 s skew: the token is still good, so the provider is asked again.
            Lifetime(exp: 5, ttl: 10, later: 5, calls: 2),
        ])
    func activeLifetime(_ lifetime: Lifetime) throws {
        let realm = Realm(Self.active(["exp": Self.seconds + lifetime.exp]))
        let authenticator = realm.authenticator(activeTTL: lifetime.ttl)
        _ = try realm.authenticate(authenticator)
        #expect(realm.calls == 1)
        #expect(try realm.authenticate(authenticator, at: lifetime.later).username == "abdullah")
        #expect(realm.calls == lifetime.calls)
    }

    @Test("the cached answer is the user, not a pass: revocation takes effect once the entry expires")
    func revokedAfterTTL() {
        let realm = Realm()
        let authenticator = realm.authenticator(activeTTL: 10)
        #expect(realm.refusal(authenticator) == nil)
        realm.endpoint.respond(with: Self.inactive)
        #expect(realm.refusal(authenticator, at: 5) == nil)
        #expect(realm.refusal(authenticator, at: 10)?.code == .tokenRejectedByProvider)
    }

    @Test("distinct tokens are distinct entries")
    func distinctTokens() {
        let realm = Realm()
        let authenticator = realm.authenticator()
        for token in ["a.b.c", "a.b.d", "a.b.c", "a.b.d"] {
            #expect(realm.refusal(authenticator, token) == nil)
        }
        #expect(realm.calls == 2)
    }

    struct Refused: Sendable, CustomTestStringConvertible {
        let name: String
        let answer: IncomingResponse
        let audiences: [String]
        let expected: AuthError.Code
        var testDescription: String { "\(name) → \(expected.rawValue)" }

        init(_ name: String, _ answer: IncomingResponse, audiences: [String] = [], _ expected: AuthError.Code) {
            self.name = name
            self.answer = answer
            self.audiences = audiences
            self.expected = expected
        }
    }

    @Test(
        "an active answer still gets the claim checks",
        arguments: [
            Refused("a refresh token (typ Refresh)", active(["typ": "Refresh"]), .wrongTokenType),
            Refused("an ID token", active(["typ": "ID"]), .wrongTokenType),
            Refused("another issuer", active(["iss": "http://keycloak:8080/realms/testing"]), .issuerMismatch),
            Refused("expired beyond the skew", active(["exp": seconds - 31]), .tokenExpired),
            Refused("not yet valid", active(["nbf": seconds + 600]), .tokenNotYetValid),
            Refused("another audience", active(), audiences: ["other-api"], .audienceMismatch),
            Refused("neither username nor sub", active(["preferred_username": nil, "sub": nil]), .missingClaim),
        ])
    func claimChecks(_ refused: Refused) {
        let realm = Realm(refused.answer)
        #expect(realm.refusal(realm.authenticator(audiences: refused.audiences))?.code == refused.expected)
        #expect(realm.calls == 1)
    }

    @Test("the audience passes via azp, as in jwks mode")
    func audienceViaAzp() {
        let realm = Realm()
        #expect(realm.refusal(realm.authenticator(audiences: [P.clientID])) == nil)
    }

    enum CacheOff: String, CaseIterable, Sendable {
        case noCache = "cache: nil"
        case zeroTTL = "activeTTL 0"
    }

    @Test("without a cache, or with a TTL of 0, every call introspects", arguments: CacheOff.allCases, [true, false])
    func cacheOff(mode: CacheOff, active: Bool) {
        let realm = Realm(active ? Self.active() : Self.inactive)
        let authenticator =
            switch mode {
            case .noCache: realm.authenticator(cache: nil, activeTTL: 10)
            case .zeroTTL: realm.authenticator(activeTTL: 0)
            }
        for call in 1...3 {
            let error = realm.refusal(authenticator, at: Double(call) / 10)
            #expect(error?.code == (active ? nil : .tokenRejectedByProvider))
            #expect(realm.calls == call)
        }
        #expect(authenticator.cache?.count ?? 0 == 0)
    }

    @Test(
        "provider failures",
        arguments: [
            (
                Result<IncomingResponse, AuthError>.failure(AuthError(.identityProviderUnavailable, "introspect: timed out")),
                AuthError.Code.identityProviderUnavailable
            ),
            (.success(.html(500)), .identityProviderError),
            (
                .success(.json(401, #"{"error":"invalid_client","error_description":"Invalid client credentials"}"#)),
                .identityProviderRejectedClient
            ),
            (.success(.html(200)), .identityProviderInvalidResponse),
            (.success(.json(200, #"{"active":true}"#)), .missingClaim),
            // Only invalid_request / invalid_token are verdicts on the token; other 400s are ours.
            (.success(.json(400, #"{"error":"unauthorized_client","error_description":"x"}"#)), .identityProviderRejectedClient),
            (.success(.json(400, #"{"error":"invalid_scope"}"#)), .identityProviderError),
            (.success(.html(400)), .identityProviderInvalidResponse),
        ])
    func providerFailure(answer: Result<IncomingResponse, AuthError>, expected: AuthError.Code) {
        let realm = Realm()
        switch answer {
        case .success(let response): realm.endpoint.respond(with: response)
        case .failure(let error): realm.endpoint.fail(with: error)
        }
        let authenticator = realm.authenticator()
        #expect(realm.refusal(authenticator)?.code == expected)
        // A failure is not an answer about the token: the next call asks again.
        _ = realm.refusal(authenticator, at: 0.5)
        #expect(realm.calls == 2)
    }

    @Test(
        "tokens too large or not shaped like a compact JWS are refused without a call",
        arguments: [
            ("junk", AuthError.Code.malformedToken), ("a.b", .malformedToken), ("a..c", .malformedToken), ("a.b.c.d", .malformedToken),
            (".b.c", .malformedToken), ("a.b.", .malformedToken), ("a b.c.d", .malformedToken), ("a.b.c=", .malformedToken),
            ("a.b+c.d", .malformedToken), ("", .malformedToken),
            (String(repeating: "a", count: 8_000) + "." + String(repeating: "b", count: 9_000) + ".c", .tokenTooLarge),
        ])
    func refusedWithoutCall(token: String, expected: AuthError.Code) {
        let realm = Realm()
        #expect(realm.refusal(realm.authenticator(), token)?.code == expected)
        #expect(realm.transport.requests.isEmpty)
    }

    @Test("before discovery: identityProviderUnavailable, without a call")
    func beforeDiscovery() {
        let realm = Realm(discovered: false)
        #expect(realm.refusal(realm.authenticator())?.code == .identityProviderUnavailable)
        #expect(realm.transport.requests.isEmpty)
    }

    @Test("a verdict cached under one audience policy is not served to another")
    func namespace() {
        let realm = Realm()
        let cache = TokenCache<IntrospectionAuthenticator.Verdict>(capacity: 64)
        #expect(realm.refusal(realm.authenticator(cache: cache)) == nil)
        #expect(realm.refusal(realm.authenticator(cache: cache)) == nil)
        #expect(realm.calls == 1)
        #expect(realm.refusal(realm.authenticator(cache: cache, audiences: ["other-api"]))?.code == .audienceMismatch)
        #expect(realm.calls == 2)
    }
}
