import Platform
import Synchronization

/// The identity provider as the whole process sees it: settings, the discovery document once
/// it has been fetched, the signing-key cache and the cap on concurrent calls.
///
/// Shared by every thread; per-thread HTTP state lives in `KeycloakClient`.
public final class IdentityProvider: Sendable {
    public let settings: ProviderSettings
    public let keys: JWKSCache
    public let limiter: ProviderCallLimiter
    /// Whether the provider answered lately, for readiness.
    public let health = ProviderHealth()
    private let discovered = Mutex<Discovery?>(nil)
    /// Bumped by every `record`: a thread rereads `discovered` only when it changed, so the
    /// per-request `discovery()` takes no lock (that lock was 1.5 % of the responder's CPU
    /// in its slow path under load).
    private let discoveryGeneration = Atomic<UInt64>(0)
    private let latestDiscovery = ThreadLocal { DiscoverySeen() }

    /// The discovery a thread last read, and of which generation.
    private final class DiscoverySeen {
        var generation = UInt64.max
        var discovery: Discovery?
    }

    /// What discovery produced, with the derived values the hot path needs computed once.
    /// A class, so that reading it under the lock is a retain rather than a copy of every field.
    public final class Discovery: Sendable {
        public let metadata: ProviderMetadata
        /// `metadata.allowedAlgorithms`, computed once.
        public let allowedAlgorithms: Set<SignatureAlgorithm>

        init(_ metadata: ProviderMetadata) {
            self.metadata = metadata
            self.allowedAlgorithms = metadata.allowedAlgorithms
        }
    }

    public init(settings: ProviderSettings, keys: JWKSCache = JWKSCache(), limiter: ProviderCallLimiter) {
        self.settings = settings
        self.keys = keys
        self.limiter = limiter
    }

    /// The discovery document, or `identityProviderUnavailable` until discovery has succeeded.
    public func metadata() throws(AuthError) -> ProviderMetadata {
        try discovery().metadata
    }

    /// The discovery result, or `identityProviderUnavailable` until discovery has succeeded.
    public func discovery() throws(AuthError) -> Discovery {
        let current = discoveryGeneration.load(ordering: .acquiring)
        let seen = latestDiscovery.value
        if seen.generation != current {
            seen.discovery = discovered.withLock { $0 }
            seen.generation = current
        }
        guard let discovery = seen.discovery else {
            throw AuthError(.identityProviderUnavailable, "discovery has not succeeded yet")
        }
        return discovery
    }

    /// Whether discovery has succeeded.
    public var isDiscovered: Bool { discovered.withLock { $0 != nil } }

    /// Records a successful discovery.
    public func record(_ metadata: ProviderMetadata) {
        let discovery = Discovery(metadata)
        discovered.withLock { $0 = discovery }
        discoveryGeneration.add(1, ordering: .sequentiallyConsistent)
    }

    /// `<issuer>/.well-known/openid-configuration` (OIDC Discovery §4.1).
    public static func discoveryURL(issuer: String) -> String {
        issuer + "/.well-known/openid-configuration"
    }
}
