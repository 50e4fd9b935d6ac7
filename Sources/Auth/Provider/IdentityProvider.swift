import Synchronization

/// The identity provider as the whole process sees it: settings, the discovery document once
/// it has been fetched, the signing-key cache and the cap on concurrent calls.
///
/// Shared by every thread; per-thread HTTP state lives in `KeycloakClient`.
public final class IdentityProvider: Sendable {
    public let settings: ProviderSettings
    public let keys: JWKSCache
    public let limiter: ProviderCallLimiter
    private let discovered = Mutex<ProviderMetadata?>(nil)

    public init(settings: ProviderSettings, keys: JWKSCache = JWKSCache(), limiter: ProviderCallLimiter) {
        self.settings = settings
        self.keys = keys
        self.limiter = limiter
    }

    /// The discovery document, or `identityProviderUnavailable` until discovery has succeeded.
    public func metadata() throws(AuthError) -> ProviderMetadata {
        guard let metadata = discovered.withLock({ $0 }) else {
            throw AuthError(.identityProviderUnavailable, "discovery has not succeeded yet")
        }
        return metadata
    }

    /// Whether discovery has succeeded.
    public var isDiscovered: Bool { discovered.withLock { $0 != nil } }

    /// Records a successful discovery.
    public func record(_ metadata: ProviderMetadata) {
        discovered.withLock { $0 = metadata }
    }

    /// `<issuer>/.well-known/openid-configuration` (OIDC Discovery §4.1).
    public static func discoveryURL(issuer: String) -> String {
        issuer + "/.well-known/openid-configuration"
    }
}
