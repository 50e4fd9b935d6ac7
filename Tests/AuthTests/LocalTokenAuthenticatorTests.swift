import Auth
import TestSupport
import CryptoExtras
import Dispatch
import Foundation
import Synchronization
import Testing

/// `AUTH_VERIFY=jwks` with the verified-token cache. The observable for "served from the cache"
/// is a key the provider swaps under the same `kid`: verification then fails with
/// `signatureInvalid`, so a token that still passes was not verified again.
@Suite("LocalTokenAuthenticator")
struct LocalTokenAuthenticatorTests {
    typealias P = FakeKeycloak
    static let now = FixtureRealm.now

    static let published = JWK.set([JWK.rsa(SigningKeys.rsaCurrent, kid: "rsa-current", alg: "RS256")])
    /// Another key published under the same kid: no kid disappears, so nothing is evicted, but
    /// tokens signed by the old key no longer verify.
    static let swapped = JWK.set([JWK.rsa(SigningKeys.rsaOther, kid: "rsa-current", alg: "RS256")])
    /// The provider withdrew rsa-current.
    static let withdrawn = JWK.set([JWK.rsa(SigningKeys.rsaOther, kid: "rsa-next", alg: "RS256")])

    /// A discovered provider whose `certs` endpoint serves `keys`, which the test may change.
    final class Realm {
        /// What the provider's `certs` endpoint serves now.
        final class Published: Sendable {
            private let bytes = Mutex(LocalTokenAuthenticatorTests.published)
            var value: [UInt8] { bytes.withLock { $0 } }
            func publish(_ keys: [UInt8]) { bytes.withLock { $0 = keys } }
        }

        let provider = P.provider()
        let keys = Published()
        let transport: FakeTransport
        let client: KeycloakClient

        init() {
            let keys = self.keys
            transport = FakeTransport { request throws(AuthError) in
                guard request.url == P.jwksURI else { return .html(404) }
                return IncomingResponse(status: 200, contentType: "application/json", body: keys.value)
            }
            client = KeycloakClient(provider: provider, transport: transport)
        }

        var certsFetches: Int { transport.requests.filter { $0.url == P.jwksURI }.count }

        func authenticator(
            cache: TokenCache<AuthenticatedUser>? = TokenCache(capacity: 64), audiences: [String] = [], skew: Double = 30
        ) -> LocalTokenAuthenticator {
            LocalTokenAuthenticator(
                verifier: JWTVerifier(policy: VerificationPolicy(audiences: audiences, clockSkewSeconds: skew)), provider: provider,
                cache: cache)
        }

        /// Publishes `keys` and runs a periodic refresh, as the provider monitor would.
        func publishAndRefresh(_ keys: [UInt8]) throws {
            self.keys.publish(keys)
            try provider.keys.refresh { () throws(AuthError) in try client.fetchKeys() }
        }

        func authenticate(_ authenticator: LocalTokenAuthenticator, _ token: String, at offset: Double = 0) throws(AuthError)
            -> AuthenticatedUser
        {
            try authenticator.authenticate(token, using: client, now: LocalTokenAuthenticatorTests.now.addingTimeInterval(offset))
        }
    }

    @Test("a verified token becomes a user with its roles, and is cached with the key that verified it")
    func verifiesAndCaches() throws {
        let realm = Realm()
        let cache = TokenCache<AuthenticatedUser>(capacity: 64)
        let authenticator = realm.authenticator(cache: cache)
        let user = try realm.authenticate(authenticator, FixtureRealm.validToken())
        #expect(user.username == "abdullah")
        #expect(user.sessionID == "5a6b7c8d")
        #expect(
            user.roles == [
                "default-roles-testing", "offline_access", "uma_authorization", "account:manage-account", "account:view-profile",
            ])
        #expect(cache.count == 1)
        #expect(realm.certsFetches == 1)
        #expect(cache.evict(keyIDs: ["rsa-current"]) == 1)
    }

    @Test("the second call is served from the cache, without verifying the token again")
    func secondCallFromCache() throws {
        let realm = Realm()
        let authenticator = realm.authenticator()
        let token = FixtureRealm.validToken()
        let first = try realm.authenticate(authenticator, token)

        try realm.publishAndRefresh(Self.swapped)
        // Control: verifying the token now fails.
        let uncached = #expect(throws: AuthError.self) { try realm.authenticate(realm.authenticator(cache: nil), token) }
        #expect(uncached?.code == .signatureInvalid)

        #expect(try realm.authenticate(authenticator, token, at: 60) == first)
        #expect(realm.certsFetches == 2)  // the first verification and the refresh, nothing more
    }

    @Test("without a cache every call verifies")
    func noCache() throws {
        let realm = Realm()
        let authenticator = realm.authenticator(cache: nil)
        let token = FixtureRealm.validToken()
        _ = try realm.authenticate(authenticator, token)
        try realm.publishAndRefresh(Self.swapped)
        let error = #expect(throws: AuthError.self) { try realm.authenticate(authenticator, token) }
        #expect(error?.code == .signatureInvalid)
    }

    @Test("a withdrawn key's tokens pass from the cache until a refresh drops its kid, then fail")
    func withdrawnKey() throws {
        let realm = Realm()
        let cache = TokenCache<AuthenticatedUser>(capacity: 64)
        let authenticator = realm.authenticator(cache: cache)
        let token = FixtureRealm.validToken()
        let other = FixtureRealm.validToken(["sub": "another-user", "preferred_username": "other"])
        _ = try realm.authenticate(authenticator, token)
        _ = try realm.authenticate(authenticator, other)
        #expect(cache.count == 2)

        // The provider withdraws the key; until this service refetches, the cache still answers.
        realm.keys.publish(Self.withdrawn)
        #expect(try realm.authenticate(authenticator, token, at: 1).username == "abdullah")

        try realm.provider.keys.refresh { () throws(AuthError) in try realm.client.fetchKeys() }
        #expect(realm.provider.keys.keyIDs == ["rsa-next"])
        #expect(cache.count == 0)
        for refused in [token, other] {
            let error = #expect(throws: AuthError.self) { try realm.authenticate(authenticator, refused, at: 2) }
            #expect(error?.code == .unknownKeyID)
        }
    }

    @Test("a refresh that keeps every kid evicts nothing")
    func refreshKeepingKids() throws {
        let realm = Realm()
        let cache = TokenCache<AuthenticatedUser>(capacity: 64)
        let authenticator = realm.authenticator(cache: cache)
        _ = try realm.authenticate(authenticator, FixtureRealm.validToken())
        try realm.publishAndRefresh(
            JWK.set([
                JWK.rsa(SigningKeys.rsaCurrent, kid: "rsa-current", alg: "RS256"),
                JWK.rsa(SigningKeys.rsaOther, kid: "rsa-next", alg: "RS256"),
            ]))
        #expect(cache.count == 1)
    }

    @Test(
        "a cached verdict lives until exp plus the clock skew, not a moment longer",
        arguments: [0.0, 30, 120])
    func expiresAtExpPlusSkew(skew: Double) throws {
        let realm = Realm()
        let cache = TokenCache<AuthenticatedUser>(capacity: 64)
        let authenticator = realm.authenticator(cache: cache, skew: skew)
        let token = FixtureRealm.validToken()  // exp = now + 300
        _ = try realm.authenticate(authenticator, token)
        try realm.publishAndRefresh(Self.swapped)

        #expect(try realm.authenticate(authenticator, token, at: 300 + skew - 0.001).username == "abdullah")
        // At exp + skew the entry is dead: the token is verified again, and the swapped key refuses it.
        let error = #expect(throws: AuthError.self) { try realm.authenticate(authenticator, token, at: 300 + skew) }
        #expect(error?.code == .signatureInvalid)
        #expect(cache.count == 0)
    }

    @Test("a token cached under one audience policy is not served to an authenticator with another")
    func audienceNamespace() throws {
        let realm = Realm()
        let cache = TokenCache<AuthenticatedUser>(capacity: 64)
        let token = FixtureRealm.validToken()  // aud account, azp fastapi-keycloak
        _ = try realm.authenticate(realm.authenticator(cache: cache), token)

        let otherAPI = #expect(throws: AuthError.self) {
            try realm.authenticate(realm.authenticator(cache: cache, audiences: ["other-api"]), token)
        }
        #expect(otherAPI?.code == .audienceMismatch)

        try realm.publishAndRefresh(Self.swapped)
        // The same policy in another instance shares the entry ...
        #expect(try realm.authenticate(realm.authenticator(cache: cache), token).username == "abdullah")
        // ... a policy that would also accept the token does not: it verifies, and fails.
        let account = #expect(throws: AuthError.self) {
            try realm.authenticate(realm.authenticator(cache: cache, audiences: ["account"]), token)
        }
        #expect(account?.code == .signatureInvalid)
    }

    @Test(
        "refused tokens are not cached",
        arguments: [
            ("expired", FixtureRealm.validToken(["exp": FixtureRealm.now.timeIntervalSince1970 - 60]), AuthError.Code.tokenExpired),
            ("a refresh token", FixtureRealm.validToken(["typ": "Refresh"]), .wrongTokenType),
            ("forged", TokenMinter.token(claims: FixtureRealm.claims(), signer: .rs256(SigningKeys.rsaOther)), .signatureInvalid),
            ("no username or sub", FixtureRealm.validToken(["sub": nil, "preferred_username": nil]), .missingClaim),
            ("over 16 KiB", FixtureRealm.validToken(["pad": String(repeating: "x", count: 17_000)]), .tokenTooLarge),
        ])
    func refusalsNotCached(name: String, token: String, expected: AuthError.Code) throws {
        let realm = Realm()
        let cache = TokenCache<AuthenticatedUser>(capacity: 64)
        let authenticator = realm.authenticator(cache: cache)
        for _ in 1...2 {
            let error = #expect(throws: AuthError.self) { try realm.authenticate(authenticator, token) }
            #expect(error?.code == expected)
        }
        #expect(cache.count == 0)
    }

    @Test("before discovery a well-formed token is unavailable and nothing is cached")
    func beforeDiscovery() {
        let provider = P.provider(discovered: false)
        let cache = TokenCache<AuthenticatedUser>(capacity: 64)
        let transport = FakeTransport(.html(500))
        let authenticator = LocalTokenAuthenticator(verifier: JWTVerifier(policy: VerificationPolicy()), provider: provider, cache: cache)
        let error = #expect(throws: AuthError.self) {
            try authenticator.authenticate(
                FixtureRealm.validToken(), using: KeycloakClient(provider: provider, transport: transport), now: Self.now)
        }
        #expect(error?.code == .identityProviderUnavailable)
        #expect(cache.count == 0)
        #expect(transport.requests.isEmpty)
    }

    /// Distinct tokens signed by rsa-current, so that every authentication really verifies.
    static let distinctTokens: [String] = (0..<64).map { FixtureRealm.validToken(["jti": "race-\($0)"]) }

    final class Flag: Sendable {
        private let raised = Atomic(false)
        var isRaised: Bool { raised.load(ordering: .acquiring) }
        func raise() { raised.store(true, ordering: .releasing) }
    }

    /// Race: a worker looks the key up, the periodic refresh withdraws it and evicts its
    /// verdicts, then the worker stores its verdict, which outlives the key until `exp`.
    @Test("a key withdrawn while a token it signed is being verified takes that verdict with it")
    func withdrawalDuringVerification() throws {
        var acceptedAfterWithdrawal = 0
        var survivors = 0
        for _ in 0..<20 {
            let realm = Realm()
            let cache = TokenCache<AuthenticatedUser>(capacity: 4096)
            let authenticator = realm.authenticator(cache: cache)
            _ = try realm.authenticate(authenticator, FixtureRealm.validToken())  // loads the keys
            let provider = realm.provider
            let verified = Counter()
            let stop = Flag()
            let finished = DispatchSemaphore(value: 0)
            let worker = Thread {
                // The verifying thread has its own client, as worker threads do.
                let workerClient = KeycloakClient(
                    provider: provider,
                    transport: FakeTransport(IncomingResponse(status: 200, body: LocalTokenAuthenticatorTests.withdrawn)))
                var index = 0
                while !stop.isRaised {
                    let token = Self.distinctTokens[index % Self.distinctTokens.count]
                    if (try? authenticator.authenticate(token, using: workerClient, now: Self.now)) != nil { verified.increment() }
                    index += 1
                }
                finished.signal()
            }
            worker.start()
            while verified.value < 4 { usleep(50) }
            // The provider withdraws rsa-current; the refresh evicts what that key verified.
            try realm.publishAndRefresh(Self.withdrawn)
            stop.raise()
            finished.wait()
            // No token of the withdrawn key may pass any more, however the threads interleaved.
            acceptedAfterWithdrawal += Self.distinctTokens.filter { (try? realm.authenticate(authenticator, $0, at: 1)) != nil }.count
            survivors += cache.evict(keyIDs: ["rsa-current"])
        }
        #expect(acceptedAfterWithdrawal == 0, "tokens of the withdrawn key still accepted")
        #expect(survivors == 0, "verdicts of the withdrawn key stored after its eviction")
    }

    // MARK: Several realms (AUTH_EXTRA_ISSUERS)

    /// Two realms on one provider host: A (the fixture's, key rsa-current) and B (key rsa-b).
    struct TwoRealms {
        static let issuerB = "https://sso.example.com/realms/tenant-b"
        static let jwksB = issuerB + "/protocol/openid-connect/certs"
        let realmA = P.provider()
        let realmB: IdentityProvider
        let transport: FakeTransport
        let client: KeycloakClient
        let authenticator: LocalTokenAuthenticator

        init(audiencesB: [String]? = nil) {
            realmB = IdentityProvider(
                settings: ProviderSettings(issuerCandidates: [Self.issuerB], clientID: P.clientID, clientSecret: Secret("")),
                keys: JWKSCache(issuer: Self.issuerB), limiter: ProviderCallLimiter(capacity: 4))
            realmB.record(P.metadata(issuer: Self.issuerB))
            transport = FakeTransport { request throws(AuthError) in
                switch request.url {
                case P.jwksURI: return .json(200, String(decoding: LocalTokenAuthenticatorTests.published, as: UTF8.self))
                case Self.jwksB:
                    return .json(200, String(decoding: JWK.set([JWK.rsa(SigningKeys.rsaOther, kid: "rsa-b", alg: "RS256")]), as: UTF8.self))
                default: return .html(404)
                }
            }
            client = KeycloakClient(provider: realmA, transport: transport)
            var policyB = VerificationPolicy()
            policyB.audiences = audiencesB ?? []
            authenticator = LocalTokenAuthenticator(
                verifier: JWTVerifier(policy: VerificationPolicy()), provider: realmA, cache: TokenCache(capacity: 64),
                extraIssuers: [.init(provider: realmB, verifier: JWTVerifier(policy: policyB), cache: TokenCache(capacity: 64))])
        }

        func fetches(_ url: String) -> Int { transport.requests.filter { $0.url == url }.count }

        func refusal(_ token: String) -> AuthError? {
            do {
                _ = try authenticator.authenticate(token, using: client, now: LocalTokenAuthenticatorTests.now)
                return nil
            } catch {
                return error
            }
        }

        static func tokenB(_ changes: [String: Any?] = [:], kid: String = "rsa-b", key: _RSA.Signing.PrivateKey = SigningKeys.rsaOther)
            -> String
        {
            TokenMinter.token(claims: FixtureRealm.claims(["iss": issuerB].merging(changes) { $1 }), kid: kid, signer: .rs256(key))
        }
    }

    @Test("several realms: a token of each realm passes, each checked with its own realm's keys")
    func twoRealmsAccept() {
        let realms = TwoRealms()
        #expect(realms.refusal(FixtureRealm.validToken()) == nil)
        #expect(realms.refusal(TwoRealms.tokenB()) == nil)
        #expect(realms.fetches(P.jwksURI) == 1)
        #expect(realms.fetches(TwoRealms.jwksB) == 1)
    }

    @Test(
        "several realms: one realm's key never verifies another realm's token",
        arguments: [
            (
                "B's iss, signed by A's key under A's kid", TwoRealms.tokenB(kid: "rsa-current", key: SigningKeys.rsaCurrent),
                AuthError.Code.unknownKeyID
            ),
            ("B's iss, signed by A's key under B's kid", TwoRealms.tokenB(kid: "rsa-b", key: SigningKeys.rsaCurrent), .signatureInvalid),
            (
                "A's iss, signed by B's key under B's kid",
                TokenMinter.token(claims: FixtureRealm.claims(), kid: "rsa-b", signer: .rs256(SigningKeys.rsaOther)), .unknownKeyID
            ),
        ])
    func twoRealmsCrossSigned(name: String, token: String, expected: AuthError.Code) {
        #expect(TwoRealms().refusal(token)?.code == expected)
    }

    @Test("several realms: an issuer not on the list is refused before any key lookup")
    func twoRealmsUnknownIssuer() {
        let realms = TwoRealms()
        let token = TokenMinter.token(
            claims: FixtureRealm.claims(["iss": "https://sso.example.com/realms/tenant-c"]), kid: "rsa-c",
            signer: .rs256(SigningKeys.rsaOther))
        #expect(realms.refusal(token)?.code == .issuerMismatch)
        #expect(realms.transport.requests.isEmpty)
    }

    @Test("several realms: each issuer's audience rule is its own")
    func twoRealmsAudience() {
        let realms = TwoRealms(audiencesB: ["client-b"])
        #expect(realms.refusal(TwoRealms.tokenB())?.code == .audienceMismatch)
        #expect(realms.refusal(TwoRealms.tokenB(["azp": "client-b"])) == nil)
        #expect(realms.refusal(FixtureRealm.validToken()) == nil, "realm A has no audience rule")
    }

    @Test("several realms: verdicts are cached per issuer")
    func twoRealmsCachePerIssuer() {
        let realms = TwoRealms()
        _ = realms.refusal(FixtureRealm.validToken())
        _ = realms.refusal(TwoRealms.tokenB())
        #expect(realms.authenticator.primary.cache?.count == 1)
        #expect(realms.authenticator.extraIssuers[TwoRealms.issuerB]?.cache?.count == 1)
    }
}
